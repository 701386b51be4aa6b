"""Start-up path: what each cold command of one cluster must not import (cold-start time)."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT

PROBE = """
import contextlib, io, json, sys
sys.argv = ["pgrender", *sys.argv[1:]]
from pgrender import cli
with contextlib.redirect_stdout(io.StringIO()):
    try:
        cli.cli()
    except SystemExit as exc:
        assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""

# Each is several milliseconds of a cold render and has no use in it. (cryptography.x509 is on the
# path: certificate encoding is a security boundary it owns, which is worth its import time.)
NOT_ON_THE_RENDER_PATH = (
    "concurrent.futures",  # the SCRAM pool starts with a second cluster
    "jsonschema",
    "kubernetes_validate",
    "subprocess",  # git checks are for output directories only
    "difflib",
    "pgrender.check",
    "pgrender.config",
    "pgrender.lint",
)


# What only rendering needs: validate reads and resolves the specs (pgrender.plans) and stops there.
NOT_ON_THE_VALIDATE_PATH = (
    *NOT_ON_THE_RENDER_PATH,
    "cryptography",
    "pgrender.components",
    "pgrender.emit",
    "pgrender.render",
    "pgrender.secrets.x509",
    "pgrender.transforms",
    "pgrender.write",
)


def imported(*argv: str) -> set[str]:
    """The modules a whole `pgrender ARGV` run has imported at its end."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(json.loads(result.stdout))


def test_one_cluster_to_stdout_imports_only_what_it_uses() -> None:
    modules = imported("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert "pgrender.spec" in modules and "pgrender.secrets.x509" in modules
    assert sorted(m for m in NOT_ON_THE_RENDER_PATH if m in modules) == []


def test_validate_imports_no_rendering() -> None:
    modules = imported("validate", str(EXAMPLES / "hippo.yaml"))
    assert "pgrender.plans" in modules
    assert sorted(m for m in NOT_ON_THE_VALIDATE_PATH if m in modules) == []


def test_no_model_reads_its_source_while_it_is_built() -> None:
    """pydantic's use_attribute_docstrings parses each model's source at import (about 55 ms of
    every run); pgrender.schema reads the field docstrings when it makes the schema instead."""
    from pgrender.spec import PostgresCluster
    from pgrender.spec.base import StrictModel
    from pgrender.spec.repository import RepositoryConfig

    def models(base: type[StrictModel]) -> list[type[StrictModel]]:
        return [base, *(m for sub in base.__subclasses__() for m in models(sub))]

    every = models(StrictModel)
    assert PostgresCluster in every and RepositoryConfig in every and len(every) > 50
    assert [m.__name__ for m in every if m.model_config.get("use_attribute_docstrings")] == []


# The modules of the render path: each imports without pydantic, whose import and model building are
# most of a cold render; pydantic comes in only to validate (until the compiled validators) and to
# explain an invalid spec.
WITHOUT_PYDANTIC = (
    "pgrender.render",
    "pgrender.write",
    "pgrender.plans",
    "pgrender.plan",
    "pgrender.components",
    "pgrender.transforms",
    "pgrender.emit",
    "pgrender.config",
    "pgrender.cli",
    "pgrender.cmp",
    "pgrender.record",
)


def _imports(*modules: str) -> set[str]:
    """The modules a fresh interpreter has imported after importing ``modules``."""
    probe = f"import json, sys\nimport {', '.join(modules)}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("module", WITHOUT_PYDANTIC)
def test_render_path_module_imports_without_pydantic(module: str) -> None:
    assert "pydantic" not in _imports(module)


def _referenced(schema: Any, found: set[Any]) -> set[Any]:
    """What a pydantic core schema calls or takes as given: validator functions, default factories,
    enums, the types of non-builtin defaults."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("function", "default_factory") and callable(value):
                found.add(value)
            elif key == "function" and isinstance(value, dict):
                found.add(value["function"])
            elif key == "default" and type(value).__module__ != "builtins":
                found.add(type(value))
            elif key == "cls" and isinstance(value, type) and issubclass(value, enum.Enum):
                found.add(value)
            else:
                _referenced(value, found)
    elif isinstance(schema, list | tuple):
        for value in schema:
            _referenced(value, found)
    return found


def test_what_the_models_call_is_top_level_and_imports_without_pydantic() -> None:
    """The compiled validators (pgrender/spec/compiled.py) import by name what the models call, and
    must not import pydantic to do it. Model classes as default factories are the models' own."""
    from pydantic import BaseModel

    from pgrender.spec import PostgresCluster
    from pgrender.spec.repository import RepositoryConfig

    found = _referenced(PostgresCluster.__pydantic_core_schema__, set())
    found |= _referenced(RepositoryConfig.__pydantic_core_schema__, set())
    # A provider name's check is bound to its registry: the class is what must be top level.
    named = {type(f.__self__) if hasattr(f, "__self__") else f for f in found}
    named = {n for n in named if not (isinstance(n, type) and issubclass(n, BaseModel))}
    places = {(n.__module__, n.__qualname__) for n in named}
    assert len(places) > 50
    assert sorted(p for p in places if "." in p[1] or "<" in p[1]) == []
    modules = {m for m, _ in places if m.startswith("pgrender.")}
    assert "pydantic" not in _imports(*sorted(modules))
