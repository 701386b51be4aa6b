"""patterns.Pattern answers as re.compile's pattern does, compiled at its first use."""

from __future__ import annotations

import re

import pytest

from pgrender.patterns import Pattern

CASES = [
    # pattern, flags, text
    (r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z", 0, "hippo-1"),
    (r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z", 0, "Hippo"),
    (r"[ \t]*[+-]?(?:inf(?:inity)?|nan)", re.IGNORECASE, "  -INFINITY"),
    (r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE, "a: 1\n--- \nb: 2\n---\n"),
    (r"[0-9]+", 0, "a1b22c333"),
    (r"[0-9]+", 0, ""),
]


@pytest.mark.parametrize(("pattern", "flags", "text"), CASES)
def test_pattern_answers_as_re_compile(pattern: str, flags: int, text: str) -> None:
    lazy, compiled = Pattern(pattern, flags), re.compile(pattern, flags)

    def spans(found: re.Match[str] | None) -> tuple[int, int] | None:
        return found.span() if found else None

    assert spans(lazy.match(text)) == spans(compiled.match(text))
    assert spans(lazy.match(text, 1)) == spans(compiled.match(text, 1))
    assert spans(lazy.fullmatch(text)) == spans(compiled.fullmatch(text))
    assert spans(lazy.search(text, 2)) == spans(compiled.search(text, 2))
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in compiled.finditer(text)]
    assert lazy.sub(lambda m: f"<{m[0]}>", text) == compiled.sub(lambda m: f"<{m[0]}>", text)
    assert (lazy.pattern, lazy.flags) == (pattern, flags)


def test_pattern_compiles_at_its_first_use_only() -> None:
    lazy = Pattern(r"[a-z]+")
    assert lazy._compiled is None
    assert lazy.match("abc")
    first = lazy._compiled
    assert first is not None and lazy.search("123abc") and lazy._compiled is first
