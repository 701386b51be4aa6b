"""Shared fixtures: the published test key, spec files in tmp_path, rendering and the CLI."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from pgrender.cli import cli
from pgrender.plan import ClusterPlan
from pgrender.plans import validate
from pgrender.render import Request, render

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_KEY = ROOT / "tests" / "golden.key"
# pgrender refuses the published test key unless asked; the suite renders with it throughout, and
# its subprocesses inherit this. Tests of the refusal remove it.
ALLOW_TEST_KEY = "PGRENDER_ALLOW_TEST_KEY"
os.environ[ALLOW_TEST_KEY] = "1"
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "golden"

# The smallest valid spec; tests deep-copy it and change what they test (Patroni's validator style).
BASE_SPEC: dict[str, Any] = {
    "apiVersion": "pgrender.io/v1alpha1",
    "kind": "PostgresCluster",
    "metadata": {"name": "hippo", "namespace": "db"},
    "spec": {
        "postgresVersion": 16,
        "instances": [{"name": "instance1", "replicas": 2, "dataVolume": {"size": "1Gi"}}],
    },
}


@pytest.fixture(autouse=True, scope="session")
def _stat_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """record.py's stat cache (of renders here and in subprocesses) in a temporary directory, not ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True, scope="session")
def _compiled_agrees_with_pydantic() -> Iterator[None]:
    """Every spec a test validates is decided by pydantic too (tests/compiled_check.py)."""
    import pgrender.spec
    from tests.compiled_check import agreeing

    original = pgrender.spec.validated
    pgrender.spec.validated = agreeing
    yield
    pgrender.spec.validated = original


def base_spec() -> dict[str, Any]:
    return copy.deepcopy(BASE_SPEC)


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec (mapping or raw text) to tmp_path and return its path."""
    counter = iter(range(1000))

    def _write(spec: dict[str, Any] | str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"spec{next(counter)}.yaml")
        path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
        return path

    return _write


@pytest.fixture
def plan_of(write_spec: Callable[..., Path]) -> Callable[[dict[str, Any]], ClusterPlan]:
    def _plan(spec: dict[str, Any]) -> ClusterPlan:
        plans = validate((str(write_spec(spec)),))
        assert len(plans) == 1
        plan: ClusterPlan = plans[0]
        return plan

    return _plan


@pytest.fixture
def objects_of(write_spec: Callable[..., Path]) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """Render a spec with the test key; return the finished objects (Secrets base64-encoded)."""

    def _objects(spec: dict[str, Any]) -> list[dict[str, Any]]:
        rendering = render(Request((str(write_spec(spec)),), key_file=str(GOLDEN_KEY)))
        return [m for c in rendering.clusters for m in c.manifests]

    return _objects


def rendered_by_name(spec: dict[str, Any], path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``spec`` written to ``path`` and rendered with the test key: each finished object by (kind, name)."""
    path.write_text(yaml.safe_dump(spec))
    rendering = render(Request((str(path),), key_file=str(GOLDEN_KEY)))
    return {(m["kind"], m["metadata"]["name"]): m for c in rendering.clusters for m in c.manifests}


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name} in {[(o['kind'], o['metadata']['name']) for o in objects]}")


def run_cli(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def traced_peak(run: Callable[[], object]) -> int:
    """The most memory Python held at once (tracemalloc) while ``run`` ran, in bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
