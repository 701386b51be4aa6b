"""PodDisruptionBudget <c>-<set>, only for sets of more than one instance (PGO's rule)."""

from __future__ import annotations

from pgrender.plan import ClusterPlan
from pgrender.pod import Manifest, object_meta


def disruption_budgets(plan: ClusterPlan) -> list[Manifest]:
    """Return a budget keeping one instance of each multi-instance set up during drains.

    A single instance gets none: a budget it cannot satisfy would block every node drain. A shut-down
    cluster gets none either: over no pod, a budget reports desiredHealthy 1 and currentHealthy 0 for
    as long as it is shut down (kube-prometheus' KubePdbNotEnoughHealthyPods fires), and there is
    nothing to keep up; started again, the budgets are rendered again.
    """
    if plan.shutdown:
        return []
    return [
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": object_meta(plan, s.disruption_budget, s.labels, component=s.metadata),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(s.selector)}},
        }
        for s in plan.instance_sets
        if s.disruption_budget
    ]
