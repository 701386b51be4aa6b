"""PrometheusRule <c>-monitoring (spec.monitoring.prometheusRule): the alerts a PostgreSQL on-call
expects, each on metrics that exist, from the source its ``source`` annotation names:

- ``postgres_exporter``: the exporter sidecar (pg_up, pg_exporter_last_scrape_error) and pgrender's
  queries (pgrender_*, components/monitoring.py), scraped through the PodMonitor, which labels
  every series with the pod's ``namespace`` and ``pod``;
- ``kubelet``: kubelet_volume_stats_* of the members' PersistentVolumeClaims (what the database
  cannot see: how full its volumes are);
- ``kube-state-metrics``: the backup CronJobs' last successful run, and whether they were suspended
  (kube_cronjob_*);
- ``cert-manager`` (TLS provider cert-manager): certmanager_certificate_expiration_timestamp_seconds;
  ``pgrender`` (TLS provider derived): the end of the certificates pgrender derived, a time
  written into the rule, which a render with a new rotation rewrites.

Every selector names this cluster's objects exactly (its namespace, its pods, volumes, CronJobs and
Certificates), so the rule of one cluster never fires for another.
"""

from __future__ import annotations

from typing import Any

from pgrender.components import promql
from pgrender.plan import ClusterPlan, MonitoringPlan
from pgrender.pod import Manifest, object_meta

API_VERSION = "monitoring.coreos.com/v1"
DAY = 24 * 3600


def alerts(plan: ClusterPlan) -> list[Manifest]:
    m = plan.monitoring
    if m is None or not m.prometheus_rule:
        return []
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "PrometheusRule",
            "metadata": object_meta(plan, m.name, m.labels),
            "spec": {"groups": [{"name": f"{plan.namespace}/{plan.name}", "rules": rules(plan, m)}]},
        }
    ]


def _rule(
    alert: str, expr: str, duration: str, severity: str, source: str, summary: str, description: str, **labels: str
) -> dict[str, Any]:
    return {
        "alert": alert,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary, "description": description, "source": source},
    }


