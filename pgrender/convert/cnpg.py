"""CloudNativePG's Cluster (postgresql.cnpg.io/v1) to a pgrender spec, with the Poolers and Databases
given beside it.

CloudNativePG runs no Patroni and backs up with Barman, so its image and backups do not carry over;
spec.naming: cnpg keeps the <cluster>-rw, -ro and -r Services and the <cluster>-app Secret of the
application owner (bootstrap.initdb's, recovery's or pg_basebackup's; app by default) that applications use.
"""

from __future__ import annotations

import re
from typing import Any

from pgrender.convert import Inputs
from pgrender.convert.base import ANY, Output, Path_, Reason, Ref, Source, left_out
from pgrender.convert.kube import (
    INSTANCE_SET,
    SERVICE_SPEC_FIELDS,
    SOURCE_RENDERED,
    append_hba_rule,
    claim,
    copy_note,
    image_pull_secrets,
    memory_limit_note,
    metadata,
    named_source,
    own_selector,
    parameter,
    postgres_version,
    primary_service_host,
    quantity,
    resources,
    scheduling_lists,
    service_fields,
    source_port,
    topology_spread,
)
from pgrender.frozen import field as frozen_field
from pgrender.frozen import frozen
from pgrender.load import Document, format_path
from pgrender.plan.defaults import REPLICATION_USER
from pgrender.plan.profiles import PROFILES
from pgrender.plan.resources import ContainerKind
from pgrender.spec.rules.connectivity import Naming
from pgrender.spec.rules.pgbouncer import FIELD_SETTINGS as BOUNCER_FIELDS
from pgrender.spec.rules.pgbouncer import PASSTHROUGH_SETTINGS

# A Pooler's type -> the pgBouncer of spec.proxy it becomes (type r, every member, has none).
POOLER_TYPES = {"rw": "pgBouncer", "ro": "pgBouncerReplicas"}

GROUP = "postgresql.cnpg.io"
SPEC = ("spec",)
POSTGRESQL = ("spec", "postgresql")
# What CloudNativePG 1.28 runs without imageName (pkg/versions: DefaultImageName, PostgreSQL 18).
DEFAULT_MAJOR = 18
# bootstrap.initdb's defaults: the application database and its owner.
APP = "app"
HIBERNATION = "cnpg.io/hibernation"  # "on": the cluster's pods are deleted, its claims kept
_ROLE_ATTRIBUTES = ("superuser", "createdb", "createrole", "replication", "bypassrls")
_BARMAN = (
    "CloudNativePG backs up with Barman (or a plugin); pgrender backs up with pgBackRest: add "
    "spec.backups.repos (a new repository: the formats differ)"
)
_PROBES = "pgrender's pods are probed through Patroni's REST API"
_SHUTDOWN = "Patroni stops PostgreSQL in pgrender's pods"
_MONITORING = "pgrender's exporter is a sidecar set by spec.monitoring (README, 'Monitoring'): set it there"
BOOTSTRAP = ("spec", "bootstrap")
EXTERNAL = ("spec", "externalClusters")
REPLICA = ("spec", "replica")
_OWNER_SECRET = "pgrender derives the owner's password from the root key"
# The bootstraps from another cluster's data: why what pgrender does not carry of them is left out
# (recovery reads Barman's backups; pg_basebackup's source is carried by sources()). Their database
# and owner (and secret) still name the application owner.
_COPIED_BOOTSTRAP = {
    "recovery": _BARMAN,
    "pg_basebackup": "pgrender copies a running cluster (spec.bootstrap.fromCluster) from the externalClusters "
    "entry its source names, reached by that entry's host",
}
# An external cluster's archive: what CloudNativePG restores or follows besides (or instead of) streaming.
_SOURCE_ARCHIVE = (
    "CloudNativePG's Barman archive (or a plugin's) cannot be read: pgrender restores and follows pgBackRest "
    "repositories only (spec.bootstrap.fromBackup, spec.standby.fromBackup)"
)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SOURCE_CERTIFICATES = (
    f"pgrender's replication role ({REPLICATION_USER}) authenticates with a client certificate of the "
    "source's CA, and verifies the source with that CA: both derived from the root key"
)
_APPLICATION_FIELDS = ("database", "owner", "secret")

