"""Scheduling of instances and pgBouncer (anti-affinity, and Kubernetes' own scheduling fields), and the
placement of pgBackRest's pods (Kubernetes' fields only)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pgrender.spec.base import StrictModel
from pgrender.spec.rules.scheduling import HOSTNAME_KEY, ZONE_KEY, AntiAffinity, AntiAffinityScope

__all__ = ["HOSTNAME_KEY", "ZONE_KEY", "AntiAffinity", "AntiAffinityScope", "PlacementSpec", "SchedulingSpec"]


class PodAntiAffinitySpec(StrictModel):
    type: AntiAffinity = AntiAffinity.PREFERRED
    """preferred, required or none (the premium preset makes it required)."""
    topology_key: str = Field(default=HOSTNAME_KEY, examples=[HOSTNAME_KEY, ZONE_KEY])
    """The node label whose values are the domains pods keep apart in: nodes, or zones."""
    weight: int = Field(default=100, ge=1, le=100)
    """The preferred rule's weight against the scheduler's other preferences."""
    scope: AntiAffinityScope = AntiAffinityScope.CLUSTER
    """cluster or instanceSet: which pods repel each other."""


# Kubernetes types, spelled as in a pod spec, so that users can paste what they already know.
class NodeSelectorRequirement(StrictModel):
    """A node label (or field) test, as in Kubernetes."""

    key: str
    """The node label (or, in matchFields, the field) tested."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    """In, NotIn: the value is (not) among values; Exists, DoesNotExist: the label is (not) set; Gt, Lt:
    a number greater or less than the one value."""
    values: list[str] = Field(default=[])
    """The values In, NotIn, Gt and Lt compare with; empty for Exists and DoesNotExist."""


class NodeSelectorTerm(StrictModel):
    """Tests that all must hold for a node, as in Kubernetes."""

    match_expressions: list[NodeSelectorRequirement] = Field(default=[])
    """Tests of node labels."""
    match_fields: list[NodeSelectorRequirement] = Field(default=[])
    """Tests of node fields (metadata.name)."""


class NodeSelector(StrictModel):
    """Nodes a pod may run on, as in Kubernetes."""

    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)
    """A node qualifies when any one term holds."""


class PreferredSchedulingTerm(StrictModel):
    """Nodes the scheduler prefers, with a weight, as in Kubernetes."""

    weight: int = Field(ge=1, le=100)
    """How much nodes matching preference count, against the other preferences."""
    preference: NodeSelectorTerm
    """The nodes preferred."""


class NodeAffinity(StrictModel):
    """Which nodes pods may run on or prefer, as a pod's affinity.nodeAffinity."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    """Nodes a pod must run on."""
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(default=[])
    """Nodes the scheduler prefers."""


class Toleration(StrictModel):
    """A taint the pods tolerate, as in Kubernetes."""

    key: str | None = None
    """The taint's key; empty with operator Exists tolerates every taint."""
    operator: Literal["Exists", "Equal"] | None = None
    """Equal (the default): the taint's value must be value; Exists: any value."""
    value: str | None = None
    """The taint's value, for Equal."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """The taint effect tolerated: NoSchedule (no new pods), PreferNoSchedule (new pods avoid the node),
    NoExecute (running pods are evicted too); empty: every effect."""
    toleration_seconds: int | None = None
    """For NoExecute: how long a pod stays on a node after the taint appears; empty: for ever."""


class LabelSelectorRequirement(StrictModel):
    """A pod label test, as in Kubernetes."""

    key: str
    """The pod label tested."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn: the value is (not) among values; Exists, DoesNotExist: the label is (not) set."""
    values: list[str] = Field(default=[])
    """The values In and NotIn compare with."""


class LabelSelector(StrictModel):
    """Pods selected by their labels, as in Kubernetes."""

    match_labels: dict[str, str] = Field(default={})
    """Labels a pod must have, with these values."""
    match_expressions: list[LabelSelectorRequirement] = Field(default=[])
    """Further tests that must all hold."""


class TopologySpreadConstraint(StrictModel):
    """As in Kubernetes; without labelSelector, pgrender selects the pods it spreads."""

    max_skew: int = Field(ge=1)
    """How many more pods one domain may hold than the emptiest."""
    topology_key: str = Field(examples=[ZONE_KEY, HOSTNAME_KEY])
    """The node label whose values are the domains pods spread over."""
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    """DoNotSchedule: a pod waits rather than break maxSkew; ScheduleAnyway: it is placed, skew or not."""
    label_selector: LabelSelector | None = None
    """The pods counted; default: the pods pgrender spreads (the cluster's, or pgBouncer's)."""
    min_domains: int | None = Field(default=None, ge=1)
    """With DoNotSchedule: count this many domains even when fewer have nodes yet."""
    node_affinity_policy: Literal["Honor", "Ignore"] | None = None
    """Whether nodes the pod's node affinity excludes count as domains: Honor (they do not, the default) or
    Ignore (every node counts)."""
    node_taints_policy: Literal["Honor", "Ignore"] | None = None
    """Whether nodes with taints the pod does not tolerate count as domains: Honor (they do not) or Ignore
    (they do, the default)."""
    match_label_keys: list[str] = Field(default=[])
    """Pod label keys whose values the counted pods must share with the pod placed."""


class PlacementSpec(StrictModel):
    """Which nodes pods may run on, and their priority: Kubernetes' own fields, for pods of which
    there is one at a time (backup Jobs, the repository host), which keep apart from nothing."""

    node_affinity: NodeAffinity | None = None
    """Nodes the pods must run on or prefer (Kubernetes nodeAffinity)."""
    tolerations: list[Toleration] = Field(default=[])
    """Taints the pods tolerate, e.g. of nodes dedicated to databases."""
    node_selector: dict[str, str] = Field(default={}, examples=[{"node-role/database": "true"}])
    """Node labels the pods' nodes must have."""
    priority_class_name: str | None = None
    """A PriorityClass for the pods, so that they are evicted last."""


class SchedulingSpec(PlacementSpec):
    """Where pods may run. Default: preferred anti-affinity and a ScheduleAnyway spread, which
    still schedules on a one-node cluster."""

    pod_anti_affinity: PodAntiAffinitySpec = Field(default_factory=PodAntiAffinitySpec)
    """Keep the pods apart: preferred on separate nodes by default."""
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(default=[])
    """Spread the pods over zones or nodes (Kubernetes topologySpreadConstraints); a topologyKey given
    here replaces the default spread over that key."""
    default_topology_spread: bool = True
    """Also spread the pods over nodes and zones (maxSkew 1, ScheduleAnyway: still schedules on a
    one-node cluster, as PGO does), for keys topologySpreadConstraints does not name; false: no spread."""
