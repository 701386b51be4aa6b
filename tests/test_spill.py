"""spill: records, strings and a digest map that move from memory to a temporary file past
IN_MEMORY bytes, and read back the same either way."""

from __future__ import annotations

import random
import tempfile

import pytest

from pgrender import spill
from pgrender.plan.names import cluster_directories

WHERE = pytest.mark.parametrize("in_memory", [spill.IN_MEMORY, 0, 20], ids=["memory", "file", "moved"])


@WHERE
def test_records_read_back_what_was_written_and_zeros_elsewhere(
    monkeypatch: pytest.MonkeyPatch, in_memory: int
) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    records = spill.Records(4)
    assert records.append(b"aaaabbbb") == 0 and records.append(b"cccc") == 2
    records.write(10, b"dddd")
    records.write(1, b"BBBB")
    assert len(records) == 11
    assert records.read(0, 3) == b"aaaaBBBBcccc"
    assert records.read(3, 8) == bytes(28) + b"dddd"
    assert records.read(11, 2) == bytes(8)  # past the end: never written
    assert (records._memory is None) == (in_memory < 44)
    records.close()
    assert len(records) == 0 and records.read(0) == bytes(4)


def test_records_stay_in_memory_where_no_file_can_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only /tmp (some Argo CD plugin sidecars): the render goes on, in memory, and a store
    tries to make its file once (each try scans every candidate directory: 90 us; a render of 250
    clusters made 12650, helper-41 found)."""
    tries = []

    def refused(*args: object, **kwargs: object) -> None:
        tries.append(1)
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(spill, "IN_MEMORY", 0)
    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    records = spill.Records(2)
    for i in range(100):
        records.append(i.to_bytes(2, "little"))
    assert [int.from_bytes(records.read(i), "little") for i in range(100)] == list(range(100))
    assert len(tries) == 1


def test_records_in_a_file_are_no_one_elses() -> None:
    import os

    records = spill.Records(1)
    records.write(spill.IN_MEMORY, b"x")
    assert records._file is not None and os.fstat(records._file.fileno()).st_mode & 0o077 == 0
    records.close()


@WHERE
def test_texts_read_back_each_string(monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    strings = ["", "db\0hippo", "é\udcff", "x" * 300, *(f"team{i}/c{i:05d}" for i in range(200))]
    texts = spill.Texts()
    assert [texts.append(s) for s in strings] == list(range(len(strings)))
    assert list(texts) == strings and len(texts) == len(strings) and texts[3] == "x" * 300
    with pytest.raises(IndexError):
        texts[len(strings)]


@WHERE
def test_a_digest_map_is_a_dict(monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    """setdefault and get as a dict's, through every growth of the table."""
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    rng = random.Random(17)
    keys = [f"Secret\0db\0c{rng.randrange(3000)}" for _ in range(6000)]  # about 2600 distinct, each many times
    held: dict[str, int] = {}
    digests = spill.DigestMap()
    for number, key in enumerate(keys):
        assert digests.get(key) == held.get(key)
        assert digests.setdefault(key, number) == held.setdefault(key, number)
    assert digests._slots == 4096 and digests._count == len(held)
    assert all(digests.get(key) == number for key, number in held.items())
    assert digests.get("Secret\0db\0c3000") is None
    for number, key in enumerate(sorted(held)[::7]):  # put: in place of what was held, or new
        digests.put(key, number)
        held[key] = number
    digests.put("Secret\0db\0c3000", 7)
    held["Secret\0db\0c3000"] = 7
    assert all(digests.get(key) == number for key, number in held.items()) and digests._count == len(held)


def test_a_digest_map_wraps_its_runs_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys whose home is the last slot go on at slot 0."""
    last = [key for key in (f"k{i}" for i in range(200_000)) if spill._halves(key)[1] % 1024 == 1023][:5]
    digests = spill.DigestMap()
    for number, key in enumerate(last):
        assert digests.setdefault(key, number) == number
    assert [digests.get(key) for key in last] == list(range(5))
    assert [high != 0 for high, _, _ in digests._SLOT.iter_unpack(digests._table.read(0, 4))] == [1, 1, 1, 1]


@WHERE
@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 45])
def test_sorted_strings_are_sorted(monkeypatch: pytest.MonkeyPatch, in_memory: int, count: int) -> None:
    """Runs of RUN (8 here) sorted, then merged: as sorted() gives them, equal strings too."""
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    monkeypatch.setattr(spill, "RUN", 8)
    rng = random.Random(count)
    strings = [rng.choice(["", "a", "a\0b", "é", "b-c/", "b/"]) + str(rng.randrange(9)) for _ in range(count)]
    assert list(spill.sorted_strings(iter(strings))) == sorted(strings)


def test_the_directories_of_clusters_are_their_names_unless_shared() -> None:
    clusters = [("b", "a"), ("c", "b"), ("x", "a-b"), ("d", "a"), ("e", "c")]
    assert list(cluster_directories(lambda: iter(clusters))) == ["b-a", "b", "a-b", "d-a", "c"]
