"""render(request) -> Rendering: the whole pipeline, load to YAML documents; stream(): the same, one
cluster at a time."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Mapping
from itertools import chain, islice
from struct import Struct
from typing import TYPE_CHECKING, Any

from pgrender import emit, trusted_sources, tuning
from pgrender.components import build
from pgrender.errors import InternalError, PgrenderError, Problem, RootKeyError
from pgrender.frozen import field, frozen, replace
from pgrender.plan import ClusterPlan, RuntimePasswords
from pgrender.plans import plans
from pgrender.providers import (
    DEFAULT_SECRETS_PROVIDER,
    SecretsProvider,
    is_configurable,
    runtime_passwords,
    secrets_provider,
    tls_provider,
)
from pgrender.secrets import Material, keys, secret_inputs
from pgrender.secrets.derived import DerivedValues
from pgrender.spec.rules.users import InfrastructureRole
from pgrender.spill import Records, Texts
from pgrender.transforms import Context, transform
from pgrender.validity import Window, certificate_windows

if TYPE_CHECKING:
    from pgrender.reuse import Reuse
    from pgrender.spec.repository import SecretsConfig

Manifest = dict[str, Any]
Built = tuple[ClusterPlan, list[Manifest], DerivedValues | None]


@frozen
class Request:
    """What to render: spec files and where the root key comes from."""

    specs: tuple[str, ...]
    key_file: str | None = None
    environ: dict[str, str] | None = field(default=None, repr=False)
    provider: str = DEFAULT_SECRETS_PROVIDER  # a name in providers.SECRETS_PROVIDERS
    only_secrets: bool = False
    default_namespace: str | None = None  # for specs without metadata.namespace (Argo CD's destination)
    pinned_namespace: str | None = None  # the only namespace a cluster may be in (the plugin's, when pinned)
    sealing_certificate: str | None = None  # provider `sealed`: the controller's certificate (PEM file)
    # The previous output (relative path → text): provider `sealed` keeps the ciphertexts of unchanged values.
    previous: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    secrets_settings: SecretsConfig | None = None  # pgrender.yaml's `secrets` (provider `external`: its settings)
    infrastructure_roles: tuple[InfrastructureRole, ...] = ()  # pgrender.yaml's, made in every cluster
    # The clusters whose files the output directory holds current already (a render into it: reuse.py).
    reuse: Reuse | None = field(default=None, repr=False, compare=False)
    # The root key, loaded already by a render that records it (commands._record_inputs): the record
    # names the key the output is made with, and the file is not read again.
    root_key: bytes | None = field(default=None, repr=False, compare=False)
    # The sealing certificate's bytes, read already by a render that records their digest, likewise.
    sealing_pem: bytes | None = field(default=None, repr=False, compare=False)
    # Filled as the specs are read, for a render that records them: each file's SHA-256 (load.py).
    read: dict[str, str] | None = field(default=None, repr=False, compare=False)


@frozen
class ClusterOutput:
    name: str
    namespace: str
    # In kind order. From a worker process (pgrender.fleet), each manifest holds only the object's
    # identity (apiVersion, kind, metadata.name and namespace): the text is the object.
    documents: tuple[emit.Document, ...]
    # When its certificates are valid, for the warnings printed once every cluster is done (kept
    # instead of the plan's TLS part, which is a hundred times larger).
    windows: tuple[Window, ...] = field(default=(), repr=False, compare=False)
    spec_digest: str = ""  # the plan's: the record keeps it beside the cluster's directory (reuse.py)
    # Files taken as they are from the output a render replaces (reuse.py), instead of documents.
    files: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def manifests(self) -> tuple[Manifest, ...]:
        return tuple(d.manifest for d in self.documents)


_DIGEST = 32  # bytes of a SHA-256


class Finished:
    """The clusters a render has finished, in order, as much of each as the end of the render
    needs: its namespace and name (the directories of a several-cluster output), its spec digest
    (the record) and its certificate windows (the warnings, and the record). A fleet's render holds
    this for every cluster to its end: the clusters without their documents held 540 bytes each
    (tracemalloc, 3000 clusters), mostly windows every cluster of the fleet has alike. Here each
    distinct list of windows is held once, and a cluster is its "namespace/name", its digest and
    that list's number, in spill stores: in files past a few dozen clusters."""

    _KIND = Struct("<I")

    def __init__(self) -> None:
        self._where = Texts()  # "namespace/name": a window's `where`, and the cluster's names
        self._digests = Records(_DIGEST)  # each cluster's spec digest (ClusterOutput.spec_digest); zeros for ""
        self._kinds = Records(self._KIND.size)  # each cluster's number in _shapes
        self._shapes: list[tuple[tuple[Any, ...], ...]] = []  # windows without their `where`
        self._numbers: dict[tuple[tuple[Any, ...], ...], int] = {}

    def add(self, cluster: ClusterOutput) -> None:
        where = f"{cluster.namespace}/{cluster.name}"
        if any(w[0] != where for w in cluster.windows):
            raise InternalError(f"{where}: a certificate window is placed elsewhere")
        shape = tuple(w[1:] for w in cluster.windows)
        number = self._numbers.setdefault(shape, len(self._shapes))
        if number == len(self._shapes):
            self._shapes.append(shape)
        self._where.append(where)
        self._kinds.append(self._KIND.pack(number))
        self._digests.append(bytes.fromhex(cluster.spec_digest) if cluster.spec_digest else bytes(_DIGEST))

    def __len__(self) -> int:
        return len(self._where)

    def names(self) -> Iterator[tuple[str, str]]:
        """Each cluster's namespace and name."""
        for where in self._where:
            namespace, _, name = where.partition("/")
            yield namespace, name

    def spec_digests(self) -> Iterator[str]:
        """Each cluster's spec digest ("" for a cluster without one)."""
        for i in range(len(self._digests)):
            digest = self._digests.read(i)
            yield digest.hex() if any(digest) else ""

    def windows(self) -> Iterator[Window]:
        """Each cluster's certificate windows, as certificate_windows() gave them."""
        for i, where in enumerate(self._where):
            (number,) = self._KIND.unpack(self._kinds.read(i))
            for what, start, end, fix in self._shapes[number]:
                yield where, what, start, end, fix


