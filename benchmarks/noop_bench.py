"""No-op commit benchmark: a repository of 20 specs with nothing changed, against `python -c pass`.

A pre-commit hook runs `pgrender render --write --exit-code` (or `check`) on every commit; the target
is a run that finds nothing changed within 2x `python -c pass` of the same interpreter (issue 17,
target 1). The repository renders with the derived provider (the published test key, the output
directory git-ignored, so the git check runs as it does for users); the commands are timed
interleaved, one round after another, and the medians compared. A render with one spec changed
renders that cluster and takes the others from the output (pgrender/reuse.py); one with only a
comment changed renders none.

Usage: python -m benchmarks.noop_bench [--quick] (make bench runs it with the other sections)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import ENV, KEY, ROOT, Row, plain_install

SPECS = 20
CONFIG = "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {keyFile: root.key}\n"
# The same repository whose Secrets are made by other means: no plaintext to keep out of git, so no git check.
CONFIG_EXISTING = CONFIG.replace("{keyFile: root.key}", "{provider: existing, keyFile: root.key}")
NOOP_TARGET = 2.0  # issue 17: a no-op run within 2x `python -c pass`


def repository(where: Path, config: str = CONFIG) -> Path:
    """pgrender.yaml, SPECS copies of examples/hippo.yaml (each its own cluster), a git-ignored output."""
    repo = where
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("/rendered/\n")
    (repo / "pgrender.yaml").write_text(config)
    shutil.copyfile(KEY, repo / "root.key")
    (repo / "root.key").chmod(0o600)  # a key others may read is warned about: only the full path warns
    hippo = (ROOT / "examples" / "hippo.yaml").read_text()
    for i in range(SPECS):
        (repo / f"hippo{i:02}.pgcluster.yaml").write_text(hippo.replace("name: hippo\n", f"name: hippo{i:02}\n"))
    return repo


def environment(cache: Path) -> dict[str, str]:
    """As on a user's machine (common.ENV), with the stat cache in a fresh place."""
    return ENV | {"XDG_CACHE_HOME": str(cache)}


def rows(quick: bool = False, python: str = sys.executable, install: str = "") -> list[Row]:
    """The no-op runs of the pgrender installed beside ``python``, against ``python -c pass``."""
    runs = 5 if quick else 15
    pgrender = str(Path(python).with_name("pgrender"))
    with tempfile.TemporaryDirectory(prefix="noop-bench-") as tmp:
        repo = repository(Path(tmp) / "databases")
        other = repository(Path(tmp) / "existing", CONFIG_EXISTING)
        env = environment(Path(tmp) / "cache")
        render = [pgrender, "render", "--write", "--exit-code"]
        for where in (repo, other):  # the first renders
            subprocess.run(render, cwd=where, env=env, check=False, capture_output=True)
        changing = repo / "hippo00.pgcluster.yaml"
        original = changing.read_text()
        # Each round ends with the spec as it was, rendered: each of these changes it from there.

        def comment_changed() -> None:
            """A spec's bytes change but not its data: a comment line."""
            changing.write_text(original + "# a comment\n")

        def one_changed() -> None:
            """A cluster changes: three instances instead of two."""
            changing.write_text(original.replace("replicas: 2", "replicas: 3"))

        commands: dict[str, tuple[list[str], Callable[[], None] | None, Path]] = {
            "python -c pass": ([python, "-c", "pass"], None, repo),
            "render --write --exit-code, no-op": (render, None, repo),
            "render --write --exit-code, no-op, provider existing (no git check)": (render, None, other),
            "check, no-op": ([pgrender, "check"], None, repo),
            "validate, no-op": ([pgrender, "validate"], None, repo),
            "render --write --exit-code, a comment in one spec changed": (render, comment_changed, repo),
            "render --write --exit-code, one spec changed": (render, one_changed, repo),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, (cmd, before, where) in commands.items():
                if before:
                    before()
                start = time.perf_counter()
                done = subprocess.run(cmd, cwd=where, env=env, check=False, capture_output=True)
                times[name].append(time.perf_counter() - start)
                if done.returncode != 0 and before is None:
                    raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr.decode()}")
            changing.write_text(original)
            subprocess.run(render, cwd=repo, env=env, check=False, capture_output=True)
    baseline = statistics.median(times["python -c pass"]) * 1000
    return [
        Row(
            f"{name} ({SPECS} specs{install})",
            statistics.median(t) * 1000,
            "`python -c pass`",
            baseline,
            target=NOOP_TARGET if "no-op" in name else None,
        )
        for name, t in times.items()
        if name != "python -c pass"
    ]


def plain_rows(quick: bool = False) -> list[Row]:
    """The same runs in a plain install (common.plain_install): its `python -c pass` is about half
    the development virtualenv's, which flatters the ratios."""
    with plain_install() as python:
        return rows(quick, python, ", plain install")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of 15")
    for row in rows(parser.parse_args().quick):
        print(row.line())


if __name__ == "__main__":
    main()
