"""Pod parts shared by several builders: object metadata, security contexts, secret volumes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.plan import defaults

if TYPE_CHECKING:
    from pgrender.plan import ClusterPlan

Manifest = dict[str, Any]

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def object_meta(
    plan: ClusterPlan, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> Manifest:
    """metadata of a namespaced object: the cluster's labels and annotations under pgrender's own."""
    meta: Manifest = {"name": name, "namespace": plan.namespace, "labels": plan.labels_for(labels)}
    merged = {**plan.user_annotations, **(annotations or {})}
    if merged:
        meta["annotations"] = merged
    return meta


def pod_security_context(plan: ClusterPlan) -> Manifest:
    """Pod-level half of the restricted profile; fsGroup makes mounted Secrets group-readable."""
    return {
        "fsGroup": plan.fs_group,
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsGroup": plan.run_as_group,
        "runAsNonRoot": True,
        "runAsUser": plan.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Manifest:
    """Container-level half of the restricted profile (a fresh copy per container)."""
    ctx = dict(defaults.RESTRICTED_SECURITY_CONTEXT)
    ctx["capabilities"] = {"drop": ["ALL"]}
    ctx["seccompProfile"] = {"type": "RuntimeDefault"}
    return ctx


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


TLS_ITEMS = [("tls.crt", "tls.crt"), ("tls.key", "tls.key"), ("ca.crt", "ca.crt")]
