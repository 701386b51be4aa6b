"""The TLS provider's objects stand in place of the certificate Secrets the builders made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.providers import hand_over
from pgrender.tls import bound

if TYPE_CHECKING:
    from pgrender.transforms import Context

Manifest = dict[str, Any]


def tls_objects(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Hand the objects the TLS provider owns to it (bound to the cluster's plan, when its objects
    need the plan); what it returns takes their place."""
    return hand_over(bound(context.tls, context.plan), manifests)
