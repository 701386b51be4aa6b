"""Zalando postgres-operator's postgresql (acid.zalan.do/v1) to a pgrender spec.

Zalando runs Spilo, as pgrender does by default, so its image and user ids carry over; spec.naming:
zalando keeps the <user>.<cluster>.credentials.postgresql.acid.zalan.do Secrets (keys username and
password) and the <cluster>, <cluster>-repl, <cluster>-pooler and <cluster>-pooler-repl Services applications use. What
Zalando keeps in the operator's configuration (WAL archiving, the logical backup bucket, anti-affinity)
is not in the custom resource, so it is not in the converted spec either.
"""

from __future__ import annotations

from typing import Any

from pgrender.convert import Inputs
from pgrender.convert.base import ANY, OWN_TLS, Output, Path_, Reason, Source, left_out
from pgrender.convert.kube import (
    INSTANCE_SET,
    append_hba_rule,
    containers,
    copy_note,
    memory_limit_note,
    named_source,
    own_selector,
    parameter,
    postgres_version,
    primary_service_host,
    put_label,
    quantity,
    source_port,
    topology_spread,
    unnamed_source,
)
from pgrender.frozen import field as frozen_field
from pgrender.frozen import frozen
from pgrender.load import Document, format_path
from pgrender.plan.resources import ContainerKind

GROUP = "acid.zalan.do"
SPEC = ("spec",)
POOLER = ("spec", "connectionPooler")
MASTER_POOLER_BALANCER = ("spec", "enableMasterPoolerLoadBalancer")
REPLICA_POOLER_BALANCER = ("spec", "enableReplicaPoolerLoadBalancer")
# Zalando's pooler defaults (connection_pooler_* in the operator's configuration, pooler/pgbouncer.ini.tmpl).
POOLER_REPLICAS = 2
POOLER_MODE = "transaction"
POOLER_MAX_CLIENT_CONNECTIONS = 10000
# With a load balancer and no allowedSourceRanges, Zalando's admits 127.0.0.1/32 only.
LOAD_BALANCER_DEFAULT_RANGES = ["127.0.0.1/32"]
_ROLE_FLAGS = ("superuser", "createdb", "createrole", "login", "replication", "bypassrls", "inherit")
_SIDECARS = "the old spelling; write initContainers"
_WAL_ARCHIVE = (
    "Zalando's WAL-E/WAL-G archive has no pgrender equivalent: pgrender restores and follows pgBackRest "
    "repositories (spec.bootstrap.fromBackup, spec.standby.fromBackup)"
)
_ARCHIVE_CLONE = (
    f"a clone at a timestamp restores from the source's WAL archive: {_WAL_ARCHIVE}; a clone without one "
    "copies the running source (spec.bootstrap.fromCluster)"
)


