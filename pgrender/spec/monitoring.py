"""Spec of spec.monitoring: postgres_exporter on every member, a PodMonitor, a PrometheusRule and a
Grafana dashboard."""

from __future__ import annotations

from pydantic import Field

from pgrender.spec.base import StrictModel
from pgrender.spec.instances import ResourcesSpec
from pgrender.spec.metadata import MetadataSpec


class ExporterSpec(StrictModel):
    """The postgres_exporter sidecar of every member."""

    image: str | None = Field(
        default=None,
        min_length=1,
        description="A postgres_exporter image (tag or digest) with /bin/postgres_exporter; default "
        "quay.io/prometheuscommunity/postgres-exporter:v0.20.1.",
    )
    resources: ResourcesSpec | None = Field(
        default=None,
        description="Default: requests cpu 10m, memory 32Mi, limit memory 128Mi (premium: 128Mi requested); "
        "README 'Resources'.",
    )


class AlertsSpec(StrictModel):
    """Thresholds of the PrometheusRule's alerts (README, "Monitoring")."""

    replication_lag_bytes: int = Field(
        default=100 * 1024 * 1024, ge=1, description="A replica this far behind the primary's WAL for 5 minutes."
    )
    retained_wal_bytes: int = Field(
        default=10 * 1024**3, ge=1, description="WAL a replication slot holds back on a member."
    )
    connections_percent: int = Field(
        default=90, ge=1, le=100, description="Client connections, in percent of max_connections."
    )
    volume_free_percent: int = Field(default=10, ge=1, le=99, description="Free space left on a data or WAL volume.")
    backup_max_age_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 366,
        description="Age of a repository's last successful scheduled backup (and of the last logical "
        "backup); default: the longest gap between its schedules' runs plus the Job deadline and an hour.",
    )
    certificate_expiry_days: int = Field(
        default=14, ge=1, le=3650, description="Days before a certificate of the cluster ends."
    )


class GrafanaDashboardSpec(MetadataSpec):
    """The cluster's dashboard, in a ConfigMap that Grafana's dashboard sidecar loads (the grafana Helm
    chart's sidecar.dashboards, which watches ConfigMaps by label)."""

    labels: dict[str, str] = Field(
        default={"grafana_dashboard": "1"},
        description="Labels the sidecar finds the ConfigMap by (its sidecar.dashboards.label and labelValue). "
        "Given, they replace the default: keep the sidecar's label among them.",
    )
    annotations: dict[str, str] = Field(
        default={}, description="For example the sidecar's folder annotation (grafana_folder: Databases)."
    )


class MonitoringSpec(StrictModel):
    """postgres_exporter on every member (port 9187, "metrics"), with the Prometheus Operator's objects."""

    exporter: ExporterSpec = Field(default_factory=ExporterSpec)
    pod_monitor: bool = Field(
        default=True, description="Write a PodMonitor (needs the Prometheus Operator's CRDs in the cluster)."
    )
    prometheus_rule: bool = Field(
        default=True, description="Write a PrometheusRule with the alerts (needs the Prometheus Operator's CRDs)."
    )
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    grafana_dashboard: GrafanaDashboardSpec | None = Field(
        default=None,
        description="{} writes ConfigMap <c>-dashboard with a Grafana dashboard of the cluster (members, "
        "primary, replication, connections, transactions, sizes, volumes, backups, certificates).",
    )
