"""resolve(spec) -> ClusterPlan: every name, label, host, SAN, port and default decided once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.digest import digest
from pgrender.errors import Problem, SpecError
from pgrender.frozen import field, frozen, replace
from pgrender.plan import defaults, hosts, labels, secret_keys
from pgrender.plan.backups import BackupsPlan, backup_warnings, resolve_backups
from pgrender.plan.claims import check_names, check_user_secrets, claims
from pgrender.plan.clone import CloneSourcePlan, resolve_clone_source
from pgrender.plan.instances import InstancePlan, InstanceSetPlan, VolumePlan, resolve_instances
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.monitoring import DashboardPlan, MonitoringPlan, resolve_dashboard, resolve_monitoring
from pgrender.plan.names import Names
from pgrender.plan.network_policies import PolicyPlan, RulePlan, resolve_network_policies
from pgrender.plan.patroni import PatroniPlan, resolve_patroni
from pgrender.plan.pgadmin import PgAdminPlan, resolve_pgadmin
from pgrender.plan.pgbouncer import PgBouncerPlan, resolve_pgbouncer
from pgrender.plan.profiles import PROFILES
from pgrender.plan.resources import ContainerKind, ResourcesPlan, memory_estimate, memory_warning, resolve_resources
from pgrender.plan.restore import RestorePlan, resolve_restore
from pgrender.plan.scheduling import PlacementPlan, SchedulingPlan
from pgrender.plan.services import ServicePlan, resolve_service
from pgrender.plan.switchover import SwitchoverPlan, resolve_switchover
from pgrender.plan.tls import CertificatePlan, TLSFiles, TLSPlan, TLSSecret, resolve_tls
from pgrender.plan.upgrade import UpgradePlan, resolve_upgrade
from pgrender.plan.upgrade import data_dir as version_data_dir
from pgrender.plan.upgrade import wal_dir as version_wal_dir
from pgrender.plan.users import DatabasePlan, InitSQLPlan, UserPlan, resolve_init_sql, resolve_users, standby_source
from pgrender.spec import SUPPORTED_POSTGRES_VERSIONS, VERSION_PLACEHOLDER, SourcedCluster, validated
from pgrender.spec.presets import PRESETS
from pgrender.spec.rules.users import InfrastructureRole

if TYPE_CHECKING:
    from pgrender.spec.pgbouncer import PgBouncerSpec
    from pgrender.spec.services import ServiceSpec

__all__ = [
    "BackupsPlan",
    "CertificatePlan",
    "CloneSourcePlan",
    "ClusterPlan",
    "ComponentMeta",
    "ContainerKind",
    "DashboardPlan",
    "DatabasePlan",
    "InitSQLPlan",
    "InstancePlan",
    "InstanceSetPlan",
    "MonitoringPlan",
    "PatroniPlan",
    "PgAdminPlan",
    "PgBouncerPlan",
    "PlacementPlan",
    "PolicyPlan",
    "ResourcesPlan",
    "RolloutPlan",
    "RulePlan",
    "RuntimePasswords",
    "SchedulingPlan",
    "ServicePlan",
    "TLSFiles",
    "TLSPlan",
    "TLSSecret",
    "UserPlan",
    "VolumePlan",
    "resolve",
]

FieldPath = tuple[str | int, ...]


@frozen
class RolloutPlan:
    """How the reconcile Job replaces or restarts members, one at a time (spec.rollout)."""

    max_lag_bytes: int  # a replica counts as caught up when at most this far behind the leader
    step_timeout_seconds: int  # one step longer than this stops the rollout


@frozen
class RuntimePasswords:
    """The passwords are known only in the cluster (read from a store by the secrets provider's
    objects), so no SCRAM verifier is derived at render time: the reconcile Job computes each
    from its Secret's password, and a CronJob on ``schedule`` (None: none) sets again every
    password changed in the store since."""

    schedule: str | None


@frozen
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
    # None (spec.openshift): left to OpenShift's SCC, which assigns them from the namespace's ranges.
    run_as_user: int | None
    run_as_group: int | None
    fs_group: int | None
    port: int
    patroni_port: int
    postgres_address: str  # what members advertise: PATRONI_POSTGRESQL_CONNECT_ADDRESS
    api_address: str  # PATRONI_RESTAPI_CONNECT_ADDRESS
    data_dir: str
    wal_dir: str | None
    # The WAL directory members move their WAL back from (walVolume.retire), on the volume they still mount.
    retired_wal_dir: str | None
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
    secret_mount_path: str  # where applications mount a user Secret; the URIs name its ca.crt
    ca_file: str  # <secret_mount_path>/ca.crt: sslrootcert of the URIs, PGSSLROOTCERT of access Secrets
    tls: TLSPlan
    superuser: str
    replication_user: str
    reconcile_wave: int
    reconcile_labels: dict[str, str]
    rollout: RolloutPlan
    pgbouncer: PgBouncerPlan | None  # the primary's pooler
    profile_labels: dict[str, str]  # the naming profile's labels, on every object
    # Services a naming profile adds: one over every member, one per member (plan/profiles.py).
    extra_services: tuple[ServicePlan, ...]
    backups: BackupsPlan | None = None
    # Of ServiceAccount <c>-instance: a cloud identity (IRSA, Workload Identity) of the pods that run as it.
    service_account_meta: ComponentMeta = field(default_factory=ComponentMeta)
    # Its digest, on the members' pod template (labels.ACCOUNT_DIGEST_ANNOTATION); None without any.
    service_account_digest: str | None = None
    image_pull_secrets: tuple[str, ...] = ()  # Secret names, in every pod pgrender writes
    acknowledged_changes: tuple[str, ...] = ()  # sorted, without repeats
    runtime_passwords: RuntimePasswords | None = None  # from the secrets provider (render.py)
    # Resources of the containers every pod kind shares (sidecars, Jobs); the database's are the
    # instances', pgBouncer's its plan's (plan/resources.py).
    resources: dict[ContainerKind, ResourcesPlan] = field(default_factory=dict)
    # What deserves a look but renders anyway (a memory limit PostgreSQL's settings cannot fit):
    # validate and render print them.
    warnings: tuple[Problem, ...] = ()
    network_policies: tuple[PolicyPlan, ...] = ()  # none when spec.networkPolicy.enabled is false
    monitoring: MonitoringPlan | None = None
    init_sql: InitSQLPlan | None = None  # spec.databaseInitSQL, run once by the reconcile Job
    # (namespace, cluster) pgrender's own roles' passwords (pgBouncer's, the exporter's) are derived
    # for, when not this one: a standby's source (users.standby_source).
    password_owner: tuple[str, str] | None = None
    clone_source: CloneSourcePlan | None = None  # spec.bootstrap.fromCluster: copied from a running cluster
    pgbouncer_replicas: PgBouncerPlan | None = None  # the replicas' pooler (spec.proxy.pgBouncerReplicas)
    # spec.shutdown: members and pgBouncer scaled to zero (scaled), CronJobs suspended, no reconcile Job.
    shutdown: bool = False
    switchover: SwitchoverPlan | None = None  # spec.patroni.switchover, made once by the reconcile Job
    upgrade: UpgradePlan | None = None  # spec.upgrade: the members upgrade the old version's data at start
    restore: RestorePlan | None = None  # spec.restore: the members restore the data in place at start
    pgadmin: PgAdminPlan | None = None  # spec.userInterface.pgAdmin
    # The SHA-256 of the document this plan was resolved from (plans.spec_digest): with the render's
    # other inputs, what the cluster's output is a function of (reuse.py); "" where it has none.
    spec_digest: str = field(default="", compare=False, repr=False)

    @property
    def instances(self) -> tuple[InstancePlan, ...]:
        return tuple(i for s in self.instance_sets for i in s.instances)

    def scaled(self, replicas: int) -> int:
        """A workload's replicas: ``replicas``, or none while the cluster is shut down."""
        return 0 if self.shutdown else replicas

    @property
    def poolers(self) -> tuple[PgBouncerPlan, ...]:
        """The pgBouncers the cluster has: the primary's, then the replicas'. They share one auth user."""
        return tuple(p for p in (self.pgbouncer, self.pgbouncer_replicas) if p)

    @property
    def applied_live(self) -> frozenset[tuple[str, str]]:
        """(ConfigMap, key) pairs the pods mount whose changes need no new pods: Patroni reads
        bootstrap.yaml only when it creates the cluster, and the reconcile Job brings what it
        holds to the running cluster through Patroni. The rollout digests leave them out."""
        return frozenset({(self.names.config_map, defaults.PATRONI_BOOTSTRAP_FILE)})

    def labels_for(self, own: dict[str, str], component: ComponentMeta | None = None) -> dict[str, str]:
        """Cluster labels, the naming profile's, then the component's, then pgrender's (resolve()
        refused overlaps)."""
        return {**self.user_labels, **self.profile_labels, **(component.labels if component else {}), **own}

    def annotations_for(self, own: dict[str, str], component: ComponentMeta | None = None) -> dict[str, str]:
        """Cluster annotations, then the component's, then pgrender's."""
        return {**self.user_annotations, **(component.annotations if component else {}), **own}


