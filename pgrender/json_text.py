"""indented(value): ``json.dumps(value, indent=2, sort_keys=...)``, byte for byte, leaving no garbage.

Written here, around json, for a measured reason: json.dumps with an indent runs json's Python
encoder (its C encoder has no indent), whose nested functions refer to each other, so every call
leaves a reference cycle of about 1.8 KB that only the collector frees. A render runs the collector
rarely (tuning.tuned), and at fleet scale the cycles of one reconcile ConfigMap a cluster held 4 MB
of a 3000-cluster render's peak (tracemalloc: they piled up until the collector ran, at the 2048th
cluster). Only the containers are walked here: every key and scalar is still written by json.dumps
(its C encoder, no cycle), so quoting, escapes and number forms are json's own.
"""

from __future__ import annotations

import json
from typing import Any


class _NotPlain(Exception):
    """A key json would convert (a number, a bool, None): json.dumps itself writes the value."""


def indented(value: Any, sort_keys: bool = False) -> str:
    """``json.dumps(value, indent=2, sort_keys=sort_keys)``."""
    try:
        return _text(value, "\n", sort_keys)
    except _NotPlain:
        return json.dumps(value, indent=2, sort_keys=sort_keys)


def _text(value: Any, newline: str, sort_keys: bool) -> str:
    """``value`` at the indentation ``newline`` carries (a line break and the blanks after it)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        if not all(isinstance(key, str) for key in value):
            raise _NotPlain
        inner = newline + "  "
        items = sorted(value.items()) if sort_keys else value.items()
        body = ",".join(f"{inner}{json.dumps(k)}: {_text(v, inner, sort_keys)}" for k, v in items)
        return f"{{{body}{newline}}}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + ",".join(inner + _text(v, inner, sort_keys) for v in value) + newline + "]"
    return json.dumps(value)
