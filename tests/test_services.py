"""services: primary and replicas select on Patroni's role label; pods is headless."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components.services import services
from pgrender.errors import SpecError
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


def _by_name(plan: ClusterPlan) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: s for s in services(plan)}


PGD_SPEC = {"naming": "pgd", "connectivity": {"dns": {"domain": "example.com"}}}
LB = {"type": "LoadBalancer", "metadata": {"annotations": {"external-dns.alpha.kubernetes.io/hostname": "x"}}}
# Each member's own load balancer: no host name of external-dns, which every member would share.
MEMBER_LB = {
    "type": "LoadBalancer",
    "metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}},
}


@pytest.mark.parametrize(
    ("changes", "name", "kind", "annotated"),
    [
        # PGD's node and group service templates: each member's Service, and the one over every member.
        ({**PGD_SPEC, "memberServices": MEMBER_LB}, "hippo-instance1-0", "LoadBalancer", True),
        ({**PGD_SPEC, "memberServices": MEMBER_LB}, "hippo-group", "ClusterIP", False),
        ({**PGD_SPEC, "groupService": LB}, "hippo-group", "LoadBalancer", True),
        ({**PGD_SPEC, "groupService": LB}, "hippo-instance1-0", "ClusterIP", False),
        ({"naming": "cnpg", "groupService": LB}, "hippo-r", "LoadBalancer", True),
        ({**PGD_SPEC}, "hippo-instance1-0", "ClusterIP", False),  # unset: as before
    ],
)
def test_the_naming_profiles_services_take_their_templates(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], changes: dict[str, Any], name: str, kind: str, annotated: bool
) -> None:
    spec = base_spec()
    spec["spec"].update(changes)
    service = _by_name(plan_of(spec))[name]
    assert service["spec"]["type"] == kind
    assert bool(service["metadata"].get("annotations")) is annotated


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"memberServices": LB}, "spec.memberServices: naming: pgo writes no such Service"),
        ({"naming": "cnpg", "memberServices": LB}, "spec.memberServices: naming: cnpg writes no such Service"),
        ({"groupService": LB}, "spec.groupService: naming: pgo writes no such Service"),
        (
            {**PGD_SPEC, "memberServices": {"type": "NodePort", "nodePort": 30001}},
            "spec.memberServices.nodePort: every member's Service would take this one node port",
        ),
        (  # external-dns would put every member (the replicas too) under one name
            {**PGD_SPEC, "memberServices": LB},
            "spec.memberServices.metadata.annotations.external-dns.alpha.kubernetes.io/hostname: every member's "
            "Service would take this one host name",
        ),
        (  # external-dns' default prefix since v0.22
            {**PGD_SPEC, "memberServices": {"metadata": {"annotations": {"external-dns.kubernetes.io/hostname": "x"}}}},
            "spec.memberServices.metadata.annotations.external-dns.kubernetes.io/hostname: every member's "
            "Service would take this one host name",
        ),
    ],
)
def test_a_template_without_its_services_is_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], changes: dict[str, Any], message: str
) -> None:
    spec = base_spec()
    spec["spec"].update(changes)
    with pytest.raises(SpecError) as info:
        plan_of(spec)
    assert [p for p in info.value.problems if f"{p.path}: {p.message}".startswith(message)], info.value.problems
