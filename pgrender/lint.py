"""Schema validation of rendered output: kubernetes-validate in process, kubeconform when asked."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgrender.errors import PgrenderError, Problem, SpecError

SKIPPED_KINDS = frozenset({"Kustomization"})
OLDEST_MINOR = 25  # the oldest schemas kubernetes-validate ships
LINT_EXTRA = "pip install 'pgrender[lint]'"


@dataclass(frozen=True)
class LintResult:
    files: int
    objects: int
    problems: tuple[Problem, ...]


def _kubernetes_validate() -> Any:
    """The kubernetes_validate module; PgrenderError (exit 2) naming the extra to install when it is missing.

    It comes with the `lint` extra only: its bundled schemas are large, and no other command needs them.
    """
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise PgrenderError(
            f"lint needs kubernetes-validate (the lint extra): {exc}; install it: {LINT_EXTRA}"
        ) from None
    return kubernetes_validate


def parse_kubernetes_version(text: str) -> str:
    """1.MINOR[.PATCH] within what kubernetes-validate bundles; PgrenderError (exit 2) otherwise."""
    kubernetes_validate = _kubernetes_validate()
    parts = text.removeprefix("v").split(".")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts) or parts[0] != "1":
        raise PgrenderError(
            f"--kubernetes-version: {text!r} is not a Kubernetes version; expected 1.MINOR such as 1.30"
        )
    minor = int(parts[1])
    newest = int(kubernetes_validate.latest_version().split(".")[1])
    if not OLDEST_MINOR <= minor <= newest:
        raise PgrenderError(f"--kubernetes-version {text}: schemas are bundled for 1.{OLDEST_MINOR} to 1.{newest} only")
    return f"1.{minor}"


def yaml_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if str(path) == "-":
            out.append(path)
        elif path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise PgrenderError(f"{path}: no such file or directory")
    return out


def lint(paths: list[Path], version: str) -> LintResult:
    """Validate every object strictly (unknown fields are errors) against ``version``'s schemas."""
    kubernetes_validate = _kubernetes_validate()
    problems: list[Problem] = []
    files = yaml_files(paths)
    count = 0
    for path in files:
        for index, obj in enumerate(_documents(path)):
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


def _documents(path: Path) -> list[Any]:
    """The YAML documents of a rendered file ("-": standard input); bad YAML is a SpecError."""
    import sys

    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        return list(YAML(typ="safe").load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise SpecError([Problem(str(path), line, col, "", f"invalid YAML: {exc.problem}")]) from None
    except (YAMLError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(str(path), 0, 0, "", f"invalid YAML: {exc}")]) from None


def _ident(obj: dict[str, Any], index: int) -> str:
    name = (obj.get("metadata") or {}).get("name", f"document {index}")
    return f"{obj.get('kind', '?')}/{name}"


def kubeconform(paths: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    """Run the kubeconform binary (not packaged anywhere pgrender installs from) when on PATH."""
    binary = shutil.which("kubeconform")
    if binary is None:
        raise PgrenderError("--kubeconform: no kubeconform binary on PATH (see README, 'Lint')")
    files = [str(p) for p in yaml_files(paths) if p.name != "kustomization.yaml"]
    if "-" in files:
        raise PgrenderError("--kubeconform reads files, not standard input")
    return subprocess.run(
        [binary, "-strict", "-summary", "-kubernetes-version", f"{version}.0", *files],
        capture_output=True,
        text=True,
        check=False,
    )