REASONS: tuple[Reason, ...] = (
    left_out(*SPEC, "init_containers", why=_SIDECARS),
    left_out(*SPEC, "additionalVolumes", why="pgrender mounts no extra volumes"),
    left_out(*SPEC, "env", why="pgrender's pods take no extra environment variables"),
    left_out(*SPEC, "streams", why="pgrender writes no event streams (FabricEventStream)"),
    left_out(*SPEC, "maintenanceWindows", why="nothing operates a rendered cluster: apply changes when you choose"),
    left_out(*SPEC, "schedulerName", why="pgrender's pods use the default scheduler"),
    left_out(*SPEC, "enableShmVolume", why="pgrender's pods always mount a memory-backed /dev/shm"),
    left_out(*SPEC, "tls", why=OWN_TLS),
    left_out(*SPEC, "preparedDatabases", why="pgrender has no prepared databases: write the roles and databases out"),
    left_out(
        *SPEC,
        "usersWithSecretRotation",
        why="pgrender rotates a password when users[].passwordRotation is bumped, never on a timer",
    ),
    left_out(
        *SPEC,
        "usersWithInPlaceSecretRotation",
        why="pgrender rotates a password when users[].passwordRotation is bumped, never on a timer",
    ),
    left_out(*SPEC, "usersIgnoringSecretRotation", why="pgrender never rotates passwords on a timer"),
    left_out(
        *SPEC, "logicalBackupRetention", why="pgrender's logical backups keep every dump; expire them in the bucket"
    ),
    left_out(*SPEC, "volume", "selector", why="pgrender's claims select no particular volumes"),
    left_out(*SPEC, "volume", "subPath", why="pgrender mounts the whole volume"),
    left_out(*SPEC, "volume", "isSubPathExpr", why="pgrender mounts the whole volume"),
    left_out(*SPEC, "volume", "iops", why="set IOPS in the StorageClass (volume.storageClassName)"),
    left_out(*SPEC, "volume", "throughput", why="set throughput in the StorageClass (volume.storageClassName)"),
    left_out(*SPEC, "volume", "type", why="choose the volume type with the StorageClass (volume.storageClassName)"),
    left_out(*SPEC, "patroni", "initdb", why="pgrender runs initdb with its own options"),
    left_out(*SPEC, "patroni", "retry_timeout", why="pgrender derives retry_timeout from the lease and the loop"),
    left_out(*SPEC, "resources", ANY, ANY, why="pgrender sets cpu, memory and ephemeral-storage"),
    left_out(*POOLER, "schema", why="pgrender's pgBouncer looks users up in its own schema"),
    left_out(*POOLER, "user", why="pgrender's pgBouncer authenticates as its own role"),
    left_out(
        *POOLER, "dockerImage", why="pgrender runs its own pgBouncer image (proxy.pgBouncer.image, run as 998:996)"
    ),
    left_out(*POOLER, "resources", ANY, ANY, why="pgrender sets cpu, memory and ephemeral-storage"),
    left_out(*SPEC, "clone", why=_ARCHIVE_CLONE),
    left_out(*SPEC, "standby", "s3_wal_path", why=_WAL_ARCHIVE),
    left_out(*SPEC, "standby", "gs_wal_path", why=_WAL_ARCHIVE),
    left_out(*SPEC, "standby", "standby_primary_slot_name", why="pgrender's standby uses no replication slot"),
)


_CROSS_NAMESPACE = (
    "role {name}, its Secret also in namespace {namespace} (users[].secretNamespaces), named as the "
    "cluster's ({name}.<cluster>.credentials...; Zalando's was {namespace}.{name}.<cluster>...): point the "
    "applications there at that name"
)


@frozen
class _Zalando:
    name: str = "zalando"
    title: str = "Zalando postgres-operator"
    group: str = GROUP
    versions: tuple[str, ...] = ("v1",)
    cluster_kind: str = "postgresql"
    companion_kinds: tuple[str, ...] = ()
    other_kinds: dict[str, str] = frozen_field(
        default_factory=lambda: {
            "OperatorConfiguration": "the operator's own settings; what they mean for a cluster is up to its spec",
            "PostgresTeam": "pgrender has no teams: write the roles out in spec.users",
            "FabricEventStream": "pgrender writes no event streams",
        }
    )
    naming: str = "zalando"

    def reasons(self, doc: Document) -> tuple[Reason, ...]:
        return REASONS

    def companion_of(self, doc: Document) -> tuple[str, str | None] | None:
        return None

    def build(self, source: Source, companions: list[Source], out: Output, inputs: Inputs) -> None:
        _Build(source, out).run()


CONVERTER = _Zalando()


