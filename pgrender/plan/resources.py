"""Container resources: every container pgrender writes gets cpu and memory requests and a memory
limit, decided here once per container kind from the spec and the preset's defaults.

Why requests everywhere: a pod without requests is BestEffort, the first the kubelet evicts under
memory pressure and the first the OOM killer picks (oom_score_adj 1000); a database must never be
that. Why a memory limit everywhere: memory cannot be taken back from a process, so a container
without one may grow into its neighbours'; with one, only the container that outgrew it is killed.

Why no CPU limit unless asked: a CPU limit is enforced by CFS bandwidth control, which throttles
the whole container for the rest of each 100 ms period once its quota is spent, even on an idle
node. PostgreSQL holds locks and Patroni renews its leader lease while throttled, so a short burst
(a checkpoint, a big sort) turns into stalls, lag and even lost leases. A CPU request alone gives
the container its share under contention and lets it use idle CPU. A CPU limit is written only
when the spec gives one.

The presets: ``premium`` (PresetValues.guaranteed_memory) sets every memory request equal to its
limit. Its pods are not QoS Guaranteed (that needs CPU limits too, see above), but a container
never uses more memory than it requested, so kubelet evicts it only after every pod that exceeds
its request, and the OOM killer scores it low (oom_score_adj falls with the request). ``standard``
and no preset are Burstable: a smaller request, a limit above it for bursts.

How a container kind joins (a sidecar, an exporter): a member of ContainerKind, a row in DEFAULTS,
and, when users may size it, its spec field in ``given_resources`` (or ``decide`` called where its
plan is resolved); its builder writes ``pod.container_resources(plan.resources[kind])``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from pgrender.frozen import frozen
from pgrender.spec.rules.base import quantity_bytes

if TYPE_CHECKING:
    from pgrender.spec import ClusterSpec
    from pgrender.spec.instances import ResourcesSpec


class ContainerKind(StrEnum):
    """Every kind of container pgrender writes; each has one row in DEFAULTS."""

    DATABASE = "database"  # Patroni and PostgreSQL, in each member pod (spec.instances[].resources)
    PGBACKREST = "pgbackrest"  # pgBackRest's TLS server beside each member (spec.backups.resources)
    TLS_RELOAD = "tls-reload"  # the certificate reloader sidecar (pod_parts/tls_reload.py)
    PGBOUNCER = "pgbouncer"  # spec.proxy.pgBouncer.resources
    REPO_HOST = "repo-host"  # pgBackRest's server on the repository host (spec.backups.resources)
    BACKUP = "backup"  # pgBackRest in the backup Jobs and CronJobs (spec.backups.resources)
    LOGICAL_BACKUP = "logical-backup"  # pg_dumpall, gzip and the AWS CLI (spec.backups.logical.resources)
    RECONCILE = "reconcile"  # psql and short scripts: the reconcile Job, the password CronJob
    EXPORTER = "exporter"  # postgres_exporter beside each member (spec.monitoring.exporter.resources)
    PGADMIN = "pgadmin"  # pgAdmin 4 under gunicorn (spec.userInterface.pgAdmin.resources)
    # A user's sidecar or init container that states no resources of its own (one that does keeps them).
    USER_CONTAINER = "user-container"


@frozen
class Sizing:
    """A container kind's default requests and memory limit."""

    cpu: str
    memory: str
    memory_limit: str


