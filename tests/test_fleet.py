"""Fleet: clusters streamed out as they finish, large batches in worker processes, one cluster's many
verifiers on a pool, and the per-user work linear in the number of users."""

from __future__ import annotations

import datetime as dt
import errno
import gc
import io
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from benchmarks.spec_gen import spec
from pgrender import check, fleet, record, render, spill, tuning, write
from pgrender import plans as plans_module
from pgrender.errors import InternalError, PgrenderError, SpecError
from pgrender.plan import ClusterPlan, TLSPlan
from pgrender.plan.claims import ClaimRegistry
from pgrender.plans import plans as read_plans
from pgrender.spec import SourcedCluster
from pgrender.write import KUSTOMIZATION
from tests.conftest import GOLDEN_KEY, base_spec, run_cli, traced_peak

BROKEN = spec(99).replace("replicas: 1", "replicas: many")


@pytest.fixture
def batch(tmp_path: Path) -> Callable[..., Path]:
    def _batch(clusters: int, tail: str = "") -> Path:
        path = tmp_path / f"batch{clusters}.yaml"
        path.write_text("---\n".join([*(spec(i) for i in range(clusters)), *([tail] if tail else [])]))
        return path

    return _batch


def request(path: Path) -> render.Request:
    return render.Request((str(path),), key_file=str(GOLDEN_KEY))


def text(clusters: Any) -> str:
    return "".join(f"---\n{d.text}" for c in clusters for d in c.documents)


# Streaming ------------------------------------------------------------------------------------------------------------


