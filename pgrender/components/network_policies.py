"""NetworkPolicy <c>-<component> per kind of pod the cluster runs (database, pgbouncer, reconcile,
backup, logical-backup, repo-host), each isolating its pods both ways and allowing what the plan
lists (plan/network_policies.py)."""

from __future__ import annotations

import copy

from pgrender.plan import ClusterPlan, PolicyPlan, RulePlan
from pgrender.pod import Manifest, object_meta


def network_policies(plan: ClusterPlan) -> list[Manifest]:
    """Return the cluster's NetworkPolicies; none when spec.networkPolicy.enabled is false."""
    return [_policy(plan, policy) for policy in plan.network_policies]


def _policy(plan: ClusterPlan, policy: PolicyPlan) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(plan, policy.name, policy.labels),
        "spec": {
            # Copies: the plan's selectors stay the plan's, whatever later steps do with the output.
            "podSelector": copy.deepcopy(policy.pod_selector),
            # Both, always: a direction left out would stay open to everything.
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [_rule(rule, "from") for rule in policy.ingress],
            "egress": [_rule(rule, "to") for rule in policy.egress],
        },
    }


def _rule(rule: RulePlan, direction: str) -> Manifest:
    return {
        direction: [copy.deepcopy(peer) for peer in rule.peers],
        "ports": [{"protocol": protocol, "port": port} for protocol, port in rule.ports],
    }