REASONS: tuple[Reason, ...] = (
    left_out(
        *SPEC,
        "imageName",
        why="CloudNativePG's images have no Patroni: the default Spilo image of the PostgreSQL version is used",
    ),
    left_out(
        *SPEC,
        "imageCatalogRef",
        why="pgrender picks the image per PostgreSQL version itself (spec.image to choose one)",
    ),
    left_out(*SPEC, "imagePullPolicy", why="pgrender writes no imagePullPolicy (the cluster's default)"),
    left_out(*SPEC, "description", why="a pgrender spec has no description: keep it as a YAML comment"),
    left_out(*SPEC, "schedulerName", why="pgrender's pods use the default scheduler"),
    left_out(*SPEC, "postgresUID", why="the image contract says which user runs PostgreSQL (spec.imageContract)"),
    left_out(*SPEC, "postgresGID", why="the image contract says which group runs PostgreSQL (spec.imageContract)"),
    left_out(*SPEC, "replicationSlots", why="Patroni keeps the replication slots of pgrender's members"),
    left_out(*SPEC, "replica", why="pgrender's standby follows a pgBackRest repository or another pgrender cluster"),
    # The fields of the externalClusters entry a standby or a copy is carried from (sources(), which
    # notes every other entry).
    left_out(*EXTERNAL, ANY, "connectionParameters", "user", why=_SOURCE_CERTIFICATES),
    left_out(*EXTERNAL, ANY, "connectionParameters", "password", why=_SOURCE_CERTIFICATES),
    left_out(
        *EXTERNAL,
        ANY,
        "connectionParameters",
        "dbname",
        why="a copy or a standby connects for replication, to no database",
    ),
    left_out(
        *EXTERNAL,
        ANY,
        "connectionParameters",
        "sslmode",
        why="pgrender verifies the source as spec.connectivity.replicationSSLMode says (verify-ca by default; "
        "verify-full checks the host name too)",
    ),
    left_out(
        *EXTERNAL,
        ANY,
        "connectionParameters",
        ANY,
        why="pgrender writes the replication connection's other parameters itself",
    ),
    *(left_out(*EXTERNAL, ANY, key, why=_SOURCE_CERTIFICATES) for key in ("sslCert", "sslKey", "sslRootCert")),
    left_out(*EXTERNAL, ANY, "password", why=_SOURCE_CERTIFICATES),
    *(
        left_out(*EXTERNAL, ANY, key, why=f"pgrender streams from the host only: {_SOURCE_ARCHIVE}")
        for key in ("barmanObjectStore", "plugin")
    ),
    left_out(*SPEC, "superuserSecret", why="pgrender's superuser authenticates with a client certificate, no password"),
    left_out(*SPEC, "enableSuperuserAccess", why="pgrender's superuser authenticates with a client certificate"),
    left_out(*SPEC, "ephemeralVolumeSource", why="pgrender's pods use an emptyDir for temporary files"),
    left_out(*SPEC, "ephemeralVolumesSizeLimit", why="pgrender sets no size limit on its temporary volumes"),
    left_out(*SPEC, "startDelay", why=_PROBES),
    left_out(*SPEC, "livenessProbeTimeout", why=_PROBES),
    left_out(*SPEC, "probes", why=_PROBES),
    left_out(*SPEC, "stopDelay", why=_SHUTDOWN),
    left_out(*SPEC, "smartShutdownTimeout", why=_SHUTDOWN),
    left_out(
        *SPEC, "switchoverDelay", why="pgrender's reconcile Job waits rollout.stepTimeoutSeconds for a switchover"
    ),
    left_out(
        *SPEC,
        "failoverDelay",
        why="Patroni fails over once the leader's lease ends (patroni.leaderLeaseDurationSeconds)",
    ),
    left_out(*SPEC, "primaryUpdateStrategy", why="pgrender's reconcile Job rolls the primary last, without waiting"),
    left_out(*SPEC, "backup", why=_BARMAN),
    left_out(*SPEC, "plugins", why=_BARMAN),
    left_out(*SPEC, "nodeMaintenanceWindow", why="pgrender's budgets let one pod of a set go at a time"),
    left_out(*SPEC, "monitoring", why=_MONITORING),
    left_out(*SPEC, "logLevel", why="the instance manager's log level: pgrender's pods run Patroni instead"),
    left_out(*SPEC, "projectedVolumeTemplate", why="pgrender mounts no extra volumes"),
    left_out(*SPEC, "env", why="pgrender's pods take no extra environment variables"),
    left_out(*SPEC, "envFrom", why="pgrender's pods take no extra environment variables"),
    left_out(*SPEC, "seccompProfile", why="pgrender's pods run with the RuntimeDefault seccomp profile"),
    left_out(*SPEC, "podSecurityContext", why="pgrender's pods run with the restricted security context"),
    left_out(*SPEC, "securityContext", why="pgrender's containers run with the restricted security context"),
    left_out(*SPEC, "tablespaces", why="pgrender has no tablespace volumes"),
    left_out(*SPEC, "enablePDB", why="pgrender always writes budgets for sets of two instances or more"),
    left_out(*SPEC, "storage", "resizeInUseVolumes", why="pgrender grows a claim by its size in the spec"),
    left_out(*SPEC, "storage", "pvcTemplate", ANY, why="pgrender's volumes have a size and a class"),
    left_out(*SPEC, "walStorage", "resizeInUseVolumes", why="pgrender grows a claim by its size in the spec"),
    left_out(*SPEC, "walStorage", "pvcTemplate", ANY, why="pgrender's volumes have a size and a class"),
    left_out(*SPEC, "affinity", "additionalPodAntiAffinity", why="pgrender writes its own anti-affinity rule"),
    left_out(*SPEC, "affinity", "additionalPodAffinity", why="pgrender writes no pod affinity for database pods"),
    left_out(*POSTGRESQL, "pg_ident", why="pgrender writes pg_ident.conf itself"),
    left_out(*POSTGRESQL, "ldap", why="write the ldap rules into patroni.pgHBA"),
    left_out(*POSTGRESQL, "promotionTimeout", why="Patroni promotes pgrender's standby leaders"),
    left_out(*POSTGRESQL, "enableAlterSystem", why="pgrender's parameters are in the spec: ALTER SYSTEM stays off"),
    left_out(*POSTGRESQL, "syncReplicaElectionConstraint", why="pgrender chooses no synchronous standbys by labels"),
    left_out(*POSTGRESQL, "extensions", why="extensions come with the image (spec.image)"),
    left_out(
        *POSTGRESQL,
        "synchronous",
        ANY,
        why="Patroni chooses the synchronous standbys among the replicas (synchronous_node_count of them)",
    ),
    left_out(*SPEC, "bootstrap", "initdb", "secret", why=_OWNER_SECRET),
    left_out(*SPEC, "bootstrap", "initdb", ANY, why="pgrender runs initdb with its own options"),
    *(left_out(*BOOTSTRAP, method, why=why) for method, why in _COPIED_BOOTSTRAP.items()),
    left_out(*SPEC, "managed", "services", "additional", why="pgrender writes the Services of its naming profile"),
    left_out(*SPEC, "managed", "roles", ANY, "comment", why="pgrender writes no comments on roles"),
    left_out(*SPEC, "managed", "roles", ANY, "validUntil", why="pgrender's passwords do not expire"),
    left_out(*SPEC, "managed", "roles", ANY, "connectionLimit", why="pgrender sets no connection limits"),
    left_out(*SPEC, "managed", "roles", ANY, "disablePassword", why="pgrender gives every login role a password"),
    left_out(*SPEC, "certificates", ANY, why="pgrender makes the certificates (spec.tls.provider)"),
)
POOLER_REASONS: tuple[Reason, ...] = (
    left_out(*SPEC, "monitoring", why="pgrender's exporter reads the database, not pgBouncer (spec.monitoring)"),
    left_out(*SPEC, "deploymentStrategy", why="pgrender's pgBouncer rolls one pod at a time"),
    left_out(*SPEC, "serviceAccountName", why="pgrender's pgBouncer runs without a service account token"),
    left_out(*SPEC, "pgbouncer", "pg_hba", why="pgrender's pgBouncer admits TLS clients with SCRAM passwords"),
    left_out(*SPEC, "pgbouncer", "authQuery", why="pgrender's pgBouncer looks users up with its own function"),
    left_out(*SPEC, "pgbouncer", "authQuerySecret", why="pgrender's pgBouncer authenticates as its own role"),
    left_out(*SPEC, "pgbouncer", "paused", why="nothing operates a rendered pgBouncer: PAUSE it yourself"),
    left_out(
        *SPEC, "pgbouncer", "parameters", ANY, why="a pgBouncer setting pgrender manages or does not pass through"
    ),
    *(
        left_out(*SPEC, "pgbouncer", secret, why="pgrender makes pgBouncer's certificates (spec.tls.provider)")
        for secret in ("serverTLSSecret", "serverCASecret", "clientCASecret", "clientTLSSecret")
    ),
)
DATABASE_REASONS: tuple[Reason, ...] = (
    left_out(*SPEC, ANY, why="pgrender creates a database with an owner and its defaults"),
)


