"""Spec of the client Services: spec.service, spec.replicaService, spec.proxy.pgBouncer.service."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from pgrender.spec.base import ForEditors, StrictModel
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.rules.services import ServiceType, check_fields_fit_type, check_source_range

__all__ = ["ReplicaServiceSpec", "ServiceSpec", "ServiceType"]


class ServiceSpec(StrictModel):
    """How a Service is exposed, with its own labels and annotations."""

    type: ServiceType = ServiceType.CLUSTER_IP
    """ClusterIP, NodePort or LoadBalancer."""
    node_port: int | None = Field(default=None, ge=30000, le=32767)
    """The node port (NodePort, LoadBalancer); default: Kubernetes picks one."""
    load_balancer_class: str | None = None
    """Which load balancer implementation serves it (LoadBalancer)."""
    load_balancer_source_ranges: list[
        Annotated[str, AfterValidator(check_source_range), ForEditors(examples=("10.0.0.0/8",))]
    ] = Field(default=[])
    """Client networks (CIDRs) the load balancer admits (LoadBalancer); default: any."""
    external_traffic_policy: str | None = Field(default=None, pattern="^(Cluster|Local)$")
    """Cluster or Local (NodePort, LoadBalancer): Local keeps clients' source addresses, for pg_hba rules."""
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    """Labels and annotations of the Service (e.g. a cloud load balancer's annotations)."""

    _fields_fit_type = model_validator(mode="after")(check_fields_fit_type)


class ReplicaServiceSpec(ServiceSpec):
    """How the replica Service is exposed; it can be switched off."""

    enabled: bool = True
    """false: no replica Service."""
