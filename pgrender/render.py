"""render(request) -> Rendering: the whole pipeline, load to YAML documents, in one function."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pgrender import emit, load, spec, tuning
from pgrender.components import build
from pgrender.errors import PgrenderError, Problem, RootKeyError, SpecError
from pgrender.plan import ClusterPlan, RuntimePasswords, TLSPlan, resolve
from pgrender.plan.claims import ClaimRegistry
from pgrender.providers import (
    DEFAULT_SECRETS_PROVIDER,
    Configurable,
    SecretsProvider,
    runtime_passwords,
    secrets_provider,
    tls_provider,
)
from pgrender.secrets import keys, secret_inputs
from pgrender.secrets.derived import DerivedValues
from pgrender.spec.users import InfrastructureRole
from pgrender.transforms import Context, transform

if TYPE_CHECKING:
    from pgrender.config import SecretsConfig

Manifest = dict[str, Any]
Built = tuple[ClusterPlan, list[Manifest], DerivedValues | None]


@dataclass(frozen=True)
class Request:
    """What to render: spec files and where the root key comes from."""

    specs: tuple[str, ...]
    key_file: str | None = None
    environ: dict[str, str] | None = field(default=None, repr=False)
    provider: str = DEFAULT_SECRETS_PROVIDER  # a name in providers.SECRETS_PROVIDERS
    only_secrets: bool = False
    default_namespace: str | None = None  # for specs without metadata.namespace (Argo CD's destination)
    sealing_certificate: str | None = None  # provider `sealed`: the controller's certificate (PEM file)
    # The previous output (relative path → text): provider `sealed` keeps the ciphertexts of unchanged values.
    previous: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    secrets_settings: SecretsConfig | None = None  # pgrender.yaml's `secrets` (provider `external`: its settings)
    infrastructure_roles: tuple[InfrastructureRole, ...] = ()  # pgrender.yaml's, made in every cluster


@dataclass(frozen=True)
class ClusterOutput:
    name: str
    namespace: str
    documents: tuple[emit.Document, ...]  # in kind order
    tls: TLSPlan | None = field(default=None, repr=False, compare=False)  # for the certificate validity warnings

    @property
    def manifests(self) -> tuple[Manifest, ...]:
        return tuple(d.manifest for d in self.documents)


@dataclass(frozen=True)
class Rendering:
    clusters: tuple[ClusterOutput, ...]


def validate(
    specs: tuple[str, ...],
    default_namespace: str | None = None,
    infrastructure: tuple[InfrastructureRole, ...] = (),
) -> list[ClusterPlan]:
    """Load, validate and resolve every spec; return the plans or raise one SpecError."""
    return list(plans(specs, default_namespace, infrastructure))


def plans(
    specs: tuple[str, ...],
    default_namespace: str | None = None,
    infrastructure: tuple[InfrastructureRole, ...] = (),
) -> Iterator[ClusterPlan]:
    """Load, validate and resolve the specs one document at a time, yielding each plan as soon as
    it is resolved, while no problem has been found.

    At the end, one SpecError carries the problems of the earliest stage that had any: each
    document's own (YAML that cannot be read, the schema, the rules across its fields: one
    document's problems hide nothing in the others), then the rules across clusters (a cluster
    defined twice, names two clusters claim), which need every document valid.
    """
    invalid: list[Problem] = []
    unresolved: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    claimed = ClaimRegistry()
    for doc in load.iter_documents(list(specs), invalid):
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        if default_namespace and isinstance(meta, dict) and "namespace" not in meta:
            meta["namespace"] = default_namespace
        try:
            sourced = spec.validate(doc)
        except SpecError as exc:
            invalid.extend(exc.problems)
            continue
        ident = (sourced.cluster.metadata.namespace, sourced.cluster.metadata.name)
        twice = ident in seen
        line, col = doc.position(("metadata", "name"))
        if twice:
            message = f"cluster {ident[0]}/{ident[1]} is defined twice: here and at {seen[ident]}"
            unresolved.append(sourced.problem(("metadata", "name"), message))
        else:
            seen[ident] = f"{doc.file}:{line}:{col}"
        try:
            plan = resolve(sourced, infrastructure)
        except SpecError as exc:
            invalid.extend(exc.problems)  # the document's own rules: reported with every document's
            continue
        if not twice:  # a cluster defined twice claims everything twice; once is enough to say
            unresolved += claimed.add(sourced, plan)
        if not (invalid or unresolved):
            yield plan
    unresolved += claimed.directory_problems()
    for problems in (invalid, unresolved):
        if problems:
            raise SpecError(problems)


def render(request: Request) -> Rendering:
    """load → validate → resolve → build → transform → emit, for every cluster.

    Every spec is read before anything is finished, so the specs' problems come before a missing
    root key. Building a cluster starts its SCRAM verifiers (tuning.ScramPool), which compute
    while the next clusters are loaded and built.
    """
    secrets = secrets_provider(DEFAULT_SECRETS_PROVIDER if request.only_secrets else request.provider)
    root_key, key_error = _root_key(request, secrets.needs_root_key)
    secrets, setup_error = _configured(secrets, request, root_key) if key_error is None else (secrets, key_error)
    with tuning.tuned() as pool:
        every_plan = plans(request.specs, request.default_namespace, request.infrastructure_roles)
        runtime = runtime_passwords(secrets)
        built = [_build(plan, runtime, root_key, pool) for plan in every_plan if setup_error is None]
        if setup_error:  # the specs were still read through: their problems come first
            raise setup_error
        built.reverse()
        clusters = []
        while built:  # popping frees each cluster's unfinished objects as soon as it is done
            plan, manifests, values = built.pop()
            context = Context(plan, secrets, tls_provider(plan.tls.provider), values, request.only_secrets)
            documents = emit.documents(transform(context, manifests))
            clusters.append(ClusterOutput(plan.name, plan.namespace, documents, plan.tls))
    return Rendering(tuple(clusters))


def cluster_objects(plan: ClusterPlan, root_key: bytes, pool: tuning.ScramPool) -> list[Manifest]:
    """One cluster's finished objects, Secrets derived from ``root_key`` (`pgrender explain`
    compares them); render() does the same for every cluster, then emits them."""
    plan, manifests, values = _build(plan, None, root_key, pool)
    context = Context(plan, secrets_provider(DEFAULT_SECRETS_PROVIDER), tls_provider(plan.tls.provider), values, False)
    return transform(context, manifests)


def _root_key(request: Request, needed: bool) -> tuple[bytes | None, RootKeyError | None]:
    if not needed:
        return None, None
    try:
        return keys.load(request.key_file, request.environ), None
    except RootKeyError as exc:
        return None, exc


def _configured(
    secrets: SecretsProvider, request: Request, root_key: bytes | None
) -> tuple[SecretsProvider, PgrenderError | None]:
    """The provider set up for this request (sealed: its certificate), or the error that stops the render."""
    if not isinstance(secrets, Configurable):
        return secrets, None
    try:
        return secrets.configure(request, root_key), None
    except PgrenderError as exc:
        return secrets, exc


def _build(
    plan: ClusterPlan, runtime: RuntimePasswords | None, root_key: bytes | None, pool: tuning.ScramPool
) -> Built:
    """The cluster's objects, and the values that will fill its Secrets (their slow part started).

    A provider whose passwords are known only in the cluster puts that in the plan first, so the
    reconcile Job computes the verifiers (plan.RuntimePasswords)."""
    if runtime is not None:
        plan = replace(plan, runtime_passwords=runtime)
    manifests = build(plan)
    if root_key is None:
        return plan, manifests, None
    values = DerivedValues(root_key, plan, pool.next_cluster())
    values.prepare(secret_inputs(manifests))
    return plan, manifests, values
