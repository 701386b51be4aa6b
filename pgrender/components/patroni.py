"""ConfigMap <c>-config (patroni.yaml, bootstrap.yaml: Patroni's configuration directory), and
Secret <c>-patroni for its REST API.

patroni.yaml is what each member's Patroni needs to run (DCS, paths, authentication, REST API);
changing it replaces the pods, one at a time. bootstrap.yaml is read only when the cluster is
created; what it holds that can change (parameters, pg_hba, timing) lives in Patroni's dynamic
configuration, which the reconcile Job keeps equal to the spec, so changing it replaces no pod.
"""

from __future__ import annotations

from typing import Any

from pgrender import emit, member_scripts
from pgrender.components.copy_guard import LIVENESS, WAL_MOVER, WAL_MOVER_BACK, marked
from pgrender.components.copy_guard import SCRIPT as COPY_GUARD_SCRIPT
from pgrender.plan import ClusterPlan, defaults, labels, secret_keys
from pgrender.plan.backups import restore_command_line
from pgrender.plan.clone import BOOTSTRAP_METHOD
from pgrender.plan.restore import SCRIPT as RESTORE_SCRIPT
from pgrender.plan.upgrade import SCRIPT as UPGRADE_SCRIPT
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import Material, SecretInput, secret_text


def patroni(plan: ClusterPlan) -> list[Manifest]:
    """Return the ConfigMap with Patroni's configuration files and the REST API credentials."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(plan, plan.names.config_map, plan.database_labels, _acknowledged(plan)),
            "data": {
                defaults.PATRONI_BOOTSTRAP_FILE: emit.dump({"bootstrap": bootstrap(plan)}),
                defaults.PATRONI_CONFIG_FILE: emit.dump(patroni_yaml(plan)),
                # Patroni reads only the .yaml files of its configuration directory.
                **{name: member_scripts.text(name) for name in _guards(plan)},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": object_meta(plan, plan.names.patroni_secret, plan.database_labels),
            "type": "Opaque",
            "data": {
                secret_keys.USERNAME: secret_text(plan.patroni.restapi_user),
                secret_keys.PASSWORD: secret_text(
                    SecretInput(Material.PASSWORD, plan.patroni.restapi_password_subject)
                ),
            },
        },
    ]


def _guards(plan: ClusterPlan) -> tuple[str, ...]:
    """The member scripts the database container runs, and those they import: the restore guard the
    upgrade guard's helpers; both, and the WAL mover, the liveness probe's answer."""
    guards = [COPY_GUARD_SCRIPT]
    if plan.wal_dir:
        guards.append(WAL_MOVER)
    if plan.retired_wal_dir:
        guards += [WAL_MOVER_BACK, WAL_MOVER]
    if plan.upgrade:
        guards.append(UPGRADE_SCRIPT)
    if plan.restore:
        guards += [RESTORE_SCRIPT, UPGRADE_SCRIPT]
    if plan.upgrade or plan.restore or plan.wal_dir or plan.retired_wal_dir:
        guards.append(LIVENESS)
    return tuple(guards)


def bootstrap(plan: ClusterPlan) -> dict[str, Any]:
    """Patroni's bootstrap section: the dynamic configuration the cluster starts with, and how the
    first member's data directory is made (initdb, pgBackRest's restore for a restore or clone, or
    pg_basebackup from a running cluster for a direct clone)."""
    dcs = plan.patroni.dynamic_configuration
    backups = plan.backups
    # Both copies are marked while they run, so that a member killed in the middle starts the
    # bootstrap again when its container restarts (components/copy_guard.py).
    # Restore or clone: Patroni runs pgBackRest's restore instead of initdb, once, on the member that
    # initializes the cluster; recovery to the target then promotes it. Restored in place (spec.restore),
    # that member is the one whose guard set its data aside for the restore to put back.
    restore = None
    if plan.restore:
        restore = plan.restore.command
    elif backups and backups.source and not backups.source.standby:
        restore = restore_command_line(backups)
    if restore:
        return {
            "dcs": dcs,
            "method": "pgbackrest",
            "pgbackrest": {"command": marked(plan, restore), "keep_existing_recovery_conf": True, "no_params": True},
        }
    clone = plan.clone_source
    if clone:
        # A direct clone: the copy holds no recovery settings, so Patroni starts it as the primary.
        return {
            "dcs": dcs,
            "method": BOOTSTRAP_METHOD,
            BOOTSTRAP_METHOD: {
                "command": marked(plan, clone.command),
                "keep_existing_recovery_conf": False,
                "no_params": True,
            },
        }
    initdb: list[Any] = ["data-checksums", {"encoding": "UTF8"}]
    if plan.wal_dir:
        initdb.append({"waldir": plan.wal_dir})
    return {"dcs": dcs, "initdb": initdb}


def _acknowledged(plan: ClusterPlan) -> dict[str, str] | None:
    """spec.acknowledgedChanges for `pgrender diff`, which reads them from the new rendering; none: no annotation."""
    if not plan.acknowledged_changes:
        return None
    return {labels.ACKNOWLEDGED_CHANGES_ANNOTATION: " ".join(plan.acknowledged_changes)}


def patroni_yaml(plan: ClusterPlan) -> dict[str, Any]:
    """patroni.yaml; what differs per pod (name, addresses, data dir) comes from the environment."""
    pg = plan.patroni
    server, client = plan.tls.server_files, plan.tls.replication_files
    replication = {
        "username": plan.replication_user,
        "sslmode": pg.replication_sslmode,
        "sslcert": client.cert,
        "sslkey": client.key,
        "sslrootcert": client.ca,
    }
    basebackup: list[Any] = [{"checkpoint": "fast"}]
    if plan.wal_dir:
        basebackup.append({"waldir": plan.wal_dir})
    postgresql: dict[str, Any] = {}
    backups = plan.backups
    if backups and backups.replica_command and not plan.upgrade:
        # New replicas restore from the repository and catch up from there; without a backup yet
        # (a new cluster) that fails at once and pg_basebackup from the leader runs instead. Not
        # while upgrading: the repository's latest backup may be of the old version, which the
        # restore would put in the new version's data directory.
        postgresql["create_replica_methods"] = ["pgbackrest", "basebackup"]
        postgresql["pgbackrest"] = {
            "command": backups.replica_command,
            "keep_data": True,
            "no_leader": True,
            "no_params": True,
        }
    return {
        "scope": pg.scope,
        "kubernetes": {
            "namespace": plan.namespace,
            "use_endpoints": False,
            "labels": dict(pg.labels),
            "scope_label": pg.scope_label,
            "role_label": pg.role_label,
            "leader_label_value": pg.leader_label_value,
            "standby_leader_label_value": pg.leader_label_value,
            "follower_label_value": pg.follower_label_value,
        },
        "postgresql": {
            "bin_dir": plan.bin_dir,
            "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": plan.superuser},
                "replication": replication,
                "rewind": dict(replication),
            },
            "basebackup": basebackup,
            **postgresql,
            "parameters": dict(pg.pod_parameters),
        },
        "restapi": {
            "certfile": server.cert,
            "keyfile": server.key,
            "cafile": server.ca,
            # Kubelet's HTTPS probes present no client certificate, so "required" would fail them.
            # With "optional", Patroni still refuses unsafe requests (POST, PATCH, ...) without a
            # certificate from the cluster CA (ctl.certfile), and then checks the REST API password.
            "verify_client": "optional",
        },
        "ctl": {
            "cacert": server.ca,
            "certfile": server.cert,
            "keyfile": server.key,
            "insecure": False,
        },
        "watchdog": {"mode": "off"},
    }
