"""Scheduling of instances and pgBouncer: anti-affinity, and Kubernetes' own scheduling fields."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from pgrender.spec.base import StrictModel

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"


class AntiAffinity(StrEnum):
    PREFERRED = "preferred"
    REQUIRED = "required"
    NONE = "none"


class AntiAffinityScope(StrEnum):
    """Which pods repel each other: all database pods of the cluster, or those of one set."""

    CLUSTER = "cluster"
    INSTANCE_SET = "instanceSet"


class PodAntiAffinitySpec(StrictModel):
    type: AntiAffinity = AntiAffinity.PREFERRED
    topology_key: str = HOSTNAME_KEY
    weight: int = Field(default=100, ge=1, le=100)
    scope: AntiAffinityScope = AntiAffinityScope.CLUSTER


# Kubernetes types, spelled as in a pod spec, so that users can paste what they already know.
class NodeSelectorRequirement(StrictModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = Field(default=[])


class NodeSelectorTerm(StrictModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default=[])
    match_fields: list[NodeSelectorRequirement] = Field(default=[])


class NodeSelector(StrictModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(StrictModel):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(StrictModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(default=[])


class Toleration(StrictModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class LabelSelectorRequirement(StrictModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] = Field(default=[])


class LabelSelector(StrictModel):
    match_labels: dict[str, str] = Field(default={})
    match_expressions: list[LabelSelectorRequirement] = Field(default=[])


class TopologySpreadConstraint(StrictModel):
    """As in Kubernetes; without labelSelector, pgrender selects the pods it spreads."""

    max_skew: int = Field(ge=1)
    topology_key: str
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    label_selector: LabelSelector | None = None
    min_domains: int | None = Field(default=None, ge=1)
    node_affinity_policy: Literal["Honor", "Ignore"] | None = None
    node_taints_policy: Literal["Honor", "Ignore"] | None = None
    match_label_keys: list[str] = Field(default=[])


class SchedulingSpec(StrictModel):
    """Where pods may run. Default: preferred anti-affinity and a ScheduleAnyway spread, which
    still schedules on a one-node cluster."""

    pod_anti_affinity: PodAntiAffinitySpec = Field(default_factory=PodAntiAffinitySpec)
    node_affinity: NodeAffinity | None = None
    tolerations: list[Toleration] = Field(default=[])
    node_selector: dict[str, str] = Field(default={})
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(default=[])
    default_topology_spread: bool = True
    priority_class_name: str | None = None
