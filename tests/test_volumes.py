"""volumes: one claim per instance and volume, never pruned by Argo CD or Flux."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.volumes import volumes
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec

WAVE = "argocd.argoproj.io/sync-wave"


def test_claims(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["walVolume"] = {"size": "2Gi", "storageClassName": "fast"}
    claims = volumes(plan_of(spec))
    assert [c["metadata"]["name"] for c in claims] == [
        "hippo-instance1-0-pgdata",
        "hippo-instance1-0-pgwal",
        "hippo-instance1-1-pgdata",
        "hippo-instance1-1-pgwal",
    ]
    data, wal = claims[0], claims[1]
    assert data["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    assert wal["spec"]["storageClassName"] == "fast"
    for claim in claims:
        annotations = claim["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false"
        assert annotations["kustomize.toolkit.fluxcd.io/prune"] == "disabled"


def test_each_claim_is_in_the_sync_wave_of_the_statefulset_whose_pod_binds_it(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """WaitForFirstConsumer: a claim binds only once its pod exists, so Argo CD must apply both in one wave
    (an earlier wave waits forever for the claim; a later one, for the pod). Adding an instance adds both
    in a new wave of their own."""
    spec = base_spec()
    spec["spec"]["instances"][0]["walVolume"] = {"size": "2Gi"}
    spec["spec"]["instances"].append(
        {"name": "b", "replicas": 1, "dataVolume": {"size": "1Gi"}, "walVolume": {"size": "2Gi"}}
    )
    objects = objects_of(spec)
    wave = {(o["kind"], o["metadata"]["name"]): o["metadata"].get("annotations", {}).get(WAVE) for o in objects}
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    binders = {
        volume["persistentVolumeClaim"]["claimName"]: sts["metadata"]["name"]
        for sts in objects
        if sts["kind"] == "StatefulSet"
        for volume in sts["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in volume
    }
    assert sorted(binders) == sorted(c["metadata"]["name"] for c in claims)
    for claim in claims:
        name = claim["metadata"]["name"]
        assert wave[("PersistentVolumeClaim", name)] == wave[("StatefulSet", binders[name])], name
    assert sorted({wave[("StatefulSet", s)] for s in binders.values()}) == ["1", "2", "3"]
