"""resolve(spec) -> ClusterPlan: every name, label, host, SAN, port and default decided once."""

from __future__ import annotations

from dataclasses import dataclass

from pgrender.errors import Problem, SpecError
from pgrender.load import format_path
from pgrender.plan import defaults, hosts, labels
from pgrender.plan.instances import InstancePlan, InstanceSetPlan, VolumePlan, resolve_instances
from pgrender.plan.metadata import ComponentMeta
from pgrender.plan.names import CONTENT_HASH_LENGTH, LABEL_VALUE, NameRule, Names, name_rule
from pgrender.plan.patroni import PatroniPlan, resolve_patroni
from pgrender.plan.pgbouncer import PgBouncerPlan, resolve_pgbouncer
from pgrender.plan.scheduling import SchedulingPlan
from pgrender.plan.services import ServicePlan, resolve_service
from pgrender.plan.tls import CertificatePlan, TLSFiles, TLSPlan, resolve_tls
from pgrender.plan.users import DatabasePlan, UserPlan, resolve_users
from pgrender.spec import VERSION_PLACEHOLDER, SourcedCluster
from pgrender.spec.presets import PRESETS
from pgrender.spec.services import ServiceSpec

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
    "TLSFiles",
    "TLSPlan",
    "UserPlan",
    "VolumePlan",
    "resolve",
]

FieldPath = tuple[str | int, ...]


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
    postgres_address: str  # what members advertise: PATRONI_POSTGRESQL_CONNECT_ADDRESS
    api_address: str  # PATRONI_RESTAPI_CONNECT_ADDRESS
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

    db_labels = labels.common(meta.name, labels.COMPONENT_DATABASE)
    scope = names.patroni_scope
    pod_selector = {labels.CLUSTER_LABEL: meta.name, labels.SCOPE_LABEL: scope}
    pod_labels = {**db_labels, labels.SCOPE_LABEL: scope}

    preset = PRESETS[spec.preset] if spec.preset else None
    sets, wave = resolve_instances(sourced, names, preset, db_labels, pod_selector, problems)
    users, databases = resolve_users(sourced, names, problems)
    synchronous = (
        preset.synchronous_mode
        if preset and "synchronous_mode" not in spec.patroni.model_fields_set
        else spec.patroni.synchronous_mode
    )
    api_hosts = tuple(
        f"{hosts.pod_dns_forms(i.pod, names.pods_service, ns, domain)[1]}:{defaults.PATRONI_PORT}"
        for s in sets
        for i in s.instances
    )
    pg = resolve_patroni(sourced, names, synchronous, api_hosts, problems)
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
        selector = {**pod_selector, pg.role_label: role}
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

    primary = role_service("service", spec.service, names.primary_service, pg.leader_label_value)
    replicas_service = (
        role_service("replicaService", spec.replica_service, names.replicas_service, pg.follower_label_value)
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
    _check_names(sourced, names, sets, users, (primary, replicas_service, pgbouncer), problems)
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
        # Replacement, not str.format: binDir is user text, and format would read any {...} in it.
        bin_dir=(contract.bin_dir or defaults.BIN_DIR).replace(VERSION_PLACEHOLDER, str(version)),
        patroni_command=contract.patroni,
        run_as_user=contract.run_as_user,
        run_as_group=contract.run_as_group,
        fs_group=contract.fs_group,
        port=spec.port,
        patroni_port=defaults.PATRONI_PORT,
        postgres_address=hosts.member_address(names.pods_service, spec.port),
        api_address=hosts.member_address(names.pods_service, defaults.PATRONI_PORT),
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
        tls=resolve_tls(sourced, names, sets, pgbouncer),
        superuser=defaults.SUPERUSER,
        replication_user=defaults.REPLICATION_USER,
        reconcile_wave=wave,
        reconcile_labels=labels.common(meta.name, labels.COMPONENT_RECONCILE),
        pgbouncer=pgbouncer,
    )


# A name the plan made: the spec field it comes from, its rule, its kind, the name, how a message calls it.
_Made = tuple[FieldPath, NameRule, str, str, str | None]


def _obj(path: FieldPath, kind: str, name: str, what: str | None = None) -> _Made:
    return (path, name_rule(kind), kind, name, what)