# Kind -> (Burstable: no preset and standard, premium: memory request = limit). The database's
# default limits hold PostgreSQL's default settings (shared_buffers 128MB, max_connections 100,
# work_mem 4MB: 728 MiB by memory_estimate below) with room for Patroni. The others are sized
# from what they run: pgBackRest's buffers (buffer-size 1 MiB per process, compression), a Python
# loop (tls-reload), pgBouncer (a few kB per client), psql and Python scripts (reconcile), the
# AWS CLI's multipart upload buffers (logical backups), pgAdmin's web application.
DEFAULTS: dict[ContainerKind, tuple[Sizing, Sizing]] = {
    ContainerKind.DATABASE: (Sizing("250m", "512Mi", "1Gi"), Sizing("1", "2Gi", "2Gi")),
    ContainerKind.PGBACKREST: (Sizing("50m", "64Mi", "256Mi"), Sizing("100m", "256Mi", "256Mi")),
    ContainerKind.TLS_RELOAD: (Sizing("10m", "32Mi", "64Mi"), Sizing("10m", "64Mi", "64Mi")),
    ContainerKind.PGBOUNCER: (Sizing("50m", "32Mi", "128Mi"), Sizing("100m", "128Mi", "128Mi")),
    ContainerKind.REPO_HOST: (Sizing("50m", "64Mi", "256Mi"), Sizing("100m", "256Mi", "256Mi")),
    ContainerKind.BACKUP: (Sizing("100m", "128Mi", "512Mi"), Sizing("250m", "512Mi", "512Mi")),
    ContainerKind.LOGICAL_BACKUP: (Sizing("100m", "128Mi", "512Mi"), Sizing("250m", "512Mi", "512Mi")),
    ContainerKind.RECONCILE: (Sizing("50m", "64Mi", "256Mi"), Sizing("50m", "256Mi", "256Mi")),
    ContainerKind.EXPORTER: (Sizing("10m", "32Mi", "128Mi"), Sizing("10m", "128Mi", "128Mi")),
    # pgAdmin's Flask application, its SQLite database and the query results it holds for its users.
    ContainerKind.PGADMIN: (Sizing("50m", "256Mi", "512Mi"), Sizing("100m", "512Mi", "512Mi")),
    ContainerKind.USER_CONTAINER: (Sizing("10m", "64Mi", "256Mi"), Sizing("10m", "256Mi", "256Mi")),
}


@frozen
class ResourcesPlan:
    """One container's resources: requests and a memory limit always, a CPU limit only when asked."""

    cpu: str
    memory: str
    memory_limit: str
    cpu_limit: str | None = None
    ephemeral_storage: str | None = None
    ephemeral_storage_limit: str | None = None

    @property
    def memory_limit_bytes(self) -> int:
        return int(quantity_bytes(self.memory_limit))


def decide(kind: ContainerKind, guaranteed_memory: bool, given: ResourcesSpec | None) -> ResourcesPlan:
    """The resources of a ``kind`` container: what the spec gives, the rest from DEFAULTS.

    - A request left out while its limit is given is the limit (as Kubernetes itself defaults it).
    - A memory limit left out while the request is given is the request under ``premium``, else
      the larger of the default limit and the request.
    - Both left out: the preset's defaults. A CPU limit is never added (see the module's docstring).
    """
    default = DEFAULTS[kind][1 if guaranteed_memory else 0]
    requests = given.requests if given and given.requests else None
    limits = given.limits if given and given.limits else None
    cpu_limit = limits.cpu if limits else None
    requested = requests.memory if requests else None
    memory_limit = limits.memory if limits else None
    return ResourcesPlan(
        cpu=(requests.cpu if requests else None) or cpu_limit or default.cpu,
        memory=requested or memory_limit or default.memory,
        memory_limit=memory_limit or default_memory_limit(kind, guaranteed_memory, requested),
        cpu_limit=cpu_limit,
        ephemeral_storage=(requests.ephemeral_storage if requests else None)
        or (limits.ephemeral_storage if limits else None),
        ephemeral_storage_limit=limits.ephemeral_storage if limits else None,
    )


def default_memory_limit(kind: ContainerKind, guaranteed_memory: bool, request: str | None) -> str:
    """The memory limit of a ``kind`` container whose spec gives none (``decide``): its memory request
    under ``premium``, else the larger of the request and the default limit."""
    default = DEFAULTS[kind][1 if guaranteed_memory else 0]
    if request is None:
        return default.memory_limit
    bigger = quantity_bytes(request) > quantity_bytes(default.memory_limit)
    return request if guaranteed_memory or bigger else default.memory_limit


