"""Keep Flux post-build substitution away from text that merely looks like a variable."""

from __future__ import annotations

from pgrender import emit

SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"


def emit_protected(manifest: emit.Manifest) -> emit.Document:
    """Emit an object, annotated so Flux leaves it as written when its text holds "${".

    Flux rewrites ${var} in every object once a Kustomization has variables, and since
    kustomize-controller 1.9 fails on an undefined one; a user's pg_hba comment or parameter
    must not become either. The written text is what Flux reads, so that is what is checked.
    """
    text = emit.dump(manifest)
    if "${" not in text:
        return emit.Document(manifest, text)
    meta = manifest["metadata"]
    annotations = {**meta.get("annotations", {}), SUBSTITUTE: "disabled"}
    protected = {**manifest, "metadata": {**meta, "annotations": annotations}}
    return emit.Document(protected, emit.dump(protected))
