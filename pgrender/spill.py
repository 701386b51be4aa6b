"""What a render keeps of every cluster until its end (the claims registry's names and places, the
finished clusters' names and digests), in memory while it is small and in anonymous temporary files
past IN_MEMORY bytes, read and written a few records at a time: a fleet's render holds a bounded
amount whatever its number of clusters, as its text does (write.TextSpool).

Written here rather than taken from the standard library's sqlite3, the one that owns a keyed table
on disk: importing sqlite3 costs 5.7 ms, a tenth of a one-cluster render, which every render would
pay (the stores start in memory, and a one-cluster render never leaves it). A new key costs about
the same either way: 4 us in sqlite3 (INSERT OR IGNORE), 4 us here in memory and 7 in a file
(87000 keys, a 3000-cluster fleet's claims). shelve and dbm hold values by string key with a backend
that differs per machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from hashlib import blake2b
from itertools import islice, pairwise
from struct import Struct
from typing import IO

RUN = 4096  # strings sorted_strings() sorts in memory at a time

# Bytes a store holds in memory before it moves to a file. A render has about ten stores, so this
# bounds what they hold to well under a megabyte; a fleet's render moves them to files past about
# 50 clusters (the claims' map first).
IN_MEMORY = 64 * 1024


class Records:
    """Records of ``size`` bytes, numbered from 0; one never written reads as zeros. In a bytearray
    up to IN_MEMORY bytes, then in a file of no name, mode 0600 (tempfile), through os.pread and
    os.pwrite, which leave nothing in this process: the kernel caches the pages. Where no file can be
    made (a read-only /tmp, as in some Argo CD plugin sidecars) the records stay in memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.end = 0  # bytes up to the end of the last record written
        self._memory: bytearray | None = bytearray()  # None once in the file
        self._file: IO[bytes] | None = None
        self._no_file = False  # none could be made: in memory for good, not tried at every write

    def __len__(self) -> int:
        return self.end // self.size

    def read(self, first: int, count: int = 1) -> bytes:
        """Records ``first`` to ``first + count - 1``, as one string of bytes."""
        start, length = first * self.size, count * self.size
        if self._memory is not None:
            data = bytes(self._memory[start : start + length])
        else:
            assert self._file is not None
            data = os.pread(self._file.fileno(), length, start)
        return data if len(data) == length else data + bytes(length - len(data))

    def write(self, first: int, data: bytes) -> None:
        """``data`` (whole records) as records ``first`` onwards."""
        start = first * self.size
        end = start + len(data)
        if self._memory is not None and end > IN_MEMORY and not self._no_file:
            self._to_file()
        if self._memory is not None:
            if end > len(self._memory):
                self._memory.extend(bytes(end - len(self._memory)))
            self._memory[start:end] = data
        else:
            assert self._file is not None
            if os.pwrite(self._file.fileno(), data, start) != len(data):
                raise OSError(f"a short write to a temporary file ({self._file.name})")
        self.end = max(self.end, end)

    def append(self, data: bytes) -> int:
        """``data`` as the records after the last; the number of its first."""
        first = len(self)
        self.write(first, data)
        return first

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._memory, self._file = bytearray(), None
        self.end = 0

    def _to_file(self) -> None:
        import tempfile

        assert self._memory is not None
        try:
            # Closed by close(), or with this object when a render stops early. Unbuffered: read and
            # written by offset only, so a buffer (8 KiB a store) would hold nothing.
            self._file = tempfile.TemporaryFile(prefix="pgrender-", buffering=0)  # noqa: SIM115
        except OSError:
            self._no_file = True
            return
        memory, self._memory = self._memory, None
        self.write(0, bytes(memory))


