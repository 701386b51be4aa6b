"""Schema validation of rendered output: kubernetes-validate in process, kubeconform when asked."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrender.errors import PgrenderError, Problem

SKIPPED_KINDS = frozenset({"Kustomization"})


@dataclass(frozen=True)
class LintResult:
    files: int
    objects: int
    problems: tuple[Problem, ...]


def yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise PgrenderError(f"{path}: no such file or directory")
    return out


def lint(paths: list[Path], version: str) -> LintResult:
    """Validate every object strictly (unknown fields are errors) against ``version``'s schemas."""
    import kubernetes_validate
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    problems: list[Problem] = []
    files = yaml_files(paths)
    count = 0
    for path in files:
        for index, obj in enumerate(yaml.load_all(path.read_text(encoding="utf-8"))):
            if not isinstance(obj, dict) or obj.get("kind") in SKIPPED_KINDS:
                continue
            count += 1
            ident = _ident(obj, index)
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                problems.append(Problem(str(path), 0, 0, f"{ident}{'.' + where if where else ''}", exc.message))
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(Problem(str(path), 0, 0, ident, f"no schema for this kind in Kubernetes {version}"))
    return LintResult(len(files), count, tuple(problems))


def _ident(obj: dict[str, Any], index: int) -> str:
    name = (obj.get("metadata") or {}).get("name", f"document {index}")
    return f"{obj.get('kind', '?')}/{name}"


def kubeconform(paths: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    """Run the kubeconform binary (not packaged anywhere pgrender installs from) when on PATH."""
    binary = shutil.which("kubeconform")
    if binary is None:
        raise PgrenderError("--kubeconform: no kubeconform binary on PATH (see README, 'Lint')")
    files = [str(p) for p in yaml_files(paths) if p.name != "kustomization.yaml"]
    return subprocess.run(
        [binary, "-strict", "-summary", "-kubernetes-version", f"{version}.0", *files],
        capture_output=True,
        text=True,
        check=False,
    )
