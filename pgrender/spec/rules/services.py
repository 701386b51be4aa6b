"""Checks and enums of the client Services: spec.service, spec.replicaService, pgBouncer's service."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgrender.spec.services import ServiceSpec


def check_source_range(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)  # the API server accepts host bits, as Go's ParseCIDR
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32") from None
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; expected a CIDR such as 10.0.0.0/8") from None
    return value


class ServiceType(StrEnum):
    """How a Service is reached: ClusterIP (inside the cluster only), NodePort (also on a port of every
    node), LoadBalancer (also through the cloud's load balancer)."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


def check_fields_fit_type(service: ServiceSpec) -> ServiceSpec:
    if service.node_port is not None and service.type == ServiceType.CLUSTER_IP:
        raise ValueError("nodePort needs type NodePort or LoadBalancer; a ClusterIP Service has no node port")
    if service.type != ServiceType.LOAD_BALANCER and (
        service.load_balancer_class or service.load_balancer_source_ranges
    ):
        raise ValueError("loadBalancerClass and loadBalancerSourceRanges need type LoadBalancer")
    if service.external_traffic_policy and service.type == ServiceType.CLUSTER_IP:
        raise ValueError("externalTrafficPolicy needs type NodePort or LoadBalancer")
    return service
