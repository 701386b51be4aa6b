"""Services <c>-primary, <c>-replicas and <c>-pods; selectors follow Patroni's role label."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, ServicePlan
from pgrender.pod import Manifest, object_meta


def services(plan: ClusterPlan) -> list[Manifest]:
    """Return the cluster's Services; the replica Service only when the plan asks for it."""
    out = [_role_service(plan, plan.primary_service)]
    if plan.replicas_service:
        out.append(_role_service(plan, plan.replicas_service))
    out.append(_pods_service(plan))
    return out


def _role_service(plan: ClusterPlan, service: ServicePlan) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(plan, service.name, service.labels),
        "spec": {
            "type": service.type.value,
            "selector": dict(service.selector),
            "ports": [{"name": "postgres", "port": plan.port, "protocol": "TCP", "targetPort": "postgres"}],
        },
    }


def _pods_service(plan: ClusterPlan) -> Manifest:
    """Headless; publishes pods before they are ready, as Patroni members must find each other."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(plan, plan.names.pods_service, plan.database_labels),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": dict(plan.pods_selector),
        },
    }
