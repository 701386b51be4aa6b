"""The pgBouncer plans: names, selectors, settings, scheduling, Service and auth user of the primary's
pooler (spec.proxy.pgBouncer) and of the replicas' (spec.proxy.pgBouncerReplicas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import field, frozen
from pgrender.patterns import Pattern
from pgrender.plan import defaults, hosts, labels, secret_keys
from pgrender.plan.containers import UserContainersPlan, resolve_containers
from pgrender.plan.labels import COMPONENT_PGBOUNCER
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.resources import ContainerKind, ResourcesPlan, decide
from pgrender.plan.scheduling import SchedulingPlan, resolve_scheduling
from pgrender.plan.services import ServicePlan, resolve_service
from pgrender.spec import SourcedCluster
from pgrender.spec.rules.pgbouncer import PoolMode

if TYPE_CHECKING:
    from pgrender.spec.pgbouncer import PgBouncerSpec

PATH = ("spec", "proxy", "pgBouncer")
REPLICAS_PATH = ("spec", "proxy", "pgBouncerReplicas")

# pgbouncer.ini [databases] and [users] settings passed through, by the values they take (the ones
# pgBouncer 1.18 and later know). Values are single words: no quoting, spaces, ';', '#' or '='.
_WORD = Pattern(r"^[A-Za-z0-9_./:+,-]+\Z")
_COUNT = Pattern(r"^[0-9]{1,9}\Z")
_POOL_MODES = tuple(m.value for m in PoolMode)
DATABASE_SETTINGS: dict[str, Pattern | tuple[str, ...]] = {
    "dbname": _WORD,
    "pool_size": _COUNT,
    "min_pool_size": _COUNT,
    "reserve_pool": _COUNT,
    "max_db_connections": _COUNT,
    "pool_mode": _POOL_MODES,
    "client_encoding": _WORD,
    "datestyle": _WORD,
    "timezone": _WORD,
}
USER_SETTINGS: dict[str, Pattern | tuple[str, ...]] = {
    "pool_mode": _POOL_MODES,
    "max_user_connections": _COUNT,
}
# Connection settings pgrender writes itself, or that would break pgBouncer's authentication.
REFUSED_DATABASE_SETTINGS = {
    "host": "an entry reaches this cluster's primary (or its replicas), whose host and port pgrender writes",
    "port": "an entry reaches this cluster's primary (or its replicas), whose host and port pgrender writes",
    "user": "clients log in as themselves (a forced user needs its password in pgBouncer's files)",
    "password": "a password does not belong in a ConfigMap; clients log in as themselves",
    "auth_user": "pgrender's auth user looks up every password (auth_query)",
    "connect_query": "SQL needs quoting that pgrender cannot check in pgbouncer.ini",
}
# pgbouncer.ini names outside quotes: pgBouncer's own rule for database names.
_ENTRY_NAME = Pattern(r"^[A-Za-z0-9_.-]{1,63}\Z")


@frozen
class PgBouncerPlan:
    name: str
    replicas: int
    image: str
    run_as_user: int | None  # None (spec.openshift): the SCC assigns them
    run_as_group: int | None
    pool_mode: PoolMode
    max_client_connections: int
    default_pool_size: int
    # pgBouncer's max_prepared_statements, rendered for transaction and statement pools when not 0
    max_prepared_statements: int
    port: int
    settings: tuple[tuple[str, str], ...]
    resources: ResourcesPlan
    scheduling: SchedulingPlan
    service: ServicePlan
    metadata: ComponentMeta
    labels: dict[str, str]
    selector: dict[str, str]
    host: str
    server_host: str
    server_port: int
    auth_user: str
    auth_password_subject: str  # the SecretInput subject of the auth user's password
    auth_file: str  # pgBouncer's auth_file, in its mounted Secret
    disruption_budget: str | None
    sync_wave: int
    # [databases] entries before the wildcard (name, settings after host and port), and [users] entries.
    databases: tuple[tuple[str, str], ...] = ()
    users: tuple[tuple[str, str], ...] = ()
    # (user, passwordRotation) of each [users] entry: pgBouncer does not look up the password of a user
    # listed there with auth_query (it knows the user already), so its auth file holds theirs too.
    auth_file_users: tuple[tuple[str, int], ...] = ()
    containers: UserContainersPlan = field(default_factory=UserContainersPlan)
    path: tuple[str, ...] = PATH  # the spec field it comes from
    component: str = COMPONENT_PGBOUNCER  # its pods' component label (policies select on it)
    certificate: str = "pgbouncer"  # the subject of its server certificate (TLSPlan.pooler_certificate)
    reaches: str = "primary"  # what its server side reaches: "primary" or "replicas"

    @property
    def tracks_prepared_statements(self) -> bool:
        """Whether clients' protocol-level prepared statements work through the pool as on the server:
        a session pool keeps a client on one server connection; a transaction or statement pool does
        when pgBouncer tracks them (max_prepared_statements, pgBouncer 1.21+)."""
        return self.pool_mode == PoolMode.SESSION or self.max_prepared_statements > 0

    @property
    def jdbc_parameters(self) -> tuple[str, ...]:
        """pgJDBC's server-side statements (after prepareThreshold executions, 5) break a transaction
        or statement pool that does not track them: prepareThreshold=0 keeps them unnamed."""
        return () if self.tracks_prepared_statements else ("prepareThreshold=0",)


def _setting_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def resolve_pgbouncer(
    sourced: SourcedCluster,
    spec: PgBouncerSpec,
    names: Names,
    *,
    server_port: int,
    sync_wave: int,
    guaranteed_memory: bool,
    problems: list[Problem],
    replicas: bool = False,
) -> PgBouncerPlan:
    """The primary's pooler, or with ``replicas`` the replicas' (through the replicas Service)."""
    cluster = sourced.cluster.metadata
    path = REPLICAS_PATH if replicas else PATH
    component = labels.COMPONENT_PGBOUNCER_REPLICAS if replicas else labels.COMPONENT_PGBOUNCER
    pgbouncer_labels = labels.common(cluster.name, component)
    selector = {labels.CLUSTER_LABEL: cluster.name, labels.COMPONENT_LABEL: component}
    name, service_name = (
        (names.pgbouncer_replicas, names.pgbouncer_replicas_service)
        if replicas
        else (names.pgbouncer, names.pgbouncer_service)
    )
    if replicas and not sourced.cluster.spec.replica_service.enabled:
        problems.append(
            sourced.problem(
                path,
                f"the replicas' pgBouncer reaches them through the replicas Service {names.replicas_service}, which "
                "spec.replicaService.enabled: false leaves out; enable it, or remove pgBouncerReplicas",
            )
        )
    users = _entries(sourced, path, "users", spec.config.users, USER_SETTINGS, {}, problems)
    rotations = _pooled_users(sourced, path, [user for user, _ in users], problems)
    return PgBouncerPlan(
        name=name,
        replicas=spec.replicas,
        image=spec.image or defaults.PGBOUNCER_IMAGE,
        run_as_user=spec.run_as_user,
        run_as_group=spec.run_as_group,
        pool_mode=spec.pool_mode,
        max_client_connections=spec.max_client_connections,
        default_pool_size=spec.default_pool_size,
        max_prepared_statements=spec.max_prepared_statements,
        port=spec.port,
        settings=tuple(sorted((k, _setting_text(v)) for k, v in spec.config.global_.items())),
        resources=decide(ContainerKind.PGBOUNCER, guaranteed_memory, spec.resources),
        scheduling=resolve_scheduling(
            spec.scheduling,
            anti_affinity=spec.scheduling.pod_anti_affinity.type,
            anti_affinity_selector=selector,
            spread_selector=selector,
        ),
        service=resolve_service(
            sourced,
            (*path, "service"),
            spec.service,
            name=service_name,
            port_name=defaults.PGBOUNCER_PORT_NAME,
            port=spec.port,
            selector=selector,
            labels=pgbouncer_labels,
            problems=problems,
        ),
        metadata=resolve_metadata(sourced, (*path, "metadata"), spec.metadata, problems),
        labels=pgbouncer_labels,
        selector=selector,
        host=hosts.client_host(service_name, cluster.namespace, sourced.cluster.spec.connectivity.dns),
        server_host=hosts.service_host(
            names.replicas_service if replicas else names.primary_service, cluster.namespace
        ),
        server_port=server_port,
        auth_user=defaults.PGBOUNCER_USER,
        auth_password_subject="pgbouncer-auth",
        auth_file=f"{defaults.PGBOUNCER_SECRET_DIR}/{secret_keys.PGBOUNCER_AUTH_FILE}",
        disruption_budget=name if spec.replicas > 1 else None,
        sync_wave=sync_wave,
        databases=tuple(
            _entries(
                sourced,
                path,
                "databases",
                spec.config.databases,
                DATABASE_SETTINGS,
                REFUSED_DATABASE_SETTINGS,
                problems,
            )
        ),
        users=tuple(users),
        auth_file_users=tuple((name, rotations[name]) for name, _ in users if name in rotations),
        containers=resolve_containers(
            sourced,
            path,
            spec.sidecars,
            spec.init_containers,
            own=defaults.PGBOUNCER_CONTAINERS,
            volumes=frozenset(),
            problems=problems,
        ),
        path=path,
        component=component,
        certificate="pgbouncer-replicas" if replicas else "pgbouncer",
        reaches="replicas" if replicas else "primary",
    )


def _entries(
    sourced: SourcedCluster,
    pooler: tuple[str, ...],
    section: str,
    given: dict[str, str],
    known: dict[str, Pattern | tuple[str, ...]],
    refused: dict[str, str],
    problems: list[Problem],
) -> list[tuple[str, str]]:
    """[databases] or [users] entries as pgBouncer reads them, sorted by name; each name and setting checked."""
    out = []
    for name, text in sorted(given.items()):
        path = (*pooler, "config", section, name)
        messages = []
        if not _ENTRY_NAME.match(name) or name in ("*", "pgbouncer"):
            messages.append(
                f"{name!r} cannot name a pgBouncer {section[:-1]} here; expected 1-63 letters, digits, '_', '.' or '-' "
                "(not pgbouncer, its admin console)"
            )
        seen = set()
        for item in text.split():
            key, sep, value = item.partition("=")
            rule = known.get(key)
            if key in refused:
                messages.append(f"{key}: not allowed ({refused[key]})")
            elif rule is None or not sep:
                # The key only: a mistyped key may carry a value that should not be echoed (a password).
                messages.append(f"{key!r}: expected key=value with a key of {', '.join(known)}")
            elif key in seen:
                messages.append(f"{key} is given twice")
            elif isinstance(rule, tuple) and value not in rule:
                messages.append(f"{key}={value}: expected one of {', '.join(rule)}")
            elif isinstance(rule, Pattern) and not rule.match(value):
                messages.append(f"{key}={value}: expected a number" if rule is _COUNT else f"{key}: expected one word")
            seen.add(key)
        if not text.split() and section == "users":
            messages.append("expected settings, e.g. pool_mode=transaction")
        if messages:
            problems.append(sourced.problem(path, "; ".join(messages)))
        else:
            out.append((name, " ".join(text.split())))
    return out


def _pooled_users(
    sourced: SourcedCluster, pooler: tuple[str, ...], names: list[str], problems: list[Problem]
) -> dict[str, int]:
    """The passwordRotation of each user with a [users] entry, which must be a user of spec.users that
    pgBouncer lets in (it logs in, and is neither a superuser nor a replication role, like get_auth())."""
    spec = {u.name: u for u in sourced.cluster.spec.users}
    out = {}
    for name in names:
        user = spec.get(name)
        why = None
        if user is None:
            why = "not one of spec.users: pgBouncer takes the password of a user in [users] from its auth file"
        elif not user.options.login or user.options.superuser or user.options.replication:
            why = "not a user pgBouncer lets in (it logs in, and is neither a superuser nor a replication role)"
        if why:
            problems.append(sourced.problem((*pooler, "config", "users", name), f"{name!r} is {why}"))
        else:
            assert user is not None
            out[name] = user.password_rotation
    return out
