"""`pgrender lint` refuses output an overlay renamed or moved (pgrender/overlay_guard.py): built
for real with `kubectl kustomize` over the rendered pooled base, then linted from standard input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pgrender.cli import cli
from tests.conftest import ROOT
from tests.test_overlays import kustomize_build

BASE = ROOT / "golden" / "pooled" / "expected"
MOVED = "cluster pooled was rendered for namespace 'apps' but its output is in 'prod'"
RENAMED = "cluster pooled's objects were renamed ('pooled-config' is now"

# overlay kustomization lines → what lint says (empty: nothing)
CASES = [
    ("unchanged", "", []),
    ("patches-only", "commonLabels: {team: data}\ncommonAnnotations: {owner: data}\n", []),
    ("namespace", "namespace: prod\n", [MOVED]),
    ("name-prefix", "namePrefix: prod-\n", [RENAMED + " 'prod-pooled-config'"]),
    ("name-suffix", "nameSuffix: -v2\n", [RENAMED + " 'pooled-config-v2'"]),
    ("both", "namespace: prod\nnamePrefix: prod-\n", [MOVED, RENAMED]),
]


def build_overlay(tmp_path: Path, lines: str) -> bytes:
    """`kubectl kustomize` of an overlay with ``lines`` over a copy of the base."""
    shutil.copytree(BASE, tmp_path / "base")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: [../base]\n" + lines)
    kustomize_build(overlay)  # skips without kubectl (fails in CI)
    return subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, check=True).stdout


def lint_overlay(tmp_path: Path, lines: str) -> Result:
    """The overlay built (build_overlay), piped to `pgrender lint -`."""
    return CliRunner().invoke(cli, ["lint", "-"], input=build_overlay(tmp_path, lines))


@pytest.mark.parametrize(("lines", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lint_names_what_an_overlay_renamed(tmp_path: Path, lines: str, expected: list[str]) -> None:
    result = lint_overlay(tmp_path, lines)
    problems = [line for line in result.stderr.splitlines() if line.startswith("-:")]
    assert len(problems) == len(expected), result.stderr
    for line, part in zip(problems, expected, strict=True):
        assert part in line and "cannot start" in line, line
    assert result.exit_code == (1 if expected else 0), result.stderr


def test_the_guard_names_the_field_and_what_to_do_instead(tmp_path: Path) -> None:
    built = build_overlay(tmp_path, "namespace: prod\n").decode().splitlines()
    result = CliRunner().invoke(cli, ["lint", "-"], input="\n".join(built) + "\n")
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("-:")]
    # The line kustomize printed the field at: the ConfigMap's first `namespace:` after its name.
    name = built.index("  name: pooled-config")
    at = next(n for n in range(name, len(built)) if built[n].startswith("  namespace: "))
    assert built[at] == "  namespace: prod"
    assert line.startswith(f"-:{at + 1}:3: ConfigMap/pooled-config.metadata.namespace: ")
    assert "render the spec for that namespace instead" in line and "targetNamespace" in line
