"""The secrets provider's objects stand in place of the Secrets (kept, dropped or replaced)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.providers import hand_over

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]


def secret_objects(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Hand every Secret the secrets provider owns to it; what it returns takes their place."""
    return hand_over(context.secrets, manifests)