@frozen
class Rendering:
    clusters: tuple[ClusterOutput, ...]
    warnings: tuple[Problem, ...] = ()  # every cluster's plan.warnings: printed, not fatal


def render(request: Request) -> Rendering:
    """load → validate → resolve → build → transform → emit, for every cluster, all held at once
    (what tests and `pgrender diff` compare); the commands that write stream() instead."""
    warnings: list[Problem] = []
    clusters = tuple(stream(request, warnings, parallel=False))
    return Rendering(clusters, tuple(sorted(warnings)))


def stream(request: Request, warnings: list[Problem], parallel: bool = True) -> Iterator[ClusterOutput]:
    """Each cluster's output as soon as it is finished, in the order of the specs; ``warnings``
    gets every cluster's plan.warnings. Only what is in flight is held, so memory stays flat in
    the number of clusters.

    A problem in any spec (or a missing root key) is raised after the last cluster, so a caller
    must hold what it was given until the end before anything reaches its destination: every
    spec is read before anything is final, and the specs' problems come before a missing root
    key. Building a cluster starts its SCRAM verifiers (tuning.ScramPool), which compute while
    the next clusters are built; a large batch (``parallel``, more than tuning.PROCESSES_FROM
    clusters) is finished in worker processes instead (pgrender.fleet).
    """
    secrets = secrets_provider(DEFAULT_SECRETS_PROVIDER if request.only_secrets else request.provider)
    root_key, key_error = _root_key(request, secrets.needs_root_key)
    secrets, setup_error = _configured(secrets, request, root_key) if key_error is None else (secrets, key_error)
    environ = os.environ if request.environ is None else request.environ
    every_plan = plans(
        request.specs,
        request.default_namespace,
        request.infrastructure_roles,
        request.read,
        trusted_sources.trusted(environ),
        request.pinned_namespace,
    )
    if setup_error is not None:
        for _ in every_plan:  # the specs are still read through: their problems come first
            pass
        raise setup_error
    finisher = Finisher(secrets, root_key, request.only_secrets, request.reuse)
    try:
        yield from _finished(finisher, every_plan, warnings, parallel)
    except PgrenderError:
        # A cluster that could not be finished (an object too large, say) is reported only when no
        # spec has a problem, as a missing root key is: how far the specs were read when it failed
        # depends on the look-ahead, which worker processes make longer, and the message must not.
        for _ in every_plan:
            pass
        raise


