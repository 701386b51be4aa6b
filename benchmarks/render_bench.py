"""Render benchmarks: cold start of one process, per-cluster time and peak memory in a batch, and diff.

Prints figures; asserts nothing (targets: cold <= 150 ms, <= 3 ms per cluster, <= 150 MB for 500).
Usage: python benchmarks/render_bench.py [--runs N] [--clusters N] [--batch-runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "tests" / "golden.key"

# The first render in a process also imports what rendering needs and warms pydantic and
# ruamel up; it is timed on its own, so the batch figure is the cost of one more cluster.
BATCH = textwrap.dedent(
    """
    import resource, sys, time
    t0 = time.perf_counter()
    from pgrender.render import Request, render
    from pgrender import write
    t1 = time.perf_counter()
    write.stream(render(Request((sys.argv[3],), key_file=sys.argv[2])))
    t2 = time.perf_counter()
    rendering = render(Request((sys.argv[1],), key_file=sys.argv[2]))
    text = write.stream(rendering)
    t3 = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(len(rendering.clusters), t1 - t0, t2 - t1, t3 - t2, peak_kb, len(text))
    """
)


# As on a user's machine: bytecode is cached (some CI images set PYTHONDONTWRITEBYTECODE). The
# published test key is refused unless PGRENDER_ALLOW_TEST_KEY=1 says it is meant.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PGRENDER_ALLOW_TEST_KEY": "1"}
# What a render cannot start without: the libraries it uses, with one pydantic model defined and
# used (pydantic imports much of itself only then); then those plus pgrender's spec models.
LIBRARIES = (
    "import click, ruamel.yaml; from pydantic import BaseModel; "
    "from cryptography import x509; from cryptography.hazmat.primitives.asymmetric import ec\n"
    "class One(BaseModel):\n    x: int\n"
    "One(x=1)"
)
SPEC_MODELS = f"{LIBRARIES}\nimport pgrender.spec"


def timed(cmd: list[str], runs: int) -> list[float]:
    """Wall times of ``runs`` whole processes, after one run that warms caches."""
    subprocess.run(cmd, check=True, capture_output=True, env=ENV)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        times.append(time.perf_counter() - start)
    return times


def cold(runs: int) -> list[float]:
    """Wall time of whole `pgrender render hippo --stdout` processes."""
    cmd = [sys.executable, "-m", "pgrender", "render", str(ROOT / "examples" / "hippo.yaml"), "--stdout"]
    return timed([*cmd, "--key-file", str(KEY)], runs)


# With backups: an encrypted S3 repository with full and incremental schedules and PITR retention.
BACKUPS = (
    "  backups:\n    repos:\n      - name: repo1\n"
    "        s3: {bucket: fleet-backups, endpoint: s3.eu-north-1.amazonaws.com, region: eu-north-1}\n"
    "        credentials: {secretName: fleet-s3}\n"
    '        schedules: {full: "30 1 * * 0", incremental: "30 1 * * 1-6"}\n'
    "        retention: {full: 4, pointInTimeDays: 14}\n"
)


def spec(i: int, backups: bool = False) -> str:
    users = "".join(f"    - name: user{u}\n      databases: [db{u}]\n" for u in range(1 + i % 3))
    return (
        "apiVersion: pgrender.io/v1alpha1\nkind: PostgresCluster\n"
        f"metadata:\n  name: c{i:04d}\n  namespace: team{i % 17}\n"
        f"spec:\n  postgresVersion: {14 + i % 5}\n  instances:\n    - name: main\n      replicas: {1 + i % 3}\n"
        "      dataVolume:\n        size: 10Gi\n"
        f"  users:\n{users}" + (BACKUPS if backups else "")
    )


def batch(clusters: int, backups: bool = False) -> tuple[int, float, float, float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clusters.yaml"
        path.write_text("---\n".join(spec(i, backups) for i in range(clusters)))
        out = subprocess.run(
            [sys.executable, "-c", BATCH, str(path), str(KEY), str(ROOT / "examples" / "hippo.yaml")],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=ENV,
        ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2]), float(out[3]), int(out[4]), int(out[5])


DIFF_CLUSTERS = 20


def diff_repository(tmp: Path) -> tuple[Path, Path]:
    """DIFF_CLUSTERS clusters rendered twice, the second time with one parameter changed in each."""
    dirs = []
    for run, connections in (("a", 100), ("b", 200)):
        text = "---\n".join(
            spec(i) + f"  patroni:\n    parameters:\n      max_connections: {connections}\n"
            for i in range(DIFF_CLUSTERS)
        )
        path = tmp / f"{run}.yaml"
        path.write_text(text)
        out = tmp / run
        cmd = [sys.executable, "-m", "pgrender", "render", str(path), "-o", str(out), "--key-file", str(KEY)]
        subprocess.run(cmd, check=True, capture_output=True, env=ENV)
        dirs.append(out)
    return dirs[0], dirs[1]


def diff_times(runs: int) -> tuple[list[float], list[float], list[float]]:
    """`pgrender diff A B` (exit 0: a parameter change blocks nothing), and two baselines timed in
    the same run: starting Python, and `diff -r` over the same directories."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b = diff_repository(Path(tmp))
        ours = timed([sys.executable, "-m", "pgrender", "diff", str(a), str(b)], runs)
        python = timed([sys.executable, "-c", "pass"], runs)
        plain = timed(["sh", "-c", f"diff -r {a} {b} > /dev/null; true"], runs)
    return ours, python, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--batch-runs", type=int, default=5)
    args = parser.parse_args()

    times = cold(args.runs)
    print(
        f"cold render (hippo, whole process, {args.runs} runs): "
        f"min {min(times) * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} ms  [target <= 150 ms]"
    )
    floor = timed([sys.executable, "-c", LIBRARIES], args.runs)
    models = timed([sys.executable, "-c", SPEC_MODELS], args.runs)
    print(
        f"  floor: starting Python, importing click, ruamel.yaml and cryptography (EC) and using one pydantic "
        f"model: {min(floor) * 1000:.0f} ms; with pgrender's spec models built: {min(models) * 1000:.0f} ms"
    )
    batches = [batch(args.clusters) for _ in range(args.batch_runs)]
    n, imports, first, _, _, size = batches[0]
    per_cluster = [b[3] * 1000 / n for b in batches]
    print(
        f"batch of {n} clusters in one process ({args.batch_runs} processes): min {min(per_cluster):.2f}, "
        f"median {statistics.median(per_cluster):.2f} ms per cluster ({size / 1e6:.1f} MB of YAML)  [target <= 3 ms]"
    )
    print(f"  before it: imports {imports * 1000:.0f} ms, then a first render (hippo) {first * 1000:.0f} ms")
    with_backups = [batch(args.clusters, backups=True) for _ in range(args.batch_runs)]
    per_cluster_backups = [b[3] * 1000 / b[0] for b in with_backups]
    print(
        f"  the same clusters with backups (S3, two schedules, PITR retention): min {min(per_cluster_backups):.2f}, "
        f"median {statistics.median(per_cluster_backups):.2f} ms per cluster ({with_backups[0][5] / 1e6:.1f} MB)"
    )
    peak = max(b[4] for b in batches)
    print(f"peak memory (max RSS) for {n} clusters: {peak / 1024:.0f} MB  [target <= 150 MB]")
    print(f"  with backups: {max(b[4] for b in with_backups) / 1024:.0f} MB")
    ours, python, plain = (statistics.median(t) for t in diff_times(args.runs))
    print(
        f"pgrender diff of {DIFF_CLUSTERS} clusters, one parameter changed in each (whole process, {args.runs} runs): "
        f"median {ours * 1000:.0f} ms = {ours / python:.1f}x `python3 -c pass` ({python * 1000:.0f} ms), "
        f"{ours / plain:.1f}x `diff -r` ({plain * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
