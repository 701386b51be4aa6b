"""Fleet benchmarks: CPU per cluster against the cryptographic floor, peak memory against the number
of clusters, per-unit cost as clusters, instances and users grow, and cores used by a large batch.

Every figure is a row (name, value, baseline, ratio) whose baseline is timed in the same run, in
processes of its own, interleaved and reduced to medians. CPU time (getrusage, threads and reaped
worker processes included) is used rather than wall time where the question is work done: the
machines this runs on are shared, and wall time there measures the neighbours.

The floor is what no implementation can avoid: the same number of PBKDF2-HMAC-SHA256 calls (4096
iterations, one per SCRAM verifier), EC P-256 key derivations and certificate signatures as the
clusters needed (counted in the render itself), done directly with hashlib and cryptography.

Usage: python -m benchmarks.fleet_bench [--quick] (make bench runs it with the other sections)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import common
from benchmarks.common import ENV, KEY, ROOT
from benchmarks.spec_gen import spec

Row = tuple[str, float, float, float]
FLOOR_TARGET = 1.5  # issue 17: CPU per cluster within 1.5x the floor

# One render in a child process: what `render --stdout` does (stream, spool, copy out), after a
# first render that imports and warms everything; the crypto calls are counted (in one process).
RENDER = textwrap.dedent(
    """
    import json, os, resource, sys, time
    from pgrender import render, tuning, write
    from pgrender.secrets import derived, x509
    spec, key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    specs = tuple(sorted(os.path.join(spec, f) for f in os.listdir(spec))) if os.path.isdir(spec) else (spec,)
    parallel = mode != "one"
    if mode == "processes":  # whatever the batch size and CPU count, to find the break-even
        tuning.PROCESSES_FROM, tuning.PROCESSES_CPUS = 0, 2
    counts = {"pbkdf2": 0, "keys": 0, "signatures": 0}
    def counted(module, name, what):
        original = getattr(module, name)
        def wrapper(*args, **kwargs):
            counts[what] += 1
            return original(*args, **kwargs)
        setattr(module, name, wrapper)
    counted(derived, "scram_verifier", "pbkdf2")
    counted(x509, "key_pair", "keys")
    counted(x509, "_certificate", "signatures")  # one signature per certificate
    write.stream(render.render(render.Request((sys.argv[4],), key_file=key)))
    counts = dict.fromkeys(counts, 0)
    def cpu():
        own, reaped = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    c0, w0 = cpu(), time.perf_counter()
    spooled, done = write.spool(render.stream(render.Request(specs, key_file=key), [], parallel))
    with open(os.devnull, "w") as sink:
        write.copy(spooled, sink)
    c1, w1 = cpu(), time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"clusters": len(done), "cpu": c1 - c0, "wall": w1 - w0, "peak_mb": peak, **counts}))
    """
)

# A render into a directory and a re-render into it (which reads the previous output too), each the
# whole command line; the peak RSS of the larger, as the kernel counts its children. The key is a
# copy only its owner may read, as a user's is: then the render writes its record (record.py), as
# pre-commit's and CI's do (with a key others may read, keys.load warns and no record is written).
DIRECTORY = textwrap.dedent(
    """
    import json, os, resource, shutil, subprocess, sys, tempfile
    spec, key = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as out:
        os.environ["XDG_CACHE_HOME"] = out + "/cache"  # the stat cache goes with the output
        key = shutil.copyfile(key, out + "/root.key")
        os.chmod(key, 0o600)
        command = [sys.executable, "-m", "pgrender", "render", spec, "-o", out + "/base", "--key-file", key]
        subprocess.run(command, check=True, capture_output=True)
        subprocess.run([*command, "--exit-code"], check=True, capture_output=True)
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
    """
)

# A render into a directory, then a render of the same clusters, each changed, into it (what an
# upgrade or a config change does to a fleet: the guard compares what every cluster had with what it
# gets); the CPU and the peak RSS of the second, as the kernel counts it when it is reaped.
CHANGED = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys, tempfile
    before, after, key = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as out:
        os.environ["XDG_CACHE_HOME"] = out + "/cache"
        key = shutil.copyfile(key, out + "/root.key")
        os.chmod(key, 0o600)
        command = [sys.executable, "-m", "pgrender", "render", "-o", out + "/base", "--key-file", key]
        subprocess.run([*command, before], check=True, capture_output=True)
        second = subprocess.Popen([*command, after], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, used = os.wait4(second.pid, 0)
        second.returncode = os.waitstatus_to_exitcode(status)
        assert second.returncode == 0, second.returncode
    print(json.dumps({"cpu": used.ru_utime + used.ru_stime, "peak_mb": used.ru_maxrss / 1024}))
    """
)

