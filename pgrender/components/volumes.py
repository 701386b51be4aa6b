"""PersistentVolumeClaims <c>-<set>-<n>-pgdata and -pgwal: own objects, so size grows in git."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, VolumePlan, labels
from pgrender.pod import SYNC_WAVE, Manifest, object_meta

# Removing a cluster from git must never delete its data: both GitOps tools skip these objects
# when pruning.
PRUNE_PROTECTION = {
    "argocd.argoproj.io/sync-options": "Prune=false,Delete=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}


def volumes(plan: ClusterPlan) -> list[Manifest]:
    """Return the data and WAL claims of every instance."""
    out = []
    for instance in plan.instances:
        out.append(_claim(plan, instance, instance.data_volume, "pgdata"))
        if instance.wal_volume:
            out.append(_claim(plan, instance, instance.wal_volume, "pgwal"))
    return out


def _claim(plan: ClusterPlan, instance: InstancePlan, volume: VolumePlan, data: str) -> Manifest:
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.storage_class:
        spec["storageClassName"] = volume.storage_class
    # A claim sits in its instance's sync wave: with volumeBindingMode WaitForFirstConsumer (EKS,
    # GKE, AKS, kind and k3s defaults) it stays Pending until the pod exists, and Argo CD would wait
    # for it forever in an earlier wave than the StatefulSet that makes the pod.
    annotations = {**PRUNE_PROTECTION, SYNC_WAVE: str(instance.sync_wave)}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": object_meta(
            plan, volume.name, {**instance.labels, labels.DATA_LABEL: data}, annotations, instance.metadata
        ),
        "spec": spec,
    }
