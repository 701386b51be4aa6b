"""rbac: exactly the verbs Patroni's Kubernetes DCS uses in ConfigMap mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.rbac import rbac
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


def test_role_rules(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    account, role, binding = rbac(plan_of(base_spec()))
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
