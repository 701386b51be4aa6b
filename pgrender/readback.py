"""The objects pgrender wrote, read back from their files without a YAML library, and proven by
writing them again.

Measured reason: comparing output (the guard of `render -o`/`--write`, `check`, `diff`) parses each
file that differs, on both sides. ruamel.yaml's safe loader reads about 4 MB/s (the 756 golden
files, 2.2 MB: 0.55 s), and was most of the guard's time for one changed cluster; emit.dump writes
about 70 MB/s, and reading its own lines back costs about as much.

Why this cannot change a result: `documents` reads ``text`` as emit.dump writes an object (a block
map; lists at their key's indentation; plain, double-quoted and literal scalars), then writes what
it read with emit.dump. Only a value whose text that is, byte for byte, is returned; anything
else (a hand edit, a comment, a tag, a second document) returns None, and the caller reads the file
with ruamel.yaml as before. emit.dump writes text that YAML 1.1 and 1.2 readers read back as the
value it was written from (tests/test_emit.py), so no two values have one text, and the value whose
text this is, is the one ruamel.yaml reads from it. A misreading here only costs the time of the
library's reading (tests/test_readback.py holds the two to each other).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pgrender import emit


class _NotWritten(Exception):
    """The text is not one emit.dump writes: the caller's YAML library reads it."""


def load_all(text: str) -> list[Any]:
    """The documents of ``text``: read back here when emit.dump wrote it, else by ruamel.yaml's safe
    loader (whose errors, more than YAMLError, are the caller's to catch)."""
    found = documents(text)
    if found is not None:
        return found
    from ruamel.yaml import YAML

    return list(YAML(typ="safe").load_all(text))  # a loader of its own: one keeps a list of what it read


def documents(text: str) -> list[Any] | None:
    """The one document of ``text``, an object (a map), when emit.dump wrote it exactly so; else None.

    Besides what emit.dump would not write again, None for what it writes but YAML reads otherwise
    or not at all: a line that starts like a document marker ("---", "..."), a key of 1024
    characters or more (YAML's limit of an implicit key), nesting deeper than MAX_DEPTH.
    """
    if not text.startswith(_MAP_START) or not text.endswith("\n") or "\n---" in text or "\n..." in text:
        return None
    lines = text[:-1].split("\n")
    try:
        value, end = _mapping(lines, 0, 0)
    except (_NotWritten, IndexError):
        return None
    if end != len(lines) or emit.dump(value) != text:
        return None
    return [value]


# A map's first key starts with a letter, digit or one of these, or is quoted (emit._PLAIN); not with
# "---" or "..." either.
_MAP_START = tuple('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/$"')
# Deeper than any object (a StatefulSet nests about 15 deep); deeper ones are the library's to read
# (or refuse: it recurses, twice a level).
MAX_DEPTH = 64
# YAML reads a key only within 1024 characters of its start (an implicit key's limit).
_KEY_LIMIT = 1024


def _node(lines: list[str], i: int, col: int) -> tuple[Any, int]:
    """The value whose first line is ``lines[i]`` from column ``col`` and whose other lines are
    indented by ``col`` or more; with the index of the line after it."""
    rest = lines[i][col:]
    if rest.startswith("- "):
        return _sequence(lines, i, col)
    if _key(rest) is not None:
        return _mapping(lines, i, col)
    return _value(lines, i, rest, col)


def _mapping(lines: list[str], i: int, col: int) -> tuple[dict[str, Any], int]:
    if col > 2 * MAX_DEPTH:
        raise _NotWritten
    out: dict[str, Any] = {}
    pad = " " * col
    end = len(lines)
    while True:
        found = _key(lines[i][col:])
        if found is None or found[0] in out:
            raise _NotWritten
        key, after = found
        if after:
            value, i = _value(lines, i, after, col + 2)
        else:  # the value is on the lines below: a list at this indentation, a map two further in
            i += 1
            below = lines[i]
            if below.startswith(pad) and below.startswith("- ", col):
                value, i = _sequence(lines, i, col)
            elif below.startswith(pad + "  ") and below[col + 2 : col + 3] not in ("", " ", "-"):
                value, i = _mapping(lines, i, col + 2)
            else:
                raise _NotWritten
        out[key] = value
        if i == end:
            return out, i
        line = lines[i]
        if not line.startswith(pad) or line[col : col + 1] in ("", " ") or line.startswith("- ", col):
            return out, i


