"""Pod parts shared by several builders: metadata, scheduling, security contexts, secret volumes, and
the copies of an object in other namespaces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.frozen import frozen
from pgrender.plan import defaults
from pgrender.plan.labels import CLUSTER_NAMESPACE_ANNOTATION

if TYPE_CHECKING:
    from pgrender.plan import ClusterPlan, ComponentMeta, PlacementPlan, ResourcesPlan, SchedulingPlan

Manifest = dict[str, Any]

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def object_meta(
    plan: ClusterPlan,
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    component: ComponentMeta | None = None,
) -> Manifest:
    """metadata of a namespaced object: cluster, then component, then pgrender's labels."""
    meta: Manifest = {"name": name, "namespace": plan.namespace, "labels": plan.labels_for(labels, component)}
    merged = plan.annotations_for(annotations or {}, component)
    if merged:
        meta["annotations"] = merged
    return meta


def scheduling_fields(scheduling: SchedulingPlan) -> Manifest:
    """The pod spec fields that decide placement; absent fields stay absent."""
    from pgrender.spec.rules.scheduling import AntiAffinity

    fields = placement_fields(scheduling)
    term = {
        "labelSelector": {"matchLabels": dict(scheduling.anti_affinity_selector)},
        "topologyKey": scheduling.anti_affinity_key,
    }
    anti: Manifest | None = None
    if scheduling.anti_affinity == AntiAffinity.PREFERRED:
        weighted = {"weight": scheduling.anti_affinity_weight, "podAffinityTerm": term}
        anti = {"preferredDuringSchedulingIgnoredDuringExecution": [weighted]}
    elif scheduling.anti_affinity == AntiAffinity.REQUIRED:
        anti = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    if anti:
        fields["affinity"] = {**fields.get("affinity", {}), "podAntiAffinity": anti}
    if scheduling.topology_spread:
        fields["topologySpreadConstraints"] = [dict(c) for c in scheduling.topology_spread]
    return fields


def placement_fields(placement: PlacementPlan) -> Manifest:
    """The pod spec fields that choose nodes and priority; absent fields stay absent."""
    fields: Manifest = {}
    if placement.node_affinity:
        fields["affinity"] = {"nodeAffinity": placement.node_affinity}
    if placement.tolerations:
        fields["tolerations"] = [dict(t) for t in placement.tolerations]
    if placement.node_selector:
        fields["nodeSelector"] = dict(placement.node_selector)
    if placement.priority_class:
        fields["priorityClassName"] = placement.priority_class
    return fields


def pod_security_context_for(run_as_user: int | None, run_as_group: int | None, fs_group: int | None) -> Manifest:
    """Pod-level half of the restricted profile; fsGroup makes mounted Secrets group-readable. An id
    that is None (spec.openshift) is left out, for OpenShift's SCC to assign."""
    ids = {"fsGroup": fs_group, "runAsGroup": run_as_group, "runAsUser": run_as_user}
    return {
        **{key: value for key, value in ids.items() if value is not None},
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(plan: ClusterPlan) -> Manifest:
    """The database image's user (image contract)."""
    return pod_security_context_for(plan.run_as_user, plan.run_as_group, plan.fs_group)


def pull_secrets(plan: ClusterPlan) -> Manifest:
    """spec.imagePullSecrets, for every pod pgrender writes; without any, the field is left out."""
    if not plan.image_pull_secrets:
        return {}
    return {"imagePullSecrets": [{"name": name} for name in plan.image_pull_secrets]}


def job_pod_fields(plan: ClusterPlan) -> Manifest:
    """What every Job pod pgrender writes has: run once (a failed pod is a new pod, which mounts the
    newest configuration), no service account token, no service links, the image's user."""
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(plan),
        **pull_secrets(plan),
    }


