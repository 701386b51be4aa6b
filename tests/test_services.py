"""services: primary and replicas select on Patroni's role label; pods is headless."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.services import services
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec

DB = {"pgrender.io/cluster": "hippo", "pgrender.io/patroni": "hippo-ha"}


def test_services(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["service"] = {"type": "LoadBalancer"}
    primary, replicas, pods = services(plan_of(spec))
    assert primary["spec"]["type"] == "LoadBalancer"
    assert primary["spec"]["selector"] == {**DB, "pgrender.io/role": "master"}
    assert replicas["spec"]["type"] == "ClusterIP"
    assert replicas["spec"]["selector"] == {**DB, "pgrender.io/role": "replica"}
    assert primary["spec"]["ports"] == [{"name": "postgres", "port": 5432, "protocol": "TCP", "targetPort": "postgres"}]
    assert pods["metadata"]["name"] == "hippo-pods"
    assert pods["spec"] == {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": DB}


def test_replica_service_can_be_off(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["replicaService"] = {"enabled": False}
    plan = plan_of(spec)
    assert [s["metadata"]["name"] for s in services(plan)] == ["hippo-primary", "hippo-pods"]
    assert not any("hippo-replicas" in n for n in plan.tls.server.dns_names)


def test_service_customization(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["service"] = {
        "type": "NodePort",
        "nodePort": 30432,
        "metadata": {"labels": {"exposure": "nodes"}, "annotations": {"example.com/x": "1"}},
    }
    spec["spec"]["replicaService"] = {
        "type": "LoadBalancer",
        "loadBalancerClass": "example.com/internal",
        "loadBalancerSourceRanges": ["10.0.0.0/8"],
        "externalTrafficPolicy": "Local",
    }
    primary, replicas, _ = services(plan_of(spec))
    assert primary["spec"]["ports"][0]["nodePort"] == 30432 and primary["spec"]["type"] == "NodePort"
    assert primary["metadata"]["labels"]["exposure"] == "nodes"
    assert primary["metadata"]["annotations"] == {"example.com/x": "1"}
    assert replicas["spec"]["loadBalancerClass"] == "example.com/internal"
    assert replicas["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    assert replicas["spec"]["externalTrafficPolicy"] == "Local"
    assert "exposure" not in replicas["metadata"]["labels"]


def test_metadata_merge_order(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["metadata"]["labels"] = {"tier": "cluster", "team": "a"}
    spec["spec"]["service"] = {"metadata": {"labels": {"tier": "service"}}}
    primary = services(plan_of(spec))[0]
    assert primary["metadata"]["labels"]["tier"] == "service", "component labels override cluster labels"
    assert primary["metadata"]["labels"]["team"] == "a"
