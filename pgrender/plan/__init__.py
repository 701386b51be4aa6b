"""resolve(spec) -> ClusterPlan: every name, label, host, SAN, port and default decided once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pgrender.errors import Problem, SpecError
from pgrender.plan import defaults, hosts, labels
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.pgbouncer import PgBouncerPlan, resolve_pgbouncer
from pgrender.plan.scheduling import SchedulingPlan, resolve_scheduling
from pgrender.plan.services import ServicePlan, resolve_service
from pgrender.spec import SourcedCluster
from pgrender.spec.base import quantity_bytes
from pgrender.spec.presets import PRESETS
from pgrender.spec.scheduling import HOSTNAME_KEY, AntiAffinity, AntiAffinityScope
from pgrender.spec.services import ServiceSpec
from pgrender.spec.users import RoleOptions

__all__ = [
    "CertificatePlan",
    "ClusterPlan",
    "ComponentMeta",
    "DatabasePlan",
    "InstancePlan",
    "InstanceSetPlan",
    "PatroniPlan",
    "PgBouncerPlan",
    "SchedulingPlan",
    "ServicePlan",
    "TLSPlan",
    "UserPlan",
    "VolumePlan",
    "resolve",
]

MAX_STATEFULSET_NAME = 52  # StatefulSet pods carry controller-revision-hash=<name>-<10 chars>, max 63
MAX_DNS_LABEL = 63


@dataclass(frozen=True)
class VolumePlan:
    name: str
    size: str
    storage_class: str | None


@dataclass(frozen=True)
class InstancePlan:
    """One Postgres instance: a StatefulSet with one pod and its own PVCs."""

    set_name: str
    ordinal: int
    name: str
    pod: str
    data_volume: VolumePlan
    wal_volume: VolumePlan | None
    resources: dict[str, Any]
    sync_wave: int
    labels: dict[str, str]
    selector: dict[str, str]
    metadata: ComponentMeta
    scheduling: SchedulingPlan


@dataclass(frozen=True)
class InstanceSetPlan:
    name: str
    instances: tuple[InstancePlan, ...]
    disruption_budget: str | None
    selector: dict[str, str]
    labels: dict[str, str]
    metadata: ComponentMeta


@dataclass(frozen=True)
class UserPlan:
    """A role; login roles get a credentials Secret."""

    name: str
    databases: tuple[str, ...]
    options: RoleOptions
    password_rotation: int
    secret: str | None
    labels: dict[str, str]


@dataclass(frozen=True)
class DatabasePlan:
    name: str
    owner: str
    grantees: tuple[str, ...]


@dataclass(frozen=True)
class PatroniPlan:
    scope: str
    ttl: int
    loop_wait: int
    retry_timeout: int
    synchronous_mode: bool
    synchronous_mode_strict: bool
    local_parameters: tuple[tuple[str, str], ...]
    dcs_parameters: tuple[tuple[str, str], ...]
    pg_hba: tuple[str, ...]
    labels: dict[str, str]
    role_label: str
    scope_label: str


@dataclass(frozen=True)
class CertificatePlan:
    """A leaf certificate signed by the cluster CA."""

    subject: str  # the SecretInput subject naming this certificate
    common_name: str
    dns_names: tuple[str, ...]
    server: bool
    client: bool


@dataclass(frozen=True)
class TLSPlan:
    ca_common_name: str
    not_before: dt.datetime
    ca_validity_days: int
    validity_days: int
    rotation: int
    server: CertificatePlan
    replication: CertificatePlan
    superuser: CertificatePlan
    pgbouncer: CertificatePlan | None

    @property
    def leaves(self) -> tuple[CertificatePlan, ...]:
        """Every leaf certificate the CA signs."""
        optional = (self.pgbouncer,) if self.pgbouncer else ()
        return (self.server, self.replication, self.superuser, *optional)


@dataclass(frozen=True)
class ClusterPlan:
    """Everything the builders need, resolved from one PostgresCluster; immutable."""

    name: str
    namespace: str
    names: Names
    domain: str
    postgres_version: int
    image: str
    bin_dir: str
    patroni_command: str
    run_as_user: int
    run_as_group: int
    fs_group: int
    port: int
    patroni_port: int
    data_dir: str
    wal_dir: str | None
    user_labels: dict[str, str]
    user_annotations: dict[str, str]
    database_labels: dict[str, str]
    pod_labels: dict[str, str]
    instance_sets: tuple[InstanceSetPlan, ...]
    users: tuple[UserPlan, ...]
    databases: tuple[DatabasePlan, ...]
    patroni: PatroniPlan
    primary_service: ServicePlan
    replicas_service: ServicePlan | None
    pods_selector: dict[str, str]
    primary_host: str
    tls: TLSPlan
    superuser: str
    replication_user: str
    reconcile_wave: int
    reconcile_labels: dict[str, str]
    pgbouncer: PgBouncerPlan | None

    @property
    def instances(self) -> tuple[InstancePlan, ...]:
        return tuple(i for s in self.instance_sets for i in s.instances)

    def labels_for(self, own: dict[str, str], component: ComponentMeta | None = None) -> dict[str, str]:
        """Cluster labels, then the component's, then pgrender's (resolve() refused overlaps)."""
        return {**self.user_labels, **(component.labels if component else {}), **own}

    def annotations_for(self, own: dict[str, str], component: ComponentMeta | None = None) -> dict[str, str]:
        """Cluster annotations, then the component's, then pgrender's."""
        return {**self.user_annotations, **(component.annotations if component else {}), **own}


def resolve(sourced: SourcedCluster) -> ClusterPlan:
    """Decide everything about one cluster; raise SpecError with every cross-field problem."""
    problems: list[Problem] = []
    meta = sourced.cluster.metadata
    spec = sourced.cluster.spec
    names = Names(meta.name)
    ns = meta.namespace
    domain = spec.cluster_domain

    for path, mapping in (
        (("metadata", "labels"), meta.labels),
        (("metadata", "annotations"), meta.annotations),
    ):
        for key in mapping:
            if labels.is_reserved(key):
                problems.append(sourced.problem((*path, key), f"{key!r} is set by pgrender (selectors depend on it)"))

    _check_names(sourced, names, problems)

    db_labels = labels.common(meta.name, labels.COMPONENT_DATABASE)
    scope = names.patroni_scope
    pod_selector = {labels.CLUSTER_LABEL: meta.name, labels.SCOPE_LABEL: scope}
    pod_labels = {**db_labels, labels.SCOPE_LABEL: scope}

    preset = PRESETS[spec.preset] if spec.preset else None
    sets: list[InstanceSetPlan] = []
    seen_sets: set[str] = set()
    wave = 1
    for i, s in enumerate(spec.instances):
        replicas = preset.replicas if preset and "replicas" not in s.model_fields_set else s.replicas
        anti = s.scheduling.pod_anti_affinity
        anti_type = (
            preset.anti_affinity
            if preset and ("scheduling" not in s.model_fields_set or "type" not in anti.model_fields_set)
            else anti.type
        )
        if (
            anti_type == AntiAffinity.REQUIRED
            and anti.topology_key == HOSTNAME_KEY
            and spec.node_count is not None
            and replicas > spec.node_count
        ):
            problems.append(
                sourced.problem(
                    ("spec", "instances", i, "replicas"),
                    f"{replicas} instances with required anti-affinity on {HOSTNAME_KEY} need {replicas} nodes, "
                    f"but spec.nodeCount is {spec.node_count}: the extra pods would never schedule; use "
                    "preferred anti-affinity or fewer replicas",
                )
            )
        set_meta = resolve_metadata(sourced, ("spec", "instances", i, "metadata"), s.metadata, problems)
        if s.name in seen_sets:
            problems.append(sourced.problem(("spec", "instances", i, "name"), f"duplicate instance set {s.name!r}"))
        seen_sets.add(s.name)
        for vol_field, vol in (("dataVolume", s.data_volume), ("walVolume", s.wal_volume)):
            if vol is not None and quantity_bytes(vol.size) < 2**20:
                problems.append(sourced.problem(("spec", "instances", i, vol_field, "size"), "expected at least 1Mi"))
        set_labels = {**db_labels, labels.INSTANCE_SET_LABEL: s.name}
        set_selector = {**pod_selector, labels.INSTANCE_SET_LABEL: s.name}
        longest = names.instance(s.name, replicas - 1)
        if len(longest) > MAX_STATEFULSET_NAME:
            problems.append(
                sourced.problem(
                    ("spec", "instances", i, "name"),
                    f"instance name {longest!r} is {len(longest)} characters; Kubernetes allows "
                    f"{MAX_STATEFULSET_NAME} for a StatefulSet (its pods' revision label adds 11); "
                    "shorten metadata.name or the set name",
                )
            )
        scheduling = resolve_scheduling(
            s.scheduling,
            anti_affinity=anti_type,
            anti_affinity_selector=set_selector if anti.scope == AntiAffinityScope.INSTANCE_SET else pod_selector,
            spread_selector=set_selector,
        )
        members = []
        for ordinal in range(replicas):
            name = names.instance(s.name, ordinal)
            members.append(
                InstancePlan(
                    set_name=s.name,
                    ordinal=ordinal,
                    name=name,
                    pod=names.pod(name),
                    data_volume=VolumePlan(
                        names.data_volume(name), s.data_volume.size, s.data_volume.storage_class_name
                    ),
                    wal_volume=(
                        VolumePlan(names.wal_volume(name), s.wal_volume.size, s.wal_volume.storage_class_name)
                        if s.wal_volume
                        else None
                    ),
                    resources=s.resources.model_dump(by_alias=True, exclude_none=True) if s.resources else {},
                    sync_wave=wave,
                    labels={**set_labels, labels.INSTANCE_LABEL: name},
                    selector={**set_selector, labels.INSTANCE_LABEL: name},
                    metadata=set_meta,
                    scheduling=scheduling,
                )
            )
            wave += 1
        sets.append(
            InstanceSetPlan(
                name=s.name,
                instances=tuple(members),
                disruption_budget=names.instance_set(s.name) if replicas > 1 else None,
                selector=set_selector,
                labels=set_labels,
                metadata=set_meta,
            )
        )

    users, databases = _users_and_databases(sourced, names, problems)
    synchronous = (
        preset.synchronous_mode
        if preset and "synchronous_mode" not in spec.patroni.model_fields_set
        else spec.patroni.synchronous_mode
    )
    pg = _patroni(sourced, names, synchronous, problems)
    if spec.port == defaults.PATRONI_PORT:
        problems.append(sourced.problem(("spec", "port"), f"port {defaults.PATRONI_PORT} is Patroni's REST API port"))
    if spec.patroni.synchronous_mode_strict and not synchronous:
        problems.append(sourced.problem(("spec", "patroni", "synchronousModeStrict"), "requires synchronousMode: true"))
    if spec.patroni.synchronous_mode_strict and sum(len(s.instances) for s in sets) == 1:
        problems.append(
            sourced.problem(
                ("spec", "patroni", "synchronousModeStrict"),
                "strict synchronous mode with a single instance blocks every write: no replica can confirm "
                "a commit; add an instance or turn it off",
            )
        )

    def role_service(field: str, service_spec: ServiceSpec, name: str, role: str) -> ServicePlan:
        """A client Service selecting the pods Patroni labels with ``role``."""
        selector = {**pod_selector, labels.ROLE_LABEL: role}
        return resolve_service(
            sourced,
            ("spec", field),
            service_spec,
            name=name,
            port_name="postgres",
            port=spec.port,
            selector=selector,
            labels=db_labels,
            problems=problems,
        )

    primary = role_service("service", spec.service, names.primary_service, labels.ROLE_PRIMARY)
    replicas_service = (
        role_service("replicaService", spec.replica_service, names.replicas_service, labels.ROLE_REPLICA)
        if spec.replica_service.enabled
        else None
    )
    pgbouncer = (
        resolve_pgbouncer(
            sourced, spec.proxy.pg_bouncer, names, server_port=spec.port, sync_wave=wave + 1, problems=problems
        )
        if spec.proxy.pg_bouncer
        else None
    )
    if pgbouncer and pgbouncer.port == defaults.PATRONI_PORT:
        problems.append(sourced.problem(("spec", "proxy", "pgBouncer", "port"), "port 8008 is Patroni's REST API port"))
    if problems:
        raise SpecError(problems)

    version = spec.postgres_version
    contract = spec.image_contract
    wal_dir = f"{defaults.PGWAL_MOUNT}/pg{version}_wal" if spec.instances[0].wal_volume else None
    return ClusterPlan(
        name=meta.name,
        namespace=ns,
        names=names,
        domain=domain,
        postgres_version=version,
        image=spec.image or defaults.IMAGES[version],
        bin_dir=(contract.bin_dir or defaults.BIN_DIR).format(version=version),
        patroni_command=contract.patroni,
        run_as_user=contract.run_as_user,
        run_as_group=contract.run_as_group,
        fs_group=contract.fs_group,
        port=spec.port,
        patroni_port=defaults.PATRONI_PORT,
        data_dir=f"{defaults.PGDATA_MOUNT}/pg{version}",
        wal_dir=wal_dir,
        user_labels=dict(meta.labels),
        user_annotations=dict(meta.annotations),
        database_labels=db_labels,
        pod_labels=pod_labels,
        instance_sets=tuple(sets),
        users=users,
        databases=databases,
        patroni=pg,
        primary_service=primary,
        replicas_service=replicas_service,
        pods_selector=pod_selector,
        primary_host=hosts.service_host(names.primary_service, ns),
        tls=_tls(sourced, names, sets, pgbouncer),
        superuser=defaults.SUPERUSER,
        replication_user=defaults.REPLICATION_USER,
        reconcile_wave=wave,
        reconcile_labels=labels.common(meta.name, labels.COMPONENT_RECONCILE),
        pgbouncer=pgbouncer,
    )


def _check_names(sourced: SourcedCluster, names: Names, problems: list[Problem]) -> None:
    longest = {
        "Service": names.replicas_service,
        "Patroni scope label": names.patroni_scope,
        "reconcile Job": names.reconcile_job("0" * 10),
    }
    for what, name in longest.items():
        if len(name) > MAX_DNS_LABEL:
            problems.append(
                sourced.problem(
                    ("metadata", "name"),
                    f"too long: the {what} name {name!r} would be {len(name)} characters, "
                    f"Kubernetes allows {MAX_DNS_LABEL}",
                )
            )
            return


def _users_and_databases(
    sourced: SourcedCluster, names: Names, problems: list[Problem]
) -> tuple[tuple[UserPlan, ...], tuple[DatabasePlan, ...]]:
    spec = sourced.cluster.spec
    cluster = sourced.cluster.metadata.name
    specs = list(spec.users)
    if not specs:
        # PGO's default: one user and one database named after the cluster.
        from pgrender.spec.users import UserSpec

        specs = [UserSpec(name=cluster, databases=[cluster])]
    seen: set[str] = set()
    users = []
    for i, u in enumerate(specs):
        path = ("spec", "users", i, "name")
        if u.name in seen:
            problems.append(sourced.problem(path, f"duplicate user {u.name!r}"))
        if u.name == defaults.SUPERUSER or u.name.startswith(defaults.RESERVED_ROLE_PREFIX):
            problems.append(
                sourced.problem(path, f"{u.name!r} is reserved: pgrender manages the superuser and replication roles")
            )
            continue
        if len(set(u.databases)) != len(u.databases):
            problems.append(sourced.problem(("spec", "users", i, "databases"), "a database is listed twice"))
        seen.add(u.name)
        secret = names.pguser_secret(u.name) if u.options.login else None
        user_labels = {
            **labels.common(cluster, labels.COMPONENT_DATABASE),
            labels.PGUSER_LABEL: u.name,
        }
        users.append(UserPlan(u.name, tuple(u.databases), u.options, u.password_rotation, secret, user_labels))

    owners: dict[str, str] = {}
    for i, d in enumerate(spec.databases):
        if d.name in owners:
            problems.append(sourced.problem(("spec", "databases", i, "name"), f"duplicate database {d.name!r}"))
        if d.owner not in seen:
            problems.append(
                sourced.problem(
                    ("spec", "databases", i, "owner"),
                    f"owner {d.owner!r} is not one of spec.users ({', '.join(sorted(seen)) or 'none'})",
                )
            )
        owners[d.name] = d.owner
    for user in users:
        for db in user.databases:
            owners.setdefault(db, user.name)
    databases = tuple(
        DatabasePlan(db, owner, tuple(user.name for user in users if db in user.databases))
        for db, owner in owners.items()
    )
    return tuple(users), databases


def _parameter_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _patroni(sourced: SourcedCluster, names: Names, synchronous: bool, problems: list[Problem]) -> PatroniPlan:
    spec = sourced.cluster.spec
    p = spec.patroni
    for key in p.parameters:
        if key in defaults.MANAGED_PARAMETERS:
            problems.append(
                sourced.problem(
                    ("spec", "patroni", "parameters", key),
                    f"{key!r} is managed by pgrender (TLS, ports, paths and replication depend on it)",
                )
            )
    merged = {**defaults.DEFAULT_PARAMETERS, **{k: _parameter_text(v) for k, v in p.parameters.items()}}
    managed = {
        "password_encryption": "scram-sha-256",
        "ssl": "on",
        "ssl_ca_file": f"{defaults.TLS_DIR}/ca.crt",
        "ssl_cert_file": f"{defaults.TLS_DIR}/tls.crt",
        "ssl_key_file": f"{defaults.TLS_DIR}/tls.key",
        "unix_socket_directories": defaults.SOCKET_DIR,
    }
    local = {k: v for k, v in {**merged, **managed}.items() if k not in defaults.DCS_PARAMETERS}
    dcs = {k: v for k, v in merged.items() if k in defaults.DCS_PARAMETERS}
    dcs["wal_level"] = "logical"

    for i, rule in enumerate(p.pg_hba):
        message = _check_hba_rule(rule)
        if message:
            problems.append(sourced.problem(("spec", "patroni", "pgHBA", i), message))

    su, repl = defaults.SUPERUSER, defaults.REPLICATION_USER
    hba = (
        f"local all {su} peer",
        f"hostssl replication {repl} all cert",
        f"hostssl postgres {repl} all cert",
        f"host all {repl} all reject",
        f"hostssl all {su} all cert",
        f"host all {su} all reject",
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
        local_parameters=tuple(sorted(local.items())),
        dcs_parameters=tuple(sorted(dcs.items())),
        pg_hba=hba,
        labels={labels.CLUSTER_LABEL: sourced.cluster.metadata.name},
        role_label=labels.ROLE_LABEL,
        scope_label=labels.SCOPE_LABEL,
    )


_HBA_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")


def _check_hba_rule(rule: str) -> str | None:
    fields = rule.split()
    if not fields or fields[0] not in _HBA_TYPES:
        return f"expected a pg_hba rule starting with one of {', '.join(_HBA_TYPES)}"
    if len(fields) < (4 if fields[0] == "local" else 5):
        return "expected TYPE DATABASE USER [ADDRESS] METHOD"
    users = fields[2].split(",")
    if any(u in (defaults.SUPERUSER, defaults.REPLICATION_USER) for u in users):
        return "rules for the superuser and replication roles are managed by pgrender"
    method = fields[3] if fields[0] == "local" else fields[4]
    if fields[0] in ("host", "hostnossl", "hostnogssenc") and method != "reject":
        return f"{fields[0]!r} would allow connections without TLS; use hostssl (or method reject)"
    if method in ("password", "md5", "trust") and fields[0] != "local":
        return f"method {method!r} is weaker than scram-sha-256, which pgrender's passwords use"
    return None


def _tls(
    sourced: SourcedCluster, names: Names, sets: list[InstanceSetPlan], pgbouncer: PgBouncerPlan | None
) -> TLSPlan:
    spec = sourced.cluster.spec
    ns, domain = sourced.cluster.metadata.namespace, spec.cluster_domain
    dns: list[str] = [*hosts.dns_forms(names.primary_service, ns, domain)]
    if spec.replica_service.enabled:
        dns += hosts.dns_forms(names.replicas_service, ns, domain)
    for s in sets:
        for inst in s.instances:
            dns += hosts.pod_dns_forms(inst.pod, names.pods_service, ns, domain)
    dns += [n for n in spec.tls.extra_sans if n not in dns]
    pgbouncer_dns = hosts.dns_forms(names.pgbouncer, ns, domain)
    t = spec.tls
    return TLSPlan(
        ca_common_name=f"{names.cluster}.{ns} pgrender CA",
        not_before=t.not_before,
        ca_validity_days=t.ca_validity_days,
        validity_days=t.validity_days,
        rotation=t.rotation,
        server=CertificatePlan("server", dns[0], tuple(dns), server=True, client=True),
        replication=CertificatePlan("replication", defaults.REPLICATION_USER, (), server=False, client=True),
        superuser=CertificatePlan("superuser", defaults.SUPERUSER, (), server=False, client=True),
        pgbouncer=(
            CertificatePlan("pgbouncer", f"{pgbouncer.host}.{domain}", pgbouncer_dns, server=True, client=False)
            if pgbouncer
            else None
        ),
    )