def _label(path: FieldPath, key: str, value: str) -> _Made:
    return (path, LABEL_VALUE, "label value", value, f"{key} label value")


def _check_names(
    sourced: SourcedCluster,
    names: Names,
    sets: list[InstanceSetPlan],
    users: tuple[UserPlan, ...],
    parts: tuple[ServicePlan, ServicePlan | None, PgBouncerPlan | None],
    problems: list[Problem],
) -> None:
    """Hold every name the plan decides to the rule Kubernetes has for its kind (names.NAME_RULES),
    and the label values made from them; the API server would otherwise refuse the object at apply.

    A refused name is reported at the spec field it is made from, once per field: the first is
    enough to say what to change.
    """
    meta, spec = sourced.cluster.metadata, sourced.cluster.spec
    primary, replicas_service, pgbouncer = parts
    cluster: FieldPath = ("metadata", "name")
    made: list[_Made] = [
        _obj(("metadata", "namespace"), "Namespace", meta.namespace),
        # The Job first: it has the longest name a cluster name makes, so its message says how short to go.
        _obj(cluster, "Job", names.reconcile_job("0" * CONTENT_HASH_LENGTH)),
        *(_obj(cluster, kind, names.instance_rbac) for kind in ("ServiceAccount", "Role", "RoleBinding")),
        _obj(cluster, "ConfigMap", names.config_map),
        _obj(cluster, "ConfigMap", names.reconcile_config_map),
        *(
            _obj(cluster, "Secret", name)
            for name in (names.patroni_secret, names.cluster_cert, names.replication_cert, names.superuser_cert)
        ),
        *(_obj(cluster, "Service", s.name) for s in (primary, replicas_service) if s),
        _obj(cluster, "Service", names.pods_service),
        _label(cluster, labels.CLUSTER_LABEL, meta.name),
        _label(cluster, labels.SCOPE_LABEL, names.patroni_scope),
    ]
    if pgbouncer:
        made += [_obj(cluster, kind, pgbouncer.name) for kind in ("Deployment", "ConfigMap", "Secret")]
        made.append(_obj(cluster, "Service", pgbouncer.service.name))
        if pgbouncer.disruption_budget:
            made.append(_obj(cluster, "PodDisruptionBudget", pgbouncer.disruption_budget))
    set_paths: dict[str, FieldPath] = {}
    for i, set_spec in enumerate(spec.instances):
        set_paths.setdefault(set_spec.name, ("spec", "instances", i, "name"))
    for s in sets:
        path = set_paths[s.name]
        for inst in reversed(s.instances):  # the last instance has the longest names
            made.append(_obj(path, "StatefulSet", inst.name, "instance name"))
            made += [_obj(path, "PersistentVolumeClaim", v.name) for v in (inst.data_volume, inst.wal_volume) if v]
            made.append(_label(path, labels.INSTANCE_LABEL, inst.name))
        if s.disruption_budget:
            made.append(_obj(path, "PodDisruptionBudget", s.disruption_budget))
        made.append(_label(path, labels.INSTANCE_SET_LABEL, s.name))
    user_paths: dict[str, FieldPath] = {}
    for i, user_spec in enumerate(spec.users):
        user_paths.setdefault(user_spec.name, ("spec", "users", i, "name"))
    for user in users:
        if user.secret:  # without spec.users, the one user is named after the cluster
            path = user_paths.get(user.name, cluster)
            made += [_obj(path, "Secret", user.secret), _label(path, labels.PGUSER_LABEL, user.name)]

    reported: set[FieldPath] = set()
    for path, rule, kind, name, what in made:
        problem = None if path in reported else rule.problem(kind, name, what)
        if problem:
            reported.add(path)
            if path == cluster and len(name) > rule.max_length:
                fix = f"shorten metadata.name to at most {rule.max_length - len(name) + len(meta.name)} characters"
            elif path[:2] == ("spec", "instances"):
                fix = "shorten metadata.name or the set name"
            elif path[:2] == ("spec", "users"):
                fix = "a login role's name is part of its Secret's name: rename the role, or set options.login: false"
            else:
                fix = f"shorten {format_path(path)}"
            problems.append(sourced.problem(path, f"{problem}; {fix}"))
