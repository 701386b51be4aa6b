"""render(request) -> Rendering: the whole pipeline, load to YAML documents, in one function."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pgrender import emit, flux, load, rollout
from pgrender.errors import Problem, SpecError
from pgrender.secrets import SecretsProvider

if TYPE_CHECKING:  # the plan and secrets modules are imported when a render needs them (start-up time)
    from concurrent.futures import Executor

    from pgrender.plan import ClusterPlan
    from pgrender.secrets.derived import DerivedProvider

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """What to render: spec files and where the root key comes from."""

    specs: tuple[str, ...]
    key_file: str | None = None
    environ: dict[str, str] | None = field(default=None, repr=False)
    provider: SecretsProvider = SecretsProvider.DERIVED
    only_secrets: bool = False
    default_namespace: str | None = None  # for specs without metadata.namespace (Argo CD's destination)


@dataclass(frozen=True)
class ClusterOutput:
    name: str
    namespace: str
    documents: tuple[emit.Document, ...]  # in kind order

    @property
    def manifests(self) -> tuple[Manifest, ...]:
        return tuple(d.manifest for d in self.documents)


@dataclass(frozen=True)
class Rendering:
    clusters: tuple[ClusterOutput, ...]


def validate(specs: tuple[str, ...], default_namespace: str | None = None) -> list[ClusterPlan]:
    """Load, validate and resolve every spec; return the plans or raise one SpecError."""
    return list(plans(specs, default_namespace))


def plans(specs: tuple[str, ...], default_namespace: str | None = None) -> Iterator[ClusterPlan]:
    """Load, validate and resolve the specs one document at a time, yielding each plan as soon as
    it is resolved, while no problem has been found.

    At the end, one SpecError carries the problems of the earliest stage that had any: YAML that
    cannot be read, then the schema, then the rules across fields and clusters.
    """
    from pgrender import spec
    from pgrender.plan import resolve

    unreadable: list[Problem] = []
    invalid: list[Problem] = []
    unresolved: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    for doc in load.iter_documents(list(specs), unreadable):
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        if default_namespace and isinstance(meta, dict) and "namespace" not in meta:
            meta["namespace"] = default_namespace
        try:
            sourced = spec.validate(doc)
        except SpecError as exc:
            invalid.extend(exc.problems)
            continue
        ident = (sourced.cluster.metadata.namespace, sourced.cluster.metadata.name)
        if ident in seen:
            message = f"cluster {ident[0]}/{ident[1]} is also defined in {seen[ident]}"
            unresolved.append(sourced.problem(("metadata", "name"), message))
        seen[ident] = doc.file
        try:
            plan = resolve(sourced)
        except SpecError as exc:
            unresolved.extend(exc.problems)
            continue
        if not (unreadable or invalid or unresolved):
            yield plan
    for problems in (unreadable, invalid, unresolved):
        if problems:
            raise SpecError(problems)


def render(request: Request) -> Rendering:
    """spec → plan → objects → secrets → digests → YAML documents, for every cluster.

    Each cluster is built as soon as its plan is resolved; from the second cluster on, its SCRAM
    verifiers start on a thread pool, so they compute while the next clusters are loaded and
    built. A missing root key is reported after the specs' own problems, as those come first.
    """
    from pgrender.errors import RootKeyError
    from pgrender.secrets import keys

    needs_key = request.provider == SecretsProvider.DERIVED or request.only_secrets
    try:
        root_key = keys.load(request.key_file, request.environ) if needs_key else None
        key_error = None
    except RootKeyError as exc:
        root_key, key_error = None, exc
    pool = _SecondClusterPool()
    with _tuned_interpreter():
        try:
            every_plan = plans(request.specs, request.default_namespace)
            started = [_start(plan, root_key, pool) for plan in every_plan if key_error is None]
            if key_error:  # the specs were still read through, for their problems come first
                raise key_error
            started.reverse()
            clusters = []
            while started:  # popping frees each cluster's unfinished objects as soon as it is done
                clusters.append(_finish(request, *started.pop()))
        finally:
            pool.shutdown()
    return Rendering(tuple(clusters))


Started = tuple["ClusterPlan", list[Manifest], "DerivedProvider | None"]


def _start(plan: ClusterPlan, root_key: bytes | None, pool: _SecondClusterPool) -> Started:
    """Build a cluster's objects and start the slow part of its secrets."""
    from pgrender.components import build
    from pgrender.secrets.derived import DerivedProvider
    from pgrender.secrets.materialize import inputs

    manifests = build(plan)
    if root_key is None:
        return plan, manifests, None
    provider = DerivedProvider(root_key, plan, pool.next_cluster())
    provider.prepare(inputs(manifests))
    return plan, manifests, provider


class _SecondClusterPool:
    """The SCRAM thread pool, made when a second cluster arrives: importing concurrent.futures
    costs a one-cluster render more (about 10 ms) than computing its verifiers inline.

    One cluster's verifiers take about as long on one core as the rest of its render takes on
    the main thread, so two threads keep ahead; more would only contend for the GIL. They leave
    a CPU to the main thread (CPU affinity counts, as in a container with a cpuset).
    """

    WORKERS = 2

    def __init__(self) -> None:
        self._clusters = 0
        self._pool: Executor | None = None

    def next_cluster(self) -> Executor | None:
        self._clusters += 1
        if self._clusters == 2:
            from concurrent.futures import ThreadPoolExecutor

            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            self._pool = ThreadPoolExecutor(max(1, min(self.WORKERS, cpus - 1)), "pgrender-scram")
        return self._pool

    def shutdown(self) -> None:
        if self._pool:
            self._pool.shutdown(cancel_futures=True)


def _finish(
    request: Request, plan: ClusterPlan, manifests: list[Manifest], provider: DerivedProvider | None
) -> ClusterOutput:
    """Fill in secrets, add rollout digests, keep the Secrets the provider asks for, emit."""
    from pgrender.secrets import existing
    from pgrender.secrets.materialize import materialize

    if provider:
        manifests = materialize(manifests, provider)
    manifests = rollout.annotate(manifests)
    if request.only_secrets:
        manifests = existing.only(manifests)
    elif request.provider == SecretsProvider.EXISTING:
        manifests = existing.omit(manifests)
    documents = tuple(flux.emit_protected(m) for m in emit.order(manifests))
    return ClusterOutput(plan.name, plan.namespace, documents)


@contextmanager
def _tuned_interpreter() -> Iterator[None]:
    """Interpreter settings for the length of a render, restored afterwards.

    - Collect cycles rarely, as mypy does: the objects built are trees of dicts, freed by
      reference counting, and the collector would walk them again and again.
    - Switch threads every 0.2 ms: a SCRAM thread needs the GIL back after each PBKDF2 (about
      1 ms) and would otherwise wait out the default 5 ms.
    """
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(100_000, *threshold[1:])
    sys.setswitchinterval(0.0002)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
