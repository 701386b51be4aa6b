"""--only-secrets: keep just the Secrets, e.g. to pipe into kubeseal or kubectl."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]


def only_secrets(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Every Secret when the request asks for only those; otherwise everything."""
    if not context.only_secrets:
        return manifests
    return [m for m in manifests if m["kind"] == "Secret"]