def given_resources(spec: ClusterSpec) -> dict[ContainerKind, ResourcesSpec | None]:
    """What the spec says about each cluster-wide container kind (None: the defaults). The database
    (per instance set) and pgBouncer are decided with their own plans."""
    backups = spec.backups
    pgbackrest = backups.resources if backups else None
    return {
        ContainerKind.PGBACKREST: pgbackrest,
        ContainerKind.TLS_RELOAD: None,
        ContainerKind.REPO_HOST: pgbackrest,
        ContainerKind.BACKUP: pgbackrest,
        ContainerKind.LOGICAL_BACKUP: backups.logical.resources if backups and backups.logical else None,
        ContainerKind.RECONCILE: None,
        ContainerKind.EXPORTER: spec.monitoring.exporter.resources if spec.monitoring else None,
        ContainerKind.USER_CONTAINER: None,
    }


def resolve_resources(spec: ClusterSpec, guaranteed_memory: bool) -> dict[ContainerKind, ResourcesPlan]:
    """The resources of every cluster-wide container kind."""
    return {kind: decide(kind, guaranteed_memory, given) for kind, given in given_resources(spec).items()}


# PostgreSQL's own defaults (guc_tables.c's boot values, the same in 14 to 18), which apply when
# spec.patroni.parameters leaves them out: pgrender sets none of the three.
POSTGRES_DEFAULTS = {"shared_buffers": "128MB", "max_connections": "100", "work_mem": "4MB"}
# A backend's own memory besides work_mem: "less than 2MiB" measured accurately (Andres Freund,
# "Measuring the Memory Overhead of a Postgres Connection", 2020). The estimate is every
# connection busy with one sort or hash at once: rarely all of them are, but one query may use
# several work_mem, and autovacuum (maintenance_work_mem) and Patroni come on top. Hence a
# warning, not an error: the settings can fit only while the load stays below that.
BACKEND_BYTES = 2 * 2**20


@frozen
class MemoryEstimate:
    """shared_buffers + max_connections * (work_mem + BACKEND_BYTES), and the settings it came from."""

    shared_buffers: str
    max_connections: str
    work_mem: str
    total: int

    @property
    def formula(self) -> str:
        return (
            f"shared_buffers {self.shared_buffers} + max_connections {self.max_connections} * "
            f"(work_mem {self.work_mem} + {BACKEND_BYTES // 2**20}MB per backend) = {_mib(self.total)}"
        )


def memory_estimate(version: int, parameters: dict[str, str]) -> MemoryEstimate:
    """What PostgreSQL ``version`` needs at least with ``parameters`` (PostgreSQL's spelling, as
    the Patroni plan holds them; the checks have passed)."""
    from pgrender.plan.parameters import BASE_UNITS, catalogue, parse_number

    settings = {name: parameters.get(name, default) for name, default in POSTGRES_DEFAULTS.items()}
    amounts = {}
    for name, text in settings.items():
        unit = catalogue(version)[name].unit
        number = parse_number(text, unit, integer=True)
        assert number is not None  # resolve_patroni refused values PostgreSQL would refuse
        amounts[name] = int(number) * (BASE_UNITS[unit][1] if unit else 1)
    total = amounts["shared_buffers"] + amounts["max_connections"] * (amounts["work_mem"] + BACKEND_BYTES)
    return MemoryEstimate(settings["shared_buffers"], settings["max_connections"], settings["work_mem"], total)


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f}MiB"


def memory_warning(estimate: MemoryEstimate, resources: ResourcesPlan, given: ResourcesSpec | None) -> str | None:
    """Why the database container's memory limit cannot hold ``estimate``, or None when it can."""
    if estimate.total <= resources.memory_limit_bytes:
        return None
    memory_given = given is not None and any(r and r.memory for r in (given.limits, given.requests))
    whose = "" if memory_given else " (the default; set resources.limits.memory)"
    return (
        f"{estimate.formula} does not fit the database container's memory limit {resources.memory_limit}{whose}: "
        "PostgreSQL would be killed for memory under load; raise the limit or lower shared_buffers, "
        "max_connections or work_mem"
    )
