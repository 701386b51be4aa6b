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


def test_the_service_account_template_annotates_the_instance_account_only(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
) -> None:
    """spec.serviceAccountTemplate: a cloud identity (IRSA's role, Workload Identity's account) on
    <c>-instance, beside the cluster's labels; not on its Role, its binding or the reconcile Job's."""
    spec = base_spec()
    spec["metadata"]["labels"] = {"team": "payments"}
    role_arn = "arn:aws:iam::123456789012:role/hippo-backups"
    spec["spec"]["serviceAccountTemplate"] = {
        "metadata": {"annotations": {"eks.amazonaws.com/role-arn": role_arn}, "labels": {"identity": "backups"}}
    }
    objects = rbac(plan_of(spec))
    metadata = {(o["kind"], o["metadata"]["name"]): o["metadata"] for o in objects}
    instance = metadata["ServiceAccount", "hippo-instance"]
    assert instance["annotations"] == {"eks.amazonaws.com/role-arn": role_arn}
    assert (instance["labels"]["team"], instance["labels"]["identity"]) == ("payments", "backups")
    others = [m for key, m in metadata.items() if key != ("ServiceAccount", "hippo-instance")]
    assert len(others) == 5
    assert not [m for m in others if "annotations" in m or "identity" in m["labels"]]
    assert all(m["labels"]["team"] == "payments" for m in others)


def test_a_changed_service_account_template_replaces_the_members(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """IRSA's webhook gives a pod its role when the pod is created: the members' template carries a
    digest of serviceAccountTemplate's metadata, so adding a role (or changing it) rolls them, and
    `diff` says why. Without the template, nothing is added (no restart for clusters that do not use it)."""
    from pgrender.changes import changes
    from tests.test_changes import files

    def rendered(annotations: dict[str, str] | None) -> list[dict[str, Any]]:
        spec = base_spec()
        if annotations is not None:
            spec["spec"]["serviceAccountTemplate"] = {"metadata": {"annotations": annotations}}
        return objects_of(spec)

    def digest(objects: list[dict[str, Any]]) -> str | None:
        found = {
            o["spec"]["template"]["metadata"]["annotations"].get("pgrender.io/account-digest")
            for o in objects
            if o["kind"] == "StatefulSet"
        }
        (one,) = found  # every member alike
        return one

    plain = rendered(None)
    role_a = rendered({"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/a"})
    role_b = rendered({"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/b"})
    assert (digest(plain), digest(rendered({}))) == (None, None)
    assert None is not digest(role_a) != digest(role_b) is not None
    found = changes(files(plain), files(role_a), ())
    restarts = [f for f in found.findings if f.kind == "StatefulSet"]
    assert restarts and {(f.change.value, f.path) for f in restarts} == {
        ("restart", "spec.template.metadata.annotations[pgrender.io/account-digest]")
    }
    assert all("spec.serviceAccountTemplate" in f.message for f in restarts)
