"""A user's sidecars and init containers (spec.instances[].sidecars, spec.proxy.pgBouncer.sidecars, ...).

They come after pgrender's own containers, and each gets the pod's name and namespace from the
downward API as POD_NAME and POD_NAMESPACE (what Zalando's operator gives sidecars), unless it
sets a variable of that name itself: server-side apply refuses two env entries of one name.
"""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, PgBouncerPlan
from pgrender.plan.containers import UserContainersPlan
from pgrender.pod import Manifest, PodPart

POD_ENV = (
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
)


def database_user_containers(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    return user_containers(instance.containers)


def pgbouncer_user_containers(plan: ClusterPlan, pgbouncer: PgBouncerPlan) -> PodPart:
    return user_containers(pgbouncer.containers)


def user_containers(containers: UserContainersPlan) -> PodPart:
    return PodPart(
        containers=tuple(_with_pod_env(c) for c in containers.sidecars),
        init_containers=tuple(_with_pod_env(c) for c in containers.init_containers),
    )


def _with_pod_env(container: Manifest) -> Manifest:
    given = container.get("env", [])
    names = {var["name"] for var in given}
    return {**container, "env": [*(dict(v) for v in POD_ENV if v["name"] not in names), *given]}
