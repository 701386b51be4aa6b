"""Claims: every object name, label value and node port a cluster makes, with the spec field it
comes from. Names are held to Kubernetes' rule for their kind; across everything one run renders,
no two clusters may claim one object, one node port or one output directory.

The registry of a run holds every name it claimed (about 28 a cluster): as dict keys they cost
3.3 KB a cluster (tracemalloc, clusters 500 to 2500 of one render), most of what a fleet's render
held past its first clusters. They are held as digests in spill.DigestMap, in a file past a few
dozen clusters.
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct
from typing import TYPE_CHECKING, NamedTuple

from pgrender import tls as tls_providers
from pgrender.errors import Problem
from pgrender.frozen import frozen, replace
from pgrender.load import format_path
from pgrender.plan import labels
from pgrender.plan.instances import InstanceSetPlan
from pgrender.plan.names import CONTENT_HASH_LENGTH, LABEL_VALUE, NameRule, Names, cluster_directories, name_rule
from pgrender.plan.pgbouncer import PgBouncerPlan
from pgrender.plan.services import ServicePlan
from pgrender.plan.users import UserPlan
from pgrender.spec import SourcedCluster
from pgrender.spec.rules.tls import EXISTING_SECRET_FIELDS
from pgrender.spill import DigestMap, Records, Texts

if TYPE_CHECKING:
    from pgrender.plan import ClusterPlan
    from pgrender.plan.backups import BackupsPlan
    from pgrender.spec.backups import RepoLocationSpec

FieldPath = tuple[str | int, ...]
NODE_PORT = "node port"  # the kind of a node port claim: node ports are cluster-wide
# An object-store repository's location, which two clusters must never share (anywhere, not per namespace):
# pgBackRest's stanza would mix their WAL and backups; a direct clone shares its source's system
# identifier, so not even pgBackRest's stanza check would stop it.
REPOSITORY = "pgBackRest repository"
GLOBAL_KINDS = (NODE_PORT, REPOSITORY)
# The options that say where a repository's files are (repo<n>-<option>): not how it is reached.
LOCATION_OPTIONS = (
    "type",
    "s3-endpoint",
    "s3-bucket",
    "gcs-endpoint",
    "gcs-bucket",
    "storage-host",
    "azure-container",
    "path",
)


@frozen
class Claim:
    """A name the plan made: the spec field it comes from, its rule, its kind, the name, and how a
    message calls it."""

    path: FieldPath
    rule: NameRule
    kind: str
    name: str
    what: str | None = None

    @property
    def is_object(self) -> bool:
        return self.rule is not LABEL_VALUE


def _obj(path: FieldPath, kind: str, name: str, what: str | None = None) -> Claim:
    return Claim(path, name_rule(kind), kind, name, what)


def _label(path: FieldPath, key: str, value: str) -> Claim:
    return Claim(path, LABEL_VALUE, "label value", value, f"{key} label value")


def claims(
    sourced: SourcedCluster,
    names: Names,
    sets: list[InstanceSetPlan] | tuple[InstanceSetPlan, ...],
    users: tuple[UserPlan, ...],
    parts: tuple[ServicePlan, ServicePlan | None, tuple[PgBouncerPlan, ...]],
    backups: BackupsPlan | None = None,
    extra_services: tuple[ServicePlan, ...] = (),
    network_policies: tuple[tuple[FieldPath, str], ...] = (),
) -> list[Claim]:
    """Every object name and label value the plan decides, at the spec field it is made from."""
    meta, spec = sourced.cluster.metadata, sourced.cluster.spec
    primary, replicas_service, poolers = parts
    cluster: FieldPath = ("metadata", "name")
    made: list[Claim] = [
        _obj(("metadata", "namespace"), "Namespace", meta.namespace),
        # The Job first: it has the longest name a cluster name makes, so its message says how short to go.
        _obj(cluster, "Job", names.reconcile_job("0" * CONTENT_HASH_LENGTH)),
        *(_obj(cluster, kind, names.instance_rbac) for kind in ("ServiceAccount", "Role", "RoleBinding")),
        *(_obj(cluster, kind, names.reconcile_rbac) for kind in ("ServiceAccount", "Role", "RoleBinding")),
        _obj(cluster, "ConfigMap", names.config_map),
        _obj(cluster, "ConfigMap", names.reconcile_config_map),
        _obj(cluster, "Secret", names.patroni_secret),
        *(_obj(cluster, "Service", s.name) for s in (primary, replicas_service) if s),
        *(_obj(("spec", "naming"), "Service", s.name) for s in extra_services),
        _obj(cluster, "Service", names.pods_service),
        # Patroni writes these at runtime: no cluster of the namespace may name an object so.
        *(_obj(cluster, "ConfigMap", n, "Patroni's runtime ConfigMap") for n in names.patroni_runtime_config_maps),
        _label(cluster, labels.CLUSTER_LABEL, meta.name),
        _label(cluster, labels.SCOPE_LABEL, names.patroni_scope),
    ]
    made += _tls_claims(sourced, names, poolers, backups)
    if spec.bootstrap.from_cluster:
        made.append(_obj(cluster, "Secret", names.clone_source_secret))
    if names.ca_secret:
        made.append(_obj(("spec", "naming"), "Secret", names.ca_secret))
    for pooler in poolers:  # named after the cluster, as the profile says
        made += [_obj(cluster, kind, pooler.name) for kind in ("Deployment", "ConfigMap", "Secret")]
        made.append(_obj(cluster, "Service", pooler.service.name))
        if pooler.disruption_budget:
            made.append(_obj(cluster, "PodDisruptionBudget", pooler.disruption_budget))
    if backups:
        made += _backup_claims(backups, names)
    made += [_obj(path, "NetworkPolicy", name) for path, name in network_policies]
    if spec.monitoring:
        kinds = ["Secret", "ConfigMap"]
        kinds += ["PodMonitor"] if spec.monitoring.pod_monitor else []
        kinds += ["PrometheusRule"] if spec.monitoring.prometheus_rule else []
        made += [_obj(("spec", "monitoring"), kind, names.monitoring) for kind in kinds]
        if spec.monitoring.grafana_dashboard:
            made.append(_obj(("spec", "monitoring", "grafanaDashboard"), "ConfigMap", names.dashboard))
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
        if user.access_secret:
            made.append(_obj(user_paths.get(user.name, cluster), "Secret", user.access_secret))
    return made


def _tls_claims(
    sourced: SourcedCluster, names: Names, poolers: tuple[PgBouncerPlan, ...], backups: BackupsPlan | None
) -> list[Claim]:
    """The certificate Secrets pgrender or cert-manager writes (none with provider existing: the
    user's), the Certificates that ask for them, and the CA Issuer pgrender may write."""
    tls = sourced.cluster.spec.tls
    if tls.existing is not None:
        return []
    cluster: FieldPath = ("metadata", "name")
    secrets = [names.cluster_cert, names.replication_cert, names.superuser_cert]
    own = [_obj(cluster, "Secret", name) for name in secrets]
    if tls_providers.in_cluster(tls.provider):
        for pooler in poolers:
            cert = names.pgbouncer_replicas_cert if pooler.reaches == "replicas" else names.pgbouncer_cert
            secrets.append(cert)
            own.append(_obj(cluster, "Secret", cert))
    if backups:
        secrets.append(backups.cert_secret)
        own.append(_obj(("spec", "backups"), "Secret", backups.cert_secret))
    if tls.cert_manager is None:
        return own
    own += [_obj(cluster, "Certificate", name) for name in secrets]
    if tls.cert_manager.ca_secret_name:
        own.append(_obj(("spec", "tls", "certManager", "caSecretName"), "Issuer", names.ca_issuer))
    return own


def _backup_claims(backups: BackupsPlan, names: Names) -> list[Claim]:
    repos: FieldPath = ("spec", "backups", "repos")
    made = [
        *(_obj(("spec", "backups"), "ConfigMap", name) for name in (backups.config_map, backups.jobs_config_map)),
        _obj(("spec", "backups"), "Secret", backups.secret),
    ]
    # Repository names are short and fixed (repo1..repo4): a name too long is the cluster's.
    cluster: FieldPath = ("metadata", "name")
    made += [_obj(cluster, "CronJob", job.name) for job in backups.cron_jobs]
    for i, repo in enumerate(backups.repos):
        made.append(_obj(cluster, "Job", names.initial_backup_job(repo.name, "0" * CONTENT_HASH_LENGTH)))
        if repo.volume:
            made.append(_obj((*repos, i, "name"), "PersistentVolumeClaim", repo.volume.claim))
    if backups.manual:
        made.append(_obj(("spec", "backups", "manual", "run"), "Job", backups.manual.name))
    if backups.logical:
        made.append(_obj(("spec", "backups", "logical"), "CronJob", backups.logical.name))
    if backups.repo_host:
        made += [_obj(("spec", "backups"), kind, backups.repo_host.name) for kind in ("StatefulSet", "Service")]
    return made


def check_user_secrets(sourced: SourcedCluster, made: list[Claim], problems: list[Problem]) -> None:
    """Secrets and ConfigMaps the spec names for the user to provide (storage credentials, a storage
    CA, the init SQL) must not be ones pgrender writes: the next render would replace the user's
    keys with its own."""
    ours = {c.name for c in made if c.kind == "Secret"}
    spec = sourced.cluster.spec
    repos: list[tuple[FieldPath, RepoLocationSpec]] = []
    if spec.backups:
        repos += [(("spec", "backups", "repos", i), repo) for i, repo in enumerate(spec.backups.repos)]
    if spec.bootstrap.from_backup:
        repos.append((("spec", "bootstrap", "fromBackup", "repo"), spec.bootstrap.from_backup.repo))
    if spec.standby and spec.standby.from_backup:
        repos.append((("spec", "standby", "fromBackup", "repo"), spec.standby.from_backup.repo))
    for path, repo in repos:
        for key, named in (("credentials", repo.credentials), ("storageCA", repo.storage_ca)):
            if named and named.secret_name in ours:
                problems.append(
                    sourced.problem(
                        (*path, key, "secretName"),
                        f"pgrender writes the Secret {named.secret_name!r} itself; name a Secret you create "
                        "(pgrender never writes storage credentials)",
                    )
                )
    tls: list[tuple[FieldPath, str | None]] = []
    if spec.tls.cert_manager:
        tls.append((("spec", "tls", "certManager", "caSecretName"), spec.tls.cert_manager.ca_secret_name))
    if spec.tls.existing:
        existing = spec.tls.existing
        for key, alias in EXISTING_SECRET_FIELDS.items():
            tls.append((("spec", "tls", "existing", alias), getattr(existing, key)))
    for path, name in tls:
        if name and name in ours:
            problems.append(
                sourced.problem(path, f"pgrender writes the Secret {name!r} itself; name a Secret you create")
            )
    init = spec.database_init_sql
    if init and init.name in {c.name for c in made if c.kind == "ConfigMap"}:
        problems.append(
            sourced.problem(
                ("spec", "databaseInitSQL", "name"),
                f"pgrender writes (or Patroni keeps) the ConfigMap {init.name!r} itself; name a ConfigMap you create",
            )
        )


def check_names(sourced: SourcedCluster, made: list[Claim], problems: list[Problem]) -> None:
    """Hold every name the plan decides to the rule Kubernetes has for its kind (names.NAME_RULES),
    and the label values made from them; the API server would otherwise refuse the object at apply.

    A refused name is reported at the spec field it is made from, once per field: the first is
    enough to say what to change.
    """
    meta = sourced.cluster.metadata
    cluster: FieldPath = ("metadata", "name")
    reported: set[FieldPath] = set()
    for claim in made:
        path, rule, name = claim.path, claim.rule, claim.name
        problem = None if path in reported else rule.problem(claim.kind, name, claim.what)
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


def plan_claims(sourced: SourcedCluster, plan: ClusterPlan) -> list[Claim]:
    """The objects and node ports a resolved cluster claims; Jobs are named by their content."""
    made = claims(
        sourced,
        plan.names,
        plan.instance_sets,
        plan.users,
        (plan.primary_service, plan.replicas_service, plan.poolers),
        plan.backups,
        plan.extra_services,
        tuple((p.path, p.name) for p in plan.network_policies),
    )
    # Jobs named by their content are not claimed; a manual backup Job has a fixed name.
    manual = plan.backups.manual.name if plan.backups and plan.backups.manual else None
    out = [c for c in made if c.is_object and c.kind != "Namespace" and (c.kind != "Job" or c.name == manual)]
    exposed: list[tuple[FieldPath, ServicePlan | None]] = [
        (("spec", "service"), plan.primary_service),
        (("spec", "replicaService"), plan.replicas_service),
        *(((*pooler.path, "service"), pooler.service) for pooler in plan.poolers),
    ]
    # The naming profile's Services: the one over every member (spec.groupService), each member's
    # (spec.memberServices, a node port only with one member).
    exposed += [
        (("spec", "groupService" if s.name == plan.names.any_service else "memberServices"), s)
        for s in plan.extra_services
    ]
    for path, service in exposed:
        if service and service.node_port is not None:
            out.append(Claim((*path, "nodePort"), LABEL_VALUE, NODE_PORT, str(service.node_port)))
    for i, repo in enumerate(plan.backups.repos if plan.backups else ()):
        if repo.volume is None:
            options = dict(repo.store_options)
            where = " ".join(
                f"{name}={options[key]}" for name in LOCATION_OPTIONS if (key := repo.option(name)) in options
            )
            out.append(Claim(("spec", "backups", "repos", i), LABEL_VALUE, REPOSITORY, where))
    return out


class _Place(NamedTuple):
    """Where a claim was made, for a message: the spec field, its file, line and column."""

    path: FieldPath
    file: str
    line: int
    column: int

    def problem(self, message: str) -> Problem:
        return Problem(self.file, self.line, self.column, format_path(self.path), message)


class _Places:
    """Every place of a run, numbered, as four numbers each (spill.Records): a registry of thousands
    of clusters holds the places, not the specs (which grew a batch by about 30 KB a cluster) nor an
    object for each place. Each path is held once, and each file (spill.Texts): a fleet's specs come
    a file at a time."""

    _PLACE = Struct("<IIII")  # path, file, line, column

    def __init__(self) -> None:
        self._places = Records(self._PLACE.size)
        self._paths: list[FieldPath] = []  # as many as the fields of the largest spec
        self._numbers: dict[FieldPath, int] = {}
        self._files = Texts()
        self._file: str | None = None  # the last one added

    def add(self, sourced: SourcedCluster, path: FieldPath) -> int:
        number = self._numbers.get(path)
        if number is None:
            number = self._numbers[path] = len(self._paths)
            self._paths.append(path)
        file = sourced.document.file
        if file != self._file:
            self._file = file
            self._files.append(file)
        return self._places.append(self._PLACE.pack(number, len(self._files) - 1, *sourced.document.position(path)))

    def __getitem__(self, place: int) -> _Place:
        path, file, line, column = self._PLACE.unpack(self._places.read(place))
        return _Place(self._paths[path], self._files[file], line, column)

    def close(self) -> None:
        self._places.close()
        self._files.close()


class ClaimRegistry:
    """What every cluster of one run claims: two clusters (or two fields of one) claiming one object,
    one node port or one output directory is reported at both places, and so is a cluster defined
    twice. What it holds of each cluster is in spill stores: flat in the number of clusters."""

    _PLACE = Struct("<I")

    def __init__(self) -> None:
        self._places = _Places()
        # Each claim keyed by kind, namespace and name in one string (a NUL between: no name holds
        # one); each cluster by "cluster", its namespace and name.
        self._owners = DigestMap()
        self._clusters = Texts()  # namespace NUL name of each cluster added
        self._cluster_places = Records(self._PLACE.size)  # the place of each one's metadata.name
        self._named: int | None = None  # the place of metadata.name of the cluster defined last

    def defined(self, sourced: SourcedCluster) -> str | None:
        """Where a cluster of the same namespace and name was defined before (file:line:column);
        None for the first, which is remembered. Called for each cluster read, before add()."""
        meta = sourced.cluster.metadata
        place = self._named = self._places.add(sourced, ("metadata", "name"))
        owner = self._owners.setdefault(f"cluster\0{meta.namespace}\0{meta.name}", place)
        if owner == place:
            return None
        there = self._places[owner]
        return f"{there.file}:{there.line}:{there.column}"

    def add(self, sourced: SourcedCluster, plan: ClusterPlan) -> list[Problem]:
        """The claims of the cluster defined() last (once only: a cluster defined twice claims
        everything twice), each reported where it clashes with one made before."""
        named, self._named = self._named, None
        assert named is not None, "add() follows defined() of the same cluster"
        problems: list[Problem] = []
        # One place per field: most of a cluster's claims come from a few fields (metadata.name
        # makes most).
        places: dict[FieldPath, int] = {("metadata", "name"): named}
        self._clusters.append(f"{plan.namespace}\0{plan.name}")
        self._cluster_places.append(self._PLACE.pack(named))
        for claim in plan_claims(sourced, plan):
            namespace = "" if claim.kind in GLOBAL_KINDS else plan.namespace
            place = places.get(claim.path)
            if place is None:
                place = places[claim.path] = self._places.add(sourced, claim.path)
            owner = self._owners.setdefault(f"{claim.kind}\0{namespace}\0{claim.name}", place)
            if owner != place:
                what = f"{claim.kind} {claim.name}" if not namespace else f"{claim.kind} {namespace}/{claim.name}"
                problems += _both(what, self._places[place], self._places[owner])
        return problems

    def directory_problems(self) -> list[Problem]:
        """Output directories of a several-cluster render (names.cluster_directories) must differ."""
        first = DigestMap()  # each directory: the place of its first cluster
        problems: list[Problem] = []
        try:
            for number, directory in enumerate(cluster_directories(self._names)):
                (place,) = self._PLACE.unpack(self._cluster_places.read(number))
                owner = first.setdefault(directory, place)
                if owner != place:
                    problems += _both(f"output directory {directory}/", self._places[place], self._places[owner])
        finally:
            first.close()
        return problems

    def _names(self) -> Iterator[tuple[str, str]]:
        """Each cluster's namespace and name, in the order added."""
        for cluster in self._clusters:
            namespace, _, name = cluster.partition("\0")
            yield namespace, name

    def close(self) -> None:
        """Let go of the stores' files."""
        for store in (self._places, self._owners, self._clusters, self._cluster_places):
            store.close()


def _both(what: str, here: _Place, there: _Place) -> list[Problem]:
    a, b = here.problem(""), there.problem("")
    return [
        replace(a, message=f"{what} is also made by {_where(b)}"),
        replace(b, message=f"{what} is also made by {_where(a)}"),
    ]


def _where(problem: Problem) -> str:
    position = f"{problem.file}:{problem.line}:{problem.column}" if problem.line else problem.file
    return f"{position} ({problem.path})"
