"""The monitoring plan (spec.monitoring): the exporter sidecar, its role, and what the alerts watch."""

from __future__ import annotations

import datetime as dt
import hashlib

from pgrender import tls as tls_providers
from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.plan import defaults, labels
from pgrender.plan.backups import BackupsPlan
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.tls import TLSPlan
from pgrender.spec import SourcedCluster, cron

# An hour beyond the longest gap between a repository's scheduled backups and the Job's deadline:
# a backup that ran late but within its deadline is no alert.
BACKUP_GRACE_SECONDS = 3600
# A schedule that is not weekly (a day of the month) may leave up to a month between runs.
MONTH_SECONDS = 31 * 24 * 3600


@frozen
class BackupAgePlan:
    """A repository's scheduled backups: the alert fires when none of its CronJobs succeeded for
    ``max_age_seconds``."""

    repo: str
    cron_jobs: tuple[str, ...]
    max_age_seconds: int
    logical: bool = False  # the logical backup's dumps (its own alert), not pgBackRest's backups


@frozen
class DashboardPlan:
    """spec.monitoring.grafanaDashboard: ConfigMap ``name`` holding ``key``, the dashboard's JSON."""

    name: str
    key: str
    meta: ComponentMeta  # the sidecar's labels, the user's annotations
    uid: str  # Grafana's id of the dashboard: from the namespace and name, so it stays put across renders
    title: str


@frozen
class MonitoringPlan:
    name: str  # Secret, ConfigMap, PodMonitor and PrometheusRule (Names.monitoring)
    user: str  # the exporter's role: pg_monitor, logs in only from its own pod
    password_subject: str  # the SecretInput subject of its password
    image: str
    pod_monitor: bool
    prometheus_rule: bool
    labels: dict[str, str]
    directory: str  # where the exporter finds ca.crt, its password and queries.yaml
    replication_lag_bytes: int
    retained_wal_bytes: int
    connections_percent: int
    volume_free_percent: int
    certificate_expiry_days: int
    backup_ages: tuple[BackupAgePlan, ...]
    leader_expected: bool  # a standby cluster's leader is in recovery: no member is a primary
    archiving: bool  # WAL is archived to a repository
    # TLS provider derived: when the first of pgrender's certificates (the CA's included) ends.
    certificates_end: dt.datetime | None
    # TLS provider cert-manager: the Certificates whose expiry cert-manager's metrics report.
    certificates: tuple[str, ...]
    dashboard: DashboardPlan | None = None


def resolve_monitoring(
    sourced: SourcedCluster, names: Names, tls: TLSPlan, backups: BackupsPlan | None, dashboard: DashboardPlan | None
) -> MonitoringPlan | None:
    spec = sourced.cluster.spec.monitoring
    if spec is None:
        return None
    exporter, alerts = spec.exporter, spec.alerts
    end = None
    if tls_providers.own_ca(tls.provider):
        end = min(
            tls.ca_not_before + dt.timedelta(days=tls.ca_validity_days),
            tls.not_before + dt.timedelta(days=tls.validity_days),
        )
    in_cluster = tls_providers.in_cluster(tls.provider) and tls.cert_manager is not None
    standby = sourced.cluster.spec.standby
    return MonitoringPlan(
        name=names.monitoring,
        user=defaults.MONITORING_USER,
        password_subject="monitoring",
        image=exporter.image or defaults.EXPORTER_IMAGE,
        pod_monitor=spec.pod_monitor,
        prometheus_rule=spec.prometheus_rule,
        labels=labels.common(names.cluster, labels.COMPONENT_MONITORING),
        directory=defaults.EXPORTER_DIR,
        replication_lag_bytes=alerts.replication_lag_bytes,
        retained_wal_bytes=alerts.retained_wal_bytes,
        connections_percent=alerts.connections_percent,
        volume_free_percent=alerts.volume_free_percent,
        certificate_expiry_days=alerts.certificate_expiry_days,
        backup_ages=_backup_ages(backups, alerts.backup_max_age_hours),
        leader_expected=standby is None or not standby.enabled,
        archiving=bool(backups and backups.repos),
        certificates_end=end,
        certificates=tuple(leaf.secret.name for leaf in tls.leaves if leaf.secret) if in_cluster else (),
        dashboard=dashboard,
    )


def resolve_dashboard(sourced: SourcedCluster, names: Names, problems: list[Problem]) -> DashboardPlan | None:
    """spec.monitoring.grafanaDashboard (its labels checked before the plan's other parts are made)."""
    monitoring = sourced.cluster.spec.monitoring
    spec = monitoring.grafana_dashboard if monitoring else None
    if spec is None:
        return None
    meta = sourced.cluster.metadata
    identity = hashlib.sha256(f"{meta.namespace}/{meta.name}".encode()).hexdigest()
    return DashboardPlan(
        name=names.dashboard,
        # The sidecar writes each key to a file of that name, one folder for every namespace it watches:
        # the namespace keeps two clusters of one name apart ("_" is in neither name).
        key=f"{meta.namespace}_{meta.name}.json",
        meta=resolve_metadata(sourced, ("spec", "monitoring", "grafanaDashboard"), spec, problems),
        uid=f"pgrender-{identity[:31]}",  # Grafana's limit: 40 characters
        title=f"PostgreSQL {meta.namespace}/{meta.name}",
    )


def _backup_ages(backups: BackupsPlan | None, max_age_hours: int | None) -> tuple[BackupAgePlan, ...]:
    """Per repository with scheduled backups, and for the logical backup: the CronJobs and how old their
    last success may get."""
    if backups is None or backups.suspended:
        return ()

    def max_age(schedules: list[str]) -> int:
        if max_age_hours is not None:
            return max_age_hours * 3600
        return _longest_gap(schedules) + backups.job_deadline_seconds + BACKUP_GRACE_SECONDS

    out = []
    for repo in backups.repos:
        jobs = [j for j in backups.cron_jobs if j.repo == repo.name and j.schedule]
        if jobs:
            out.append(
                BackupAgePlan(repo.name, tuple(j.name for j in jobs), max_age([j.schedule for j in jobs if j.schedule]))
            )
    # Zalando: "highly advisable to set up additional monitoring" for its logical backups.
    if backups.logical:
        logical = backups.logical
        out.append(BackupAgePlan(logical.repo, (logical.name,), max_age([logical.schedule]), logical=True))
    return tuple(out)


def _longest_gap(schedules: list[str]) -> int:
    """The longest time (seconds) between two runs of any of ``schedules`` together."""
    parsed = [cron.parse(s) for s in schedules]
    if not all(p.weekly for p in parsed):
        return MONTH_SECONDS
    week = 7 * 24 * 60
    fires = sorted({m for p in parsed for m in p.week_minutes()})
    gaps = [b - a for a, b in zip(fires, [*fires[1:], fires[0] + week], strict=True)]
    return max(gaps) * 60
