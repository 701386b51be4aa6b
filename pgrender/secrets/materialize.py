"""Replace the SecretText templates in built objects with values from a provider."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, Protocol

from pgrender.secrets import SecretInput, SecretText

Manifest = dict[str, Any]


class Provider(Protocol):
    def value(self, item: SecretInput) -> str: ...


def inputs(manifests: list[Manifest]) -> Iterator[SecretInput]:
    """Every secret input the Secrets among ``manifests`` refer to."""
    for manifest in manifests:
        if manifest.get("kind") == "Secret":
            for value in manifest.get("data", {}).values():
                if isinstance(value, SecretText):
                    yield from value.inputs


def materialize(manifests: list[Manifest], provider: Provider) -> list[Manifest]:
    """Return the objects with every Secret's templated data filled in and base64-encoded."""
    return [_secret(m, provider) if m.get("kind") == "Secret" else m for m in manifests]


def _secret(manifest: Manifest, provider: Provider) -> Manifest:
    data = manifest.get("data", {})
    filled = {}
    for key, value in data.items():
        if isinstance(value, SecretText):
            value = "".join(p if isinstance(p, str) else provider.value(p) for p in value.parts)
            value = base64.b64encode(value.encode()).decode()
        filled[key] = value
    return {**manifest, "data": filled}
