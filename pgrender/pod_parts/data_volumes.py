"""The instance's data claim (and WAL claim) mounted into its database pod."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, defaults
from pgrender.pod import PodPart


def data_volumes(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    claims = [(defaults.DATA_VOLUME, instance.data_volume.name, defaults.PGDATA_MOUNT)]
    if instance.wal_volume:
        claims.append((defaults.WAL_VOLUME, instance.wal_volume.name, defaults.PGWAL_MOUNT))
    return PodPart(
        volumes=tuple({"name": v, "persistentVolumeClaim": {"claimName": claim}} for v, claim, _ in claims),
        mounts=tuple({"name": v, "mountPath": path} for v, _, path in claims),
    )