# The floor: the same crypto, directly.
FLOOR = textwrap.dedent(
    """
    import datetime as dt, hashlib, json, resource, sys
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    pbkdf2, keys, signatures = map(int, sys.argv[1:4])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "floor")])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    def cpu():
        own = resource.getrusage(resource.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime
    c0 = cpu()
    for i in range(pbkdf2):
        hashlib.pbkdf2_hmac("sha256", b"password%d" % i, b"salt%012d" % i, 4096)
    derived = [ec.derive_private_key(1 + i, ec.SECP256R1()) for i in range(keys)]
    for i in range(signatures):
        key = derived[i % len(derived)]
        builder = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1 + i).not_valid_before(start).not_valid_after(start + dt.timedelta(days=365))
        )
        builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    print(json.dumps({"cpu": cpu() - c0}))
    """
)


@contextmanager
def specs(texts: list[str], one_file: bool = True) -> Iterator[Path]:
    """The specs in one file; or (``one_file`` false) a directory of a file for each, as a fleet's
    repository keeps them."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        if one_file:
            path = Path(tmp) / "clusters.yaml"
            path.write_text("---\n".join(texts))
        else:
            path = Path(tmp) / "clusters"
            path.mkdir()
            for i, text in enumerate(texts):
                (path / f"c{i:05d}.yaml").write_text(text)
        yield path


def _child(script: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True, cwd=ROOT, env=ENV
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def rendered(texts: list[str], mode: str = "one", one_file: bool = True) -> dict[str, float]:
    """``mode``: one (process), auto (processes past tuning.PROCESSES_FROM), processes (always)."""
    with specs(texts, one_file) as path:
        return _child(RENDER, str(path), str(KEY), mode, str(ROOT / "examples" / "hippo.yaml"))


def floor(counts: dict[str, float]) -> float:
    return _child(FLOOR, *(str(int(counts[k])) for k in ("pbkdf2", "keys", "signatures")))["cpu"]


def _row(name: str, value: float, baseline: float) -> Row:
    return (name, value, baseline, value / baseline if baseline else float("inf"))


def cpu_vs_floor(clusters: int, runs: int) -> list[common.Row]:
    """CPU per cluster of a batch in one process, and the floor for the same crypto, interleaved."""
    texts = [spec(i) for i in range(clusters)]
    ours, floors = [], []
    for _ in range(runs):
        result = rendered(texts)
        ours.append(result["cpu"] / clusters)
        floors.append(floor(result) / clusters)
    return [
        common.Row(
            f"CPU per cluster, {clusters} clusters, one process",
            1000 * statistics.median(ours),
            "the cryptographic floor",
            1000 * statistics.median(floors),
            target=FLOOR_TARGET,
        )
    ]


@functools.cache
def batch(clusters: int) -> dict[str, float]:
    """A batch in one process, rendered once for both its memory and its scaling rows."""
    return rendered([spec(i) for i in range(clusters)])


def memory(sizes: tuple[int, ...]) -> list[Row]:
    """Peak RSS of a one-process render (stdout) of each batch size, against one cluster's; and of
    the largest kept a spec a file (each file is parsed on its own)."""
    peaks = {n: batch(n)["peak_mb"] for n in sizes}
    high = sizes[-1]
    files = rendered([spec(i) for i in range(high)], one_file=False)["peak_mb"]
    return [
        *(_row(f"peak RSS, {n} clusters (MB; baseline 1 cluster)", peaks[n], peaks[sizes[0]]) for n in sizes),
        _row(f"peak RSS, {high} clusters, a spec a file (MB; baseline 1 cluster)", files, peaks[sizes[0]]),
    ]


def directory_memory(sizes: tuple[int, ...]) -> list[Row]:
    """Peak RSS of `render -o` and a re-render into the same directory, against one cluster's."""
    peaks = {}
    for n in sizes:
        with specs([spec(i) for i in range(n)]) as path:
            peaks[n] = _child(DIRECTORY, str(path), str(KEY))["peak_mb"]
    return [
        _row(f"peak RSS, {n} clusters to -o and again (MB; baseline 1 cluster)", peaks[n], peaks[sizes[0]])
        for n in sizes[1:]
    ]


