"""PersistentVolumeClaims <c>-<set>-<n>-pgdata and -pgwal (and pgAdmin's, components/pgadmin.py): own
objects, so size grows in git."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, VolumePlan, labels
from pgrender.plan.metadata import ComponentMeta
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
        out.append(_instance_claim(plan, instance, instance.data_volume, "pgdata"))
        if instance.wal_volume:
            out.append(_instance_claim(plan, instance, instance.wal_volume, "pgwal"))
    return out


def _instance_claim(plan: ClusterPlan, instance: InstancePlan, volume: VolumePlan, data: str) -> Manifest:
    return claim(plan, volume, {**instance.labels, labels.DATA_LABEL: data}, instance.sync_wave, instance.metadata)


def claim(
    plan: ClusterPlan, volume: VolumePlan, own_labels: dict[str, str], sync_wave: int, component: ComponentMeta
) -> Manifest:
    """A ReadWriteOnce claim in ``sync_wave``, its workload's: an instance's, or pgAdmin's."""
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.storage_class:
        spec["storageClassName"] = volume.storage_class
    # A claim sits in its workload's sync wave: with volumeBindingMode WaitForFirstConsumer (EKS,
    # GKE, AKS, kind and k3s defaults) it stays Pending until the pod exists, and Argo CD would wait
    # for it forever in an earlier wave than the StatefulSet that makes the pod.
    annotations = {**PRUNE_PROTECTION, SYNC_WAVE: str(sync_wave)}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": object_meta(plan, volume.name, own_labels, annotations, component),
        "spec": spec,
    }
