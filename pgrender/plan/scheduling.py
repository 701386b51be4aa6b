"""Scheduling plans: anti-affinity terms, spread constraints and Kubernetes fields, resolved; and the
placement of pods that keep apart from nothing (pgBackRest's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.frozen import frozen
from pgrender.spec.rules.scheduling import HOSTNAME_KEY, ZONE_KEY, AntiAffinity

if TYPE_CHECKING:
    from pgrender.spec.scheduling import PlacementSpec, SchedulingSpec

DEFAULT_SPREAD_KEYS = (HOSTNAME_KEY, ZONE_KEY)


@frozen
class PlacementPlan:
    """Which nodes a workload's pods may run on, and their priority; in Kubernetes' spelling."""

    node_affinity: dict[str, Any] | None
    tolerations: tuple[dict[str, Any], ...]
    node_selector: dict[str, str]
    priority_class: str | None


@frozen
class SchedulingPlan(PlacementPlan):
    """Where a workload's pods may run, and how they keep apart; in Kubernetes' spelling."""

    anti_affinity: AntiAffinity
    anti_affinity_key: str
    anti_affinity_weight: int
    anti_affinity_selector: dict[str, str]
    topology_spread: tuple[dict[str, Any], ...]


def _k8s(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    return dumped


def resolve_placement(spec: PlacementSpec) -> PlacementPlan:
    return PlacementPlan(**_placement(spec))


def _placement(spec: PlacementSpec) -> dict[str, Any]:
    return {
        "node_affinity": _k8s(spec.node_affinity) if spec.node_affinity else None,
        "tolerations": tuple(_k8s(t) for t in spec.tolerations),
        "node_selector": dict(spec.node_selector),
        "priority_class": spec.priority_class_name,
    }


def resolve_scheduling(
    spec: SchedulingSpec,
    *,
    anti_affinity: AntiAffinity,
    anti_affinity_selector: dict[str, str],
    spread_selector: dict[str, str],
) -> SchedulingPlan:
    """``anti_affinity`` is the type after presets; selectors choose exactly the pods concerned."""
    spread = []
    for constraint in spec.topology_spread_constraints:
        item = _k8s(constraint)
        item.setdefault("labelSelector", {"matchLabels": dict(spread_selector)})
        spread.append(item)
    if spec.default_topology_spread:
        # ScheduleAnyway: spreads when it can, still schedules on a one-node cluster (PGO's default).
        declared = {c.topology_key for c in spec.topology_spread_constraints}
        spread += [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(spread_selector)},
            }
            for key in DEFAULT_SPREAD_KEYS
            if key not in declared
        ]
    pod_anti = spec.pod_anti_affinity
    return SchedulingPlan(
        **_placement(spec),
        anti_affinity=anti_affinity,
        anti_affinity_key=pod_anti.topology_key,
        anti_affinity_weight=pod_anti.weight,
        anti_affinity_selector=anti_affinity_selector,
        topology_spread=tuple(spread),
    )
