"""Spec of the client Services: spec.service (primary) and spec.replicaService."""

from __future__ import annotations

from enum import StrEnum

from pgrender.spec.base import StrictModel


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class ServiceSpec(StrictModel):
    """How the primary Service is exposed."""

    type: ServiceType = ServiceType.CLUSTER_IP


class ReplicaServiceSpec(ServiceSpec):
    """How the replica Service is exposed; it can be switched off."""

    enabled: bool = True
