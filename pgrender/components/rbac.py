"""ServiceAccount, Role and RoleBinding <c>-instance (what Patroni needs in ConfigMap mode) and
<c>-reconcile (what the reconcile Job needs to replace member pods one at a time)."""

from __future__ import annotations

from typing import Any

from pgrender.plan import ClusterPlan, ComponentMeta
from pgrender.pod import Manifest, object_meta

# Patroni's Kubernetes DCS with use_endpoints: false keeps leader, config, failover and sync state
# in ConfigMaps <scope>-* (POST, PATCH, GET, list and watch; never PUT) and patches its role label
# onto its own pod. delete and deletecollection serve `patronictl remove`. No endpoints or
# services verbs: those exist for the Endpoints mode only.
INSTANCE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "watch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch", "watch"]},
]


def reconcile_rules(plan: ClusterPlan) -> list[dict[str, Any]]:
    """The reconcile Job reads the member StatefulSets (has the new template been applied?) and
    reads and deletes the member pods, by name: nothing else, no list, no other pod."""
    return [
        {
            "apiGroups": ["apps"],
            "resources": ["statefulsets"],
            "resourceNames": [i.name for i in plan.instances],
            "verbs": ["get"],
        },
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "resourceNames": [i.pod for i in plan.instances],
            "verbs": ["delete", "get"],
        },
    ]


def rbac(plan: ClusterPlan) -> list[Manifest]:
    """Return the ServiceAccounts, Roles and RoleBindings of the database pods and the reconcile Job."""
    return [
        *_account(plan, plan.names.instance_rbac, plan.database_labels, INSTANCE_RULES, plan.service_account_meta),
        *_account(plan, plan.names.reconcile_rbac, plan.reconcile_labels, reconcile_rules(plan)),
    ]


def _account(
    plan: ClusterPlan,
    name: str,
    labels: dict[str, str],
    rules: list[dict[str, Any]],
    account: ComponentMeta | None = None,
) -> list[Manifest]:
    """``account``: the ServiceAccount's own labels and annotations (a cloud identity), not its Role's."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": object_meta(plan, name, labels, component=account),
            "automountServiceAccountToken": True,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": object_meta(plan, name, labels),
            "rules": [dict(rule) for rule in rules],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": object_meta(plan, name, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": plan.namespace}],
        },
    ]