def _finished(
    finisher: Finisher, every_plan: Iterator[ClusterPlan], warnings: list[Problem], parallel: bool
) -> Iterator[ClusterOutput]:
    if parallel and tuning.cpus() >= tuning.PROCESSES_CPUS:
        # Read ahead far enough to tell a batch worth worker processes; pgrender.fleet (and
        # multiprocessing) is imported only then: a render of a few clusters starts faster without.
        first = list(islice(every_plan, tuning.PROCESSES_FROM + 1))
        if len(first) > tuning.PROCESSES_FROM:
            from pgrender import fleet

            if fleet.available():
                yield from fleet.finish(finisher, chain(first, every_plan), warnings)
                return
        every_plan = chain(first, every_plan)
    with tuning.tuned() as pool:
        # A few clusters built ahead: their verifiers compute on the pool while this one is finished.
        ahead: deque[Built | ClusterOutput] = deque()
        for plan in every_plan:
            warnings.extend(plan.warnings)
            ahead.append(finisher.reused(plan) or finisher.build(plan, pool))
            if len(ahead) > tuning.ScramPool.AHEAD:
                yield finisher.finished(ahead.popleft())
        while ahead:
            yield finisher.finished(ahead.popleft())


@frozen
class Finisher:
    """What turns one plan into its output, the same for every cluster of a render (a forked
    worker process inherits it: pgrender.fleet)."""

    secrets: SecretsProvider
    root_key: bytes | None
    only_secrets: bool
    reuse: Reuse | None = None

    def reused(self, plan: ClusterPlan) -> ClusterOutput | None:
        """The cluster's files as the output directory holds them, where they are this plan's
        (reuse.py); None: the cluster is built."""
        files = self.reuse.files(plan.spec_digest) if self.reuse is not None and plan.spec_digest else None
        if files is None:
            return None
        return ClusterOutput(plan.name, plan.namespace, (), certificate_windows(plan), plan.spec_digest, files)

    def build(self, plan: ClusterPlan, pool: tuning.ScramPool | None) -> Built:
        return _build(plan, runtime_passwords(self.secrets), self.root_key, pool)

    def finish(self, plan: ClusterPlan, manifests: list[Manifest], values: DerivedValues | None) -> ClusterOutput:
        context = Context(plan, self.secrets, tls_provider(plan.tls.provider), values, self.only_secrets)
        documents = emit.documents(transform(context, manifests))
        return ClusterOutput(plan.name, plan.namespace, documents, certificate_windows(plan), plan.spec_digest)

    def finished(self, item: Built | ClusterOutput) -> ClusterOutput:
        """A cluster reused as it is, or built and now finished."""
        return item if isinstance(item, ClusterOutput) else self.finish(*item)


def cluster_objects(plan: ClusterPlan, root_key: bytes, pool: tuning.ScramPool) -> list[Manifest]:
    """One cluster's finished objects, Secrets derived from ``root_key`` (`pgrender explain`
    compares them); render() does the same for every cluster, then emits them."""
    plan, manifests, values = _build(plan, None, root_key, pool)
    context = Context(plan, secrets_provider(DEFAULT_SECRETS_PROVIDER), tls_provider(plan.tls.provider), values, False)
    return transform(context, manifests)


def _root_key(request: Request, needed: bool) -> tuple[bytes | None, RootKeyError | None]:
    if not needed:
        return None, None
    if request.root_key is not None:
        return request.root_key, None
    try:
        return keys.load(request.key_file, request.environ), None
    except RootKeyError as exc:
        return None, exc


def _configured(
    secrets: SecretsProvider, request: Request, root_key: bytes | None
) -> tuple[SecretsProvider, PgrenderError | None]:
    """The provider set up for this request (sealed: its certificate), or the error that stops the render."""
    configurable = secrets  # narrowed below; a failure returns the provider as it was
    if not is_configurable(configurable):
        return secrets, None
    try:
        return configurable.configure(request, root_key), None
    except PgrenderError as exc:
        return secrets, exc


def _build(
    plan: ClusterPlan, runtime: RuntimePasswords | None, root_key: bytes | None, pool: tuning.ScramPool | None
) -> Built:
    """The cluster's objects, and the values that will fill its Secrets (their slow part started).

    A provider whose passwords are known only in the cluster puts that in the plan first, so the
    reconcile Job computes the verifiers (plan.RuntimePasswords)."""
    if runtime is not None:
        plan = replace(plan, runtime_passwords=runtime)
    manifests = build(plan)
    if root_key is None:
        return plan, manifests, None
    inputs = list(secret_inputs(manifests))
    verifiers = sum(1 for item in inputs if item.material is Material.VERIFIER)
    values = DerivedValues(root_key, plan, pool.next_cluster(verifiers) if pool else None)
    values.prepare(inputs)
    return plan, manifests, values
