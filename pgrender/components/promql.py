"""The PromQL selectors of one cluster's series, shared by its alerts (alerts.py) and its dashboard
(dashboard.py): each names this cluster's objects exactly (its namespace, and its pods, volumes,
CronJobs or Certificates by name), so neither ever shows or fires for another cluster."""

from __future__ import annotations

from pgrender.plan import ClusterPlan


def alternatives(names: list[str] | tuple[str, ...]) -> str:
    """A regular expression matching exactly ``names`` (Kubernetes names: no regex characters but '.')."""
    return "|".join(name.replace(".", "\\\\.") for name in names)


def members(plan: ClusterPlan) -> str:
    """The members' series as the PodMonitor labels them (namespace, pod)."""
    return f'namespace="{plan.namespace}", pod=~"{alternatives([i.pod for i in plan.instances])}"'


def volumes(plan: ClusterPlan) -> str:
    """kubelet's series of the members' data and WAL claims."""
    claims = [v.name for i in plan.instances for v in (i.data_volume, i.wal_volume) if v]
    return f'namespace="{plan.namespace}", persistentvolumeclaim=~"{alternatives(claims)}"'


def cron_jobs(plan: ClusterPlan, names: tuple[str, ...]) -> str:
    """kube-state-metrics' series of CronJobs ``names``."""
    return f'namespace="{plan.namespace}", cronjob=~"{alternatives(names)}"'


def certificates(plan: ClusterPlan, names: tuple[str, ...]) -> str:
    """cert-manager's series of Certificates ``names``."""
    return f'namespace="{plan.namespace}", name=~"{alternatives(names)}"'
