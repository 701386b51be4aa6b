"""spec.databaseInitSQL: a ConfigMap key mounted into the reconcile Job, or inline SQL in its ConfigMap; run once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components.reconcile import INIT_RECORD, reconcile
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec

PlanOf = Callable[[dict[str, Any]], ClusterPlan]


def with_init(init: dict[str, Any]) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["databaseInitSQL"] = init
    return spec


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def test_config_map_is_mounted_and_required(plan_of: PlanOf) -> None:
    config_map, job = reconcile(plan_of(with_init({"name": "hippo-init", "key": "setup.sql"})))
    pod = _pod(job)
    assert {
        "name": "init-sql",
        "configMap": {"name": "hippo-init", "items": [{"key": "setup.sql", "path": "init.sql"}], "optional": False},
    } in pod["volumes"]
    container = pod["containers"][0]
    assert {"name": "init-sql", "mountPath": "/etc/pgrender-init", "readOnly": True} in container["volumeMounts"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PGRENDER_INIT_SQL"] == "/etc/pgrender-init/init.sql"
    assert "init.sql" not in config_map["data"]
    assert config_map["data"]["init-record.sql"] == INIT_RECORD


def test_inline_sql_ships_in_the_reconcile_config_map(plan_of: PlanOf) -> None:
    config_map, job = reconcile(plan_of(with_init({"sql": "CREATE TABLE t (n int);\n"})))
    assert config_map["data"]["init.sql"] == "CREATE TABLE t (n int);\n"
    env = {e["name"]: e.get("value") for e in _pod(job)["containers"][0]["env"]}
    assert env["PGRENDER_INIT_SQL"] == "/etc/pgrender/init.sql"
    assert "init-sql" not in [v["name"] for v in _pod(job)["volumes"]]


def test_script_runs_it_once_then_writes_its_record(plan_of: PlanOf) -> None:
    """As PGO: psql commits each statement (\\c and CREATE DATABASE work; tests/runtime runs them),
    then the record, in a psql of its own once the SQL ran without an error."""
    script = reconcile(plan_of(with_init({"sql": "SELECT 1;"})))[0]["data"]["reconcile.sh"]
    assert "to_regclass('pgrender.init_sql') IS NOT NULL" in script
    assert (
        'psql --no-psqlrc --set=ON_ERROR_STOP=1 --dbname=postgres \\\n      --file="$PGRENDER_INIT_SQL" '
        '--file="$here/init-end.sql"\n'
    ) in script
    assert '--single-transaction --dbname=postgres \\\n      --file="$here/init-record.sql"' in script
    assert script.index("$PGRENDER_INIT_SQL") < script.index("init-record.sql")
    # After the roles and databases (the SQL may use them), before the rollout.
    assert script.index("reconcile.sql") < script.index("init-record.sql") < script.index('members.py" roll')
    assert "CREATE TABLE pgrender.init_sql" in INIT_RECORD and "IF NOT EXISTS pgrender.init_sql" not in INIT_RECORD


def test_without_init_sql_nothing_changes(plan_of: PlanOf) -> None:
    config_map, job = reconcile(plan_of(base_spec()))
    assert "PGRENDER_INIT_SQL" not in str(job) and "init-record.sql" not in config_map["data"]


def test_standby_cluster_does_not_run_it(plan_of: PlanOf) -> None:
    spec = with_init({"sql": "SELECT 1;"})
    spec["spec"]["standby"] = {"fromCluster": {"cluster": "source"}}
    script = reconcile(plan_of(spec))[0]["data"]["reconcile.sh"]
    assert "init-record.sql" not in script


@pytest.mark.parametrize(
    ("init", "expected"),
    [
        ({"name": "hippo-init"}, "spec.databaseInitSQL: expected name and key"),
        ({"sql": "SELECT 1", "name": "x", "key": "y"}, "spec.databaseInitSQL: give either sql"),
        ({"sql": ""}, "spec.databaseInitSQL.sql: expected at least 1 character(s); found 0"),
        ({"name": "hippo-init", "key": "a/b"}, "spec.databaseInitSQL.key: 'a/b' is not a Secret key"),
        (
            {"name": "hippo-reconcile", "key": "init.sql"},
            "spec.databaseInitSQL.name: pgrender writes (or Patroni keeps) the ConfigMap 'hippo-reconcile' itself",
        ),
        (
            {"name": "hippo-config", "key": "init.sql"},
            "spec.databaseInitSQL.name: pgrender writes (or Patroni keeps) the ConfigMap 'hippo-config' itself",
        ),
    ],
)
def test_refused(plan_of: PlanOf, init: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError) as info:
        plan_of(with_init(init))
    found = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert any(m.startswith(expected) for m in found), found
