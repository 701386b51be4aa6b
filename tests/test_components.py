"""components: BUILDERS cover every object of the design table, each name exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components import BUILDERS, build
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


def test_hippo_object_inventory(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    objects = build(plan_of(base_spec()))
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] != "Job") == sorted(
        [
            ("ServiceAccount", "hippo-instance"),
            ("Role", "hippo-instance"),
            ("RoleBinding", "hippo-instance"),
            ("ServiceAccount", "hippo-reconcile"),
            ("Role", "hippo-reconcile"),
            ("RoleBinding", "hippo-reconcile"),
            ("ConfigMap", "hippo-config"),
            ("ConfigMap", "hippo-reconcile"),
            ("Secret", "hippo-patroni"),
            ("Secret", "hippo-cluster-cert"),
            ("Secret", "hippo-replication-cert"),
            ("Secret", "hippo-superuser-cert"),
            ("Secret", "hippo-pguser-hippo"),
            ("Service", "hippo-primary"),
            ("Service", "hippo-replicas"),
            ("Service", "hippo-pods"),
            ("PersistentVolumeClaim", "hippo-instance1-0-pgdata"),
            ("PersistentVolumeClaim", "hippo-instance1-1-pgdata"),
            ("StatefulSet", "hippo-instance1-0"),
            ("StatefulSet", "hippo-instance1-1"),
            ("PodDisruptionBudget", "hippo-instance1"),
            ("NetworkPolicy", "hippo-database"),
            ("NetworkPolicy", "hippo-reconcile"),
        ]
    )
    (job,) = [o for o in objects if o["kind"] == "Job"]
    assert job["metadata"]["name"].startswith("hippo-reconcile-")


def test_every_object_is_namespaced_and_labelled(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["metadata"]["labels"] = {"team": "payments"}
    spec["metadata"]["annotations"] = {"example.com/owner": "dba"}
    for obj in build(plan_of(spec)):
        meta = obj["metadata"]
        assert meta["namespace"] == "db"
        assert meta["labels"]["pgrender.io/cluster"] == "hippo"
        assert meta["labels"]["team"] == "payments"
        assert meta["annotations"]["example.com/owner"] == "dba"


def test_no_patroni_owned_objects(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    """Patroni writes <scope>-leader/-config/-failover/-sync at runtime; pgrender must not."""
    names = {o["metadata"]["name"] for o in build(plan_of(base_spec()))}
    assert not names & {f"hippo-ha{s}" for s in ("", "-leader", "-config", "-failover", "-sync")}


def test_builders_are_listed_once() -> None:
    assert len({b.__name__ for b in BUILDERS}) == len(BUILDERS)
    assert all(b.__module__.endswith(b.__name__) for b in BUILDERS), "a builder is named like its module"
