"""The Patroni plan: timing, synchronous mode, parameters (local and DCS-only) and pg_hba."""

from __future__ import annotations

from typing import Any

from pgrender.errors import Problem
from pgrender.frozen import field, frozen
from pgrender.plan import defaults, labels
from pgrender.plan.backups import BackupsPlan
from pgrender.plan.names import Names, source_host
from pgrender.plan.parameters import check_value, parameter_name, parse_number, same_value
from pgrender.plan.pg_hba import check_rule
from pgrender.plan.tls import SERVER_FILES
from pgrender.spec import SourcedCluster

# The pg_ident map of the replication certificate's common name to the replication user.
REPLICATION_MAP = "pgrender-replication"

# spec.patroni.dynamicConfiguration: the settings of Patroni's dynamic configuration passed through,
# by the kind of value Patroni takes (Patroni 3 and 4, "Dynamic Configuration Settings").
PASSTHROUGH: dict[str, type | tuple[type, ...]] = {
    "maximum_lag_on_failover": int,
    "maximum_lag_on_syncnode": int,
    "max_timelines_history": int,
    "primary_start_timeout": int,
    "primary_stop_timeout": int,
    "synchronous_node_count": int,
    "failsafe_mode": bool,
    "check_timeline": bool,
    "member_slots_ttl": (int, str),
    "slots": dict,
    "ignore_slots": list,
}
PASSTHROUGH_POSTGRESQL: dict[str, type | tuple[type, ...]] = {"use_slots": bool, "use_pg_rewind": bool}
# Settings pgrender writes itself: where to set them instead.
MANAGED = {
    "ttl": "spec.patroni.leaderLeaseDurationSeconds",
    "loop_wait": "spec.patroni.syncPeriodSeconds (the probes' timing follows it)",
    "retry_timeout": "spec.patroni.leaderLeaseDurationSeconds and syncPeriodSeconds (pgrender derives it from both)",
    "synchronous_mode": "spec.patroni.synchronousMode",
    "synchronous_mode_strict": "spec.patroni.synchronousModeStrict",
    "standby_cluster": "spec.standby",
}
MANAGED_POSTGRESQL = {
    "pg_hba": "spec.patroni.pgHBA (pgrender's own rules come first)",
    "pg_ident": "spec.tls.replicationCommonName (pgrender maps it to the replication user)",
    "recovery_conf": "spec.standby or spec.bootstrap (pgrender writes the recovery settings)",
}


@frozen
class ProbePlan:
    """Kubelet probe timing for the Patroni REST API, from Patroni's own loop and lease."""

    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@frozen
class PatroniPlan:
    scope: str
    ttl: int
    loop_wait: int
    retry_timeout: int
    synchronous_mode: bool
    synchronous_mode_strict: bool
    # Every PostgreSQL parameter but those below, in the dynamic configuration: Patroni reloads or
    # flags a restart on each member when one changes, so no pod needs replacing for a parameter.
    parameters: tuple[tuple[str, str], ...]
    # Parameters that name files in the pod (pgrender's own, never the spec's): in patroni.yaml,
    # which each pod's Patroni reads for itself.
    pod_parameters: tuple[tuple[str, str], ...]
    pg_hba: tuple[str, ...]
    labels: dict[str, str]
    role_label: str
    leader_label_value: str  # Patroni writes these on pods; the Services select on them
    follower_label_value: str
    scope_label: str
    restapi_user: str
    restapi_password_subject: str  # the SecretInput subject of the REST API password
    probe: ProbePlan
    member_api_hosts: tuple[str, ...]  # host:port of every member's REST API, as its certificate names it
    # How a replica checks the member it streams from (spec.connectivity.replicationSSLMode): the
    # client certificate authenticates it; members reach each other as <pod>.<c>-pods, a name the
    # server certificate carries, so verify-full holds too.
    replication_sslmode: str
    # A standby cluster's standby_cluster section; removing it from the dynamic configuration promotes.
    standby_cluster: dict[str, Any] | None = None
    # pg_ident.conf lines (map system-name role), in the dynamic configuration when there are any.
    pg_ident: tuple[str, ...] = ()
    # spec.patroni.dynamicConfiguration as checked, without its parameters (those are in
    # ``parameters``): top-level settings, and postgresql's in "postgresql".
    passthrough: dict[str, Any] = field(default_factory=dict)

    @property
    def dynamic_configuration(self) -> dict[str, Any]:
        """Patroni's dynamic (DCS) configuration: bootstrap.dcs in bootstrap.yaml, and what the
        reconcile Job writes with PUT /config afterwards, since Patroni reads bootstrap.dcs once.

        It holds everything members share that may change on a running cluster (parameters, pg_hba,
        timing), so such a change reaches the members through Patroni, not through new pods."""
        passthrough = dict(self.passthrough)
        out: dict[str, Any] = {
            "ttl": self.ttl,
            "loop_wait": self.loop_wait,
            "retry_timeout": self.retry_timeout,
            "synchronous_mode": self.synchronous_mode,
            "synchronous_mode_strict": self.synchronous_mode_strict,
            **passthrough,
            "postgresql": {
                "use_pg_rewind": True,
                "use_slots": True,
                **passthrough.get("postgresql", {}),
                "parameters": dict(self.parameters),
                "pg_hba": list(self.pg_hba),
            },
        }
        if self.pg_ident:
            out["postgresql"]["pg_ident"] = list(self.pg_ident)
        if self.standby_cluster:
            out["standby_cluster"] = dict(self.standby_cluster)
        return out