@functools.cache
def changed(clusters: int) -> dict[str, float]:
    """``clusters`` rendered into a directory, then each with a larger data volume rendered into it."""
    texts = [spec(i) for i in range(clusters)]
    with specs(texts) as before, specs([t.replace("size: 10Gi", "size: 11Gi") for t in texts]) as after:
        return _child(CHANGED, str(before), str(after), str(KEY))


def _per_unit(name: str, run: Callable[[int], dict[str, float]], low: int, mid: int, high: int, runs: int = 1) -> Row:
    """Cost of one more unit between ``low`` and ``high``, against the same between ``low`` and ``mid``:
    about 1 when the work is linear in the unit. ``runs`` rounds of the three sizes, interleaved, and
    their medians: where a unit costs less than a millisecond, one round's difference is mostly the
    noise of the three processes (one round once read 8.8x for instances, which are linear)."""
    samples: dict[int, list[float]] = {n: [] for n in (low, mid, high)}
    for _ in range(runs):
        for n, taken in samples.items():
            taken.append(run(n)["cpu"])
    cpu = {n: statistics.median(taken) for n, taken in samples.items()}
    late = (cpu[high] - cpu[low]) / (high - low)
    early = (cpu[mid] - cpu[low]) / (mid - low)
    return _row(
        f"scaling {name} {low} -> {high}: ms per {name[:-1]} ({low} -> {mid} as baseline)", late * 1000, early * 1000
    )


