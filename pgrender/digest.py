"""Content digests: SHA-256 of a canonical JSON form, so equal content gives an equal digest.

The form is ``json.dumps(value, sort_keys=True, separators=(",", ":"))``, byte for byte: digests
name Jobs and annotate pod templates, so a new form would roll every pod of every cluster once.

Where a long string lies within the top two levels of dicts and lists, those levels are written
here and the rest by json's C encoder, so that the string is escaped once for the whole render
(text_memo.py): the scripts and SQL in ConfigMaps are the same in most clusters of a fleet (65 of the
70 KB a cluster digests), and escaping them was 5% of a batch's CPU. Anything else is json's alone.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring_ascii  # what json.dumps escapes strings with (ensure_ascii)
from typing import Any

from pgrender.text_memo import TextMemo

# check_circular off: digests cover the builders' trees, which hold no cycles (one would be a bug
# either way: RecursionError then, not ValueError); the check cost 13% of a pod template's encoding.
_DUMPS = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False).encode

# Strings at least this long are escaped through the memo; shorter ones cost less to escape than to
# look up. It holds at most LONG_STRINGS_HELD bytes: the recurring ones of a fleet take about 200 KB.
LONG_STRING = 512
LONG_STRINGS_HELD = 1 << 20
# Levels that may be written here: a ConfigMap's data sits at the second ([name, data] or {"data": ...}).
LEVELS = 2


def digest(value: Any) -> bytes:
    """SHA-256 of ``value`` as JSON with sorted keys and no blanks (plain data only)."""
    return hashlib.sha256(canonical(value).encode()).digest()


def canonical(value: Any, level: int = 0) -> str:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))``."""
    kind = type(value)
    if kind is str:
        if len(value) >= LONG_STRING:
            return escaped(value)
        return encode_basestring_ascii(value)
    # A dict or list is written here only where a long string lies within the levels left: a pod
    # template holds none, and json writes it in one call at a third of the cost of a call a field.
    if level < LEVELS and _long_within(value, LEVELS - level):
        if kind is list:
            return "[" + ",".join([canonical(item, level + 1) for item in value]) + "]"
        # json turns other keys into strings first and sorts those; left to it.
        if all(type(key) is str for key in value):
            items = sorted(value.items())
            return "{" + ",".join([f"{encode_basestring_ascii(k)}:{canonical(v, level + 1)}" for k, v in items]) + "}"
    return _DUMPS(value)


def _long_within(value: Any, levels: int) -> bool:
    """Whether ``value`` is a dict or list (not a subclass: json's to write) that holds a string the
    memo takes, directly or within ``levels`` - 1 more levels of dicts and lists."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return False
    for item in value.values() if kind is dict else value:
        if type(item) is str:
            if len(item) >= LONG_STRING:
                return True
        elif levels > 1 and _long_within(item, levels - 1):
            return True
    return False


escaped = TextMemo(encode_basestring_ascii, LONG_STRINGS_HELD)