def test_clusters_are_let_go_as_they_finish(batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """At most AHEAD clusters are built and not yet finished, whatever the batch size: memory is flat."""
    events: list[str] = []
    build, finish = render.Finisher.build, render.Finisher.finish

    def built(self: render.Finisher, plan: ClusterPlan, pool: tuning.ScramPool | None) -> render.Built:
        events.append("build")
        return build(self, plan, pool)

    def finished(self: render.Finisher, *args: Any) -> render.ClusterOutput:
        events.append("finish")
        return finish(self, *args)

    monkeypatch.setattr(render.Finisher, "build", built)
    monkeypatch.setattr(render.Finisher, "finish", finished)
    outputs = render.stream(request(batch(12)), [], parallel=False)
    next(outputs)
    assert events.count("build") == tuning.ScramPool.AHEAD + 1  # the first is out before the rest are built
    list(outputs)
    held = [events[: i + 1].count("build") - events[: i + 1].count("finish") for i in range(len(events))]
    assert len(events) == 24 and max(held) == tuning.ScramPool.AHEAD + 1


def test_the_checks_across_clusters_hold_no_cluster_spec(batch: Callable[..., Path]) -> None:
    """What the claims across clusters remember is places, not validated specs: reading the fifth
    spec, only the one being read is alive."""
    plans = read_plans((str(batch(5)),))
    for _ in range(5):
        next(plans)
    gc.collect()
    assert sum(isinstance(o, SourcedCluster) for o in gc.get_objects()) == 1
    assert list(plans) == []


def _reachable(top: object) -> int:
    """How many objects ``top`` holds, directly or not."""
    seen, pending = {id(top)}, [top]
    while pending:
        for inner in gc.get_referents(pending.pop()):
            if id(inner) not in seen and not isinstance(inner, type):
                seen.add(id(inner))
                pending.append(inner)
    return len(seen)


def _held_bytes(top: object) -> int:
    """The bytes of the objects ``top`` holds, directly or not."""
    seen, pending, size = {id(top)}, [top], 0
    while pending:
        obj = pending.pop()
        size += sys.getsizeof(obj)
        for inner in gc.get_referents(obj):
            if id(inner) not in seen and not isinstance(inner, type):
                seen.add(id(inner))
                pending.append(inner)
    return size


def test_the_checks_across_clusters_hold_nothing_a_cluster(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """About 28 claims a cluster, held as digests, the places of its fields as numbers and its
    namespace and name (for the output directories): past spill.IN_MEMORY, all of it in files."""
    registries: list[ClaimRegistry] = []

    class Watched(ClaimRegistry):
        def __init__(self) -> None:
            super().__init__()
            registries.append(self)

    monkeypatch.setattr(plans_module, "ClaimRegistry", Watched)
    monkeypatch.setattr(spill, "IN_MEMORY", 0)
    plans = read_plans((str(batch(40)),))
    held = []
    for read in range(40):
        next(plans)
        if read in (9, 39):
            held.append((_reachable(registries[0]), _held_bytes(registries[0])))
    assert held[1] == held[0], "nothing more for 30 more clusters"
    assert list(plans) == []


def test_a_finished_cluster_keeps_its_certificate_windows_not_its_plan(batch: Callable[..., Path]) -> None:
    """What a render holds of each cluster until its warnings are printed: names and windows."""
    done = render.Finished()
    for cluster in render.stream(request(batch(3)), [], parallel=False):
        done.add(cluster)
    gc.collect()
    assert not any(isinstance(o, TLSPlan) for o in gc.get_objects())
    assert list(done.names()) == [(f"team{i}", f"c000{i}") for i in range(3)]
    assert [(where, what) for where, what, *_ in done.windows()] == [
        (f"team{i}/c000{i}", what) for i in range(3) for what in ("leaf certificates", "CA")
    ]


@pytest.mark.parametrize(("in_memory", "per_cluster"), [(spill.IN_MEMORY, 100 + 32), (0, 1)], ids=["memory", "file"])
def test_finished_clusters_alike_hold_their_windows_once(
    monkeypatch: pytest.MonkeyPatch, in_memory: int, per_cluster: int
) -> None:
    """A fleet's clusters mostly have the same windows: each cluster costs its name, a number and its
    spec digest's 32 bytes, in spill stores; nothing past spill.IN_MEMORY (a ClusterOutput kept
    without its documents, as before, cost 540 bytes a cluster; a string for its name, 100)."""
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def cluster(i: int, days: int = 365) -> render.ClusterOutput:
        where = f"team{i % 7}/c{i:05d}"
        begins = start.replace()  # a datetime of its own, as each spec's is
        windows = ((where, "CA", begins, begins + dt.timedelta(days=days), "derived"),)
        return render.ClusterOutput(f"c{i:05d}", f"team{i % 7}", (), windows, f"{i + 1:064x}")

    tracemalloc.start()
    done, held = render.Finished(), []
    for i in range(6000):  # each cluster let go once added, as a render's are
        done.add(cluster(i))
        if i + 1 in (3000, 6000):  # the growth between: Python's free lists fill before 3000
            held.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    assert (held[1] - held[0]) / 3000 < per_cluster
    done.add(cluster(6000, days=30))
    assert list(done.windows()) == [w for i in range(6000) for w in cluster(i).windows] + [*cluster(6000, 30).windows]
    assert list(done.spec_digests()) == [f"{i + 1:064x}" for i in range(6001)]
    assert list(done.names())[-1] == ("team1", "c06000")


def test_validate_holds_one_plan_at_a_time(batch: Callable[..., Path]) -> None:
    """`validate` keeps each cluster's warnings and certificate windows, not its plan: holding every
    plan took 25 KB a cluster (3000 clusters: 106 MB)."""
    small, large = batch(20), batch(120)
    assert run_cli("validate", str(small)).exit_code == 0  # imports and caches filled first
    peaks = [traced_peak(lambda path=path: run_cli("validate", str(path))) for path in (small, large)]
    assert (peaks[1] - peaks[0]) / 100 < 10_000, peaks  # 3.4 KB: Python's free lists still filling
    result = run_cli("validate", str(large))
    assert result.exit_code == 0 and "120 cluster(s) valid" in result.stderr


def test_a_bad_spec_after_good_ones_is_raised_after_them(batch: Callable[..., Path]) -> None:
    """The clusters before it come out first (all but those built ahead): the caller holds them."""
    given = []
    with pytest.raises(SpecError) as info:
        for cluster in render.stream(request(batch(4, BROKEN)), [], parallel=False):
            given.append(cluster.name)
    assert given == ["c0000", "c0001", "c0002", "c0003"][: 4 - tuning.ScramPool.AHEAD]
    assert [p.path for p in info.value.problems] == ["spec.instances[0].replicas"]


@pytest.mark.parametrize("in_memory", [write.SPOOL_IN_MEMORY, 0], ids=["memory", "file"])
def test_stdout_is_the_whole_stream_or_nothing(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, in_memory: int
) -> None:
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", in_memory)
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    good = run_cli("render", str(batch(3)), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert good.exit_code == 0 and good.stdout == write.stream(render.render(request(batch(3))))
    bad = run_cli("render", str(batch(3, BROKEN)), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert "spec.instances[0].replicas" in bad.stderr


def _full(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


class _FullSpool(io.StringIO):
    def write(self, text: str) -> int:
        _full()
        return 0


class _FullFile(io.BytesIO):
    def write(self, data: Any) -> int:
        _full()
        return 0


@pytest.mark.parametrize(
    ("full", "targets"),
    [("spill", ["--stdout", "-o"]), ("spool", ["--stdout"]), ("spooled files", ["-o"])],
)
def test_no_room_for_temporary_files_is_said_not_a_bug(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, full: str, targets: list[str]
) -> None:
    """A full /tmp: the machine's to mend, said so (exit 2, nothing written), not an internal error."""
    import shutil
    import tempfile

    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))  # type: ignore[attr-defined]
    if full == "spill":  # the claims' and the finished clusters' stores
        monkeypatch.setattr(spill, "IN_MEMORY", 0)
        monkeypatch.setattr(spill.os, "pwrite", _full)
    elif full == "spool":  # --stdout's text
        monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
        monkeypatch.setattr(write, "_spool_file", lambda spooled: _FullSpool())
    else:  # the files -o writes (write.SpooledTexts)
        monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
        monkeypatch.setattr(tempfile, "TemporaryFile", lambda *args, **kwargs: _FullFile())
    for target in targets:
        where = ["--stdout"] if target == "--stdout" else ["-o", str(tmp_path / "out")]
        result = run_cli("render", str(batch(3)), *where, "--key-file", str(GOLDEN_KEY))
        assert (result.exit_code, result.stdout) == (2, ""), result.stderr
        assert "cannot write a temporary file in " in result.stderr and "No space left on device" in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_without_a_temporary_file_the_stream_stays_in_memory(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only /tmp (some Argo CD plugin sidecars) costs memory, not the render."""
    import tempfile

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    spooled, done = write.spool(render.stream(request(batch(3)), [], parallel=False))
    assert spooled.read() == write.stream(render.render(request(batch(3))))
    assert [name for _, name in done.names()] == ["c0000", "c0001", "c0002"]


@pytest.mark.parametrize("in_memory", [write.SPOOL_IN_MEMORY, 0], ids=["memory", "file"])
def test_a_directory_render_spools_what_it_writes_and_replaces(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, in_memory: int
) -> None:
    """-o with the new and the previous output spooled (write.SpooledTexts): the same files, the
    same --exit-code verdicts as held in memory, and nothing written on bad input."""
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", in_memory)
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    out = tmp_path / "out"

    def rendered(*argv: str) -> tuple[int, dict[str, str]]:
        result = run_cli("render", *argv, "-o", str(out), "--key-file", str(GOLDEN_KEY))
        return result.exit_code, {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}

    code, files = rendered(str(batch(3)))
    assert code == 0 and {k: v for k, v in files.items() if k != ".pgrender-record"} == write.files(
        render.render(request(batch(3)))
    )
    assert rendered(str(batch(3)), "--exit-code") == (0, files)  # unchanged: the spooled texts compared
    code, grown = rendered(str(batch(4)), "--exit-code")
    assert code == 1 and "c0003/kustomization.yaml" in grown
    assert rendered(str(batch(4, BROKEN))) == (2, grown)


@pytest.mark.parametrize("command", ["render", "check"])
def test_the_output_replaced_is_read_once_the_render_is_done(
    command: str, batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With a provider that keeps nothing from it (derived), the previous output is read by the
    guard after the last cluster: its index and the render's own are not held at once."""
    monkeypatch.setenv("PGRENDER_ALLOW_TEST_KEY", "1")
    out, specs = tmp_path / "out", str(batch(3))
    assert run_cli("render", specs, "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    events: list[str] = []
    finish, read = render.Finisher.finish, check.read_output

    def finished(self: render.Finisher, *args: Any) -> render.ClusterOutput:
        events.append("finish")
        return finish(self, *args)

    def read_output(*args: Any) -> Any:
        events.append("read")
        return read(*args)

    monkeypatch.setattr(render.Finisher, "finish", finished)
    monkeypatch.setattr(check, "read_output", read_output)
    assert run_cli(command, specs, "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    assert events == ["finish"] * 3 + ["read"]


@pytest.mark.parametrize("in_memory", [10**6, 10, 0])  # held in memory; spilled after the first cluster; at once
def test_spooled_texts_are_read_back_in_sorted_order(monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    """Texts by name (add) and clusters' files (add_cluster, placed in directories) read back as
    given, the names in sorted order (a directory's files after a "a-b/" sorting before "a/"), and
    nothing found under a name not given."""
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", in_memory)
    spooled = write.SpooledTexts()
    first = {"z.yaml": "short\n", "kustomization.yaml": "ünïcode " * 5, "empty.yaml": ""}
    second = {"b.yaml": "b\n", "a.yaml": "a\n"}
    spooled.add("top.yaml", "top\n")
    spooled.add_cluster(first)
    spooled.add_cluster(second)
    with pytest.raises(InternalError, match="before they are placed"):
        list(spooled)
    spooled.place(["a", "a-b"])
    spooled.add("kustomization.yaml", "k\n")
    spooled.add(".record", iter(["pie", "ces\n"]))
    expected = {
        ".record": "pieces\n",
        "a-b/a.yaml": "a\n",
        "a-b/b.yaml": "b\n",
        "a/empty.yaml": "",
        "a/kustomization.yaml": "ünïcode " * 5,
        "a/z.yaml": "short\n",
        "kustomization.yaml": "k\n",
        "top.yaml": "top\n",
    }
    assert list(spooled) == sorted(expected) == list(expected) and len(spooled) == len(expected)
    assert {rel: spooled[rel] for rel in spooled} == expected
    assert all(spooled.data(rel) == text.encode() for rel, text in expected.items())
    assert (spooled._file is None) is (in_memory == 10**6)
    # Looked up out of order, a directory after another and back (each lookup's directory is kept).
    for rel in ("a/z.yaml", "a-b/a.yaml", "a/empty.yaml", "top.yaml", "a-b/b.yaml", "a/z.yaml", ".record"):
        assert spooled[rel] == spooled.get(rel) == expected[rel]
    for absent in ("a/b.yaml", "a-b/z.yaml", "z.yaml", "a", "a/", "b/a.yaml", "a/z.yaml\na/empty.yaml", ""):
        assert absent not in spooled
        assert spooled.get(absent) is None and spooled.get(absent, "default") == "default"
        with pytest.raises(KeyError):
            spooled[absent]


def _spooled_side(rng: random.Random, directories: list[str], shared: dict[str, dict[str, str]]) -> SpooledSide:
    """A render's output as SpooledTexts hold it, and the same as a dict: each directory's files
    those of ``shared`` (the same on both sides) or drawn anew; a flat base or top files by name."""
    texts = ["", "1\n", "2\n", "ü\n", "1\n" * 3]
    spooled, flat = write.SpooledTexts(), {}
    if not directories and rng.random() < 0.5:  # one cluster's files: the flat base (a render's)
        files = {name: rng.choice(texts) for name in rng.sample(["a.yaml", "b.yaml", "k.yaml"], rng.randint(1, 3))}
        spooled.add_cluster(files)
        spooled.place(None)
        flat.update(files)
    else:
        for directory in directories:
            names = ["x.yaml", "y.yaml", "kustomization.yaml", "n/z.yaml"]  # n/z.yaml: read_output's, deeper
            files = shared.get(directory) or {n: rng.choice(texts) for n in rng.sample(names, rng.randint(1, 4))}
            spooled.add_cluster(files)
            flat.update({f"{directory}/{name}": text for name, text in files.items()})
        spooled.place(directories)
    # Files by name (add): a top kustomization, the record, an absolute path, one shadowing a cluster's file.
    for rel in rng.sample(["kustomization.yaml", ".record", "/abs.yaml", "a.yaml", "a/x.yaml"], rng.randint(0, 3)):
        flat[rel] = rng.choice(texts)
        spooled.add(rel, flat[rel])
    return spooled, flat


SpooledSide = tuple[write.SpooledTexts, dict[str, str]]


@pytest.mark.parametrize("in_memory", [10**6, 0])  # held in memory; spilled at once
@pytest.mark.parametrize("seed", range(150))
def test_spooled_texts_differing_is_every_path_whose_text_differs(
    monkeypatch: pytest.MonkeyPatch, in_memory: int, seed: int
) -> None:
    """SpooledTexts.differing(): the paths whose text differs or that one side lacks, sorted, as
    the generic comparison finds them (record._differing) and as two dicts say."""
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", in_memory)
    rng = random.Random(seed)
    pool = ["a", "a-b", "a.b", "b", "c"]
    shared = {d: {"x.yaml": "same\n", "n/z.yaml": "deep\n"} for d in rng.sample(pool, rng.randint(0, 5))}
    (old, old_flat), (new, new_flat) = (
        _spooled_side(rng, sorted(rng.sample(pool, rng.randint(0, 5))), shared) for _ in "on"
    )
    expected = sorted(rel for rel in old_flat.keys() | new_flat.keys() if old_flat.get(rel) != new_flat.get(rel))
    assert list(old.differing(new)) == list(record._differing(old, new)) == expected
    for spooled, flat in ((old, old_flat), (new, new_flat)):  # each path's bytes, as lookups read them
        items = [(rel, data if isinstance(data, bytes) else b"".join(data)) for rel, data in spooled.chunked_items()]
        assert items == [(rel, flat[rel].encode()) for rel in sorted(flat)]


def test_spooled_texts_differing_reads_only_the_directories_that_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 clusters' directories, one of them changed: only that one's files are looked up."""
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
    clusters = [{f"f{k}.yaml": f"{i} {k}\n" for k in range(20)} for i in range(200)]
    old, new = write.SpooledTexts(), write.SpooledTexts()
    for i, files in enumerate(clusters):
        old.add_cluster(files)
        new.add_cluster({**files, "f3.yaml": "changed\n"} if i == 117 else files)
    for spooled in (old, new):
        spooled.place([f"c{i:03d}" for i in range(200)])
    looked_up: list[str] = []
    get = write.SpooledTexts.get
    monkeypatch.setattr(write.SpooledTexts, "get", lambda self, rel, d=None: looked_up.append(rel) or get(self, rel, d))
    assert list(old.differing(new)) == ["c117/f3.yaml"]
    assert {rel.partition("/")[0] for rel in looked_up} == {"c117"}


@pytest.mark.parametrize(("directories", "problem"), [(None, "flat base"), (["a", "a"], "one directory")])
def test_clusters_files_are_placed_apart(directories: list[str] | None, problem: str) -> None:
    spooled = write.SpooledTexts()
    spooled.add_cluster({"a.yaml": "a"})
    spooled.add_cluster({"a.yaml": "b"})
    with pytest.raises(InternalError, match=problem):
        spooled.place(directories)


def test_one_clusters_files_are_the_flat_base() -> None:
    spooled = write.SpooledTexts()
    spooled.add_cluster({"b.yaml": "b", "a.yaml": "a"})
    spooled.place(None)
    spooled.add(".record", "r")
    assert list(spooled.items()) == [(".record", "r"), ("a.yaml", "a"), ("b.yaml", "b")]


@pytest.mark.parametrize(("in_memory", "per_file"), [(spill.IN_MEMORY, 20), (0, 0.25)], ids=["memory", "file"])
def test_a_fleets_spooled_files_hold_no_string_for_a_name(
    monkeypatch: pytest.MonkeyPatch, in_memory: int, per_file: float
) -> None:
    """The index of a render's files costs under 20 bytes a file: 1000 clusters of 26 files, as
    the bench's have, and nothing past spill.IN_MEMORY (an object for each cluster: 17 bytes a
    file; 44 when each cluster's names were held as one string; with a string, an offset and a
    dict entry for each file, 157 here, and 195 in a render: tracemalloc, with sys.intern's
    table)."""
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    import tempfile  # noqa: F401 - the spill's import, once, is not the index
    import tracemalloc

    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
    files = [{f"kind{k:02d}-cluster{i:05d}-x.yaml": f"n: {k}\n" for k in range(26)} for i in range(1000)]
    tracemalloc.start()
    try:
        spooled = write.SpooledTexts()
        before = tracemalloc.get_traced_memory()[0]
        for held in files:
            spooled.add_cluster(held)
        spooled.place([f"cluster{i:05d}" for i in range(1000)])
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used / (26 * 1000) < per_file
    assert spooled["cluster00999/kind07-cluster00999-x.yaml"] == "n: 7\n" and len(spooled) == 26 * 1000
    assert spooled["cluster00000/kind25-cluster00000-x.yaml"] == "n: 25\n"  # another cluster's names, read again


def test_without_a_temporary_file_spooled_texts_stay_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    spooled = write.SpooledTexts()
    spooled.add("a.yaml", "x")
    assert spooled._file is None and dict(spooled) == {"a.yaml": "x"}


# Worker processes -----------------------------------------------------------------------------------------------------


@pytest.fixture
def processes_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes from a batch of more than two clusters (their break-even is larger)."""
    monkeypatch.setattr(tuning, "PROCESSES_FROM", 2)
    monkeypatch.setattr(tuning, "cpus", lambda: 4)


@pytest.mark.usefixtures("processes_from")
def test_workers_give_the_same_bytes_in_the_same_order(batch: Callable[..., Path]) -> None:
    alone = render.render(request(batch(7)))
    warnings: list[Any] = []
    together = list(render.stream(request(batch(7)), warnings))
    assert [c.name for c in together] == [c.name for c in alone.clusters]
    assert text(together) == text(alone.clusters)
    assert write.collect(together)[0] == write.files(alone)
    assert tuple(sorted(warnings)) == alone.warnings


@pytest.mark.usefixtures("processes_from")
def test_workers_report_problems_the_same(batch: Callable[..., Path]) -> None:
    problems = []
    for parallel in (False, True):
        with pytest.raises(SpecError) as info:
            list(render.stream(request(batch(5, BROKEN)), [], parallel))
        problems.append(info.value.problems)
    assert problems[0] == problems[1]


@pytest.mark.usefixtures("processes_from")
@pytest.mark.parametrize("ending", ["read to the end", "a spec problem at the end", "the caller stops reading"])
def test_workers_exit_on_every_way_out(batch: Callable[..., Path], ending: str) -> None:
    """The workers finish the clusters they hold and exit, and are waited for, however the render
    ends: none is killed halfway through writing a result (multiprocessing.Pool's terminate() did,
    and a batch of five clusters and a bad spec, rendered 450 times, hung once), none is left."""
    clusters = render.stream(request(batch(7, BROKEN if ending == "a spec problem at the end" else "")), [])
    if ending == "the caller stops reading":
        next(clusters)
        clusters.close()
    elif ending == "a spec problem at the end":
        with pytest.raises(SpecError):
            list(clusters)
    else:
        assert len(list(clusters)) == 7
    assert multiprocessing.active_children() == []


# (the cluster whose finishing fails, a spec problem after the last cluster): each in one process and
# in worker processes, whose look-ahead is longer. The specs' problems come first either way.
FINISH_FAILS = [("c0000", True), ("c0017", True), ("c0019", True), ("c0000", False), ("c0019", False)]


@pytest.mark.usefixtures("processes_from")
@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "workers"])
@pytest.mark.parametrize(("fails", "broken"), FINISH_FAILS)
def test_a_cluster_that_cannot_be_finished_is_reported_after_the_specs_problems(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, parallel: bool, fails: str, broken: bool
) -> None:
    finish = render.Finisher.finish

    def failing(finisher: render.Finisher, plan: ClusterPlan, *args: Any) -> render.ClusterOutput:
        if plan.name == fails:
            raise PgrenderError(f"{plan.name} cannot be finished")
        return finish(finisher, plan, *args)

    monkeypatch.setattr(render.Finisher, "finish", failing)  # the workers are forked with it
    specs = batch(20, BROKEN if broken else "")
    with pytest.raises(PgrenderError) as raised:
        list(render.stream(request(specs), [], parallel))
    if broken:
        assert isinstance(raised.value, SpecError)
        assert [p.path for p in raised.value.problems] == ["spec.instances[0].replicas"]
    else:
        assert str(raised.value) == f"{fails} cannot be finished"


# The console script with worker processes for any batch; a worker writes a file once it started,
# and the one given cluster c0003 is killed (SIGKILL) there, as the kernel's OOM killer would.
IN_WORKERS = """
import os, pathlib, signal, sys
from concurrent.futures import ProcessPoolExecutor
from pgrender import record, render, tuning
signal.signal(signal.SIGINT, signal.default_int_handler)  # not ignored, as a background job's is
tuning.PROCESSES_FROM, tuning.PROCESSES_CPUS = 0, 1
worker, build, fork, shutdown = tuning.worker, render.Finisher.build, os.fork, ProcessPoolExecutor.shutdown
marker, dies, interrupt = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
at_fork = interrupt == "at-fork"
forks = 0
def forking():
    global forks
    forks += 1
    pid = fork()
    if pid == 0 and at_fork and forks == 1:
        os.killpg(0, signal.SIGINT)  # Ctrl-C as the first worker is born, before it is set up
    return pid
os.fork = forking
def shutting_down(pool, *args, **kwargs):
    if interrupt == "at-shutdown":
        os.killpg(0, signal.SIGINT)  # Ctrl-C as the render waits for the workers to exit
    return shutdown(pool, *args, **kwargs)
ProcessPoolExecutor.shutdown = shutting_down
def started(*args):
    worker(*args)
    marker.write_text("started")
def dying(finisher, plan, pool):
    if plan.name == dies:
        os.kill(os.getpid(), signal.SIGKILL)
    return build(finisher, plan, pool)
tuning.worker, render.Finisher.build = started, dying
sys.argv = ["pgrender", *sys.argv[4:]]
record.main()
"""


def in_workers(tmp_path: Path, spec_file: Path, dies: str = "", interrupt: str = "") -> tuple[int, str]:
    """render --stdout of ``spec_file`` in worker processes, in a session of its own: its status and
    standard error. ``interrupt``: Ctrl-C to the whole group once a worker "started", "at-fork"
    from the first worker as soon as it is forked, "at-shutdown" as the render waits for the workers
    to exit; "main-killed": SIGKILL to the main process alone once a worker started. A run that
    hangs is killed, and fails the test."""
    marker = tmp_path / "started"
    command = [sys.executable, "-c", IN_WORKERS, str(marker), dies, interrupt, "render", str(spec_file), "--stdout"]
    env = {**os.environ, "PGRENDER_ALLOW_TEST_KEY": "1"}
    with subprocess.Popen(
        [*command, "--key-file", str(GOLDEN_KEY)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as rendering:
        if interrupt in ("started", "main-killed"):
            for _ in range(600):
                if marker.exists() or rendering.poll() is not None:
                    break
                time.sleep(0.05)
            assert marker.exists(), "no worker started"
            if interrupt == "started":
                os.killpg(rendering.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
            else:
                os.kill(rendering.pid, signal.SIGKILL)
        try:
            _, stderr = rendering.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(rendering.pid, signal.SIGKILL)
            raise
    for _ in range(100):  # workers of a killed main process are reaped by init, a moment later
        try:
            os.killpg(rendering.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.killpg(rendering.pid, 0)  # no worker is left in the group
    return rendering.returncode, stderr


def test_a_worker_that_dies_fails_the_render(tmp_path: Path, batch: Callable[..., Path]) -> None:
    """A worker killed: the render stops with an error a user can act on, and nothing written, where
    multiprocessing.Pool replaced the worker and waited for its cluster forever."""
    status, stderr = in_workers(tmp_path, batch(30), dies="c0003")
    assert status == 2, stderr
    assert stderr == (
        "pgrender: a worker process died before its clusters were finished (killed: for lack of memory?); "
        "nothing was written\n"
    )


def test_ctrl_c_stops_a_render_in_worker_processes(tmp_path: Path, batch: Callable[..., Path]) -> None:
    """Ctrl-C reaches every process of the terminal's group. The workers ignore it and finish what
    they hold; the render stops as one process does (Aborted!, status 1), and no process is left.
    Before, each worker died halfway through a cluster and the render waited for it forever."""
    status, stderr = in_workers(tmp_path, batch(300), interrupt="started")
    assert (status, stderr) == (1, "\nAborted!\n")


def test_ctrl_c_as_the_workers_are_forked(tmp_path: Path, batch: Callable[..., Path]) -> None:
    """Ctrl-C that reaches a worker before it ignores SIGINT: the render stops the same way, with
    nothing else on standard error. Before, the worker raised KeyboardInterrupt wherever it was in
    starting ("Exception ignored in: <function _after_fork>" and a traceback, or a worker dead)."""
    status, stderr = in_workers(tmp_path, batch(300), interrupt="at-fork")
    assert (status, stderr) == (1, "\nAborted!\n")


def test_ctrl_c_as_the_render_waits_for_the_workers_to_exit(tmp_path: Path, batch: Callable[..., Path]) -> None:
    """Ctrl-C while the pool shuts down (a second Ctrl-C, or one at the end): it is raised once the
    workers have exited. Before, it cut the shutdown short, the workers were left waiting for work
    for good (holding standard error: the caller's pipe never ended), and a test hung."""
    status, stderr = in_workers(tmp_path, batch(100), interrupt="at-shutdown")
    assert (status, stderr) == (1, "\nAborted!\n")


def test_workers_die_with_the_main_process(tmp_path: Path, batch: Callable[..., Path]) -> None:
    """The main process killed (SIGKILL, the OOM killer): its workers do not outlive it (Linux).
    Before, they waited for work for good."""
    status, stderr = in_workers(tmp_path, batch(300), interrupt="main-killed")
    assert (status, stderr) == (-signal.SIGKILL, "")


@pytest.mark.usefixtures("processes_from")
@pytest.mark.parametrize(
    ("clusters", "processes"),
    [
        (1, False),
        (2, False),  # PROCESSES_FROM
        (3, True),
    ],
)
def test_workers_only_for_a_large_batch(
    batch: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, clusters: int, processes: bool
) -> None:
    used = []
    finish = fleet.finish

    def spy(*args: Any) -> Iterator[render.ClusterOutput]:
        used.append(True)
        return finish(*args)

    monkeypatch.setattr(fleet, "finish", spy)
    names = [c.name for c in render.stream(request(batch(clusters)), [])]
    assert names == [f"c{i:04d}" for i in range(clusters)]  # every plan handed on, none lost in the look-ahead
    assert bool(used) is processes


@pytest.mark.parametrize(("cpus", "available"), [(1, False), (2, False), (3, True), (8, True)])
def test_workers_need_a_cpu_the_scram_threads_leave_idle(
    monkeypatch: pytest.MonkeyPatch, cpus: int, available: bool
) -> None:
    monkeypatch.setattr(tuning, "cpus", lambda: cpus)
    assert fleet.available() is available


# SCRAM pool -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verifiers", "pooled"),
    [
        (1, False),
        (tuning.ScramPool.MANY - 1, False),
        (tuning.ScramPool.MANY, True),
    ],
)
def test_one_cluster_with_many_users_gets_a_pool(verifiers: int, pooled: bool) -> None:
    pool = tuning.ScramPool()
    try:
        assert (pool.next_cluster(verifiers) is not None) is pooled
    finally:
        pool.shutdown()


def test_many_users_render_as_inline(write_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = base_spec()
    cluster["spec"]["users"] = [{"name": f"user{u}", "databases": ["app"]} for u in range(tuning.ScramPool.MANY)]
    path = write_spec(cluster)
    pooled = write.stream(render.render(request(path)))
    monkeypatch.setattr(tuning.ScramPool, "MANY", 10**6)
    assert write.stream(render.render(request(path))) == pooled


# Linear in the number of users ------------------------------------------------------------------------------------


def lines_run(action: Callable[[], object], module: str) -> int:
    """Lines of ``module`` executed by ``action`` (sys.settrace): a count, the same on every machine."""
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        count += event == "line"
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename.endswith(module) else None

    sys.settrace(calls)
    try:
        action()
    finally:
        sys.settrace(None)
    return count


def test_users_and_their_databases_are_resolved_in_linear_work(plan_of: Callable[[dict[str, Any]], Any]) -> None:
    """Twice the users (each with its own database) is about twice the lines run in plan/users.py;
    a pass over the users or the databases for each user would make it four times."""

    def with_users(users: int) -> dict[str, Any]:
        cluster = base_spec()
        cluster["spec"]["users"] = [{"name": f"u{u}", "databases": [f"d{u}"]} for u in range(users)]
        return cluster

    small, large = (lines_run(lambda n=n: plan_of(with_users(n)), "plan/users.py") for n in (150, 300))
    assert 1.8 < large / small < 2.5


def test_spooled_clusters_are_found_past_16_mib_of_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a cluster is in the spool file is held as 64-bit offsets (spill.Records): an offset and
    a length in one 64-bit number (write._at, 40 bits of length) do not fit past 16 MiB."""
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 0)
    spooled = write.SpooledTexts()
    spooled.add("big.yaml", "x" * (17 << 20))
    spooled.add_cluster({"a.yaml": "a: 1\n", KUSTOMIZATION: "k\n"})
    spooled.add_cluster({"b.yaml": "b: 2\n"})
    spooled.place(["one", "two"])
    assert spooled["one/a.yaml"] == "a: 1\n" and spooled["two/b.yaml"] == "b: 2\n"
    assert list(spooled) == ["big.yaml", "one/a.yaml", f"one/{KUSTOMIZATION}", "two/b.yaml"]
