"""Cold start: one whole `pgrender` process for one cluster, against `kubectl kustomize` of the same
rendered base (what Argo CD runs for a plain kustomize application), timed interleaved.

render, validate and `cmp generate` (every Argo CD refresh) are each a cold process; `pgrender diff`
of two renderings is compared with `diff -r` of the same directories.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ENV, KEY, ROOT, Command, Row, interleaved, plain_install
from benchmarks.spec_gen import spec

HIPPO = ROOT / "examples" / "hippo.yaml"
COLD_TARGET = 1.5  # issue 17: within 1.5x kubectl kustomize of the same base
DIFF_CLUSTERS = 20


def rows(quick: bool = False, python: str = sys.executable, install: str = "") -> list[Row]:
    """The cold runs of the pgrender installed beside ``python`` (``install`` names it in the rows)."""
    runs = 5 if quick else 15
    pgrender = [python, "-m", "pgrender"]
    kubectl = shutil.which("kubectl")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "hippo"
        subprocess.run(
            [*pgrender, "render", str(HIPPO), "-o", str(base), "--key-file", str(KEY)],
            check=True,
            capture_output=True,
            env=ENV,
        )
        app = Path(tmp) / "app"
        app.mkdir()
        shutil.copy(HIPPO, app / "hippo.pgcluster.yaml")
        commands = {
            "python": Command([python, "-c", "pass"]),
            "render": Command([*pgrender, "render", str(HIPPO), "--stdout", "--key-file", str(KEY)]),
            "validate": Command([*pgrender, "validate", str(HIPPO)]),
            "cmp generate": Command(
                [*pgrender, "cmp", "generate"],
                cwd=app,
                env={"ARGOCD_ENV_PGRENDER_KEY_FILE": str(KEY), "ARGOCD_APP_NAMESPACE": "default"},
            ),
        }
        if kubectl:
            commands["kustomize"] = Command([kubectl, "kustomize", str(base)])
        a, b = _diff_pair(Path(tmp), pgrender)
        commands["diff"] = Command([*pgrender, "diff", str(a), str(b)])
        commands["diff -r"] = Command(["sh", "-c", f"diff -r {a} {b} > /dev/null; true"])
        # What the compiled spec models (pgrender/spec/plain.py) save every cold command: the pydantic
        # models' import and building, against the compiled ones'.
        commands["compiled models"] = Command([python, "-c", "import pgrender.spec.compiled"])
        commands["pydantic models"] = Command([python, "-c", "import pgrender.spec.cluster, pgrender.spec.repository"])
        median = interleaved(commands, runs)
    out = []
    if kubectl:
        for name in ("render", "validate", "cmp generate"):
            out.append(
                Row(
                    f"cold {name} (hippo, whole process{install})",
                    median[name],
                    "`kubectl kustomize`",
                    median["kustomize"],
                    target=COLD_TARGET,
                )
            )
    else:
        out.append(
            Row(
                f"cold render (hippo{install}; no kubectl for the baseline)",
                median["render"],
                "`python -c pass`",
                median["python"],
            )
        )
    out.append(
        Row(
            f"import the compiled spec models (python -c{install})",
            median["compiled models"],
            "the pydantic models' import",
            median["pydantic models"],
        )
    )
    out.append(
        Row(f"pgrender diff of {DIFF_CLUSTERS} clusters{install}", median["diff"], "`diff -r`", median["diff -r"])
    )
    return out


def plain_rows(quick: bool = False) -> list[Row]:
    """The same runs in a plain install (common.plain_install): what a user's cold process costs."""
    with plain_install() as python:
        return rows(quick, python, ", plain install")


def _diff_pair(tmp: Path, pgrender: list[str]) -> tuple[Path, Path]:
    """DIFF_CLUSTERS clusters rendered twice, the second time with one parameter changed in each."""
    dirs = []
    for run, connections in (("a", 100), ("b", 200)):
        text = "---\n".join(
            spec(i) + f"  patroni:\n    parameters:\n      max_connections: {connections}\n"
            for i in range(DIFF_CLUSTERS)
        )
        path = tmp / f"{run}.yaml"
        path.write_text(text)
        subprocess.run(
            [*pgrender, "render", str(path), "-o", str(tmp / run), "--key-file", str(KEY)],
            check=True,
            capture_output=True,
            env=ENV,
        )
        dirs.append(tmp / run)
    return dirs[0], dirs[1]