def _parameter_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


# Managed parameters pgrender sets to one value whatever the spec says (resolve_patroni).
FIXED_PARAMETERS = {"password_encryption": "scram-sha-256", "ssl": "on", "wal_level": "logical"}


def written_anyway(version: int, key: str, value: object, port: int) -> bool:
    """Whether ``key`` is a parameter pgrender manages and ``value`` the one it writes for it anyway:
    those of FIXED_PARAMETERS, and the cluster's ``port`` (spec.port, where Patroni has PostgreSQL
    listen). The spec refuses it all the same; an operator's resource that sets it asks for nothing."""
    name, problem = parameter_name(version, key)
    ours = {**FIXED_PARAMETERS, "port": str(port)}.get(name.lower())
    return problem is None and ours is not None and same_value(version, name, _parameter_text(value), ours)


def resolve_patroni(
    sourced: SourcedCluster,
    names: Names,
    synchronous: bool,
    member_api_hosts: tuple[str, ...],
    backups: BackupsPlan | None,
    problems: list[Problem],
) -> PatroniPlan:
    spec = sourced.cluster.spec
    p = spec.patroni
    merged = {**defaults.DEFAULT_PARAMETERS, **_user_parameters(sourced, problems)}
    pod_parameters = {
        "ssl_ca_file": SERVER_FILES.ca,
        "ssl_cert_file": SERVER_FILES.cert,
        "ssl_key_file": SERVER_FILES.key,
        "unix_socket_directories": defaults.SOCKET_DIR,
    }
    managed = {"password_encryption": FIXED_PARAMETERS["password_encryption"], "ssl": FIXED_PARAMETERS["ssl"]}
    if backups and backups.repos:
        # Whichever member is primary archives every WAL segment to every repository.
        managed |= {
            "archive_mode": "on",
            "archive_command": backups.archive_command,
            "archive_timeout": f"{backups.archive_timeout}s",
            "restore_command": backups.restore_command,
        }
    parameters = {**merged, **managed, "wal_level": FIXED_PARAMETERS["wal_level"]}
    parameters |= _replication_room(sourced, merged, len(member_api_hosts), problems)

    reserved = (defaults.SUPERUSER, defaults.REPLICATION_USER)
    for i, rule in enumerate(p.pg_hba):
        message = check_rule(rule, reserved)
        if message:
            problems.append(sourced.problem(("spec", "patroni", "pgHBA", i), message))

    su, repl = defaults.SUPERUSER, defaults.REPLICATION_USER
    # A replication certificate with another common name (EDB PGD's streaming_replica) is mapped to
    # the replication user; without a map, cert authentication needs the role's own name.
    common_name = spec.tls.replication_common_name
    ident = (f"{REPLICATION_MAP} {common_name} {repl}",) if common_name and common_name != repl else ()
    cert = f"cert map={REPLICATION_MAP}" if ident else "cert"
    hba = (
        f"local all {su} peer",
        f"hostssl replication {repl} all {cert}",
        f"hostssl postgres {repl} all {cert}",
        f"host all {repl} all reject",
        f"hostssl all {su} all cert",
        f"host all {su} all reject",
        *_monitoring_hba(sourced),
        *p.pg_hba,
        "hostssl all all all scram-sha-256",
        "host all all all reject",
    )
    ttl, loop_wait = p.leader_lease_duration_seconds, p.sync_period_seconds
    return PatroniPlan(
        scope=names.patroni_scope,
        ttl=ttl,
        loop_wait=loop_wait,
        retry_timeout=max(1, min(10, (ttl - loop_wait) // 2)),
        synchronous_mode=synchronous,
        synchronous_mode_strict=p.synchronous_mode_strict,
        parameters=tuple(sorted(parameters.items())),
        pod_parameters=tuple(sorted(pod_parameters.items())),
        pg_hba=hba,
        labels={labels.CLUSTER_LABEL: sourced.cluster.metadata.name},
        role_label=names.profile.role_label or labels.ROLE_LABEL,
        leader_label_value=labels.ROLE_PRIMARY,
        follower_label_value=labels.ROLE_REPLICA,
        scope_label=labels.SCOPE_LABEL,
        restapi_user=defaults.PATRONI_RESTAPI_USER,
        restapi_password_subject="patroni-restapi",
        # A member that misses its lease for `ttl` is no longer ready; a probe every loop.
        probe=ProbePlan(loop_wait, max(1, loop_wait // 2), max(1, ttl // loop_wait)),
        member_api_hosts=member_api_hosts,
        replication_sslmode=sourced.cluster.spec.connectivity.replication_ssl_mode.value,
        standby_cluster=_standby_cluster(sourced, backups, problems),
        pg_ident=ident,
        passthrough=_passthrough(sourced, synchronous, problems),
    )


def _monitoring_hba(sourced: SourcedCluster) -> tuple[str, ...]:
    """The exporter's role logs in only from its own pod: ``samehost`` is any address of the pod's
    own interfaces (loopback and the pod IP, which the pod's name resolves to in its /etc/hosts),
    over TLS, to the postgres database; anywhere else it is refused before the spec's rules."""
    if sourced.cluster.spec.monitoring is None:
        return ()
    user = defaults.MONITORING_USER
    return (f"hostssl postgres {user} samehost scram-sha-256", f"host all {user} all reject")


def _standby_cluster(
    sourced: SourcedCluster, backups: BackupsPlan | None, problems: list[Problem]
) -> dict[str, Any] | None:
    """Patroni's standby_cluster: the standby leader is restored from the source's repository
    and replays its archive (restore_command), and/or copies and streams from the source's primary
    Service (host, port; no replication slot, which the source would have to keep); its own
    replicas stream from it."""
    standby = sourced.cluster.spec.standby
    if standby is None or not standby.enabled:
        return None
    out: dict[str, Any] = {}
    methods = []
    if backups and backups.source and backups.source.standby:
        methods.append("pgbackrest")
        out["restore_command"] = backups.source.restore_command
    if standby.from_cluster:
        stream = standby.from_cluster
        meta = sourced.cluster.metadata
        namespace = stream.namespace or meta.namespace
        if (namespace, stream.cluster) == (meta.namespace, meta.name):
            problems.append(
                sourced.problem(("spec", "standby", "fromCluster", "cluster"), "a cluster cannot follow itself")
            )
        out["host"] = source_host(stream.cluster, namespace, sourced.cluster.spec.naming, stream.host)
        out["port"] = stream.port
        methods.append("basebackup")
    return {"create_replica_methods": methods, **out}


DYNAMIC = ("spec", "patroni", "dynamicConfiguration")


def _passthrough(sourced: SourcedCluster, synchronous: bool, problems: list[Problem]) -> dict[str, Any]:
    """spec.patroni.dynamicConfiguration without its parameters, each setting checked: one Patroni passes
    on, of the kind of value it takes, and none that pgrender writes itself (refused with its field)."""
    given = sourced.cluster.spec.patroni.dynamic_configuration
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key == "postgresql" and isinstance(value, dict):
            postgresql = {
                k: v
                for k, v in value.items()
                if k != "parameters"
                and _setting_ok(sourced, (*DYNAMIC, key, k), k, v, PASSTHROUGH_POSTGRESQL, MANAGED_POSTGRESQL, problems)
            }
            if not isinstance(value.get("parameters", {}), dict):
                problems.append(sourced.problem((*DYNAMIC, key, "parameters"), "expected a mapping of parameters"))
            if postgresql:
                out[key] = postgresql
        elif key == "postgresql":
            problems.append(sourced.problem((*DYNAMIC, key), "expected a mapping (use_slots, parameters, ...)"))
        elif _setting_ok(sourced, (*DYNAMIC, key), key, value, PASSTHROUGH, MANAGED, problems):
            out[key] = value
    if "synchronous_node_count" in out and not synchronous:
        problems.append(
            sourced.problem(
                (*DYNAMIC, "synchronous_node_count"),
                "has no effect without synchronous replication: set spec.patroni.synchronousMode too",
            )
        )
    return out


def _setting_ok(
    sourced: SourcedCluster,
    path: tuple[str | int, ...],
    key: str,
    value: Any,
    kinds: dict[str, type | tuple[type, ...]],
    managed: dict[str, str],
    problems: list[Problem],
) -> bool:
    message = None
    if key in managed:
        message = f"{key!r} is managed by pgrender: set {managed[key]}"
    elif key not in kinds:
        message = (
            f"{key!r} is not a Patroni setting pgrender passes through; expected one of {', '.join(sorted(kinds))}"
        )
    elif not any(_is(value, kind) for kind in _kinds(kinds[key])):
        message = f"expected {' or '.join(KIND_NAMES[kind] for kind in _kinds(kinds[key]))}"
    elif isinstance(value, int) and not isinstance(value, bool) and value < 0:
        message = "expected a number of 0 or more"
    if message:
        problems.append(sourced.problem(path, message))
    return message is None


KIND_NAMES = {int: "a whole number", bool: "true or false", dict: "a mapping", list: "a list", str: "text"}


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _is(value: Any, kind: type) -> bool:
    """isinstance, with YAML's true/false not taken for numbers."""
    return isinstance(value, bool) if kind is bool else isinstance(value, kind) and not isinstance(value, bool)


# PostgreSQL's own default of both, from version 10 on.
REPLICATION_DEFAULT = 10


def _replication_room(
    sourced: SourcedCluster, given: dict[str, str], members: int, problems: list[Problem]
) -> dict[str, str]:
    """max_wal_senders and max_replication_slots for ``members``: each replica streams through a WAL
    sender, from a slot Patroni keeps for it on the leader (use_slots), and a new member's
    pg_basebackup takes a sender more. PostgreSQL's defaults fall short from 10 members on: set where
    the spec leaves them, refused where it gives fewer than the replicas need."""
    out = {}
    dynamic = sourced.cluster.spec.patroni.dynamic_configuration.get("postgresql")
    slots = not (isinstance(dynamic, dict) and dynamic.get("use_slots") is False)  # Patroni's use_slots
    for name in ("max_wal_senders", "max_replication_slots") if slots else ("max_wal_senders",):
        value = given.get(name)
        if value is None:
            if members + 1 > REPLICATION_DEFAULT:
                out[name] = str(members + 1)
            continue
        number = parse_number(value, None, integer=True)
        if number is not None and number < members - 1:
            problems.append(
                sourced.problem(
                    parameter_path(sourced, name),
                    f"{name} {value} is fewer than the {members - 1} replicas of {members} members need (one "
                    f"each; {members + 1} leaves room for a new member's copy), or leave it out",
                )
            )
    return out


def parameter_path(sourced: SourcedCluster, name: str) -> tuple[str | int, ...]:
    """Where the spec sets parameter ``name`` (in any case): spec.patroni.parameters, else the
    dynamic configuration's."""
    for key in sourced.cluster.spec.patroni.parameters:
        if key.lower() == name:
            return ("spec", "patroni", "parameters", key)
    dynamic = sourced.cluster.spec.patroni.dynamic_configuration.get("postgresql")
    parameters = dynamic.get("parameters") if isinstance(dynamic, dict) else None
    written = next((k for k in parameters or () if isinstance(k, str) and k.lower() == name), name)
    return (*DYNAMIC, "postgresql", "parameters", written)


def _user_parameters(sourced: SourcedCluster, problems: list[Problem]) -> dict[str, str]:
    """spec.patroni.parameters, and dynamicConfiguration.postgresql.parameters, checked against the
    catalogue of spec.postgresVersion, by PostgreSQL's spelling.

    Names are case-insensitive to PostgreSQL, so they are compared and written in its spelling: a
    managed parameter stays managed however it is written, and one parameter set in both places is
    refused (which one would win is nothing a reader of the spec should have to know).
    """
    spec = sourced.cluster.spec
    out: dict[str, str] = {}
    written: dict[str, tuple[str, tuple[str | int, ...]]] = {}  # PostgreSQL's spelling -> first (key, path)
    dynamic = spec.patroni.dynamic_configuration.get("postgresql")
    dynamic_parameters = dynamic.get("parameters") if isinstance(dynamic, dict) else None
    given: list[tuple[tuple[str | int, ...], Any, Any]] = [
        (("spec", "patroni", "parameters", key), key, value) for key, value in spec.patroni.parameters.items()
    ]
    if isinstance(dynamic_parameters, dict):
        given += [((*DYNAMIC, "postgresql", "parameters", k), k, v) for k, v in dynamic_parameters.items()]
    for path, key, value in given:
        if not isinstance(value, str | int | float | bool) or not isinstance(key, str):
            problems.append(sourced.problem(path, "expected text, a number or true/false"))
            continue
        name, message = parameter_name(spec.postgres_version, key)
        if name.lower() in defaults.MANAGED_PARAMETERS:
            message = f"{key!r} is managed by pgrender (TLS, ports, paths and replication depend on it)"
            if name.lower() in defaults.BACKUP_PARAMETERS:
                message = f"{key!r} is managed by pgrender: set spec.backups (archiveTimeout for archive_timeout)"
        elif name.lower() in written:
            first, where = written[name.lower()]
            message = f"{key!r} and {first!r} name one parameter (names are case-insensitive)"
            if where[:3] != path[:3]:
                message = f"{key!r} is set in spec.patroni.parameters too: set each parameter in one place"
        text = _parameter_text(value)
        message = message or check_value(spec.postgres_version, name, text)
        written.setdefault(name.lower(), (key, path))
        if message:
            problems.append(sourced.problem(path, message))
        else:
            out[name] = text
    return out
