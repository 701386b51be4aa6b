"""rbac: exactly the verbs Patroni's Kubernetes DCS uses in ConfigMap mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.rbac import rbac
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


def test_role_rules(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    account, role, binding, *_ = rbac(plan_of(base_spec()))
    assert account["automountServiceAccountToken"] is True
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "watch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch", "watch"]},
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "hippo-instance"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hippo-instance", "namespace": "db"}]


def test_the_reconcile_job_may_read_and_delete_the_member_pods_and_nothing_else(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
) -> None:
    spec = base_spec()
    volume = {"size": "1Gi"}
    spec["spec"]["instances"] = [
        {"name": "a", "replicas": 2, "dataVolume": volume},
        {"name": "b", "dataVolume": volume},
    ]
    *_, account, role, binding = rbac(plan_of(spec))
    assert account["metadata"]["name"] == role["metadata"]["name"] == binding["roleRef"]["name"] == "hippo-reconcile"
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["statefulsets"],
            "resourceNames": ["hippo-a-0", "hippo-a-1", "hippo-b-0"],
            "verbs": ["get"],
        },
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "resourceNames": ["hippo-a-0-0", "hippo-a-1-0", "hippo-b-0-0"],
            "verbs": ["delete", "get"],
        },
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hippo-reconcile", "namespace": "db"}]
