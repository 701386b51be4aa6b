"""render(request) -> Rendering: the whole pipeline, load to ordered objects, in one function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pgrender import emit, flux, load, rollout
from pgrender.errors import Problem, SpecError
from pgrender.secrets import SecretsProvider

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
    manifests: tuple[Manifest, ...]


@dataclass(frozen=True)
class Rendering:
    clusters: tuple[ClusterOutput, ...]


def validate(specs: tuple[str, ...], default_namespace: str | None = None) -> list[Any]:
    """Load, validate and resolve every spec; return the plans or raise one SpecError."""
    from pgrender import spec
    from pgrender.plan import resolve

    documents = list(load.iter_documents(list(specs)))
    if default_namespace:
        for doc in documents:
            meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
            if isinstance(meta, dict) and "namespace" not in meta:
                meta["namespace"] = default_namespace
    sourced = spec.validate(documents)
    problems: list[Problem] = []
    plans = []
    seen: dict[tuple[str, str], str] = {}
    for s in sourced:
        meta = s.cluster.metadata
        ident = (meta.namespace, meta.name)
        if ident in seen:
            problems.append(
                s.problem(
                    ("metadata", "name"),
                    f"cluster {meta.namespace}/{meta.name} is also defined in {seen[ident]}",
                )
            )
        seen[ident] = s.document.file
        try:
            plans.append(resolve(s))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return plans


def render(request: Request) -> Rendering:
    """spec → plan → objects → secrets → digests → ordered objects, for every cluster."""
    from pgrender.components import build
    from pgrender.secrets import existing, keys
    from pgrender.secrets.derived import DerivedProvider
    from pgrender.secrets.materialize import materialize

    plans = validate(request.specs, request.default_namespace)
    needs_key = request.provider == SecretsProvider.DERIVED or request.only_secrets
    root_key = keys.load(request.key_file, request.environ) if needs_key else b""
    clusters = []
    for plan in plans:
        manifests = build(plan)
        if needs_key:
            manifests = materialize(manifests, DerivedProvider(root_key, plan))
        manifests = rollout.annotate(manifests)
        if request.only_secrets:
            manifests = existing.only(manifests)
        elif request.provider == SecretsProvider.EXISTING:
            manifests = existing.omit(manifests)
        manifests = flux.protect_substitution(manifests)
        clusters.append(ClusterOutput(plan.name, plan.namespace, tuple(emit.order(manifests))))
    return Rendering(tuple(clusters))