def resolve(sourced: SourcedCluster, infrastructure: tuple[InfrastructureRole, ...] = ()) -> ClusterPlan:
    """Decide everything about one cluster (with pgrender.yaml's infrastructure roles); raise
    SpecError with every cross-field problem."""
    problems: list[Problem] = []
    meta = sourced.cluster.metadata
    spec = sourced.cluster.spec
    dns = spec.connectivity.dns
    profile = PROFILES[spec.naming]
    names = Names(meta.name, profile, dns.host_suffix if dns else "")
    ns = meta.namespace
    domain = spec.cluster_domain
    profile_labels = profile.cluster_labels(meta.name)

    for path, mapping in (
        (("metadata", "labels"), meta.labels),
        (("metadata", "annotations"), meta.annotations),
    ):
        for key in mapping:
            if labels.is_reserved(key):
                problems.append(sourced.problem((*path, key), f"{key!r} is set by pgrender (selectors depend on it)"))
            elif key in profile_labels or key == profile.role_label:
                problems.append(
                    sourced.problem((*path, key), f"{key!r} is set by pgrender under naming: {spec.naming.value}")
                )

    db_labels = labels.common(meta.name, labels.COMPONENT_DATABASE)
    scope = names.patroni_scope
    pod_selector = {labels.CLUSTER_LABEL: meta.name, labels.SCOPE_LABEL: scope}
    pod_labels = {**db_labels, labels.SCOPE_LABEL: scope}

    preset = PRESETS[spec.preset] if spec.preset else None
    guaranteed_memory = bool(preset and preset.guaranteed_memory)
    sets, wave = resolve_instances(sourced, names, preset, db_labels, pod_selector, problems)
    users, databases = resolve_users(sourced, names, problems, infrastructure)
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
    version = spec.postgres_version
    first_wal = spec.instances[0].wal_volume
    # A retired WAL volume stays mounted while the members move their WAL back (wal_volume.py --back);
    # PostgreSQL no longer uses it: new members (initdb, pg_basebackup, a restore) keep pg_wal at home.
    wal_volume = first_wal is not None and not first_wal.retire
    wal_dir = version_wal_dir(version) if wal_volume else None
    retired_wal_dir = version_wal_dir(version) if first_wal is not None and first_wal.retire else None
    if retired_wal_dir and (spec.upgrade or spec.restore):
        problems.append(
            sourced.problem(
                ("spec", "instances", 0, "walVolume", "retire"),
                f"a WAL volume retires while the members run; spec.{'upgrade' if spec.upgrade else 'restore'} "
                "works on members that were shut down: one after the other",
            )
        )
    backups = resolve_backups(sourced, names, sets, preset, wal_dir, problems)
    pg = resolve_patroni(sourced, names, synchronous, api_hosts, backups, problems)
    switchover = resolve_switchover(sourced, sets, problems)
    contract = spec.image_contract
    # Replacement, not str.format: binDir is user text, and format would read any {...} in it.
    bin_dirs = {
        v: (contract.bin_dir or defaults.BIN_DIR).replace(VERSION_PLACEHOLDER, str(v))
        for v in SUPPORTED_POSTGRES_VERSIONS
    }
    bin_dir = bin_dirs[version]
    data_dir = version_data_dir(version)
    upgrade = resolve_upgrade(sourced, bin_dirs, wal_volume, problems)
    restore = resolve_restore(sourced, backups, data_dir, wal_dir, problems)
    dashboard = resolve_dashboard(sourced, names, problems)
    clone_source = resolve_clone_source(sourced, names, data_dir, wal_dir, bin_dir, pg.replication_sslmode, problems)
    if spec.openshift:
        problems += _openshift_ids(sourced)
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
            port_name=defaults.POSTGRES_PORT_NAME,
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
    extra_services = _extra_services(sourced, names, sets, pod_selector, db_labels, problems)

    def pooler(bouncer: PgBouncerSpec | None, replicas: bool) -> PgBouncerPlan | None:
        """The primary's pgBouncer, or the replicas' (spec.proxy.pgBouncerReplicas)."""
        if bouncer is None:
            return None
        return resolve_pgbouncer(
            sourced,
            bouncer,
            names,
            server_port=spec.port,
            sync_wave=wave + 1,
            guaranteed_memory=guaranteed_memory,
            problems=problems,
            replicas=replicas,
        )

    pgbouncer = pooler(spec.proxy.pg_bouncer, replicas=False)
    pgbouncer_replicas = pooler(spec.proxy.pg_bouncer_replicas, replicas=True)
    for bouncer in (pgbouncer, pgbouncer_replicas):
        if bouncer and bouncer.port == defaults.PATRONI_PORT:
            problems.append(sourced.problem((*bouncer.path, "port"), "port 8008 is Patroni's REST API port"))
    existing = spec.tls.existing
    if existing and backups and not existing.pg_back_rest_secret_name:
        problems.append(
            sourced.problem(
                ("spec", "tls", "existing"),
                "with spec.backups, name pgBackRestSecretName: pgBackRest's certificate (common name pgbackrest) "
                "from the same CA",
            )
        )
    if pgbouncer and spec.openshift:
        pgbouncer = replace(pgbouncer, run_as_user=None, run_as_group=None)
    if pgbouncer_replicas and spec.openshift:
        pgbouncer_replicas = replace(pgbouncer_replicas, run_as_user=None, run_as_group=None)
    poolers = tuple(p for p in (pgbouncer, pgbouncer_replicas) if p)
    policies = resolve_network_policies(sourced, names, members=pod_selector, poolers=poolers, backups=backups)
    made = claims(
        sourced,
        names,
        sets,
        users,
        (primary, replicas_service, poolers),
        backups,
        extra_services,
        tuple((p.path, p.name) for p in policies),
    )
    check_names(sourced, made, problems)
    check_user_secrets(sourced, made, problems)
    service_account_meta = resolve_metadata(
        sourced, ("spec", "serviceAccountTemplate", "metadata"), spec.service_account_template.metadata, problems
    )
    if problems:
        raise SpecError(problems)

    primary_host = hosts.service_host(names.primary_service, ns)
    secret_mount_path = spec.connectivity.secret_mount_path or f"{defaults.SECRET_MOUNT_ROOT}/{meta.name}"
    ca_file = f"{secret_mount_path}/{secret_keys.CA_CERT}"
    # CloudNativePG's <c>-app: host <c>-rw, URIs <c>-rw.<ns>, and fqdn-* with the cluster domain.
    app_host, uri_host = (
        (names.primary_service, f"{names.primary_service}.{ns}")
        if profile.cnpg_keys and not dns
        else (hosts.client_host(names.primary_service, ns, dns), None)
    )
    fqdn = hosts.dns_forms(names.primary_service, ns, domain)[0]
    users = tuple(
        replace(
            u,
            primary=hosts.connection(u.name, app_host, spec.port, u.default_database, ca_file, uri_host=uri_host),
            fqdn=(
                hosts.connection(u.name, fqdn, spec.port, u.default_database, ca_file) if profile.cnpg_keys else None
            ),
            pgbouncer=(
                hosts.connection(
                    u.name, pgbouncer.host, pgbouncer.port, u.default_database, ca_file, pgbouncer.jdbc_parameters
                )
                if pgbouncer
                else None
            ),
        )
        if u.secret
        else u
        for u in users
    )
    tls = resolve_tls(
        sourced,
        names,
        sets,
        poolers,
        extra_services,
        None if backups is None else (backups.repo_host.dns_names if backups.repo_host else ()),
    )
    pgadmin = (
        resolve_pgadmin(
            sourced,
            spec.user_interface.pg_admin,
            names,
            users,
            sync_wave=wave + 1,
            guaranteed_memory=guaranteed_memory,
            problems=problems,
        )
        if spec.user_interface.pg_admin
        else None
    )
    if problems:  # pgAdmin's metadata
        raise SpecError(problems)
    return ClusterPlan(
        name=meta.name,
        namespace=ns,
        names=names,
        domain=domain,
        postgres_version=version,
        image=spec.image or defaults.IMAGES[version],
        bin_dir=bin_dir,
        patroni_command=contract.patroni,
        run_as_user=None if spec.openshift else contract.run_as_user,
        run_as_group=None if spec.openshift else contract.run_as_group,
        fs_group=None if spec.openshift else contract.fs_group,
        port=spec.port,
        patroni_port=defaults.PATRONI_PORT,
        postgres_address=hosts.member_address(names.pods_service, spec.port),
        api_address=hosts.member_address(names.pods_service, defaults.PATRONI_PORT),
        data_dir=data_dir,
        wal_dir=wal_dir,
        retired_wal_dir=retired_wal_dir,
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
        primary_host=primary_host,
        secret_mount_path=secret_mount_path,
        ca_file=ca_file,
        tls=tls,
        superuser=defaults.SUPERUSER,
        replication_user=defaults.REPLICATION_USER,
        reconcile_wave=wave,
        reconcile_labels=labels.common(meta.name, labels.COMPONENT_RECONCILE),
        pgbouncer=pgbouncer,
        profile_labels=profile_labels,
        extra_services=extra_services,
        backups=backups,
        service_account_meta=service_account_meta,
        service_account_digest=(
            digest([service_account_meta.labels, service_account_meta.annotations]).hex()[:16]
            if service_account_meta.labels or service_account_meta.annotations
            else None
        ),
        image_pull_secrets=tuple(spec.image_pull_secrets),
        rollout=RolloutPlan(spec.rollout.max_lag_bytes, spec.rollout.step_timeout_seconds),
        acknowledged_changes=tuple(sorted(set(spec.acknowledged_changes))),
        resources=resolve_resources(spec, guaranteed_memory),
        warnings=(
            *_memory_warnings(sourced, sets, pg),
            *backup_warnings(sourced, backups),
            *_lonely_replicas_pooler(sourced, sets, pgbouncer_replicas),
        ),
        network_policies=policies,
        monitoring=resolve_monitoring(sourced, names, tls, backups, dashboard),
        init_sql=resolve_init_sql(sourced),
        password_owner=standby_source(sourced),
        clone_source=clone_source,
        pgbouncer_replicas=pgbouncer_replicas,
        shutdown=spec.shutdown,
        switchover=switchover,
        upgrade=upgrade,
        restore=restore,
        pgadmin=pgadmin,
    )


