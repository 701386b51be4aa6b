"""BUILDERS, in one ordered tuple, and build(plan) -> list of Kubernetes objects."""

from __future__ import annotations

from collections.abc import Callable

from pgrender.components.access_secrets import access_secrets
from pgrender.components.alerts import alerts
from pgrender.components.backup_jobs import backup_jobs
from pgrender.components.ca_secret import ca_secret
from pgrender.components.certificates import certificates
from pgrender.components.clone_source import clone_source
from pgrender.components.dashboard import dashboard
from pgrender.components.disruption_budgets import disruption_budgets
from pgrender.components.monitoring import monitoring
from pgrender.components.network_policies import network_policies
from pgrender.components.patroni import patroni
from pgrender.components.pgadmin import pgadmin
from pgrender.components.pgbackrest import pgbackrest
from pgrender.components.pgbouncer import pgbouncer
from pgrender.components.rbac import rbac
from pgrender.components.reconcile import reconcile
from pgrender.components.repo_host import repo_host
from pgrender.components.services import services
from pgrender.components.statefulsets import statefulsets
from pgrender.components.user_secrets import user_secrets
from pgrender.components.volumes import volumes
from pgrender.plan import ClusterPlan
from pgrender.pod import Manifest

Builder = Callable[[ClusterPlan], list[Manifest]]

BUILDERS: tuple[Builder, ...] = (
    rbac,
    patroni,
    certificates,
    ca_secret,
    clone_source,
    user_secrets,
    access_secrets,
    services,
    volumes,
    statefulsets,
    disruption_budgets,
    reconcile,
    pgbouncer,
    pgadmin,
    pgbackrest,
    repo_host,
    backup_jobs,
    network_policies,
    monitoring,
    alerts,
    dashboard,
)


def build(plan: ClusterPlan) -> list[Manifest]:
    """Run every builder on the plan; the order here does not decide the output order (emit does)."""
    return [manifest for builder in BUILDERS for manifest in builder(plan)]
