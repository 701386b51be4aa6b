"""Each member's pod template carries its own digest, and the reconcile Job knows every member's.

The member StatefulSets are ``OnDelete``: applying a new template replaces no pod. The reconcile
Job replaces the pods whose ``pgrender.io/template-digest`` differs from the one it was rendered
with, one at a time, replicas first. Its name takes the digests in, so every template change is a
new Job, which runs once (Kubernetes never reruns a finished Job, and a Job's template cannot
change under its name).

A transform, not part of the builders, because the digest must cover the finished template: the
rollout digests of the ConfigMaps and Secrets it mounts are added by the transform before this one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.digest import digest

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]

TEMPLATE_DIGEST = "pgrender.io/template-digest"
REVISIONS_ENV = "PGRENDER_MEMBER_REVISIONS"


def member_revisions(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Stamp each member StatefulSet's template with its digest; tell the reconcile Job."""
    plan = context.plan
    pods = {instance.name: instance.pod for instance in plan.instances}
    revisions: dict[str, str] = {}
    stamped = []
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        if manifest["kind"] == "StatefulSet" and name in pods:
            manifest, revisions[name] = _stamped(manifest)
        stamped.append(manifest)
    value = " ".join(f"{name}/{pods[name]}={revision}" for name, revision in sorted(revisions.items()))
    return [
        _told(m, plan.names.reconcile_job, value)
        if m["kind"] == "Job" and plan.names.is_reconcile_job(m["metadata"]["name"])
        else m
        for m in stamped
    ]


def _stamped(statefulset: Manifest) -> tuple[Manifest, str]:
    template = statefulset["spec"]["template"]
    revision = digest(template).hex()[:16]
    annotations = {**template["metadata"].get("annotations", {}), TEMPLATE_DIGEST: revision}
    template = {**template, "metadata": {**template["metadata"], "annotations": annotations}}
    return {**statefulset, "spec": {**statefulset["spec"], "template": template}}, revision


def _told(job: Manifest, job_name: Any, revisions: str) -> Manifest:
    template = job["spec"]["template"]
    (container,) = template["spec"]["containers"]
    container = {**container, "env": [*container["env"], {"name": REVISIONS_ENV, "value": revisions}]}
    template = {**template, "spec": {**template["spec"], "containers": [container]}}
    name = job_name(digest([job["metadata"]["name"], revisions]).hex())
    return {**job, "metadata": {**job["metadata"], "name": name}, "spec": {**job["spec"], "template": template}}