def _memory_warnings(sourced: SourcedCluster, sets: list[InstanceSetPlan], pg: PatroniPlan) -> tuple[Problem, ...]:
    """A warning for each instance set whose database memory limit PostgreSQL's settings cannot fit."""
    spec = sourced.cluster.spec
    estimate = memory_estimate(spec.postgres_version, dict(pg.parameters))
    out = []
    for i, (s, plan) in enumerate(zip(spec.instances, sets, strict=True)):
        message = memory_warning(estimate, plan.instances[0].resources, s.resources)
        if message:
            out.append(sourced.problem(("spec", "instances", i, "resources", "limits", "memory"), message))
    return tuple(out)


def _lonely_replicas_pooler(
    sourced: SourcedCluster, sets: list[InstanceSetPlan], pooler: PgBouncerPlan | None
) -> tuple[Problem, ...]:
    """The replicas' pgBouncer of a one-member cluster: its Service selects no replica to reach."""
    if pooler is None or sum(len(s.instances) for s in sets) > 1:
        return ()
    message = (
        "the cluster has one member and so no replica: the replicas Service this pooler reaches selects no "
        "pod, and its clients get errors until a replica runs"
    )
    return (sourced.problem(pooler.path, message),)


def _openshift_ids(sourced: SourcedCluster) -> list[Problem]:
    """User and group ids given with spec.openshift: the SCC assigns its own, so they would be dropped."""
    spec = sourced.cluster.spec
    given: list[tuple[FieldPath, set[str]]] = [(("spec", "imageContract"), spec.image_contract.model_fields_set)]
    if spec.proxy.pg_bouncer:
        given.append((("spec", "proxy", "pgBouncer"), spec.proxy.pg_bouncer.model_fields_set))
    if spec.proxy.pg_bouncer_replicas:
        given.append((("spec", "proxy", "pgBouncerReplicas"), spec.proxy.pg_bouncer_replicas.model_fields_set))
    return [
        sourced.problem(
            (*path, alias),
            f"with spec.openshift: true OpenShift's SCC assigns {alias} from the namespace's range; remove it",
        )
        for path, fields in given
        for field, alias in (("run_as_user", "runAsUser"), ("run_as_group", "runAsGroup"), ("fs_group", "fsGroup"))
        if field in fields
    ]


