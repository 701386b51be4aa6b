"""disruption_budgets: one per set of more than one instance, none for a single instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.disruption_budgets import disruption_budgets
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


def test_budget_per_multi_instance_set(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["instances"].append({"name": "solo", "dataVolume": {"size": "1Gi"}})
    (budget,) = disruption_budgets(plan_of(spec))
    assert budget["metadata"]["name"] == "hippo-instance1"
    assert budget["spec"] == {
        "minAvailable": 1,
        "selector": {
            "matchLabels": {
                "pgrender.io/cluster": "hippo",
                "pgrender.io/patroni": "hippo-ha",
                "pgrender.io/instance-set": "instance1",
            }
        },
    }
