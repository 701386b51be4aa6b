"""A user's sidecars and init containers (spec.instances[].sidecars, spec.proxy.pgBouncer.sidecars, ...).

They come after pgrender's own containers, and each gets the pod's name and namespace from the
downward API as POD_NAME and POD_NAMESPACE (what Zalando's operator gives sidecars), unless it
sets a variable of that name itself: server-side apply refuses two env entries of one name. One
that states no resources gets the user-container defaults (plan/resources.py), so that no
container of a database pod runs without requests and a memory limit.
"""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, PgBouncerPlan
from pgrender.plan.containers import UserContainersPlan
from pgrender.plan.resources import ContainerKind
from pgrender.pod import Manifest, PodPart, container_resources

POD_ENV = (
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
)


def database_user_containers(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    return user_containers(plan, instance.containers)


def pgbouncer_user_containers(plan: ClusterPlan, pgbouncer: PgBouncerPlan) -> PodPart:
    return user_containers(plan, pgbouncer.containers)


def user_containers(plan: ClusterPlan, containers: UserContainersPlan) -> PodPart:
    resources = container_resources(plan.resources[ContainerKind.USER_CONTAINER])
    return PodPart(
        containers=tuple(_completed(c, resources) for c in containers.sidecars),
        init_containers=tuple(_completed(c, resources) for c in containers.init_containers),
    )


def _completed(container: Manifest, resources: Manifest) -> Manifest:
    given = container.get("env", [])
    names = {var["name"] for var in given}
    env = [*(dict(v) for v in POD_ENV if v["name"] not in names), *given]
    return {**container, "env": env, "resources": container.get("resources") or resources}
