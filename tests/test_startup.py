"""Start-up path: what each cold command of one cluster must not import (cold-start time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT

# The console script's path (record.main, then pgrender.direct), without its exit that skips teardown.
PROBE = """
import contextlib, io, json, os, sys
from pgrender import commands, direct, record
function, params = direct.parse(sys.argv[1:], os.environ)
with contextlib.redirect_stdout(io.StringIO()):
    try:
        getattr(commands, function)(**params)
    except SystemExit as exc:
        assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""

# Each is several milliseconds of a cold render and has no use in it. (cryptography.x509 is on the
# path: certificate encoding is a security boundary it owns, which is worth its import time.)
NOT_ON_THE_RENDER_PATH = (
    # pydantic's import and model building were two thirds of a cold render: a valid spec is decided
    # by the compiled models (pgrender/spec/plain.py); pydantic explains an invalid one.
    "pydantic",
    "pydantic_core",
    # click with inspect, uuid and platform: about 7 ms; pgrender.direct parses the usual command lines
    "click",
    "inspect",
    "uuid",
    # dataclasses collected the fields of 72 classes in about 5 ms; pgrender.frozen does it itself
    "dataclasses",
    "concurrent.futures",  # the SCRAM pool starts with a second cluster
    "jsonschema",
    "kubernetes_validate",
    "subprocess",  # git checks are for output directories only
    # secrets.x509 writes its own DER: importing these took about 40 ms of a cold render
    "cryptography.x509",
    "cryptography.hazmat.primitives.serialization",
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


def imported(*argv: str, cwd: Path = ROOT) -> set[str]:
    """The modules a whole `pgrender ARGV` run has imported at its end."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env={**os.environ, "ARGOCD_APP_NAMESPACE": "default", "ARGOCD_ENV_PGRENDER_KEY_FILE": str(GOLDEN_KEY)},
    )
    return set(json.loads(result.stdout))


def test_every_example_renders_without_pydantic() -> None:
    """Backups, restores, standbys, pgBouncer, monitoring: every default the plan fills in is compiled."""
    examples = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    modules = imported("render", *examples, "--stdout", "--key-file", str(GOLDEN_KEY))
    assert len(examples) > 5 and "pgrender.plan.backups" in modules
    assert sorted(m for m in modules if m.startswith("pydantic")) == []


def test_one_cluster_to_stdout_imports_only_what_it_uses() -> None:
    modules = imported("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert "pgrender.spec" in modules and "pgrender.secrets.x509" in modules and "pgrender.direct" in modules
    assert sorted(m for m in NOT_ON_THE_RENDER_PATH if m in modules) == []


def test_a_repository_render_imports_no_pydantic(tmp_path: Path) -> None:
    """pgrender.yaml is compiled too: `render --write` (the pre-commit hook) and `cmp generate`."""
    (tmp_path / "hippo.pgcluster.yaml").write_text((EXAMPLES / "hippo.yaml").read_text())
    (tmp_path / "pgrender.yaml").write_text(f"specs: ['*.pgcluster.yaml']\nsecrets:\n  keyFile: {GOLDEN_KEY}\n")
    for argv in (("render", "--write", "--allow-secrets-in-git"), ("cmp", "generate")):
        modules = imported(*argv, cwd=tmp_path)
        assert "pgrender.config" in modules and "pydantic" not in modules, argv
        assert not {"click", "inspect", "dataclasses"} & modules, argv  # the hook's and Argo CD's runs
    # The output `render --write` left is there; only the sealed provider reads it (its ciphertexts).
    assert "pgrender.check" not in modules


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


# The modules of the render path: each imports without pydantic (the compiled models import what the
# models call, by name).
WITHOUT_PYDANTIC = (
    "pgrender.spec.compiled",
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


# The console script (record.main) to its end: how often the cyclic collector ran, in each
# generation, from the process's settings on (tuning.command_process: before it, Python's start and
# record.main's answer make too few objects to matter).
COLLECTIONS = """
import gc, json, os, sys
from pgrender import record, tuning
def collections():
    return [generation["collections"] for generation in gc.get_stats()]
before, setting, exit = [], tuning.command_process, os._exit
tuning.command_process = lambda: (setting(), before.extend(collections()))
def leave(code):
    print(json.dumps([now - then for now, then in zip(collections(), before)]))
    sys.stdout.flush()
    exit(code)
os._exit = leave
record.main()
"""


@pytest.mark.parametrize(
    "argv",
    [
        ("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY)),
        ("validate", str(EXAMPLES / "hippo.yaml")),
    ],
)
def test_a_cold_command_never_walks_what_it_imported(argv: tuple[str, ...]) -> None:
    """The imported pipeline (about 30,000 objects that live to the end) is not walked by the cyclic
    collector again and again in a command of one cluster: 20 collections at the default threshold
    took 6% of a cold render."""
    result = subprocess.run(
        [sys.executable, "-c", COLLECTIONS, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(result.stdout.splitlines()[-1]) == [0, 0, 0]
