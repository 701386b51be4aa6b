"""Every rendered object passes kubernetes-validate (strict) and the base builds with kubectl kustomize."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from pgrender.lint import validate_object
from tests.conftest import EXAMPLES, GOLDEN, GOLDEN_KEY, run_cli

VERSIONS = ("1.28", kubernetes_validate.latest_version())
# Every example and every golden case with its own spec (the naming profiles among them).
SPECS = sorted(EXAMPLES.glob("*.yaml")) + sorted(
    p for p in GOLDEN.glob("*/spec.yaml") if not p.parent.name.startswith("error-")
)


def case_id(path: Path) -> str:
    return path.stem if path.parent == EXAMPLES else path.parent.name


def config_args(example: Path) -> list[str]:
    """A golden case's own pgrender.yaml (its secrets provider: sealed writes SealedSecrets)."""
    config = example.parent / "pgrender.yaml"
    return ["--config", str(config)] if example.parent.parent == GOLDEN and config.is_file() else []


def rendered(example: Path) -> list[dict[str, Any]]:
    result = run_cli("render", str(example), "--stdout", "--key-file", str(GOLDEN_KEY), *config_args(example))
    assert result.exit_code == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("example", SPECS, ids=case_id)
def test_strict_schema(example: Path, version: str) -> None:
    """Kubernetes' kinds by kubernetes-validate; custom kinds (SealedSecret) by their bundled CRD schemas."""
    failures = []
    for obj in rendered(example):
        try:
            validate_object(obj, version)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("example", SPECS, ids=case_id)
def test_kustomize_build(example: Path, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is expected in CI")
        pytest.skip("kubectl not installed")
    out = tmp_path / "base"
    result = run_cli("render", str(example), "-o", str(out), "--key-file", str(GOLDEN_KEY), *config_args(example))
    assert result.exit_code == 0, result.stderr
    built = subprocess.run([kubectl, "kustomize", str(out)], check=True, capture_output=True, text=True).stdout
    assert len([d for d in yaml.safe_load_all(built) if d]) == len(rendered(example))
