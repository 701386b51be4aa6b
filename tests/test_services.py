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