class Texts:
    """Strings appended and read back by number: their UTF-8 one after another, and where each ends."""

    _END = Struct("<Q")

    def __init__(self) -> None:
        self._bytes = Records(1)
        self._ends = Records(self._END.size)

    def __len__(self) -> int:
        return len(self._ends)

    def __iter__(self) -> Iterator[str]:
        return (self[number] for number in range(len(self)))

    def append(self, text: str) -> int:
        data = text.encode("utf-8", "surrogatepass")
        self._bytes.append(data)
        return self._ends.append(self._END.pack(self._bytes.end))

    def __getitem__(self, number: int) -> str:
        if not 0 <= number < len(self):
            raise IndexError(number)
        (start,) = self._END.unpack(self._ends.read(number - 1)) if number else (0,)
        (end,) = self._END.unpack(self._ends.read(number))
        return self._bytes.read(start, end - start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._bytes.close()
        self._ends.close()


class DigestMap:
    """A map from strings to 32-bit numbers that holds each string as its 128-bit BLAKE2b digest:
    open addressing, linear probing, a sixth to two thirds full, in Records of 20 bytes a slot,
    read PROBE slots at a time. A new key costs about 7 us with the table in a file and 4 in memory
    (87000 keys; the arrays in memory this replaced, 1.7): 0.2 ms of a fleet's 10 ms a cluster.

    Two strings with one digest would read as one: at 2**-128 a pair, not in any run's lifetime;
    the claims registry would then report a clash that is not there (the render stops), never miss
    one that is.
    """

    _SLOT = Struct("<QQI")  # the digest's two halves (the first never 0: 0 is an empty slot), the number
    PROBE = 16  # slots read at a time: a lookup at most two thirds full reads 1 to 3 on average

    def __init__(self) -> None:
        self._count = 0
        self._slots = 1 << 6  # 1.3 KB: a one-cluster render claims about 28 names
        self._table = Records(self._SLOT.size)

    def setdefault(self, key: str, value: int) -> int:
        """The number held for ``key``; ``value``, held from now on, when there is none."""
        high, low = _halves(key)
        found = self._place(self._table, self._slots, high, low, value)
        if found is None:
            self._count += 1
            if 3 * self._count > 2 * self._slots:
                self._grow()
            return value
        return found

    def put(self, key: str, value: int) -> None:
        """Hold ``value`` for ``key``, in place of any number held before."""
        high, low = _halves(key)
        if self._place(self._table, self._slots, high, low, value, replace=True) is None:
            self._count += 1
            if 3 * self._count > 2 * self._slots:
                self._grow()

    def get(self, key: str) -> int | None:
        """The number held for ``key``, if any."""
        high, low = _halves(key)
        return self._place(self._table, self._slots, high, low, None)

    def close(self) -> None:
        self._table.close()

    def _place(
        self, table: Records, slots: int, high: int, low: int, value: int | None, replace: bool = False
    ) -> int | None:
        """The number held for a digest in ``table`` (``replace``: replaced by ``value``); None when
        there is none, after writing ``value`` (unless None) in the first empty slot of the digest's
        run, which starts at its home slot and wraps at the end."""
        slot = low & (slots - 1)
        while True:  # never full: an empty slot ends every run
            count = min(self.PROBE, slots - slot)
            for at, (found, held_low, number) in enumerate(self._SLOT.iter_unpack(table.read(slot, count)), slot):
                if found == 0:
                    if value is not None:
                        table.write(at, self._SLOT.pack(high, low, value))
                    return None
                if found == high and held_low == low:
                    if replace and value is not None:
                        table.write(at, self._SLOT.pack(high, low, value))
                    return int(number)
            slot = (slot + count) & (slots - 1)

    def _grow(self) -> None:
        """Four times the slots (a sixth to two thirds full: in a file, a key moved costs two
        system calls, and twice the slots moved each key about once more), each key moved over, a
        PROBE's worth of slots read at a time."""
        old, slots = self._table, self._slots
        self._table, self._slots = Records(self._SLOT.size), 4 * slots
        for first in range(0, slots, self.PROBE):
            for high, low, number in self._SLOT.iter_unpack(old.read(first, self.PROBE)):
                if high:
                    self._place(self._table, self._slots, high, low, number)
        old.close()


def _halves(key: str) -> tuple[int, int]:
    high, low = _HALVES.unpack(blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest())
    return high | 1, low


_HALVES = Struct("<QQ")


def sorted_strings(strings: Iterable[str]) -> Iterator[str]:
    """``strings`` in sorted order, RUN held at a time: each run sorted and appended to one Texts,
    then the runs merged (heapq.merge), each read a string at a time. Fewer than RUN are sorted in
    memory."""
    from heapq import merge

    given = iter(strings)
    held = sorted(islice(given, RUN))
    if len(held) < RUN:
        yield from held
        return
    texts, bounds = Texts(), [0]
    try:
        while held:
            for text in held:
                texts.append(text)
            bounds.append(len(texts))
            held = sorted(islice(given, RUN))
        runs = [(texts[i] for i in range(start, end)) for start, end in pairwise(bounds)]
        yield from merge(*runs)
    finally:
        texts.close()
