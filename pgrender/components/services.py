"""Services <c>-primary, -replicas, -pods, -pgbouncer, -pgbouncer-replicas and -pgadmin (names per naming
profile, which may add more); database Services select on Patroni's role label."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, ServicePlan
from pgrender.pod import Manifest, object_meta
from pgrender.spec.rules.services import ServiceType


def services(plan: ClusterPlan) -> list[Manifest]:
    """Return the cluster's Services; the replica and pgBouncers' Services only when the plan has them."""
    out = [client_service(plan, plan.primary_service)]
    if plan.replicas_service:
        out.append(client_service(plan, plan.replicas_service))
    out += [client_service(plan, service) for service in plan.extra_services]
    out.append(_pods_service(plan))
    out += [client_service(plan, pooler.service) for pooler in plan.poolers]
    if plan.pgadmin:
        out.append(client_service(plan, plan.pgadmin.service))
    return out


def client_service(plan: ClusterPlan, service: ServicePlan) -> Manifest:
    """A Service clients connect to: the primary, the replicas or a pgBouncer."""
    port = {"name": service.port_name, "port": service.port, "protocol": "TCP", "targetPort": service.port_name}
    if service.node_port is not None:
        port["nodePort"] = service.node_port
    spec: Manifest = {"type": service.type.value, "selector": dict(service.selector), "ports": [port]}
    if service.type == ServiceType.LOAD_BALANCER:
        if service.load_balancer_class:
            spec["loadBalancerClass"] = service.load_balancer_class
        if service.load_balancer_source_ranges:
            spec["loadBalancerSourceRanges"] = list(service.load_balancer_source_ranges)
    if service.external_traffic_policy:
        spec["externalTrafficPolicy"] = service.external_traffic_policy
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(plan, service.name, service.labels, component=service.metadata),
        "spec": spec,
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