# external-dns' annotations that name a Service's DNS records (one name, or several, for the Service):
# its prefix before v0.22 and its default one since.
EXTERNAL_DNS_HOSTNAMES = tuple(
    f"{prefix}/{name}"
    for prefix in ("external-dns.alpha.kubernetes.io", "external-dns.kubernetes.io")
    for name in ("hostname", "internal-hostname")
)


def _extra_services(
    sourced: SourcedCluster,
    names: Names,
    sets: list[InstanceSetPlan],
    pod_selector: dict[str, str],
    service_labels: dict[str, str],
    problems: list[Problem],
) -> tuple[ServicePlan, ...]:
    """The naming profile's further Services (ClusterIP, spec.service's metadata): one over every
    member (CloudNativePG's -r, PGD's group service) and one per member (PGD's node services)."""
    spec = sourced.cluster.spec
    default = validated("ServiceSpec", {"metadata": spec.service.metadata})
    # (field, its spec or the default, the Services it makes: name and selector)
    kinds: list[tuple[str, ServiceSpec, list[tuple[str, dict[str, str]]]]] = [
        ("groupService", spec.group_service or default, [(n, pod_selector) for n in [names.any_service] if n]),
        (
            "memberServices",
            spec.member_services or default,
            [
                (member, {**pod_selector, labels.INSTANCE_LABEL: inst.name})
                for s in sets
                for inst in s.instances
                if (member := names.member_service(inst.name))
            ],
        ),
    ]
    out = []
    for key, given, wanted in kinds:
        path: FieldPath = ("spec", key) if given is not default else ("spec", "naming")
        if given is not default and not wanted:
            problems.append(
                sourced.problem(
                    path, f"naming: {spec.naming.value} writes no such Service; remove it (or change naming)"
                )
            )
        if key == "memberServices" and given.node_port is not None and len(wanted) > 1:
            problems.append(
                sourced.problem(
                    (*path, "nodePort"), "every member's Service would take this one node port; leave it out"
                )
            )
        if key == "memberServices" and given is not default and len(wanted) > 1:
            problems += [
                sourced.problem(
                    (*path, "metadata", "annotations", annotation),
                    "every member's Service would take this one host name, so external-dns would put every "
                    "member (the replicas too) under it; leave it out and name each member's Service with "
                    "external-dns' --fqdn-template, or give one name to them all on spec.groupService",
                )
                for annotation in EXTERNAL_DNS_HOSTNAMES
                if annotation in given.metadata.annotations
            ]
        out += [
            resolve_service(
                sourced,
                path,
                given,
                name=name,
                port_name=defaults.POSTGRES_PORT_NAME,
                port=spec.port,
                selector=selector,
                labels=service_labels,
                problems=problems,
            )
            for name, selector in wanted
        ]
    return tuple(out)
