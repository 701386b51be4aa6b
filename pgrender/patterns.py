"""Regular expressions compiled when first used, not when their module is imported.

Measured reason (benchmarks/cold_bench.py): the spec rules' and the plan's patterns took about 4 ms
of a cold render of one cluster (100 ms), compiled at import; most check fields that a spec seldom
has (object storage buckets, label keys, pgBouncer settings, C number syntax). re's module-level
functions would defer them through re's cache too, but the call sites, the JSON Schema hints
(rules.base.ForEditors reads ``pattern``) and mypy know a compiled pattern's interface, which
this keeps. The patterns used for every object written (emit, plan.names) stay re.compile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator


class Pattern:
    """re.compile(pattern, flags), compiled at the first match."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:  # two threads may both compile it: the same pattern either way
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def match(self, string: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.match(string, pos)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        return self.compiled.fullmatch(string)

    def search(self, string: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.search(string, pos)

    def finditer(self, string: str) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(string)

    def sub(self, replacement: str | Callable[[re.Match[str]], str], string: str) -> str:
        return self.compiled.sub(replacement, string)
