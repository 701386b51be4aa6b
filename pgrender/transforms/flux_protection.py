"""Keep Flux post-build substitution away from text that merely looks like a variable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender import emit

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]

SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"
# Flux rewrites ${var} (and fails on an undefined one since kustomize-controller 1.9) and turns
# "$$" into "$" in every object of a Kustomization that has any variable: a user's pg_hba comment
# or parameter, or the $$-quoted SQL function bodies pgrender writes, would change.
MARKERS = ("${", "$$")


def flux_protection(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Annotate every object whose text holds "${" or "$$" so Flux leaves it as written; the last
    step before emit, so the text it reads is the text written (emit.text keeps it)."""
    return [_protected(m) if _marked(m) else m for m in manifests]


def _marked(manifest: Manifest) -> bool:
    """Whether the written text holds a marker: that is what Flux reads (emit keeps the text)."""
    written = emit.text(manifest)
    # One scan for "$" first: most objects have none, and each marker was a scan of its own.
    return "$" in written and any(marker in written for marker in MARKERS)


def _protected(manifest: Manifest) -> Manifest:
    meta = manifest["metadata"]
    return {**manifest, "metadata": {**meta, "annotations": {**meta.get("annotations", {}), SUBSTITUTE: "disabled"}}}
