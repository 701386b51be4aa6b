"""roles: users[].inRoles and users[].parameters, checked per PostgreSQL version and written as guarded SQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.components.reconcile import reconcile
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.plan.roles import RoleSetting, predefined_roles
from tests.conftest import GOLDEN_KEY, base_spec, run_cli

PlanOf = Callable[[dict[str, Any]], ClusterPlan]


def with_users(*users: dict[str, Any], version: int = 16) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["postgresVersion"] = version
    spec["spec"]["users"] = list(users)
    return spec


def messages(plan_of: PlanOf, spec: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        plan_of(spec)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        (14, "pg_read_all_data", "pg_checkpoint"),
        (15, "pg_checkpoint", "pg_maintain"),
        (16, "pg_create_subscription", "pg_maintain"),
        (17, "pg_maintain", "pg_signal_autovacuum_worker"),
        (18, "pg_signal_autovacuum_worker", "pg_database_owner"),
    ],
)
def test_predefined_roles_per_version(version: int, present: str, absent: str) -> None:
    assert present in predefined_roles(version)
    assert absent not in predefined_roles(version)


@pytest.mark.parametrize(
    ("users", "version", "expected"),
    [
        (
            [{"name": "app", "inRoles": ["nobody"]}],
            16,
            "spec.users[0].inRoles[0]: unknown role 'nobody'; expected a role of the spec (app) or a predefined "
            "pg_* role",
        ),
        ([{"name": "app", "inRoles": ["app"]}], 16, "spec.users[0].inRoles[0]: a role cannot be a member of itself"),
        (
            [{"name": "app", "inRoles": ["pg_maintain"]}],
            16,
            "spec.users[0].inRoles[0]: 'pg_maintain' is not a predefined role of PostgreSQL 16",
        ),
        (
            [{"name": "app", "inRoles": ["pg_database_owner"]}],
            17,
            "spec.users[0].inRoles[0]: 'pg_database_owner' is not a predefined role of PostgreSQL 17",
        ),
        (
            [{"name": "app", "inRoles": ["pg_monitor", "pg_monitor"]}],
            16,
            "spec.users[0].inRoles[1]: 'pg_monitor' is listed twice",
        ),
        (
            [
                {"name": "a", "inRoles": ["b"]},
                {"name": "b", "inRoles": ["c"], "options": {"login": False}},
                {"name": "c", "inRoles": ["a"], "options": {"login": False}},
            ],
            16,
            "spec.users[0].inRoles: memberships make a cycle (a → b → c → a); PostgreSQL refuses it",
        ),
        (
            [{"name": "app", "inRoles": ["Admins"]}],
            16,
            "spec.users[0].inRoles[0]: 'Admins' is not a valid role name",
        ),
        (
            [{"name": "app", "parameters": {"shared_buffers": "1GB"}}],
            16,
            "spec.users[0].parameters.shared_buffers: 'shared_buffers' cannot be set per role: PostgreSQL fixes it "
            "when the server starts; set it in spec.patroni.parameters",
        ),
        (
            [{"name": "app", "parameters": {"log_connections": True}}],
            16,
            "spec.users[0].parameters.log_connections: 'log_connections' cannot be set per role: PostgreSQL fixes "
            "it when a session starts",
        ),
        (
            [{"name": "app", "parameters": {"work_mem": "lots"}}],
            16,
            "spec.users[0].parameters.work_mem: expected a whole number of kilobytes",
        ),
        (
            [{"name": "app", "parameters": {"work_mam": "4MB"}}],
            16,
            "spec.users[0].parameters.work_mam: unknown parameter 'work_mam' for PostgreSQL 16; did you mean "
            "'work_mem'?",
        ),
        (
            [{"name": "app", "parameters": {"work_mem": "4MB", "WORK_MEM": "8MB"}}],
            16,
            "spec.users[0].parameters.WORK_MEM: 'WORK_MEM' and 'work_mem' name one parameter",
        ),
        (
            [{"name": "app", "parameters": {"search_path": '"open, public'}}],
            16,
            "spec.users[0].parameters.search_path: a quoted name is not closed",
        ),
        (
            [{"name": "app", "parameters": {"search_path": "a,,b"}}],
            16,
            "spec.users[0].parameters.search_path: expected names separated by commas",
        ),
    ],
)
def test_refused(plan_of: PlanOf, users: list[dict[str, Any]], version: int, expected: str) -> None:
    found = messages(plan_of, with_users(*users, version=version))
    assert any(m.startswith(expected) for m in found), found


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"work_mem": "64MB"}, (RoleSetting("work_mem", "64MB"),)),
        ({"datestyle": "ISO, MDY"}, (RoleSetting("DateStyle", "ISO, MDY"),)),
        ({"statement_timeout": 0, "jit": False}, (RoleSetting("jit", "off"), RoleSetting("statement_timeout", "0"))),
        ({"log_statement": "all"}, (RoleSetting("log_statement", "all"),)),  # superuser context: allowed
        ({"MyExt.Setting": "x"}, (RoleSetting("myext.setting", "x"),)),
        (
            {"search_path": '"$user", Public, "Audit Log"'},
            (RoleSetting("search_path", '"$user", Public, "Audit Log"', ("$user", "public", "Audit Log")),),
        ),
        ({"temp_tablespaces": ""}, (RoleSetting("temp_tablespaces", "", ()),)),
    ],
)
def test_settings(plan_of: PlanOf, parameters: dict[str, Any], expected: tuple[RoleSetting, ...]) -> None:
    plan = plan_of(with_users({"name": "app", "parameters": parameters}))
    assert plan.users[0].settings == expected


def _sql(plan: ClusterPlan) -> str:
    data: dict[str, str] = reconcile(plan)[0]["data"]
    return data["reconcile.sql"]


def test_settings_sql_sets_what_differs_and_resets_the_rest(plan_of: PlanOf) -> None:
    sql = _sql(plan_of(with_users({"name": "app", "parameters": {"work_mem": "64MB", "myext.x": "it's"}})))
    assert "SELECT 'ALTER ROLE \"app\" SET \"work_mem\" TO ''64MB'''" in sql
    assert "'work_mem=64MB' = ANY (s.setconfig)" in sql
    assert "SELECT 'ALTER ROLE \"app\" SET \"myext\".\"x\" TO ''it''''s'''" in sql
    assert "split_part(c, '=', 1) <> ALL (ARRAY['myext.x', 'work_mem']::text[])" in sql


def test_memberships_sql_revokes_first_then_grants(plan_of: PlanOf) -> None:
    sql = _sql(
        plan_of(
            with_users(
                {"name": "app", "inRoles": ["pg_read_all_data", "readers"]},
                {"name": "readers", "options": {"login": False}},
            )
        )
    )
    revoke = sql.index("format('REVOKE %I FROM %I'")
    assert revoke < sql.index("format('GRANT %I TO %I', 'pg_read_all_data', 'app')")
    assert revoke < sql.index("format('GRANT %I TO %I', 'readers', 'app')")
    assert "VALUES ('app', ARRAY['pg_read_all_data', 'readers']::text[])" in sql
    assert "('readers', ARRAY[]::text[])" in sql
    assert "a.grantor = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)" in sql
    # Every role's section comes before the grants that name it.
    assert sql.index("-- role readers") < revoke


# --- infrastructure roles (pgrender.yaml) ----------------------------------------------------

INFRA_CONFIG = """\
specs: ["*.pgcluster.yaml"]
infrastructureRoles:
  - name: monitor
    inRoles: [pg_monitor]
    parameters: {statement_timeout: 30s}
  - name: dba_group
    options: {login: false}
