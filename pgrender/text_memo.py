"""What a function wrote from a long string, kept for the rest of the render, within a byte budget.

The scripts and SQL in a fleet's ConfigMaps are the same in most clusters, and escaping them for a
digest (digest.py) or indenting them for YAML (emit.py) is done once. A count of entries bounds
nothing: a written form grows with escaping (an emoji is 12 bytes as JSON) and indentation, and 32
entries could hold 180 MB. So the bytes of what is held (sys.getsizeof of the string and of what
was written from it) are counted, and the least recently used go first.

Written here rather than taken from cachetools, whose LRUCache takes a getsizeof: importing it costs
5.6 ms (it imports random), 3% of a cold render, which every render would pay.
"""

from __future__ import annotations

import sys
from _thread import allocate_lock  # not threading: nothing more to import
from collections.abc import Callable


class TextMemo:
    """``make(text, *more)``'s result for each ``(text, *more)``, the last used held, at most
    ``budget`` bytes of text and result together; what is larger is made and not held."""

    def __init__(self, make: Callable[..., str], budget: int) -> None:
        self._make = make
        self._budget = budget
        self._held: dict[tuple[object, ...], str] = {}  # least recently used first
        self._bytes = 0
        self.hits = self.misses = 0
        # A render calls it from one thread; the lock keeps the count of bytes true for any caller.
        self._lock = allocate_lock()

    def __call__(self, text: str, *more: object) -> str:
        key = (text, *more)
        held = self._held
        with self._lock:
            found = held.pop(key, None)
            if found is not None:
                held[key] = found  # now the last used
                self.hits += 1
                return found
            self.misses += 1
        made = self._make(text, *more)
        size = _size(key, made)
        if size <= self._budget:
            with self._lock:
                if key not in held:
                    while self._bytes + size > self._budget:
                        oldest = next(iter(held))
                        self._bytes -= _size(oldest, held.pop(oldest))
                    held[key] = made
                    self._bytes += size
        return made

    def __len__(self) -> int:
        return len(self._held)

    @property
    def bytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._bytes = 0
            self.hits = self.misses = 0


def _size(key: tuple[object, ...], made: str) -> int:
    return sys.getsizeof(key[0]) + sys.getsizeof(made)
