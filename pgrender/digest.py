"""Content digests: SHA-256 of a canonical JSON form, so equal content gives an equal digest."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(value: Any) -> bytes:
    """SHA-256 of ``value`` as JSON with sorted keys and no blanks (plain data only)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).digest()
