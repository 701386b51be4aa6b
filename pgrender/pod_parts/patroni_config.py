"""The ConfigMap holding patroni.yaml, mounted read-only into the database pod."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, defaults
from pgrender.pod import PodPart


def patroni_config(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    return PodPart(
        volumes=({"name": "patroni-config", "configMap": {"name": plan.names.config_map}},),
        mounts=({"name": "patroni-config", "mountPath": defaults.PATRONI_CONFIG_DIR, "readOnly": True},),
    )
