"""ConfigMap <c>-dashboard (spec.monitoring.grafanaDashboard): a Grafana dashboard of the cluster, which
Grafana's dashboard sidecar loads by its label (the grafana Helm chart's sidecar.dashboards).

Every panel reads series that exist, from the source its description names, through the selectors
the alerts use (promql.py): the exporter's (pg_up, pg_stat_database_*, pg_database_size_bytes, and
pgrender's queries, components/monitoring.py), kubelet's volume statistics, kube-state-metrics'
CronJobs, cert-manager's Certificates; pgrender's own certificates end at a time written in. The
data source is a dashboard variable (any Prometheus), so nothing names a Grafana installation.
"""

from __future__ import annotations

import json
from typing import Any

from pgrender.components import promql
from pgrender.plan import ClusterPlan, DashboardPlan, MonitoringPlan
from pgrender.pod import Manifest, object_meta

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24  # Grafana's grid
HEIGHT = 8


def dashboard(plan: ClusterPlan) -> list[Manifest]:
    m = plan.monitoring
    if m is None or m.dashboard is None:
        return []
    d = m.dashboard
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(plan, d.name, m.labels, component=d.meta),
            "data": {d.key: json.dumps(grafana_dashboard(plan, m, d), indent=2, sort_keys=True) + "\n"},
        }
    ]


def grafana_dashboard(plan: ClusterPlan, m: MonitoringPlan, d: DashboardPlan) -> dict[str, Any]:
    panels = [_panel(i, *spec) for i, spec in enumerate(panels_of(plan, m))]
    return {
        "uid": d.uid,
        "title": d.title,
        "tags": ["pgrender", "postgresql"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"}]
        },
        "panels": panels,
    }


# (title, kind, unit, description, [(expr, legend)])
Panel = tuple[str, str, str, str, list[tuple[str, str]]]


def panels_of(plan: ClusterPlan, m: MonitoringPlan) -> list[Panel]:
    """The panels, each with its queries: what an on-call looks at first, in that order."""
    members = promql.members(plan)
    claims = promql.volumes(plan)
    count = len(plan.instances)
    exporter = "postgres_exporter"
    out: list[Panel] = [
        (
            "Members answering",
            "stat",
            "none",
            f"Members whose PostgreSQL answers their exporter (pg_up), of {count}. Source: {exporter}.",
            [(f"count(pg_up{{{members}}} == 1) or vector(0)", "answering")],
        ),
        (
            "Primary",
            "timeseries",
            "none",
            "1 on the member out of recovery (the primary; a standby cluster has none). Source: "
            f"{exporter} (pgrender's queries).",
            [(f"pgrender_member_is_primary{{{members}}}", "{{pod}}")],
        ),
        (
            "Replication lag",
            "timeseries",
            "bytes",
            f"WAL each replica has not replayed yet, as the primary sees it. Source: {exporter}.",
            [(f"pgrender_replication_lag_bytes{{{members}}}", "{{member}}")],
        ),
        (
            "Client connections",
            "timeseries",
            "none",
            f"Client connections of each member, and its max_connections. Source: {exporter}.",
            [
                (f"pgrender_connections_client_backends{{{members}}}", "{{pod}}"),
                (f"max(pgrender_connections_max_connections{{{members}}})", "max_connections"),
            ],
        ),
        (
            "Transactions per second",
            "timeseries",
            "ops",
            f"Commits and rollbacks per second, every database of each member. Source: {exporter}.",
            [
                (f"sum by (pod) (rate(pg_stat_database_xact_commit{{{members}}}[5m]))", "commits {{pod}}"),
                (f"sum by (pod) (rate(pg_stat_database_xact_rollback{{{members}}}[5m]))", "rollbacks {{pod}}"),
            ],
        ),
        _database_size(members, m.leader_expected, exporter),
        (
            "WAL held by replication slots",
            "timeseries",
            "bytes",
            f"WAL each slot keeps on its member. Source: {exporter}.",
            [(f"pgrender_slot_retained_bytes{{{members}}}", "{{slot}} on {{pod}}")],
        ),
        (
            "Volumes used",
            "timeseries",
            "percent",
            "Used space of the data and WAL volumes. Source: kubelet.",
            [
                (
                    f"100 - 100 * kubelet_volume_stats_available_bytes{{{claims}}} / "
                    f"kubelet_volume_stats_capacity_bytes{{{claims}}}",
                    "{{persistentvolumeclaim}}",
                )
            ],
        ),
    ]
    if m.archiving:
        out.append(
            (
                "WAL archiving failing",
                "timeseries",
                "none",
                f"1 while archive_command fails on a member (pg_stat_archiver). Source: {exporter}.",
                [(f"pgrender_archiver_failing{{{members}}}", "{{pod}}")],
            )
        )
    if m.backup_ages:
        out.append(
            (
                "Time since the last backup",
                "timeseries",
                "s",
                "Since each repository's scheduled backups last succeeded. Source: kube-state-metrics.",
                [
                    (
                        f"time() - max(kube_cronjob_status_last_successful_time{{{jobs}}})",
                        b.repo,
                    )
                    for b in m.backup_ages
                    for jobs in [promql.cron_jobs(plan, b.cron_jobs)]
                ],
            )
        )
    if m.certificates_end is not None:
        end = int(m.certificates_end.timestamp())
        out.append(
            (
                "Certificates end in",
                "stat",
                "s",
                f"pgrender's certificates end on {m.certificates_end.date().isoformat()} (spec.tls). Source: pgrender.",
                [(f"vector({end} - time())", "certificates")],
            )
        )
    elif m.certificates:
        out.append(
            (
                "Certificates end in",
                "stat",
                "s",
                "Until each Certificate ends (cert-manager renews it before). Source: cert-manager.",
                [
                    (
                        f"certmanager_certificate_expiration_timestamp_seconds"
                        f"{{{promql.certificates(plan, m.certificates)}}} - time()",
                        "{{name}}",
                    )
                ],
            )
        )
    return out


def _database_size(members: str, primary: bool, exporter: str) -> Panel:
    """The primary's sizes; a standby cluster has none (every member in recovery): the members' largest."""
    if primary:
        description = "Each database's size on the primary."
        expr = (
            f"pg_database_size_bytes{{{members}}} and on (namespace, pod) pgrender_member_is_primary{{{members}}} == 1"
        )
    else:
        description = "Each database's size (a standby cluster has no primary: the largest of its members')."
        expr = f"max by (namespace, datname) (pg_database_size_bytes{{{members}}})"
    return ("Database size", "timeseries", "bytes", f"{description} Source: {exporter}.", [(expr, "{{datname}}")])


def _panel(
    index: int, title: str, kind: str, unit: str, description: str, queries: list[tuple[str, str]]
) -> dict[str, Any]:
    """A panel in a grid of two columns, HEIGHT rows high each."""
    half = WIDTH // 2
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": HEIGHT, "w": half, "x": half * (index % 2), "y": HEIGHT * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }
