"""Spec of the client Services: spec.service, spec.replicaService, spec.proxy.pgBouncer.service."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from pgrender.spec.base import ForEditors, StrictModel
from pgrender.spec.metadata import MetadataSpec


def _check_cidr(value: str) -> str:
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


class ServiceSpec(StrictModel):
    """How a Service is exposed, with its own labels and annotations."""

    type: ServiceType = ServiceType.CLUSTER_IP
    """ClusterIP, NodePort or LoadBalancer."""
    node_port: int | None = Field(default=None, ge=30000, le=32767)
    """The node port (NodePort, LoadBalancer); default: Kubernetes picks one."""
    load_balancer_class: str | None = None
    """Which load balancer implementation serves it (LoadBalancer)."""
    load_balancer_source_ranges: list[
        Annotated[str, AfterValidator(_check_cidr), ForEditors(examples=("10.0.0.0/8",))]
    ] = Field(default=[])
    """Client networks (CIDRs) the load balancer admits (LoadBalancer); default: any."""
    external_traffic_policy: str | None = Field(default=None, pattern="^(Cluster|Local)$")
    """Cluster or Local (NodePort, LoadBalancer): Local keeps clients' source addresses, for pg_hba rules."""
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    """Labels and annotations of the Service (e.g. a cloud load balancer's annotations)."""

    @model_validator(mode="after")
    def _fields_fit_type(self) -> ServiceSpec:
        if self.node_port is not None and self.type == ServiceType.CLUSTER_IP:
            raise ValueError("nodePort needs type NodePort or LoadBalancer; a ClusterIP Service has no node port")
        if self.type != ServiceType.LOAD_BALANCER and (self.load_balancer_class or self.load_balancer_source_ranges):
            raise ValueError("loadBalancerClass and loadBalancerSourceRanges need type LoadBalancer")
        if self.external_traffic_policy and self.type == ServiceType.CLUSTER_IP:
            raise ValueError("externalTrafficPolicy needs type NodePort or LoadBalancer")
        return self


class ReplicaServiceSpec(ServiceSpec):
    """How the replica Service is exposed; it can be switched off."""

    enabled: bool = True
    """false: no replica Service."""
