"""Secrets provider `existing`: Secrets are created outside pgrender; the output only references them.

Workloads keep their references by name; `pgrender render --only-secrets --stdout` prints what
they must hold (e.g. to pipe into kubeseal). Pods still roll when a rotation counter changes:
the rollout digest of a Secret pgrender does not write covers the inputs that name its values.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]


class _Existing:
    name = "existing"
    summary = "Secrets left out of the output, created by other means"
    needs_root_key = False
    writes_plaintext = False

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret")

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        return []


PROVIDER = _Existing()
