"""`pgrender lint`'s guard against overlays that rename or move rendered objects.

A kustomize overlay's `namespace:`, `namePrefix:` or `nameSuffix:`, or Flux's `targetNamespace`,
changes metadata.name and metadata.namespace, and kustomize follows the references it knows
(volumes, selectors, role bindings). It cannot follow the names pgrender bakes into text:
patroni.yaml's namespace, pgbouncer.ini's host, the Jobs' PGHOST, the user Secrets' URIs, the
certificates' SANs. The output builds and validates, and the cluster never starts.

Every cluster's Patroni ConfigMap (<cluster>-config, carrying the cluster label) holds the
namespace it was rendered for in patroni.yaml; its own name follows from that label. When either
differs from the object's metadata, the output was renamed or moved after rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender import load
from pgrender.errors import Problem, SpecError
from pgrender.frozen import frozen
from pgrender.plan import defaults, labels

FIX_NAMESPACE = (
    "render the spec for that namespace instead (metadata.namespace, --namespace or `namespace` in "
    "pgrender.yaml; one spec per environment) and drop `namespace:`/`targetNamespace` from the overlay"
)
FIX_NAME = (
    "give the cluster its name in the spec instead (one spec per environment) and drop "
    "namePrefix/nameSuffix from the overlay"
)
BAKED_IN = "patroni.yaml, pgbouncer.ini, the Jobs' PGHOST, the user Secrets' URIs and the certificates' SANs"


def config_map_name(cluster: str) -> str:
    """The Patroni ConfigMap's name, the same under every naming profile (plan.names.Names.config_map)."""
    return f"{cluster}-config"


@frozen
class Seen:
    """An object as lint read it: its file, its ident (Kind/name), the object, and where each of
    its fields is in the file (load.Document.position)."""

    file: str
    ident: str
    obj: dict[str, Any]
    position: Callable[[tuple[str, ...]], tuple[int, int]]


def renamed(objects: list[Seen]) -> list[Problem]:
    """Problems for every cluster whose output was renamed or moved."""
    problems = []
    for seen in objects:
        file, ident, obj = seen.file, seen.ident, seen.obj
        baked = _rendered_as(obj)
        if baked is None:
            continue
        cluster, namespace = baked
        meta = obj["metadata"]
        if meta.get("namespace") != namespace:
            problems.append(
                Problem(
                    file,
                    *seen.position(("metadata", "namespace")),
                    f"{ident}.metadata.namespace",
                    f"cluster {cluster} was rendered for namespace {namespace!r} but its output is in "
                    f"{meta.get('namespace')!r} (moved by an overlay's namespace: or Flux's targetNamespace?): "
                    f"{BAKED_IN} still name {namespace!r}, so the cluster cannot start; {FIX_NAMESPACE}",
                )
            )
        if meta.get("name") != config_map_name(cluster):
            problems.append(
                Problem(
                    file,
                    *seen.position(("metadata", "name")),
                    f"{ident}.metadata.name",
                    f"cluster {cluster}'s objects were renamed ({config_map_name(cluster)!r} is now "
                    f"{meta.get('name')!r}: an overlay's namePrefix or nameSuffix?): {BAKED_IN} still name "
                    f"the objects as rendered, so the cluster cannot start; {FIX_NAME}",
                )
            )
    return problems


def _rendered_as(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(cluster, namespace) a Patroni ConfigMap was rendered for, or None for any other object."""
    meta = obj.get("metadata")
    data = obj.get("data")
    if obj.get("kind") != "ConfigMap" or not isinstance(meta, dict) or not isinstance(data, dict):
        return None
    object_labels = meta.get("labels")
    if not isinstance(object_labels, dict) or object_labels.get(labels.MANAGED_BY_LABEL) != "pgrender":
        return None
    cluster = object_labels.get(labels.CLUSTER_LABEL)
    text = data.get(defaults.PATRONI_CONFIG_FILE)
    if not isinstance(cluster, str) or not isinstance(text, str):
        return None
    try:
        (document,) = load.load_bytes(text.encode(), defaults.PATRONI_CONFIG_FILE)
    except (SpecError, ValueError):  # not one readable document: not pgrender's patroni.yaml
        return None
    patroni = document.data
    kubernetes = patroni.get("kubernetes") if isinstance(patroni, dict) else None
    namespace = kubernetes.get("namespace") if isinstance(kubernetes, dict) else None
    return (cluster, namespace) if isinstance(namespace, str) else None
