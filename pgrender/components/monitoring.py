"""spec.monitoring: Secret and ConfigMap <c>-monitoring (the exporter's password and queries) and
PodMonitor <c>-monitoring (the Prometheus Operator's scrape of every member's "metrics" port).

The queries are postgres_exporter's custom queries (--extend.query-path): the facts the alerts
need, in names of pgrender's own (pgrender_*), so they read the same whatever exporter release
runs (0.11.1 to 0.20 name their built-in metrics differently). Each runs on every member, as the
monitoring role (pg_monitor), and returns nothing rather than fail where a fact does not apply.
"""

from __future__ import annotations

from typing import Any

from pgrender import json_text
from pgrender.plan import ClusterPlan, MonitoringPlan, defaults, secret_keys
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import Material, SecretInput, secret_text

POD_MONITOR_API = "monitoring.coreos.com/v1"
# On the primary, WAL it wrote; on a replica, WAL it received (what it would stream on, cascading).
WAL_POSITION = (
    "CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn() "
    "ELSE pg_catalog.pg_current_wal_lsn() END"
)


def _metric(usage: str, description: str) -> dict[str, str]:
    return {"usage": usage, "description": description}


QUERIES: dict[str, Any] = {
    "pgrender_member": {
        "query": "SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN 0 ELSE 1 END AS is_primary",
        "metrics": [{"is_primary": _metric("GAUGE", "1 on the primary (not in recovery), else 0")}],
    },
    "pgrender_connections": {
        "query": "SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS client_backends, "
        "pg_catalog.current_setting('max_connections')::float AS max_connections "
        "FROM pg_catalog.pg_stat_activity",
        "metrics": [
            {"client_backends": _metric("GAUGE", "Client connections (pg_stat_activity)")},
            {"max_connections": _metric("GAUGE", "The max_connections setting")},
        ],
    },
    "pgrender_replication": {
        "query": f"SELECT application_name AS member, pg_catalog.pg_wal_lsn_diff({WAL_POSITION}, replay_lsn) "
        "AS lag_bytes FROM pg_catalog.pg_stat_replication",
        "metrics": [
            {"member": _metric("LABEL", "The replica (Patroni's member name)")},
            {"lag_bytes": _metric("GAUGE", "WAL the replica has yet to replay, in bytes")},
        ],
    },
    "pgrender_slot": {
        "query": "SELECT slot_name::text AS slot, slot_type AS type, active::int AS active, "
        f"pg_catalog.pg_wal_lsn_diff({WAL_POSITION}, restart_lsn) AS retained_bytes "
        "FROM pg_catalog.pg_replication_slots",
        "metrics": [
            {"slot": _metric("LABEL", "Replication slot")},
            {"type": _metric("LABEL", "physical or logical")},
            {"active": _metric("GAUGE", "1 while a client streams from the slot")},
            {"retained_bytes": _metric("GAUGE", "WAL the slot keeps on this member, in bytes")},
        ],
    },
    "pgrender_archiver": {
        "query": "SELECT archived_count, failed_count, "
        "CASE WHEN last_failed_time > COALESCE(last_archived_time, '-infinity') THEN 1 ELSE 0 END AS failing "
        "FROM pg_catalog.pg_stat_archiver",
        "metrics": [
            {"archived_count": _metric("COUNTER", "WAL files archived")},
            {"failed_count": _metric("COUNTER", "Failed attempts to archive a WAL file")},
            {"failing": _metric("GAUGE", "1 when the last attempt to archive failed")},
        ],
    },
}


def queries_yaml() -> str:
    """The queries file. Written as JSON, which is YAML too (the exporter reads it with a YAML parser),
    so that pgrender needs no YAML writer of its own for it."""
    return json_text.indented(QUERIES) + "\n"


def monitoring(plan: ClusterPlan) -> list[Manifest]:
    m = plan.monitoring
    if m is None:
        return []
    out = [_secret(plan, m), _config_map(plan, m)]
    if m.pod_monitor:
        out.append(_pod_monitor(plan, m))
    return out


def _secret(plan: ClusterPlan, m: MonitoringPlan) -> Manifest:
    """The monitoring role's password (the exporter's) and its verifier (the reconcile Job's)."""
    owner = plan.password_owner
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(plan, m.name, m.labels),
        "type": "Opaque",
        "data": {
            secret_keys.USER: secret_text(m.user),
            secret_keys.PASSWORD: secret_text(SecretInput(Material.PASSWORD, m.password_subject, owner=owner)),
            secret_keys.VERIFIER: secret_text(SecretInput(Material.VERIFIER, m.password_subject, owner=owner)),
        },
    }


def _config_map(plan: ClusterPlan, m: MonitoringPlan) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(plan, m.name, m.labels),
        "data": {secret_keys.EXPORTER_QUERIES: queries_yaml()},
    }


def _pod_monitor(plan: ClusterPlan, m: MonitoringPlan) -> Manifest:
    """Every member's exporter, by the pods' own selector and the container port's name."""
    return {
        "apiVersion": POD_MONITOR_API,
        "kind": "PodMonitor",
        "metadata": object_meta(plan, m.name, m.labels),
        "spec": {
            "selector": {"matchLabels": dict(plan.pods_selector)},
            "podMetricsEndpoints": [{"port": defaults.EXPORTER_PORT_NAME, "path": "/metrics"}],
        },
    }
