"""Specs to plans: load, validate and resolve every document, and the rules across clusters.

The front half of the pipeline, apart from render.py: `pgrender validate` needs nothing more, and
starts without the builders, transforms and certificate code a render imports.
"""

from __future__ import annotations

from collections.abc import Iterator

from pgrender import load, spec
from pgrender.errors import Problem, SpecError
from pgrender.frozen import replace
from pgrender.plan import ClusterPlan, resolve
from pgrender.plan.claims import ClaimRegistry
from pgrender.plan.standby_sources import StandbySources
from pgrender.spec.rules.users import InfrastructureRole
from pgrender.trusted_sources import outside_the_pin, untrusted_sources


def validate(
    specs: tuple[str, ...],
    default_namespace: str | None = None,
    infrastructure: tuple[InfrastructureRole, ...] = (),
    trusted: frozenset[str] = frozenset(),
) -> list[ClusterPlan]:
    """Load, validate and resolve every spec; return the plans or raise one SpecError."""
    return list(plans(specs, default_namespace, infrastructure, trusted=trusted))


def plans(
    specs: tuple[str, ...],
    default_namespace: str | None = None,
    infrastructure: tuple[InfrastructureRole, ...] = (),
    read: dict[str, str] | None = None,
    trusted: frozenset[str] = frozenset(),
    pinned: str | None = None,
) -> Iterator[ClusterPlan]:
    """Load, validate and resolve the specs one document at a time, yielding each plan as soon as
    it is resolved, while no problem has been found. ``read``: load.iter_documents's; ``trusted``:
    the sources in other namespaces the root key's holder trusts (trusted_sources.py); ``pinned``:
    the one namespace a cluster may be in (the Argo CD plugin's, PGRENDER_PIN_NAMESPACE).

    At the end, one SpecError carries the problems of the earliest stage that had any: each
    document's own (YAML that cannot be read, the schema, the rules across its fields: one
    document's problems hide nothing in the others), then the rules across clusters (a cluster
    defined twice, names two clusters claim), which need every document valid.
    """
    invalid: list[Problem] = []
    unresolved: list[Problem] = []
    claimed = ClaimRegistry()
    standbys = StandbySources()
    try:
        for doc in load.iter_documents(list(specs), invalid, read):
            meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
            if default_namespace and isinstance(meta, dict) and "namespace" not in meta:
                meta["namespace"] = default_namespace
            digest = spec_digest(doc.data)  # before validation, which may fill in what the document left out
            try:
                sourced = spec.validate(doc)
            except SpecError as exc:
                invalid.extend(exc.problems)
                continue
            untrusted = untrusted_sources(sourced, trusted) + outside_the_pin(sourced, pinned)
            if untrusted:
                invalid.extend(untrusted)
                continue
            earlier = claimed.defined(sourced)
            if earlier is not None:
                named = sourced.cluster.metadata
                message = f"cluster {named.namespace}/{named.name} is defined twice: here and at {earlier}"
                unresolved.append(sourced.problem(("metadata", "name"), message))
            try:
                plan = resolve(sourced, infrastructure)
            except SpecError as exc:
                invalid.extend(exc.problems)  # the document's own rules: reported with every document's
                continue
            if earlier is None:  # a cluster defined twice claims everything twice; once is enough to say
                unresolved += claimed.add(sourced, plan)
                standbys.add(sourced, plan)
            if not (invalid or unresolved):
                yield replace(plan, spec_digest=digest)
        unresolved += claimed.directory_problems()
        unresolved += standbys.problems()
    finally:
        claimed.close()  # its files, now rather than when collected
    for problems in (invalid, unresolved):
        if problems:
            raise SpecError(problems)


def spec_digest(data: object) -> str:
    """The SHA-256 of a document's plain data (load.py's: dicts, lists, strings, numbers, booleans,
    None, dates and timestamps), the same on every machine and Python: ascii() tells each of those
    types apart (1 from "1", True from 1, 1.0 from 1) and escapes every character that is not ASCII
    by its code point, so no Unicode database enters. A cluster's output is a function of its
    document and the render's other inputs (resolve reads nothing else), so the record keeps this
    per cluster and a later render reuses the files of a cluster whose digest it finds (reuse.py).
    "" where ascii() cannot spell the data (an integer too long for str()): that cluster is rendered."""
    import hashlib

    try:
        text = ascii(data)
    except ValueError:
        return ""
    return hashlib.sha256(text.encode("ascii")).hexdigest()