def rules(plan: ClusterPlan, m: MonitoringPlan) -> list[dict[str, Any]]:
    ns, cluster = plan.namespace, plan.name
    pods = [i.pod for i in plan.instances]
    members = promql.members(plan)
    where = {"namespace": ns, "cluster": cluster}
    exporter = "postgres_exporter"
    out: list[dict[str, Any]] = []
    # Shut down, no member is meant to answer: these two would fire for as long as it stays so.
    if not plan.shutdown:
        out.append(
            _rule(
                "PostgresMemberDown",
                f"(count(pg_up{{{members}}} == 1) or vector(0)) < {len(pods)}",
                "2m",
                "warning",
                exporter,
                f"{ns}/{cluster}: a member's PostgreSQL is not answering",
                f"{{{{ $value }}}} of {len(pods)} members answer their exporter (pg_up).",
                **where,
            )
        )
    if m.leader_expected and not plan.shutdown:
        out.append(
            _rule(
                "PostgresNoPrimary",
                f"(sum(pgrender_member_is_primary{{{members}}}) or vector(0)) < 1",
                "1m",
                "critical",
                exporter,
                f"{ns}/{cluster} has no primary",
                "No member is out of recovery: writes fail until Patroni elects a leader.",
                **where,
            )
        )
    out += [
        _rule(
            "PostgresReplicationLag",
            f"pgrender_replication_lag_bytes{{{members}}} > {m.replication_lag_bytes}",
            "5m",
            "warning",
            exporter,
            f"{ns}/{cluster}: replica {{{{ $labels.member }}}} lags behind",
            "{{ $value | humanize1024 }}B of WAL not yet replayed by {{ $labels.member }}.",
            **where,
        ),
        _rule(
            "PostgresReplicationSlotRetainsWAL",
            f"pgrender_slot_retained_bytes{{{members}}} > {m.retained_wal_bytes}",
            "5m",
            "warning",
            exporter,
            f"{ns}/{cluster}: replication slot {{{{ $labels.slot }}}} holds back WAL on {{{{ $labels.pod }}}}",
            "{{ $value | humanize1024 }}B of WAL kept for the slot; the volume fills while its client is away.",
            **where,
        ),
        _rule(
            "PostgresConnectionsNearMax",
            f"100 * pgrender_connections_client_backends{{{members}}} / "
            f"pgrender_connections_max_connections{{{members}}} > {m.connections_percent}",
            "5m",
            "warning",
            exporter,
            f"{ns}/{cluster}: {{{{ $labels.pod }}}} is near max_connections",
            "{{ $value | humanize }}% of max_connections are client connections.",
            **where,
        ),
        _rule(
            "PostgresExporterQueryErrors",
            f"pg_exporter_last_scrape_error{{{members}}} > 0",
            "10m",
            "warning",
            exporter,
            f"{ns}/{cluster}: the exporter of {{{{ $labels.pod }}}} fails to collect",
            "Queries fail, so the alerts that read them cannot fire; see the exporter container's log.",
            **where,
        ),
    ]
    claims = promql.volumes(plan)
    out += [
        _rule(
            "PostgresVolumeFull",
            f"100 * kubelet_volume_stats_available_bytes{{{claims}}} / "
            f"kubelet_volume_stats_capacity_bytes{{{claims}}} < {m.volume_free_percent}",
            "5m",
            "critical",
            "kubelet",
            f"{ns}/{cluster}: volume {{{{ $labels.persistentvolumeclaim }}}} is nearly full",
            "{{ $value | humanize }}% free; PostgreSQL stops when it cannot write WAL. Grow the volume's size.",
            **where,
        ),
        _rule(
            "PostgresVolumeFullIn24h",
            f"predict_linear(kubelet_volume_stats_available_bytes{{{claims}}}[6h], {DAY}) < 0",
            "1h",
            "warning",
            "kubelet",
            f"{ns}/{cluster}: volume {{{{ $labels.persistentvolumeclaim }}}} fills within a day",
            "At the last six hours' rate the volume is full within 24 hours.",
            **where,
        ),
    ]
    if m.archiving:
        out.append(
            _rule(
                "PostgresWALArchivingFailing",
                f"pgrender_archiver_failing{{{members}}} == 1 "
                f"and on (namespace, pod) pgrender_member_is_primary{{{members}}} == 1",
                "5m",
                "critical",
                exporter,
                f"{ns}/{cluster}: WAL archiving fails on the primary {{{{ $labels.pod }}}}",
                "archive_command keeps failing (pg_stat_archiver): WAL piles up in pg_wal and point-in-time "
                "recovery stops at the last archived segment. See the database container's log.",
                **where,
            )
        )
    for backup in m.backup_ages:
        jobs = promql.cron_jobs(plan, backup.cron_jobs)
        last = f"max(kube_cronjob_status_last_successful_time{{{jobs}}})"
        # Suspended CronJobs (spec.shutdown, a standby cluster) miss their runs, and resumed they do not
        # make them up (startingDeadlineSeconds): the limit counts from the last time one was suspended.
        suspended = f"max_over_time(kube_cronjob_spec_suspend{{{jobs}}}[{backup.max_age_seconds}s]) > 0"
        kind = "logical backup" if backup.logical else "backup"
        out.append(
            _rule(
                "PostgresLogicalBackupTooOld" if backup.logical else "PostgresBackupTooOld",
                f"((time() - {last} > {backup.max_age_seconds}) "
                f"or (time() - min(kube_cronjob_created{{{jobs}}}) > {backup.max_age_seconds} "
                f"unless on () count(kube_cronjob_status_last_successful_time{{{jobs}}}))) "
                f"unless on () ({suspended})",
                "10m",
                "critical",
                "kube-state-metrics",
                f"{ns}/{cluster}: no successful {kind} to {backup.repo} for too long",
                f"None of {', '.join(backup.cron_jobs)} succeeded for {{{{ $value | humanizeDuration }}}} "
                f"(limit {backup.max_age_seconds // 3600}h).",
                repo=backup.repo,
                **where,
            )
        )
    window = m.certificate_expiry_days * DAY
    if m.certificates_end is not None:
        end = int(m.certificates_end.timestamp())
        out.append(
            _rule(
                "PostgresCertificateExpiring",
                f"vector({end} - time()) < {window}",
                "0s",
                "warning",
                "pgrender",
                f"{ns}/{cluster}: its certificates end on {m.certificates_end.date().isoformat()}",
                "pgrender's derived certificates end in {{ $value | humanizeDuration }}: raise spec.tls.rotation "
                "(and notBefore) and render.",
                **where,
            )
        )
    elif m.certificates:
        names = promql.certificates(plan, m.certificates)
        out.append(
            _rule(
                "PostgresCertificateExpiring",
                f"certmanager_certificate_expiration_timestamp_seconds{{{names}}} - time() < {window}",
                "1h",
                "warning",
                "cert-manager",
                f"{ns}/{cluster}: certificate {{{{ $labels.name }}}} is not renewed",
                "It ends in {{ $value | humanizeDuration }}; see the Certificate's status and cert-manager's log.",
                **where,
            )
        )
    return out
