"""Pod-template digests of the ConfigMaps and Secrets a workload mounts, so changes roll its pods.

Where pod templates sit in each kind, and where a pod spec names a ConfigMap or Secret, are
tables (kustomize's namereference is the model): a new workload kind or reference field is one
line. Jobs are left out: a Job's template is immutable, so pgrender names Jobs by their content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pgrender.digest import digest
from pgrender.secrets import SecretInput, SecretText

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]

CONFIG_DIGEST = "pgrender.io/config-digest"
SECRETS_DIGEST = "pgrender.io/secrets-digest"

# kind → path from the object to its pod template
POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "StatefulSet": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
# (referenced kind, path from the pod spec to its name; "*" walks every item of a list)
_CONTAINER_REFERENCES = (
    ("Secret", ("env", "*", "valueFrom", "secretKeyRef", "name")),
    ("ConfigMap", ("env", "*", "valueFrom", "configMapKeyRef", "name")),
    ("Secret", ("envFrom", "*", "secretRef", "name")),
    ("ConfigMap", ("envFrom", "*", "configMapRef", "name")),
)
POD_REFERENCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ConfigMap", ("volumes", "*", "configMap", "name")),
    ("Secret", ("volumes", "*", "secret", "secretName")),
    ("ConfigMap", ("volumes", "*", "projected", "sources", "*", "configMap", "name")),
    ("Secret", ("volumes", "*", "projected", "sources", "*", "secret", "name")),
    *(
        (kind, (containers, "*", *path))
        for containers in ("initContainers", "containers")
        for kind, path in _CONTAINER_REFERENCES
    ),
)
DIGEST_ANNOTATIONS = (("ConfigMap", CONFIG_DIGEST), ("Secret", SECRETS_DIGEST))


def rollout_digests(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Add digest annotations to every workload's pod template.

    Digests cover the finished objects (after values are filled in), so a new certificate or a
    changed patroni.yaml changes the template and the pods restart to load it. A Secret whose
    values pgrender does not write (provider `existing`) is digested by the inputs that name its
    values, so bumping a rotation counter still rolls the pods. A digest reveals nothing of a key.
    ConfigMap keys the plan applies live (``ClusterPlan.applied_live``) are left out. When the values
    are written but not in plaintext (provider `sealed`: the output is committed), a Secret's digest is
    keyed by the root key (``Values.keyed_digest``), so it tells nothing of them.
    """
    live = context.plan.applied_live
    values = context.values
    keyed = values.keyed_digest if values is not None and not context.secrets.writes_plaintext else None
    digests = {
        (m["kind"], m["metadata"]["name"]): _digest(m, live, keyed)
        for m in manifests
        if m["kind"] in ("ConfigMap", "Secret")
    }
    return [_annotated(m, POD_TEMPLATES[m["kind"]], digests) if m["kind"] in POD_TEMPLATES else m for m in manifests]


def _digest(obj: Manifest, live: frozenset[tuple[str, str]], keyed: Callable[[bytes], bytes] | None = None) -> bytes:
    name = obj["metadata"]["name"]
    data = obj.get("data", {})
    if obj["kind"] == "ConfigMap" and any((name, key) in live for key in data):
        data = {key: value for key, value in data.items() if (name, key) not in live}
    if any(isinstance(v, SecretText) for v in data.values()):
        data = {key: _template(value) for key, value in data.items()}
    other = {field: obj[field] for field in ("binaryData", "stringData") if field in obj}
    out = digest([name, data, other] if other else [name, data])
    return keyed(out) if keyed is not None and obj["kind"] == "Secret" else out


def _template(value: Any) -> Any:
    if not isinstance(value, SecretText):
        return value
    return [p if isinstance(p, str) else _input(p) for p in value.parts]


def _input(item: SecretInput) -> list[Any]:
    return [item.material.value, item.subject, item.rotation, item.uri_quoted]


def _annotated(workload: Manifest, path: tuple[str, ...], digests: dict[tuple[str, str], bytes]) -> Manifest:
    *outer, last = path
    parents = [workload]
    for key in outer:
        parents.append(parents[-1][key])
    template = parents[-1][last]
    refs = sorted(set(references(template["spec"])))
    annotations = dict(template["metadata"].get("annotations", {}))
    for kind, key in DIGEST_ANNOTATIONS:
        found = [digests[(k, name)] for k, name in refs if k == kind and (k, name) in digests]
        if found:
            annotations[key] = hashlib.sha256(b"".join(found)).hexdigest()[:16]
    replaced: Any = {**template, "metadata": {**template["metadata"], "annotations": annotations}}
    for parent, key in zip(reversed(parents), reversed(path), strict=True):  # copy on the way up
        replaced = {**parent, key: replaced}
    result: Manifest = replaced
    return result


def references(pod: Manifest) -> Iterator[tuple[str, str]]:
    """Every (kind, name) of a ConfigMap or Secret that ``pod`` refers to."""
    for kind, path in POD_REFERENCES:
        for name in _walk(pod, path):
            yield kind, name


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[str]:
    if not path:
        if isinstance(node, str):
            yield node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else ():
            yield from _walk(item, rest)
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest)