"""


def _repository(tmp_path: Path, config: str, *specs: dict[str, Any]) -> Path:
    (tmp_path / "pgrender.yaml").write_text(config)
    for spec in specs:
        (tmp_path / f"{spec['metadata']['name']}.pgcluster.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path / "pgrender.yaml"


def _cluster(name: str, namespace: str, *users: dict[str, Any]) -> dict[str, Any]:
    spec = base_spec()
    spec["metadata"] = {"name": name, "namespace": namespace}
    if users:
        spec["spec"]["users"] = list(users)
    return spec


def _render(config: Path, *extra: str) -> list[dict[str, Any]]:
    result = run_cli("render", "--config", str(config), "--stdout", "--key-file", str(GOLDEN_KEY), *extra)
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_infrastructure_roles_share_one_password_in_every_cluster(tmp_path: Path) -> None:
    config = _repository(
        tmp_path,
        INFRA_CONFIG,
        _cluster("one", "a", {"name": "app", "inRoles": ["dba_group"]}),
        _cluster("two", "b"),
    )
    objects = _render(config)
    secrets = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): {
            k: base64.b64decode(v).decode() for k, v in o["data"].items()
        }
        for o in objects
        if o["kind"] == "Secret"
    }
    one, two = secrets[("a", "one-pguser-monitor")], secrets[("b", "two-pguser-monitor")]
    assert one["password"] == two["password"]
    assert one["password"] != secrets[("a", "one-pguser-app")]["password"]
    assert one["verifier"] != two["verifier"], "each cluster salts its verifier"
    assert ("a", "one-pguser-dba_group") not in secrets, "a role without login has no Secret"
    sql = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "one-reconcile")
    text = sql["data"]["reconcile.sql"]
    assert "-- role monitor" in text and "-- role dba_group" in text
    assert "format('GRANT %I TO %I', 'pg_monitor', 'monitor')" in text
    assert "format('GRANT %I TO %I', 'dba_group', 'app')" in text
    assert "'statement_timeout=30s' = ANY (s.setconfig)" in text


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("existing", set()),  # referenced only: the reconcile Job reads its verifier from the Secret you make
        ("external", {("ExternalSecret", "one-pguser-monitor")}),
    ],
)
def test_infrastructure_roles_through_providers(tmp_path: Path, provider: str, expected: set[tuple[str, str]]) -> None:
    config = _repository(tmp_path, INFRA_CONFIG, _cluster("one", "a"))
    objects = _render(config, "--secrets-provider", provider)
    made = {(o["kind"], o["metadata"]["name"]) for o in objects if "pguser-monitor" in o["metadata"]["name"]}
    assert made == expected
    job = next(o for o in objects if o["kind"] == "Job")
    refs = json.dumps(job["spec"]["template"]["spec"]["containers"][0]["env"])
    assert '"name": "one-pguser-monitor"' in refs
    if provider == "external":
        external = next(o for o in objects if o["kind"] == "ExternalSecret" and "monitor" in o["metadata"]["name"])
        keys = {d["remoteRef"]["key"] for d in external["spec"]["data"]}
        # The password from one store entry for every cluster; the CA is the cluster's own.
        assert keys == {"_pgrender/infrastructure/monitor", "a/one/_pgrender_tls"}


@pytest.mark.parametrize(
    ("config", "users", "expected"),
    [
        (
            INFRA_CONFIG,
            [{"name": "monitor"}],
            "one.pgcluster.yaml:{line}:{col}: spec.users[0].name: 'monitor' is an infrastructure role of "
            "{config}:3:5 (infrastructureRoles[0]), made in every cluster; rename one of them",
        ),
        (
            "infrastructureRoles:\n  - name: tool\n    inRoles: [pg_maintain]\n",
            [],
            "{config}:3:15: infrastructureRoles[0].inRoles[0]: 'pg_maintain' is not a predefined role of PostgreSQL 16",
        ),
        (
            "infrastructureRoles:\n  - name: tool\n    inRoles: [app]\n  - name: tool\n",
            [],
            "{config}:1:1: infrastructureRoles: 'tool' listed more than once",
        ),
        (
            "infrastructureRoles:\n  - name: postgres\n",
            [],
            "{config}:1:1: infrastructureRoles: 'postgres' is reserved",
        ),
    ],
)
def test_infrastructure_roles_refused(tmp_path: Path, config: str, users: list[dict[str, Any]], expected: str) -> None:
    path = _repository(tmp_path, config, _cluster("one", "a", *users))
    result = run_cli("validate", "--config", str(path))
    assert result.exit_code == 2
    lines = result.output.splitlines()
    wanted = expected.format(config=path, line="{line}", col="{col}").split("{line}:{col}")
    assert any(all(part in line for part in wanted) for line in lines), result.output
