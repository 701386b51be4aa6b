"""Provider `existing`: Secrets are created outside pgrender; the output only references them."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]


def omit(manifests: list[Manifest]) -> list[Manifest]:
    """Drop every Secret; workloads keep referring to them by name."""
    return [m for m in manifests if m["kind"] != "Secret"]


def only(manifests: list[Manifest]) -> list[Manifest]:
    """Keep only the Secrets, e.g. to pipe into kubeseal or kubectl."""
    return [m for m in manifests if m["kind"] == "Secret"]