def scaling(quick: bool) -> list[Row]:
    clusters = 300 if quick else 3000
    runs = 5 if quick else 7
    return [
        # batch and changed are cached (their renders serve the memory rows too) and one round of
        # each is enough: their differences are seconds, not milliseconds.
        _per_unit("clusters", batch, 1, clusters // 10, clusters),
        # 64 instances is what one spec may ask for (spec.limits.MAX_INSTANCES), not 99.
        _per_unit("instances", lambda n: rendered([spec(0, replicas=n)]), 1, 16, 64, runs),
        _per_unit("users", lambda n: rendered([spec(0, users=n)]), 1, 100, 300 if quick else 1000, runs),
        _per_unit("changed clusters", changed, 1, 10 if quick else 100, 100 if quick else 1000),
    ]


def changed_memory(sizes: tuple[int, int]) -> list[Row]:
    """Peak RSS of a render into the previous output of every cluster, each changed (the scaling
    row's renders), against one cluster's."""
    low, high = sizes
    return [
        _row(
            f"peak RSS, {high} clusters rendered into their output, each changed (MB; baseline 1 cluster)",
            changed(high)["peak_mb"],
            changed(low)["peak_mb"],
        )
    ]


def one_changed_of(clusters: int, runs: int) -> list[Row]:
    """`render --write --exit-code` of a repository of ``clusters`` specs, a file each, after one of
    them changed (a larger volume), against a render of them all into a new directory: what reuse
    (reuse.py) and the comparisons a directory at a time save where a fleet is kept in one
    repository. CPU time of the console script's processes, interleaved."""
    pgrender = str(Path(sys.executable).with_name("pgrender"))
    with tempfile.TemporaryDirectory(prefix="fleet-changed-") as tmp:
        repo = Path(tmp) / "repo"
        (repo / "specs").mkdir(parents=True)
        (repo / "pgrender.yaml").write_text(
            "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {keyFile: root.key}\n"
            'specs: ["specs/*.pgcluster.yaml"]\n'
        )
        (repo / "root.key").write_bytes(KEY.read_bytes())
        (repo / "root.key").chmod(0o600)
        for i in range(clusters):
            (repo / "specs" / f"c{i:05d}.pgcluster.yaml").write_text(spec(i))
        env = ENV | {"XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        changing = repo / "specs" / f"c{clusters // 2:05d}.pgcluster.yaml"
        text = changing.read_text()

        def cpu(*args: str) -> float:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([pgrender, *args], cwd=repo, env=env, check=False, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

        cpu("render", "--write")
        changed, everything = [], []
        for run in range(runs):
            changing.write_text(text.replace("size: 10Gi", f"size: {11 + run}Gi"))
            changed.append(cpu("render", "--write", "--exit-code"))
            everything.append(cpu("render", "-o", f"everything{run}"))
    return [
        _row(
            f"one of {clusters} specs changed, render --write --exit-code (CPU s; baseline: all, into a new directory)",
            *map(statistics.median, (changed, everything)),
        )
    ]


def many_users(users: int) -> list[Row]:
    """One cluster with many users: wall time against its CPU time (below 1: the verifiers in parallel)."""
    result = rendered([spec(0, users=users)])
    return [_row(f"one cluster, {users} users: wall s (baseline: its CPU s)", result["wall"], result["cpu"])]


def cores(clusters: int) -> list[Row]:
    """A large batch in worker processes: CPU time / wall time, against the CPUs there are."""
    result = rendered([spec(i) for i in range(clusters)], "auto")
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return [_row(f"cores used, {clusters} clusters (baseline: CPUs)", result["cpu"] / result["wall"], available)]


def break_even(sizes: tuple[int, ...], runs: int) -> list[Row]:
    """Wall time with worker processes against one process, per batch size (below 1: processes pay)."""
    rows = []
    for n in sizes:
        texts = [spec(i) for i in range(n)]
        serial, parallel = [], []
        for _ in range(runs):
            serial.append(rendered(texts)["wall"])
            parallel.append(rendered(texts, "processes")["wall"])
        rows.append(
            _row(
                f"wall with processes, {n} clusters (s; baseline one process)",
                *map(statistics.median, (parallel, serial)),
            )
        )
    return rows


def rows(quick: bool = False) -> list[Row | common.Row]:
    return [
        *cpu_vs_floor(100 if quick else 300, 3 if quick else 5),
        *memory((1, 100, 300) if quick else (1, 300, 3000)),
        *directory_memory((1, 100, 300) if quick else (1, 300, 3000)),
        *scaling(quick),
        *changed_memory((1, 100 if quick else 1000)),
        *one_changed_of(200 if quick else 1000, 2 if quick else 3),
        *many_users(300 if quick else 1000),
        *cores(200 if quick else 1000),
        *break_even((8, 24, 64) if quick else (8, 16, 24, 48, 96), 3),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller batches and fewer runs (about a minute).")
    args = parser.parse_args()
    for row in rows(args.quick):
        if isinstance(row, common.Row):
            print(row.line(), flush=True)
            continue
        name, value, baseline, ratio = row
        print(f"{name:<78} {value:10.3f} {baseline:10.3f} {ratio:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
