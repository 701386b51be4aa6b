"""Scheduling: anti-affinity that selects exactly the right pods, spread defaults, presets, limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.pgbouncer import pgbouncer
from pgrender.components.statefulsets import statefulsets
from pgrender.plan import ClusterPlan
from pgrender.pod import scheduling_fields
from tests.conftest import base_spec, find


def pod(plan: ClusterPlan, index: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = statefulsets(plan)[index]["spec"]["template"]["spec"]
    return spec


def test_default_is_preferred_and_schedule_anyway(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = pod(plan_of(base_spec()))
    (term,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["podAffinityTerm"] == {
        "labelSelector": {"matchLabels": {"pgrender.io/cluster": "hippo", "pgrender.io/patroni": "hippo-ha"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    spread = spec["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in spread] == [
        ("kubernetes.io/hostname", "ScheduleAnyway"),
        ("topology.kubernetes.io/zone", "ScheduleAnyway"),
    ]


def test_pgbouncer_pods_never_count_against_database_pods(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["proxy"] = {"pgBouncer": {"replicas": 2}}
    plan = plan_of(spec)
    db_selector = pod(plan)["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    pgb = find(pgbouncer(plan), "Deployment", "hippo-pgbouncer")["spec"]["template"]
    pgb_labels = pgb["metadata"]["labels"]
    wanted = db_selector["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert not wanted.items() <= pgb_labels.items(), "database anti-affinity must not match pgBouncer pods"
    pgb_term = pgb["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert pgb_term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= pgb_labels.items()


def test_required_scoped_to_set_with_kubernetes_fields(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    toleration = {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
    node_affinity = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
        }
    }
    spec["spec"]["instances"][0]["scheduling"] = {
        "podAntiAffinity": {"type": "required", "scope": "instanceSet"},
        "nodeAffinity": node_affinity,
        "tolerations": [toleration],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "priorityClassName": "db-critical",
        "defaultTopologySpread": False,
    }
    fields = pod(plan_of(spec))
    (term,) = fields["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"]["pgrender.io/instance-set"] == "instance1"
    assert fields["affinity"]["nodeAffinity"] == node_affinity
    assert fields["tolerations"] == [toleration]
    assert fields["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert fields["priorityClassName"] == "db-critical"
    assert "topologySpreadConstraints" not in fields


def test_none_and_own_spread(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["scheduling"] = {
        "podAntiAffinity": {"type": "none"},
        "topologySpreadConstraints": [
            {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}
        ],
    }
    fields = pod(plan_of(spec))
    assert "affinity" not in fields
    own, zone = fields["topologySpreadConstraints"]
    assert own["maxSkew"] == 2 and own["whenUnsatisfiable"] == "DoNotSchedule"
    assert own["labelSelector"]["matchLabels"]["pgrender.io/instance-set"] == "instance1"
    assert zone["topologyKey"] == "topology.kubernetes.io/zone", "the default fills only keys not declared"


def test_presets_and_explicit_overrides(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    del spec["spec"]["instances"][0]["replicas"]
    spec["spec"]["preset"] = "premium"
    plan = plan_of(spec)
    assert len(plan.instances) == 3 and plan.patroni.synchronous_mode is True
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod(plan)["affinity"]["podAntiAffinity"]

    spec["spec"]["instances"][0]["replicas"] = 2
    spec["spec"]["instances"][0]["scheduling"] = {"podAntiAffinity": {"type": "preferred"}}
    spec["spec"]["patroni"] = {"synchronousMode": False}
    plan = plan_of(spec)
    assert len(plan.instances) == 2 and plan.patroni.synchronous_mode is False
    assert "preferredDuringSchedulingIgnoredDuringExecution" in pod(plan)["affinity"]["podAntiAffinity"]

    spec = base_spec()
    del spec["spec"]["instances"][0]["replicas"]
    spec["spec"]["preset"] = "standard"
    assert len(plan_of(spec).instances) == 2


def test_scheduling_fields_are_empty_when_nothing_applies(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["scheduling"] = {"podAntiAffinity": {"type": "none"}, "defaultTopologySpread": False}
    assert scheduling_fields(plan_of(spec).instances[0].scheduling) == {}