@frozen
class _Cnpg:
    name: str = "cnpg"
    title: str = "CloudNativePG"
    group: str = GROUP
    versions: tuple[str, ...] = ("v1",)
    cluster_kind: str = "Cluster"
    companion_kinds: tuple[str, ...] = ("Pooler", "Database")
    other_kinds: dict[str, str] = frozen_field(
        default_factory=lambda: {
            "Backup": _BARMAN,
            "ScheduledBackup": "pgrender schedules pgBackRest backups in spec.backups.repos[].schedules",
            "ImageCatalog": "pgrender picks the image per PostgreSQL version itself",
            "ClusterImageCatalog": "pgrender picks the image per PostgreSQL version itself",
            "Publication": "pgrender manages no logical replication",
            "Subscription": "pgrender manages no logical replication",
            "FailoverQuorum": "written by the operator",
        }
    )
    naming: str = "cnpg"

    def reasons(self, doc: Document) -> tuple[Reason, ...]:
        kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
        return {"Pooler": POOLER_REASONS, "Database": DATABASE_REASONS}.get(str(kind), REASONS)

    def companion_of(self, doc: Document) -> tuple[str, str | None] | None:
        spec = doc.data.get("spec")
        cluster = spec.get("cluster") if isinstance(spec, dict) else None
        name = cluster.get("name") if isinstance(cluster, dict) else None
        meta = doc.data.get("metadata")
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        return (name, namespace) if isinstance(name, str) else None

    def build(self, source: Source, companions: list[Source], out: Output, inputs: Inputs) -> None:
        _Build(source, out).run(companions)


