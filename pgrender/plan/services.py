"""Service plans: type, ports and load balancer settings, selector, metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.spec import SourcedCluster
from pgrender.spec.rules.services import ServiceType

if TYPE_CHECKING:
    from pgrender.spec.services import ServiceSpec


@frozen
class ServicePlan:
    name: str
    type: ServiceType
    port_name: str
    port: int
    selector: dict[str, str]
    labels: dict[str, str]
    metadata: ComponentMeta
    node_port: int | None
    load_balancer_class: str | None
    load_balancer_source_ranges: tuple[str, ...]
    external_traffic_policy: str | None


def resolve_service(
    sourced: SourcedCluster,
    path: tuple[str | int, ...],
    spec: ServiceSpec,
    *,
    name: str,
    port_name: str,
    port: int,
    selector: dict[str, str],
    labels: dict[str, str],
    problems: list[Problem],
) -> ServicePlan:
    return ServicePlan(
        name=name,
        type=spec.type,
        port_name=port_name,
        port=port,
        selector=selector,
        labels=labels,
        metadata=resolve_metadata(sourced, (*path, "metadata"), spec.metadata, problems),
        node_port=spec.node_port,
        load_balancer_class=spec.load_balancer_class,
        load_balancer_source_ranges=tuple(spec.load_balancer_source_ranges),
        external_traffic_policy=spec.external_traffic_policy,
    )
