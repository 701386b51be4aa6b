"""Secret values filled in: each SecretText template becomes base64 text from the provider's values."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from pgrender.plan.labels import CA_ANNOTATION
from pgrender.secrets import SecretInput, SecretText, cluster_ca

if TYPE_CHECKING:
    from pgrender.providers import Values
    from pgrender.transforms import Context

Manifest = dict[str, Any]


def materialize_secrets(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Fill in every Secret's templated data, when the secrets provider writes values."""
    values = context.values
    if values is None:
        return manifests
    own_ca = cluster_ca(context.plan.tls)
    return [_filled(m, values, own_ca) if m["kind"] == "Secret" else m for m in manifests]


def _filled(manifest: Manifest, values: Values, own_ca: SecretInput) -> Manifest:
    """The Secret with its values; one that holds the cluster's CA names its key (CA_ANNOTATION; not a
    direct clone's Secret with its source's CA)."""
    filled, ca = {}, False
    for key, value in manifest.get("data", {}).items():
        if isinstance(value, SecretText):
            ca = ca or own_ca in value.inputs
            text = "".join(p if isinstance(p, str) else values.value(p) for p in value.parts)
            value = base64.b64encode(text.encode()).decode()
        filled[key] = value
    if not ca:
        return {**manifest, "data": filled}
    meta = manifest["metadata"]
    annotations = {**meta.get("annotations", {}), CA_ANNOTATION: values.ca_key_identifier()}
    return {**manifest, "metadata": {**meta, "annotations": annotations}, "data": filled}
