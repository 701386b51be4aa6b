"""ServiceAccount, Role and RoleBinding <c>-instance: what Patroni needs in ConfigMap mode."""

from __future__ import annotations

from pgrender.plan import ClusterPlan
from pgrender.pod import Manifest, object_meta

# Patroni's Kubernetes DCS with use_endpoints: false keeps leader, config, failover and sync state
# in ConfigMaps <scope>-* (POST, PATCH, GET, list and watch; never PUT) and patches its role label
# onto its own pod. delete and deletecollection serve `patronictl remove`. No endpoints or
# services verbs: those exist for the Endpoints mode only.
RULES = [
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "watch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch", "watch"]},
]


def rbac(plan: ClusterPlan) -> list[Manifest]:
    """Return the ServiceAccount, Role and RoleBinding the database pods run with."""
    name = plan.names.instance_rbac
    labels = plan.database_labels
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": object_meta(plan, name, labels),
            "automountServiceAccountToken": True,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": object_meta(plan, name, labels),
            "rules": [dict(rule) for rule in RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": object_meta(plan, name, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": plan.namespace}],
        },
    ]