class _Build:
    def __init__(self, source: Source, out: Output) -> None:
        self.src = source
        self.out = out
        self.name = str(source.get(("metadata", "name")))

    def run(self) -> None:
        src, out = self.src, self.out
        out.set(("metadata", "name"), src.take_str(("metadata", "name")), src.at(("metadata", "name")))
        if src.has(("metadata", "namespace")):
            namespace = src.take_str(("metadata", "namespace"))
            out.set(("metadata", "namespace"), namespace, src.at(("metadata", "namespace")))
        team = src.take_str(("spec", "teamId"))
        if team:
            put_label(src, ("spec", "teamId"), out, ("metadata",), "team", team)
        version = ("spec", "postgresql", "version")
        if not src.has(version):
            src.problem(version, "required field is missing")
        else:
            postgres_version(src, version, src.take(version), out)
        image = src.take_str(("spec", "dockerImage"))
        if image:
            out.set(("spec", "image"), image, src.at(("spec", "dockerImage")))
        for field, target in (
            ("spiloRunAsUser", "runAsUser"),
            ("spiloRunAsGroup", "runAsGroup"),
            ("spiloFSGroup", "fsGroup"),
        ):
            value = src.take_int(("spec", field))
            if value is not None:
                out.set(("spec", "imageContract", target), value, src.at(("spec", field)))
        self.instances()
        self.users()
        self.patroni()
        self.services()
        self.pooler()
        self.logical_backup()
        self.clone()
        self.standby()

    def instances(self) -> None:
        src, out = self.src, self.out
        count_path = ("spec", "numberOfInstances")
        count = src.take_int(count_path)
        if count is None:
            if not src.has(count_path):
                src.problem(count_path, "required field is missing")
            return
        to: Path_ = ("spec", "instances", 0)
        out.set(("spec", "instances"), [{"name": INSTANCE_SET}], src.at(count_path))
        if count < 1:  # Zalando's way to stop a cluster and keep its volumes: pgrender's spec.shutdown
            src.changed(
                count_path, "0 instances stops the cluster: shutdown is true, with 1 instance when it starts again"
            )
            out.set(("spec", "shutdown"), True, src.at(count_path))
        out.set((*to, "replicas"), max(count, 1), src.at(count_path))
        self.resources(("spec", "resources"), out, (*to, "resources"))
        memory_limit_note(
            src,
            ("spec", "resources"),
            out,
            (*to, "resources"),
            "Zalando's comes from its operator configuration (default_memory_limit)",
        )
        size = ("spec", "volume", "size")
        if not src.has(size):
            src.problem(size, "required field is missing")
        else:
            out.set((*to, "dataVolume"), {}, src.at(("spec", "volume")))
            out.set((*to, "dataVolume", "size"), quantity(src, size), src.at(size))
            storage_class = src.take_str(("spec", "volume", "storageClass"))
            if storage_class:
                out.set(
                    (*to, "dataVolume", "storageClassName"), storage_class, src.at(("spec", "volume", "storageClass"))
                )
        containers(src, ("spec", "sidecars"), out, (*to, "sidecars"))
        containers(src, ("spec", "initContainers"), out, (*to, "initContainers"))
        sched: Path_ = (*to, "scheduling")
        for field, target in (("tolerations", "tolerations"), ("nodeAffinity", "nodeAffinity")):
            value = src.take(("spec", field))
            if value:
                out.set((*sched, target), value, src.at(("spec", field)))
        own = {"application": "spilo", "cluster-name": self.name}
        topology_spread(
            src,
            ("spec", "topologySpreadConstraints"),
            out,
            (*sched, "topologySpreadConstraints"),
            lambda selector: own_selector(selector, dict(own)),
        )
        for field in ("podPriorityClassName", "pod_priority_class_name"):
            priority = src.take_str(("spec", field))
            if priority:
                out.set((*sched, "priorityClassName"), priority, src.at(("spec", field)))
        pod_annotations = ("spec", "podAnnotations")
        if src.get(pod_annotations):
            annotations_of(src, pod_annotations, out, (*to, "metadata"))
            src.changed(
                pod_annotations, "on the instance set's metadata: its StatefulSets, claims and budget carry them too"
            )

    def resources(self, path: Path_, out: Output, to: Path_) -> None:
        src = self.src
        if not isinstance(src.get(path), dict):
            return
        if not out.set(to, {}, src.at(path)):
            return
        for kind in ("requests", "limits"):
            for name in ("cpu", "memory"):
                amount = quantity(src, (*path, kind, name))
                if amount is not None:
                    out.set((*to, kind, name), amount, src.at((*path, kind, name)))

    def users(self) -> None:
        src, out = self.src, self.out
        owners: dict[str, list[str]] = {}
        for database, _, owner in src.items(("spec", "databases")):
            if isinstance(owner, str):
                owners.setdefault(owner, []).append(database)
        indexes: dict[str, int] = {}
        for key, path, flags in src.items(("spec", "users")):
            src.take(path)
            # enable_cross_namespace_secret: {namespace}.{name} is the role name after the first '.', whose
            # Secret Zalando writes into that namespace.
            namespace, _, name = key.partition(".") if "." in key else ("", "", key)
            if namespace and name in indexes:
                listed = out.get(("spec", "users", indexes[name], "secretNamespaces")) or []
                out.set(("spec", "users", indexes[name], "secretNamespaces"), [*listed, namespace], src.at(path))
                src.changed(path, _CROSS_NAMESPACE.format(namespace=namespace, name=name))
                continue
            if flags is not None and not isinstance(flags, list):
                src.expected(path, "a list of role flags")
                continue
            options, unknown = _flags(flags or [])
            if unknown:
                src.left_out(path, f"{', '.join(unknown)}: not a role flag (expected {', '.join(_ROLE_FLAGS)})")
            user: dict[str, Any] = {"name": name}
            if owners.get(key):
                user["databases"] = list(owners[key])
            if options:
                user["options"] = options
            if namespace:
                user["secretNamespaces"] = [namespace]
                src.changed(path, _CROSS_NAMESPACE.format(namespace=namespace, name=name))
            index = out.append(("spec", "users"), user, src.at(path))
            if index is not None:
                indexes[name] = index
        if not src.get(("spec", "users")):
            src.changed(
                ("spec",),
                "no users: Zalando creates none but postgres and standby; pgrender creates one named after the "
                "cluster when spec.users is empty",
            )
        for database, path, owner in src.items(("spec", "databases")):
            src.take(path)
            if not isinstance(owner, str):
                src.expected(path, "the name of the owner")
                continue
            out.append(("spec", "databases"), {"name": database, "owner": owner}, src.at(path))

    def patroni(self) -> None:
        src, out = self.src, self.out
        base = ("spec", "patroni")
        for field, target in (("ttl", "leaderLeaseDurationSeconds"), ("loop_wait", "syncPeriodSeconds")):
            value = src.take_int((*base, field))
            if value is not None:
                out.set(("spec", "patroni", target), value, src.at((*base, field)))
        for field, target in (
            ("synchronous_mode", "synchronousMode"),
            ("synchronous_mode_strict", "synchronousModeStrict"),
        ):
            flag = src.take_bool((*base, field))
            if flag is not None:
                out.set(("spec", "patroni", target), flag, src.at((*base, field)))
        for field in ("maximum_lag_on_failover", "synchronous_node_count", "failsafe_mode", "slots"):
            value = src.take((*base, field))
            if value is not None:
                out.set(("spec", "patroni", "dynamicConfiguration", field), value, src.at((*base, field)))
        for key, path, value in src.items(("spec", "postgresql", "parameters")):
            parameter(src, path, key, value, out)
        for _, path, line in src.elements((*base, "pg_hba")):
            append_hba_rule(src, path, line, out)

    def services(self) -> None:
        src, out = self.src, self.out
        ranges_path = ("spec", "allowedSourceRanges")
        ranges = src.take_list(ranges_path)
        balanced = False
        for fields, to in (
            (("enableMasterLoadBalancer", "useLoadBalancer"), ("spec", "service")),
            (("enableReplicaLoadBalancer", "replicaLoadBalancer"), ("spec", "replicaService")),
        ):
            for field in fields:
                if src.take_bool(("spec", field)):
                    balanced = True
                    self.load_balancer(("spec", field), to, ranges)
                    break
        if ranges and not balanced and not (src.get(MASTER_POOLER_BALANCER) or src.get(REPLICA_POOLER_BALANCER)):
            src.left_out(ranges_path, "Zalando applies them to load balancers only, and this cluster has none")
        for field, targets in (
            ("serviceAnnotations", (("spec", "service"), ("spec", "replicaService"))),
            ("masterServiceAnnotations", (("spec", "service"),)),
            ("replicaServiceAnnotations", (("spec", "replicaService"),)),
        ):
            for to in targets:
                annotations_of(src, ("spec", field), out, (*to, "metadata"))

    def load_balancer(self, path: Path_, to: Path_, ranges: list[Any] | None) -> None:
        src, out = self.src, self.out
        out.set((*to, "type"), "LoadBalancer", src.at(path))
        out.set(
            (*to, "loadBalancerSourceRanges"),
            list(ranges) if ranges else list(LOAD_BALANCER_DEFAULT_RANGES),
            src.at(("spec", "allowedSourceRanges")) if ranges else src.at(path),
        )

    def pooler(self) -> None:
        """connectionPooler's settings, for each pooler enabled: the primary's (enableConnectionPooler, or
        the section alone, as Zalando reads it) and the replicas' (enableReplicaConnectionPooler)."""
        src = self.src
        enable = ("spec", "enableConnectionPooler")
        enabled = src.take_bool(enable)
        replica_enable = ("spec", "enableReplicaConnectionPooler")
        replica_enabled = src.take_bool(replica_enable)
        section = src.get(POOLER)
        poolers: list[tuple[Path_, Path_, Path_]] = []  # (origin, target, load balancer field)
        if enabled or (enabled is None and section is not None):
            poolers.append((enable if enabled else POOLER, ("spec", "proxy", "pgBouncer"), MASTER_POOLER_BALANCER))
        if replica_enabled:
            poolers.append((replica_enable, ("spec", "proxy", "pgBouncerReplicas"), REPLICA_POOLER_BALANCER))
        if section is not None and not poolers:
            src.left_out(
                POOLER, "the connection pooler is not enabled (enableConnectionPooler, enableReplicaConnectionPooler)"
            )
        for first, (origin, to, balancer) in enumerate(poolers):
            self.pooler_settings(origin, to, noted=bool(first))
            if src.take_bool(balancer):
                self.load_balancer(balancer, (*to, "service"), src.get(("spec", "allowedSourceRanges")))
        replica_balancer = src.get(REPLICA_POOLER_BALANCER)
        if replica_balancer and not replica_enabled:
            src.left_out(REPLICA_POOLER_BALANCER, "the replica pooler is not enabled (enableReplicaConnectionPooler)")
        elif replica_balancer is False:
            src.take(REPLICA_POOLER_BALANCER)

    def pooler_settings(self, origin: Path_, to: Path_, *, noted: bool) -> None:
        """One pgBouncer from Zalando's connectionPooler (both poolers share it); ``noted``: a change
        was noted already, for the other pooler."""
        src, out = self.src, self.out
        if not out.set(to, {}, src.at(origin)):
            return
        replicas = src.take_int((*POOLER, "numberOfInstances"))
        out.set(
            (*to, "replicas"),
            replicas or POOLER_REPLICAS,
            src.at((*POOLER, "numberOfInstances") if replicas else origin),
        )
        mode = src.take_str((*POOLER, "mode"))
        out.set((*to, "poolMode"), mode or POOLER_MODE, src.at((*POOLER, "mode") if mode else origin))
        out.set((*to, "maxClientConnections"), POOLER_MAX_CLIENT_CONNECTIONS, src.at(origin))
        connections = src.take_int((*POOLER, "maxDBConnections"))
        if connections is not None:
            per_pooler = max(connections // (replicas or POOLER_REPLICAS), 1)
            out.set((*to, "config", "global", "max_db_connections"), per_pooler, src.at((*POOLER, "maxDBConnections")))
            if not noted:
                src.changed(
                    (*POOLER, "maxDBConnections"),
                    f"as pgBouncer's max_db_connections of each pgBouncer: {per_pooler} (Zalando divides it as well)",
                )
        self.resources((*POOLER, "resources"), out, (*to, "resources"))
        if not noted:
            memory_limit_note(
                src,
                (*POOLER, "resources"),
                out,
                (*to, "resources"),
                "Zalando's comes from its operator configuration (connection_pooler_default_memory_limit)",
                ContainerKind.PGBOUNCER,
            )

    def logical_backup(self) -> None:
        src = self.src
        enabled = ("spec", "enableLogicalBackup")
        schedule_path = ("spec", "logicalBackupSchedule")
        schedule = src.take_str(schedule_path) or "30 00 * * *"
        if src.take_bool(enabled):
            src.left_out(
                enabled,
                "pgrender dumps into an s3 repository of spec.backups, and Zalando's bucket is in the operator's "
                "configuration (logical_backup_s3_bucket): add that repository and backups.logical: "
                f"{{repo: repo1, schedule: {schedule!r}}}",
            )
        elif src.has(schedule_path):
            src.left_out(schedule_path, "logical backups are not enabled (enableLogicalBackup)")

    def clone(self) -> None:
        """A clone without a timestamp: pg_basebackup from the Service of the source cluster, in this
        namespace (Zalando's CLONE_WITH_BASEBACKUP, its host the cluster's name, port 5432). One with a
        timestamp restores the WAL archive: noted whole by the sweep."""
        src, out = self.src, self.out
        path = ("spec", "clone")
        section = src.get(path)
        if not isinstance(section, dict) or section.get("timestamp") not in (None, ""):
            return
        cluster = src.take_str((*path, "cluster"))
        if not cluster:
            src.problem((*path, "cluster"), "required field is missing")
            return
        src.take((*path, "timestamp"))  # empty: the clone copies the running source, as here
        if not out.set(("spec", "bootstrap", "fromCluster"), {"cluster": cluster}, src.at(path)):
            return
        src.changed(
            path,
            f"{copy_note(cluster)}; it runs this cluster's PostgreSQL major version, which must be the "
            "source's (Spilo upgrades a clone of an older version, pgrender does not)",
        )
        for _, field, _ in src.items(path):
            if field not in src.consumed:
                src.left_out(
                    field,
                    "Zalando reads it only for a clone from the WAL archive (with a timestamp); this clone "
                    "copies the running source",
                )

    def standby(self) -> None:
        """standby_host: the source's primary Service in this Kubernetes cluster (<cluster>, as Zalando
        names it), or any other host, outside it (fromCluster.host), with standby_port."""
        src, out = self.src, self.out
        base = ("spec", "standby")
        host_path = (*base, "standby_host")
        host = src.take_str(host_path)
        port_path = (*base, "standby_port")
        if not host:
            if src.has(port_path):
                src.left_out(port_path, "a port without a host: nothing to stream from")
            return
        to: Path_ = ("spec", "standby", "fromCluster")
        found = primary_service_host(host, "")
        if found is not None:
            value: dict[str, Any] = named_source(found)
            note = (
                "pgrender streams over TLS with certificates of the source's CA: the source must be rendered "
                f"by pgrender with the same root key (as cluster {found[0]})"
            )
        else:
            value = {"cluster": f"{self.name}-source", "host": host}
            note = unnamed_source("Zalando", host, value["cluster"], "spec.standby.fromCluster")
        if out.set(to, value, src.at(host_path)):
            src.changed(host_path, note)
            source_port(src, port_path, out, (*to, "port"))
        elif src.has(port_path):
            src.left_out(port_path, f"goes with {format_path(host_path)}, which pgrender refuses")


def _flags(flags: list[Any]) -> tuple[dict[str, bool], list[str]]:
    options: dict[str, bool] = {}
    unknown: list[str] = []
    for flag in flags:
        key = str(flag).lower()
        if key in _ROLE_FLAGS:
            options[key] = True
        elif key.startswith("no") and key[2:] in _ROLE_FLAGS:
            options[key[2:]] = False
        else:
            unknown.append(str(flag))
    return options, unknown


def annotations_of(src: Source, path: Path_, out: Output, to: Path_) -> None:
    """A map of annotations at ``path`` into the metadata at ``to``, one value each."""
    for key, key_path, value in src.items(path):
        src.take(key_path)
        put_label(src, key_path, out, to, key, "" if value is None else str(value), kind="annotations")
