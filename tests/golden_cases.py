"""Golden cases: render each example and each golden/<case>/spec.yaml; `make golden` rewrites them.

Diff cases (golden/diff-<case>/): old.yaml and new.yaml are rendered each into its own directory,
and `pgrender diff old new` must print exactly expected.txt (its exit status first).

Convert cases (golden/convert-<operator>-<case>/): `pgrender convert --from <operator> input.yaml`
must print exactly expected.yaml (the converted specs) and expected.err (its exit status, then the
notes).

A case may hold its own pgrender.yaml (a secrets provider and its settings); every case renders
against its committed output (--previous), which only the sealed provider reads: it keeps the
committed ciphertexts while their values are unchanged, so `make golden` rewrites only what changed.

Run as `python -m tests.golden_cases --update` (`make golden`) to rewrite golden/*/expected,
expected.err, expected.txt and expected.yaml.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from pgrender.cli import cli

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"
KEY = "tests/golden.key"


@dataclass(frozen=True)
class Case:
    name: str
    spec: str  # relative to ROOT, as it appears in error messages

    @property
    def directory(self) -> Path:
        return GOLDEN / self.name

    @property
    def is_error(self) -> bool:
        return self.name.startswith("error-")


def cases() -> list[Case]:
    """One case per golden directory; its spec is examples/<case>.yaml or golden/<case>/spec.yaml."""
    out = []
    for directory in sorted(
        p for p in GOLDEN.iterdir() if p.is_dir() and not p.name.startswith((DIFF_PREFIX, CONVERT_PREFIX))
    ):
        own = directory / "spec.yaml"
        example = ROOT / "examples" / f"{directory.name}.yaml"
        spec = own if own.exists() else example
        out.append(Case(directory.name, str(spec.relative_to(ROOT))))
    return out


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stderr: str
    files: dict[str, bytes]


def render_args(case: Case) -> list[str]:
    """The case's own pgrender.yaml (golden/<case>/pgrender.yaml: a secrets provider, the sealing
    certificate), and its committed output as the previous output: the sealed provider keeps the
    committed ciphertexts of unchanged values, as a repository's render keeps its committed directory's,
    so the case is deterministic although sealing is random (secrets/sealed.py)."""
    args = []
    config = case.directory / "pgrender.yaml"
    if config.is_file():
        args += ["--config", str(config.relative_to(ROOT))]
    expected = case.directory / "expected"
    if (expected / "kustomization.yaml").is_file():
        args += ["--previous", str(expected.relative_to(ROOT))]
    return args


def run(case: Case, output: Path) -> Outcome:
    """Render one case into ``output`` through the CLI, from the repository root."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        args = ["render", case.spec, "-o", str(output), "--key-file", KEY, *render_args(case)]
        result = CliRunner().invoke(cli, args)
    finally:
        os.chdir(cwd)
    files = (
        {str(p.relative_to(output)): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()}
        if output.exists()
        else {}
    )
    return Outcome(result.exit_code, result.stderr, files)


DIFF_PREFIX = "diff-"


def diff_cases() -> list[Path]:
    """golden/diff-<case>/ directories: old.yaml and new.yaml, and the expected.txt of their diff."""
    return sorted(p for p in GOLDEN.iterdir() if p.is_dir() and p.name.startswith(DIFF_PREFIX))


def run_diff(case: Path, work: Path) -> str:
    """Render old.yaml and new.yaml into work/old and work/new; `pgrender diff old new` from work:
    its exit status, then what it printed."""
    runner = CliRunner()
    cwd = os.getcwd()
    try:
        for side in ("old", "new"):
            os.chdir(ROOT)
            spec = str((case / f"{side}.yaml").relative_to(ROOT))
            rendered = runner.invoke(cli, ["render", spec, "-o", str(work / side), "--key-file", KEY])
            if rendered.exit_code != 0:
                raise AssertionError(f"{case.name}: rendering {side}.yaml failed:\n{rendered.stderr}")
        os.chdir(work)
        result = runner.invoke(cli, ["diff", "old", "new"])
    finally:
        os.chdir(cwd)
    return f"exit {result.exit_code}\n{result.stdout}{result.stderr}"


CONVERT_PREFIX = "convert-"


def convert_cases() -> list[Path]:
    """golden/convert-<operator>-<case>/: input.yaml, and what `convert --from <operator>` prints for it."""
    return sorted(p for p in GOLDEN.iterdir() if p.is_dir() and p.name.startswith(CONVERT_PREFIX))


def convert_operator(case: Path) -> str:
    return case.name.removeprefix(CONVERT_PREFIX).split("-", 1)[0]


def run_convert(case: Path) -> tuple[str, str]:
    """(stdout, "exit N" and stderr) of `pgrender convert --from <operator> input.yaml`, from the root."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        spec = str((case / "input.yaml").relative_to(ROOT))
        result = CliRunner().invoke(cli, ["convert", "--from", convert_operator(case), spec])
    finally:
        os.chdir(cwd)
    return result.stdout, f"exit {result.exit_code}\n{result.stderr}"


def update() -> None:
    for directory in convert_cases():
        stdout, stderr = run_convert(directory)
        (directory / "expected.yaml").write_text(stdout)
        (directory / "expected.err").write_text(stderr)
        print(f"{directory.name}: {stderr.splitlines()[0]}, expected.yaml and expected.err rewritten")
    for directory in diff_cases():
        with tempfile.TemporaryDirectory() as tmp:
            (directory / "expected.txt").write_text(run_diff(directory, Path(tmp)))
        print(f"{directory.name}: expected.txt rewritten")
    for case in cases():
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run(case, Path(tmp) / "out")
        if case.is_error:
            (case.directory / "expected.err").write_text(outcome.stderr)
            print(f"{case.name}: exit {outcome.exit_code}, expected.err rewritten")
            continue
        if outcome.exit_code != 0:
            sys.exit(f"{case.name}: render failed:\n{outcome.stderr}")
        expected = case.directory / "expected"
        shutil.rmtree(expected, ignore_errors=True)
        for rel, content in outcome.files.items():
            path = expected / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        print(f"{case.name}: {len(outcome.files)} files rewritten")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.golden_cases --update")
    # The golden files are rendered with the published test key, which pgrender refuses unless told.
    os.environ["PGRENDER_ALLOW_TEST_KEY"] = "1"
    update()