CONVERTER = _Cnpg()


class _Build:
    def __init__(self, source: Source, out: Output) -> None:
        self.src = source
        self.out = out
        self.name = str(source.get(("metadata", "name")))

    def run(self, companions: list[Source]) -> None:
        src, out = self.src, self.out
        out.set(("metadata", "name"), src.take_str(("metadata", "name")), src.at(("metadata", "name")))
        if src.has(("metadata", "namespace")):
            namespace = src.take_str(("metadata", "namespace"))
            out.set(("metadata", "namespace"), namespace, src.at(("metadata", "namespace")))
        metadata(src, ("spec", "inheritedMetadata"), out, ("metadata",))
        # A cloud identity of the pods that reach the object store (IRSA, Workload Identity).
        account = ("spec", "serviceAccountTemplate", "metadata")
        metadata(src, account, out, account)
        # CloudNativePG's declarative hibernation: pgrender's spec.shutdown (pods gone, claims kept).
        hibernation = ("metadata", "annotations", HIBERNATION)
        if src.take_str(hibernation) == "on":
            out.set(("spec", "shutdown"), True, src.at(hibernation))
        image_pull_secrets(src, out)
        self.version()
        self.instances()
        self.sources()  # before users(): the application owner's section is pg_basebackup's
        self.users()
        self.postgresql()
        self.services()
        self.certificates()
        self.settled()
        taken: set[str] = set()  # the Pooler types converted: one pgBouncer each, rw and ro
        for pooler in (c for c in companions if c.get(("kind",)) == "Pooler"):
            self.pooler(pooler, taken)
        for database in (c for c in companions if c.get(("kind",)) == "Database"):
            self.database(database)

    def version(self) -> None:
        src, out = self.src, self.out
        image = src.get(("spec", "imageName"))
        major = src.get(("spec", "imageCatalogRef", "major"))
        if major is not None:
            src.take(("spec", "imageCatalogRef", "major"))
            postgres_version(src, ("spec", "imageCatalogRef", "major"), major, out)
        elif isinstance(image, str):
            tag = image.split("@", 1)[0].rpartition("/")[2].partition(":")[2]
            found = re.match(r"\d+", tag)
            if found is None:
                src.problem(
                    ("spec", "imageName"),
                    "expected an image tagged with its PostgreSQL version (such as postgresql:17.6), "
                    "from which pgrender takes postgresVersion",
                )
                return
            postgres_version(src, ("spec", "imageName"), found.group(), out, named=" in the tag")
        else:
            out.set(("spec", "postgresVersion"), DEFAULT_MAJOR, src.at(("spec", "imageName")))
            src.changed(
                ("spec",),
                f"no imageName: CloudNativePG 1.28 runs its default image, PostgreSQL {DEFAULT_MAJOR}; "
                f"the spec says {DEFAULT_MAJOR}",
            )

    def instances(self) -> None:
        src, out = self.src, self.out
        count_path = ("spec", "instances")
        count = src.take_int(count_path)
        origin = src.at(count_path)
        to: Path_ = ("spec", "instances", 0)
        out.set(("spec", "instances"), [{"name": INSTANCE_SET}], origin)
        out.set((*to, "replicas"), count or 1, origin)
        resources(src, ("spec", "resources"), out, (*to, "resources"))
        memory_limit_note(src, ("spec", "resources"), out, (*to, "resources"), "CloudNativePG sets none")
        self.storage(("spec", "storage"), (*to, "dataVolume"), required=True)
        self.storage(("spec", "walStorage"), (*to, "walVolume"), required=False)
        self.scheduling((*to, "scheduling"))
        priority = src.take_str(("spec", "priorityClassName"))
        if priority:
            out.set((*to, "scheduling", "priorityClassName"), priority, src.at(("spec", "priorityClassName")))

    def storage(self, path: Path_, to: Path_, *, required: bool) -> None:
        src, out = self.src, self.out
        if not isinstance(src.get(path), dict):
            if required:
                src.problem(path, "required field is missing: pgrender needs the volume's size")
            return
        if src.has((*path, "size")):
            if out.set(to, {}, src.at(path)):
                out.set((*to, "size"), quantity(src, (*path, "size")), src.at((*path, "size")))
                # CloudNativePG makes the claim from pvcTemplate, with size and storageClass over it.
                named = (*path, "storageClass")
                if not src.has(named):
                    named = (*path, "pvcTemplate", "storageClassName")
                storage_class = src.take_str(named)
                if storage_class:
                    out.set((*to, "storageClassName"), storage_class, src.at(named))
            return
        if not claim(src, (*path, "pvcTemplate"), out, to, required=required):
            return
        storage_class = src.take_str((*path, "storageClass"))
        if storage_class:
            out.set((*to, "storageClassName"), storage_class, src.at((*path, "storageClass")))

    def scheduling(self, to: Path_) -> None:
        src, out = self.src, self.out
        affinity = ("spec", "affinity")
        scheduling_lists(src, affinity, out, to)
        enabled = src.take_bool((*affinity, "enablePodAntiAffinity"))
        kind = src.take_str((*affinity, "podAntiAffinityType"))
        key = src.take_str((*affinity, "topologyKey"))
        if enabled is False:
            out.set((*to, "podAntiAffinity"), {"type": "none"}, src.at((*affinity, "enablePodAntiAffinity")))
        elif kind or key:
            value: dict[str, Any] = {}
            if kind:
                value["type"] = kind
            if key:
                value["topologyKey"] = key
            field_path = (*affinity, "podAntiAffinityType") if kind else (*affinity, "topologyKey")
            out.set((*to, "podAntiAffinity"), value, src.at(field_path))
        own = {"cnpg.io/cluster": self.name, "cnpg.io/podRole": "instance"}
        topology_spread(
            src,
            ("spec", "topologySpreadConstraints"),
            out,
            (*to, "topologySpreadConstraints"),
            lambda selector: own_selector(selector, dict(own)),
        )

    def sources(self) -> None:
        """spec.replica (a standby) and bootstrap.pg_basebackup (a copy) of the externalClusters entry
        they name, reached by its host; every other entry is noted here."""
        src = self.src
        entries: dict[str, Path_] = {}
        for _, path, entry in src.elements(EXTERNAL):
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name not in entries:
                entries[name] = path
        used: set[Path_] = set()
        followed = self.replica(entries, used)
        self.basebackup(entries, used, followed)
        for _, path, entry in src.elements(EXTERNAL):
            if path in used:
                continue
            archive = isinstance(entry, dict) and any(entry.get(key) for key in ("barmanObjectStore", "plugin"))
            src.left_out(
                path,
                _SOURCE_ARCHIVE
                if archive
                else "pgrender reads an external cluster only as the source of spec.replica or "
                "bootstrap.pg_basebackup, by its host; nothing carried names this one",
            )

    def replica(self, entries: dict[str, Path_], used: set[Path_]) -> str | None:
        """spec.replica as spec.standby.fromCluster: the name of the entry followed, when carried.

        CloudNativePG's cluster is a replica when replica.enabled says so; without it, when it is not
        replica.primary (replica.self, or its name), the primary of a distributed topology."""
        src, out = self.src, self.out
        if not isinstance(src.get(REPLICA), dict):
            return None
        enabled = src.take_bool((*REPLICA, "enabled"))
        primary = src.take_str((*REPLICA, "primary"))
        me = src.take_str((*REPLICA, "self")) or self.name
        name = src.take_str((*REPLICA, "source"))
        if enabled is None and primary == me:
            src.left_out(
                REPLICA,
                f"replica.primary names this cluster ({me}): the primary of its distributed topology runs as a "
                "primary, as pgrender's cluster does without spec.standby; pgrender has no distributed "
                f"topology: to make it follow {name}, add spec.standby.fromCluster",
            )
            return None
        if not name:
            src.problem((*REPLICA, "source"), "required field is missing")
            return None
        entry = entries.get(name)
        host = self.entry_host(entry)
        if entry is None or host is None:
            why = (
                f"no externalClusters entry {name}"
                if entry is None
                else f"externalClusters entry {name} has no connectionParameters.host"
            )
            if enabled is False:  # promoted: a primary, as pgrender's cluster is without spec.standby
                why += "; with replica.enabled: false it runs as a primary, as pgrender's does without spec.standby"
            elif entry is None:
                why += ": nothing to follow"
            else:
                why += f", so CloudNativePG follows its archive: {_SOURCE_ARCHIVE}"
            src.left_out(REPLICA, why)
            return None
        used.add(entry)
        to: Path_ = ("spec", "standby")
        note = self.from_cluster(entry, host, (*to, "fromCluster"), copy=False)
        if note is None:
            src.left_out(REPLICA, _refused_host(entry))
            return None
        if enabled is False:
            out.set((*to, "enabled"), False, src.at((*REPLICA, "enabled")))
            note += "; replica.enabled: false promotes it, as spec.standby.enabled: false does"
        src.changed(REPLICA, note)
        topology = f" (replica.primary is {primary})" if primary else ""
        for field in ("primary", "self"):
            if src.has((*REPLICA, field)):
                src.left_out(
                    (*REPLICA, field),
                    f"pgrender has no distributed topology: this cluster is a standby of {name}{topology}; "
                    "promote it with spec.standby.enabled: false",
                )
        for field, why in (
            ("promotionToken", "pgrender promotes a standby with spec.standby.enabled: false, without a token"),
            ("minApplyDelay", "pgrender's standby replays the WAL as it comes"),
        ):
            if src.has((*REPLICA, field)):
                src.left_out((*REPLICA, field), why)
        return name

    def basebackup(self, entries: dict[str, Path_], used: set[Path_], followed: str | None) -> None:
        """bootstrap.pg_basebackup as spec.bootstrap.fromCluster; a standby's copy of the source it
        follows is the standby's own (spec.standby.fromCluster copies it first)."""
        src = self.src
        path = (*BOOTSTRAP, "pg_basebackup", "source")
        if not isinstance(src.get(path[:-1]), dict):
            return
        name = src.take_str(path)
        if not name:
            src.problem(path, "required field is missing")
            return
        if followed is not None:
            if name != followed:
                src.left_out(path, f"a standby starts as a copy of the source it follows ({followed}), not of {name}")
            return
        entry = entries.get(name)
        host = self.entry_host(entry)
        if entry is None or host is None:
            src.left_out(
                path,
                f"no externalClusters entry {name}: nothing to copy"
                if entry is None
                else f"externalClusters entry {name} has no connectionParameters.host: nothing to copy from",
            )
            return
        used.add(entry)
        note = self.from_cluster(entry, host, ("spec", "bootstrap", "fromCluster"), copy=True)
        if note is None:
            src.left_out(path, _refused_host(entry))
            return
        src.changed(path, note)

    def entry_host(self, entry: Path_ | None) -> str | None:
        host = self.src.get((*entry, "connectionParameters", "host")) if entry is not None else None
        return host if isinstance(host, str) and host else None

    def from_cluster(self, entry: Path_, host: str, to: Path_, *, copy: bool) -> str | None:
        """fromCluster at ``to`` for the externalClusters entry at ``entry``: the cluster whose primary
        Service (<cluster>-rw) ``host`` names, or ``host`` itself, outside this Kubernetes cluster, with
        the entry's name as the cluster's (<cluster>-source where that cannot name another pgrender
        cluster). The note of the field that asks for it; None when refused."""
        src, out = self.src, self.out
        params = (*entry, "connectionParameters")
        src.take((*params, "host"))
        name = str(src.take((*entry, "name")))
        found = primary_service_host(host, "-rw")
        if found:
            value: dict[str, Any] = named_source(found)
        else:
            usable = _DNS_LABEL.fullmatch(name) is not None and name != self.name
            value = {"cluster": name if usable else f"{self.name}-source", "host": host}
        if not out.set(to, value, src.at((*params, "host"))):
            if src.has((*params, "port")):
                src.left_out((*params, "port"), _refused_host(entry))
            return None
        source_port(src, (*params, "port"), out, (*to, "port"))
        cluster = value["cluster"]
        if copy and found:
            return copy_note(cluster)
        if found:
            return (
                f"a standby of cluster {cluster} (spec.standby.fromCluster), streaming from its primary Service "
                f"({cluster}-rw) after a copy with pg_basebackup; pgrender streams as its replication role, with "
                f"a certificate of the source's CA derived from the root key: {SOURCE_RENDERED} (as cluster "
                f"{cluster})"
            )
        what = "a copy of the primary at" if copy else "a standby streaming from"
        named = (
            f"after it, {cluster}"
            if cluster == name
            else f"{cluster} ({name} {'is this cluster' if name == self.name else 'is no cluster name'})"
        )
        return (
            f"{what} {host} ({format_path(to)}.host, as it is: {host} names no primary Service <cluster>-rw "
            f"of this Kubernetes cluster); CloudNativePG names the source only by its externalClusters entry ({name}), "
            f"so pgrender's spec names the cluster {named}, in this cluster's namespace, and derives the "
            f"source's CA and passwords for it from the root key: set {format_path(to)}.cluster and namespace "
            f"to the source's own ({SOURCE_RENDERED})"
        )

    def users(self) -> None:
        """The application owner and database (``application``), then managed.roles."""
        src, out = self.src, self.out
        self.application()
        for _, path, role in src.elements(("spec", "managed", "roles")):
            if not isinstance(role, dict):
                src.expected(path, "a mapping")
                continue
            name = src.take_str((*path, "name"))
            if name is None:
                src.problem((*path, "name"), "required field is missing")
                continue
            if src.take_str((*path, "ensure")) == "absent":
                src.take(path)
                src.left_out(path, "pgrender never drops a role: drop it yourself (DROP ROLE)")
                continue
            options: dict[str, bool] = {"login": bool(src.take_bool((*path, "login")))}
            for attribute in _ROLE_ATTRIBUTES:
                if src.take_bool((*path, attribute)):
                    options[attribute] = True
            if src.take_bool((*path, "inherit")) is False:
                options["inherit"] = False
            if src.has((*path, "passwordSecret")):
                src.take((*path, "passwordSecret"))
                src.changed(
                    (*path, "passwordSecret"),
                    "pgrender derives the password from the root key and writes the role's Secret itself",
                )
            in_roles = src.take_list((*path, "inRoles"))  # memberships: users[].inRoles, the same GRANTs
            users = out.get(("spec", "users")) or []
            same = next((i for i, user in enumerate(users) if user.get("name") == name), None)
            if same is not None:
                out.set(("spec", "users", same, "options"), options, src.at(path))
                if in_roles:
                    out.set(("spec", "users", same, "inRoles"), in_roles, src.at((*path, "inRoles")))
            else:
                user = {"name": name, "options": options} | ({"inRoles": in_roles} if in_roles else {})
                out.append(("spec", "users"), user, src.at(path))

    def application(self) -> None:
        """The application owner and database, as CloudNativePG chooses them (GetApplicationDatabaseOwner
        and ...Name): those of bootstrap.recovery or pg_basebackup when the section names one (or a
        secret), else initdb's; the database is app by default, its owner the database's name. The owner
        is the first user, whose Secret is <cluster>-app. A recovery or pg_basebackup that names none
        of them makes no application owner in CloudNativePG either, and is noted whole by the sweep."""
        src = self.src
        for method, why in _COPIED_BOOTSTRAP.items():
            path = (*BOOTSTRAP, method)
            section = src.get(path)
            if isinstance(section, dict) and any(section.get(key) is not None for key in _APPLICATION_FIELDS):
                self.application_owner(path, src.at(path))
                for key, field, _ in src.items(path):
                    if key == "secret":
                        src.left_out(field, _OWNER_SECRET)
                    elif field not in src.consumed:
                        src.left_out(field, why)
                return
        initdb = (*BOOTSTRAP, "initdb")
        if isinstance(src.get(initdb), dict) or not any(src.has((*BOOTSTRAP, m)) for m in _COPIED_BOOTSTRAP):
            self.application_owner(initdb, src.at(initdb) if src.has(initdb) else src.at(BOOTSTRAP))

    def application_owner(self, path: Path_, origin: Ref) -> None:
        """The database and owner of the bootstrap section at ``path`` (app and app when it names none) as
        the first user and a database."""
        src, out = self.src, self.out
        database = src.take_str((*path, "database")) or APP
        owner = src.take_str((*path, "owner")) or database
        out.append(("spec", "users"), {"name": owner, "databases": [database]}, origin)
        out.append(("spec", "databases"), {"name": database, "owner": owner}, origin)

    def postgresql(self) -> None:
        src, out = self.src, self.out
        for key, path, value in src.items((*POSTGRESQL, "parameters")):
            parameter(src, path, key, value, out)
        libraries = src.take_list((*POSTGRESQL, "shared_preload_libraries"))
        if libraries:
            out.set(
                ("spec", "patroni", "parameters", "shared_preload_libraries"),
                ",".join(str(lib) for lib in libraries),
                src.at((*POSTGRESQL, "shared_preload_libraries")),
            )
        for _, path, line in src.elements((*POSTGRESQL, "pg_hba")):
            append_hba_rule(src, path, line, out)
        self.synchronous()

    def synchronous(self) -> None:
        src, out = self.src, self.out
        sync = (*POSTGRESQL, "synchronous")
        if isinstance(src.get(sync), dict):
            src.take((*sync, "method"))
            number = src.take_int((*sync, "number"))
            durability = src.take_str((*sync, "dataDurability"))
            out.set(("spec", "patroni", "synchronousMode"), True, src.at(sync))
            out.set(("spec", "patroni", "synchronousModeStrict"), durability != "preferred", src.at(sync))
            if number is not None and number > 1:
                self.synchronous_count(number, src.at((*sync, "number")))
            return
        most = src.take_int(("spec", "maxSyncReplicas"))
        least = src.take_int(("spec", "minSyncReplicas"))
        if most:
            out.set(("spec", "patroni", "synchronousMode"), True, src.at(("spec", "maxSyncReplicas")))
            if least:
                out.set(("spec", "patroni", "synchronousModeStrict"), True, src.at(("spec", "minSyncReplicas")))
            if most > 1:
                self.synchronous_count(most, src.at(("spec", "maxSyncReplicas")))
        elif least:
            src.left_out(("spec", "minSyncReplicas"), "without maxSyncReplicas, replication is not synchronous")

    def synchronous_count(self, number: int, ref: Ref) -> None:
        """CloudNativePG's synchronous standbys as Patroni's synchronous_node_count (Patroni's default: 1)."""
        self.out.set(("spec", "patroni", "dynamicConfiguration", "synchronous_node_count"), number, ref)

    def services(self) -> None:
        src, out = self.src, self.out
        for _, path, name in src.elements(("spec", "managed", "services", "disabledDefaultServices")):
            src.take(path)
            if name == "ro":
                out.set(("spec", "replicaService", "enabled"), False, src.at(path))
            else:
                src.left_out(path, f"pgrender's {name!r} Service is part of its naming profile, and stays")

    def certificates(self) -> None:
        src, out = self.src, self.out
        names = ("spec", "certificates", "serverAltDNSNames")
        values = src.take_list(names)
        if values:
            out.set(("spec", "tls", "extraSANs"), [str(v) for v in values], src.at(names))

    def settled(self) -> None:
        """Fields whose value is what pgrender does anyway: taken without a note."""
        src = self.src
        for path, value in (
            (("spec", "enablePDB"), True),
            (("spec", "primaryUpdateMethod"), "switchover"),
            (("spec", "primaryUpdateStrategy"), "unsupervised"),
            (("spec", "logLevel"), "info"),
        ):
            if src.get(path) == value:
                src.take(path)

    # Companions ----------------------------------------------------------------------------------

    def pooler(self, pooler: Source, taken: set[str]) -> None:
        """The first Pooler of type rw as spec.proxy.pgBouncer, the first of type ro as pgBouncerReplicas."""
        out = self.out
        pooler.take(("spec", "cluster"))
        pooler.take(("metadata", "namespace"))
        kind = pooler.take_str(("spec", "type")) or "rw"
        if kind not in POOLER_TYPES or kind in taken:
            pooler.take(("spec",))
            why = (
                f"pgrender runs one pgBouncer per cluster for the {'primary' if kind == 'rw' else 'replicas'}"
                if kind in POOLER_TYPES
                else f"a pooler of type {kind!r}: pgrender's pgBouncers serve the primary (rw) or the replicas (ro)"
            )
            pooler.left_out(("spec",), why)
            return
        taken.add(kind)
        to: Path_ = ("spec", "proxy", POOLER_TYPES[kind])
        name = pooler.take_str(("metadata", "name"))  # its Service's name: refused with the rest, noted there
        if not out.set(to, {}, pooler.at(("spec",))):
            return
        profile = PROFILES[Naming.CNPG]
        service_name = (profile.pgbouncer if kind == "rw" else profile.pgbouncer_replicas).format(cluster=self.name)
        if name != service_name:
            pooler.changed(
                ("metadata", "name"),
                f"pgBouncer's Service is {service_name} (spec.naming: cnpg), not named after the Pooler: "
                "point its clients there",
            )
        instances = pooler.take_int(("spec", "instances"))
        if instances is not None:
            out.set((*to, "replicas"), instances, pooler.at(("spec", "instances")))
        settings = ("spec", "pgbouncer")
        mode = pooler.take_str((*settings, "poolMode"))
        if mode:
            out.set((*to, "poolMode"), mode, pooler.at((*settings, "poolMode")))
        for key, key_path, value in pooler.items((*settings, "parameters")):
            text = str(value)
            if key in BOUNCER_FIELDS and text.isdigit():
                pooler.take(key_path)
                out.set((*to, BOUNCER_FIELDS[key]), int(text), pooler.at(key_path))
            elif key in PASSTHROUGH_SETTINGS:
                pooler.take(key_path)
                out.set((*to, "config", "global", key), int(text) if text.isdigit() else text, pooler.at(key_path))
        for _, path, container in pooler.elements(("spec", "template", "spec", "containers")):
            if isinstance(container, dict) and container.get("name") == "pgbouncer":
                pooler.take((*path, "name"))
                resources(pooler, (*path, "resources"), out, (*to, "resources"))
        memory_limit_note(
            pooler, ("spec", "template"), out, (*to, "resources"), "CloudNativePG sets none", ContainerKind.PGBOUNCER
        )
        service = ("spec", "serviceTemplate")
        # A ServiceSpec's fields that pgrender's service has (a LoadBalancer's source ranges too).
        service_fields(pooler, (*service, "spec"), SERVICE_SPEC_FIELDS, out, (*to, "service"))
        metadata(pooler, (*service, "metadata"), out, (*to, "service", "metadata"))
        metadata(pooler, ("spec", "template", "metadata"), out, (*to, "metadata"))

    def database(self, database: Source) -> None:
        out = self.out
        database.take(("spec", "cluster"))
        database.take(("metadata", "namespace"))
        if database.take_str(("spec", "ensure")) == "absent":
            database.take(("spec",))
            database.left_out(("spec",), "pgrender never drops a database: drop it yourself (DROP DATABASE)")
            return
        name = database.take_str(("spec", "name"))
        owner = database.take_str(("spec", "owner"))
        if name is None or owner is None:
            database.problem(("spec", "name" if name is None else "owner"), "required field is missing")
            return
        database.take(("metadata", "name"))
        out.append(("spec", "databases"), {"name": name, "owner": owner}, database.at(("spec",)))


def _refused_host(entry: Path_) -> str:
    host = format_path((*entry, "connectionParameters", "host"))
    return f"goes with its source's host ({host}), which pgrender refuses"
