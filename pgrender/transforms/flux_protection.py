"""Keep Flux post-build substitution away from text that merely looks like a variable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]

SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"
# Flux rewrites ${var} (and fails on an undefined one since kustomize-controller 1.9) and turns
# "$$" into "$" in every object of a Kustomization that has any variable: a user's pg_hba comment
# or parameter, or the $$-quoted SQL function bodies pgrender writes, would change.
MARKERS = ("${", "$$")


def flux_protection(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Annotate every object whose text holds "${" or "$$" so Flux leaves it as written.

    Strings are checked one by one: YAML never joins two strings into one run of text, so a
    marker in the written file is a marker in one of the object's keys or values.
    """
    return [_protected(m) if _marked(m) else m for m in manifests]


def _marked(node: Any) -> bool:
    if isinstance(node, str):
        return any(marker in node for marker in MARKERS)
    if isinstance(node, dict):
        return any(_marked(k) or _marked(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_marked(item) for item in node)
    return False


def _protected(manifest: Manifest) -> Manifest:
    meta = manifest["metadata"]
    return {**manifest, "metadata": {**meta, "annotations": {**meta.get("annotations", {}), SUBSTITUTE: "disabled"}}}
