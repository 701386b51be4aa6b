"""volumes: one claim per instance and volume, never pruned by Argo CD or Flux."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.volumes import volumes
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


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