def _sequence(lines: list[str], i: int, col: int) -> tuple[list[Any], int]:
    if col > 2 * MAX_DEPTH:
        raise _NotWritten
    out: list[Any] = []
    pad = " " * col
    end = len(lines)
    while True:
        value, i = _node(lines, i, col + 2)
        out.append(value)
        if i == end:
            return out, i
        line = lines[i]
        if not (line.startswith(pad) and line.startswith("- ", col)):
            return out, i


def _key(rest: str) -> tuple[str, str] | None:
    """A map entry's key and what follows its ':' ("" when the value is on the lines below)."""
    if rest.startswith('"'):
        close = _closing_quote(rest)
        if close is None:
            return None
        key, tail = _unquoted(rest[: close + 1]), rest[close + 1 :]
    else:
        colon = rest.find(": ")
        if colon < 0:
            if not rest.endswith(":"):
                return None
            colon = len(rest) - 1
        key, tail = rest[:colon], rest[colon:]
    if len(rest) - len(tail) >= _KEY_LIMIT:
        raise _NotWritten
    if tail == ":":
        return key, ""
    if tail.startswith(": ") and len(tail) > 2:
        return key, tail[2:]
    return None


def _closing_quote(text: str) -> int | None:
    """The index of the quote that ends the double-quoted scalar at the start of ``text``."""
    at = 1
    while (at := text.find('"', at)) > 0:
        before = at
        while text[before - 1] == "\\":
            before -= 1
        if (at - before) % 2 == 0:  # the quote is not escaped
            return at
        at += 1
    return None


def _value(lines: list[str], i: int, text: str, indent: int) -> tuple[Any, int]:
    """The scalar (or empty map or list) written after a key or a "- " on line ``i``; a literal block
    continues on the lines below, indented by ``indent``."""
    if text in ("|", "|-"):
        pad = " " * indent
        j = i + 1
        while j < len(lines) and (lines[j].startswith(pad) or not lines[j]):
            j += 1
        while not lines[j - 1]:  # emit writes no blank line after a block: a later line's, if any
            j -= 1
        if j == i + 1:
            raise _NotWritten
        body = "\n".join(line[indent:] for line in lines[i + 1 : j])
        return body + ("\n" if text == "|" else ""), j
    return _scalar(text), i + 1


_WORDS: dict[str, Any] = {
    "null": None, "true": True, "false": False, ".inf": math.inf, "-.inf": -math.inf, ".nan": math.nan,
}  # fmt: skip


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        if len(text) < 2 or _closing_quote(text) != len(text) - 1:
            raise _NotWritten
        return _unquoted(text)
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text in _WORDS:
        return _WORDS[text]
    if text[0] in "0123456789-.":
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):  # emit writes .inf and .nan: "-inf" is a string to YAML
                raise _NotWritten
            return number
    return text


# What emit._quoted escapes, and how (a printable character is never escaped; a surrogate is
# never written, so one escaped is not read here).
_ESCAPE = re.compile(r'\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|["\\ntr])')
_ESCAPED = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _unquoted(text: str) -> str:
    inner = text[1:-1]
    return _ESCAPE.sub(_unescape, inner) if "\\" in inner else inner


def _unescape(match: re.Match[str]) -> str:
    escape = match.group(1)
    if len(escape) == 1:
        return _ESCAPED[escape]
    code = int(escape[1:], 16)
    if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise _NotWritten
    return chr(code)