def container_security_context() -> Manifest:
    """Container-level half of the restricted profile (a fresh copy per container)."""
    ctx = dict(defaults.RESTRICTED_SECURITY_CONTEXT)
    ctx["capabilities"] = {"drop": ["ALL"]}
    ctx["seccompProfile"] = {"type": "RuntimeDefault"}
    return ctx


def container_resources(resources: ResourcesPlan) -> Manifest:
    """A container's ``resources``, as the plan decided them (plan/resources.py): every container's."""
    requests = {"cpu": resources.cpu, "memory": resources.memory}
    limits = {"memory": resources.memory_limit}
    if resources.cpu_limit:
        limits["cpu"] = resources.cpu_limit
    if resources.ephemeral_storage:
        requests["ephemeral-storage"] = resources.ephemeral_storage
    if resources.ephemeral_storage_limit:
        limits["ephemeral-storage"] = resources.ephemeral_storage_limit
    return {"requests": requests, "limits": limits}


def secret_volume(volume: str, sources: list[tuple[str, list[tuple[str, str]]]]) -> Manifest:
    """A projected volume of Secret keys (secret name, [(key, path)]), with key-safe file modes."""
    return {
        "name": volume,
        "projected": {
            "defaultMode": defaults.SECRET_FILE_MODE,
            "sources": [
                {"secret": {"name": secret, "items": [{"key": k, "path": p} for k, p in items]}}
                for secret, items in sources
            ],
        },
    }


def empty_dir(volume: str, medium: str | None = None, size_limit: str | None = None) -> Manifest:
    spec: Manifest = {}
    if medium:
        spec["medium"] = medium
    if size_limit:
        spec["sizeLimit"] = size_limit
    return {"name": volume, "emptyDir": spec}


@frozen
class PodPart:
    """What one concern adds to a pod; mounts and env go to the pod's main container."""

    volumes: tuple[Manifest, ...] = ()
    mounts: tuple[Manifest, ...] = ()
    env: tuple[Manifest, ...] = ()
    containers: tuple[Manifest, ...] = ()  # sidecars, after the main container
    init_containers: tuple[Manifest, ...] = ()
    pod_fields: tuple[tuple[str, Any], ...] = ()  # fields of the pod spec itself (shareProcessNamespace)


def assemble(parts: list[PodPart]) -> PodPart:
    """All parts joined, in registration order."""
    return PodPart(
        volumes=tuple(v for p in parts for v in p.volumes),
        mounts=tuple(m for p in parts for m in p.mounts),
        env=tuple(e for p in parts for e in p.env),
        containers=tuple(c for p in parts for c in p.containers),
        init_containers=tuple(c for p in parts for c in p.init_containers),
        pod_fields=tuple(f for p in parts for f in p.pod_fields),
    )


def apply(pod: Manifest, part: PodPart) -> Manifest:
    """A pod spec whose first container is the main one, with ``part`` added."""
    main, *others = pod["containers"]
    main = {**main, "volumeMounts": [*main.get("volumeMounts", []), *part.mounts]}
    if part.env:
        main["env"] = [*main.get("env", []), *part.env]
    out = {**pod, "containers": [main, *others, *part.containers], "volumes": [*pod.get("volumes", []), *part.volumes]}
    if part.init_containers:
        out["initContainers"] = [*pod.get("initContainers", []), *part.init_containers]
    out.update(part.pod_fields)
    return out


def in_namespaces(manifest: Manifest, namespaces: tuple[str, ...]) -> list[Manifest]:
    """``manifest`` and a copy of it in each of ``namespaces`` (users[].secretNamespaces): the same keys
    and values, the cluster's namespace named on each copy."""
    meta = manifest["metadata"]
    copies = []
    for namespace in namespaces:
        annotations = {**meta.get("annotations", {}), CLUSTER_NAMESPACE_ANNOTATION: meta["namespace"]}
        copies.append({**manifest, "metadata": {**meta, "namespace": namespace, "annotations": annotations}})
    return [manifest, *copies]
