"""Keep Flux post-build substitution away from text that merely looks like a variable."""

from __future__ import annotations

import json
from typing import Any

Manifest = dict[str, Any]

SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"


def protect_substitution(manifests: list[Manifest]) -> list[Manifest]:
    """Annotate objects holding "${" so Flux leaves them as written.

    Flux rewrites ${var} in every object once a Kustomization has variables, and since
    kustomize-controller 1.9 fails on an undefined one; a user's pg_hba comment or parameter
    must not become either.
    """
    out = []
    for manifest in manifests:
        if "${" in json.dumps(manifest):
            meta = manifest["metadata"]
            manifest = {
                **manifest,
                "metadata": {**meta, "annotations": {**meta.get("annotations", {}), SUBSTITUTE: "disabled"}},
            }
        out.append(manifest)
    return out
