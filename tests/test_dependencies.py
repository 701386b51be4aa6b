"""Packaging: the runtime dependencies are exactly what pgrender imports at runtime; lint's extra imports
(kubernetes-validate, and jsonschema and referencing for the bundled CRD schemas) are the `lint` extra, which the
`test` extra includes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# Top-level import name -> distribution name, where the two differ.
DISTRIBUTION = {
    "ruamel": "ruamel.yaml",
    "_ruamel_yaml": "ruamel.yaml.clib",  # libyaml's parser, which load.py uses by itself
    "kubernetes_validate": "kubernetes-validate",
    "yaml": "pyyaml",
}
# Runtime dependencies pgrender never imports itself.
NOT_IMPORTED: set[str] = set()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings (version and markers dropped)."""
    out = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        out.add(normalize(match.group()))
    return out


# The standard library of another Python version: record.py imports 3.12's _sha2, else 3.11's _sha256.
STDLIB_ELSEWHERE = {"_sha2", "_sha256"}


def imported_distributions() -> set[str]:
    """Every absolute import in pgrender/, lazy ones inside functions included, that is neither stdlib nor
    pgrender, as a distribution name."""
    found = set()
    for path in sorted((ROOT / "pgrender").rglob("*.py")):
        if path.parent.name == "member_scripts":  # run by the image's python3 in the members' pods, beside Patroni
            continue
        if path.name == "pgadmin_start.py":  # run by pgAdmin's python in its pod, beside pgAdmin
            continue
        tree = ast.parse(path.read_text(), str(path))
        # `if TYPE_CHECKING:` imports are for mypy only (pydantic_core's types, say): never run.
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in STDLIB_ELSEWHERE and top != "pgrender":
                    found.add(normalize(DISTRIBUTION.get(top, top)))
    return found


def test_every_runtime_import_is_a_dependency_or_the_lint_extra() -> None:
    assert imported_distributions() - names(PROJECT["dependencies"]) == names(EXTRAS["lint"])
    assert names(EXTRAS["lint"]) == {"kubernetes-validate", "jsonschema", "referencing"}


def test_every_runtime_dependency_is_imported() -> None:
    assert names(PROJECT["dependencies"]) - NOT_IMPORTED <= imported_distributions()


def test_the_test_extra_includes_the_lint_extra() -> None:
    assert set(EXTRAS["lint"]) <= set(EXTRAS["test"])
