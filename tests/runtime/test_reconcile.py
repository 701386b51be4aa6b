"""The reconcile Job's script, run as the Job would run it, against the leader.

The Job's files (reconcile.sh/.sql from the ConfigMap, the superuser certificate from its Secret)
and environment (PG* variables, one SCRAM verifier per user from the user Secrets) come from the
rendered Job; only the address is localized (``PGHOSTADDR``/``PGPORT``, see ``harness.localize``).

Expected state is written from the spec's documented meaning, not from the renderer's plan: role
options default to LOGIN INHERIT and nothing else; a database in ``spec.databases`` is owned by its
``owner``, any other database a user lists by the first user listing it; without ``spec.users``
there is one user and one database named after the cluster (PGO's default).
"""

from __future__ import annotations

import base64
import copy
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pgrender.spec.users import InfrastructureRole, InfrastructureRoleSpec

from .harness import (
    LocalCluster,
    Member,
    Rendered,
    client_psql,
    loopback_uri,
    render_spec,
    wait_until,
    write_secret,
)

pytestmark = pytest.mark.runtime

ROLE_DEFAULTS = {
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "login": True,
    "replication": False,
    "bypassrls": False,
    "inherit": True,
}
ROLE_COLUMNS = {
    "superuser": "rolsuper",
    "createdb": "rolcreatedb",
    "createrole": "rolcreaterole",
    "login": "rolcanlogin",
    "replication": "rolreplication",
    "bypassrls": "rolbypassrls",
    "inherit": "rolinherit",
}
SNAPSHOT = (
    "SELECT xmin, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,"
    " rolbypassrls, rolconnlimit, rolvaliduntil, rolpassword FROM pg_authid ORDER BY rolname;"
    " SELECT xmin, datname, pg_get_userbyid(datdba), datacl FROM pg_database ORDER BY datname"
)


def spec_users(rendered: Rendered) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = rendered.spec["spec"].get("users") or [
        {"name": rendered.name, "databases": [rendered.name]}
    ]
    return users


def expected_options(user: dict[str, Any]) -> dict[str, bool]:
    options: dict[str, bool] = user.get("options", {})
    return ROLE_DEFAULTS | options


def expected_owners(rendered: Rendered) -> dict[str, str]:
    owners = {d["name"]: d["owner"] for d in rendered.spec["spec"].get("databases", [])}
    for user in spec_users(rendered):
        for database in user.get("databases", []):
            owners.setdefault(database, user["name"])
    return owners


def reconcile(cluster: LocalCluster, rendered: Rendered, leader: Member) -> str:
    """Run the rendered Job's command against ``leader``; fail with its output unless it exits 0."""
    cluster.apply(rendered)
    started = time.monotonic()
    result = cluster.run_job(cluster.root / "job")
    print(f"reconcile Job: {time.monotonic() - started:.1f}s\n{result.stdout}")
    assert result.returncode == 0, f"reconcile failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def login(rendered: Rendered, user: str, port: int, workdir: Path) -> tuple[int, str]:
    """Log in with the ``uri`` of ``<c>-pguser-<user>``; return (exit code, output or error)."""
    secret = f"{rendered.name}-pguser-{user}"
    files = write_secret(rendered, secret, workdir / secret)
    uri = loopback_uri(rendered.secret(secret)["uri"].decode(), port, files / "ca.crt")
    result = client_psql(
        uri,
        "SELECT current_user, current_database(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        {"PGSSLROOTCERT": str(files / "ca.crt")},
    )
    return result.returncode, (result.stdout if result.returncode == 0 else result.stderr).strip()


def test_reconcile_is_idempotent(cluster: LocalCluster) -> None:
    """Run twice: the second run leaves pg_authid and pg_database untouched (not even rewritten)."""
    leader = cluster.wait_healthy()
    reconcile(cluster, cluster.rendered, leader)
    before = leader.psql(SNAPSHOT)
    reconcile(cluster, cluster.rendered, leader)
    assert leader.psql(SNAPSHOT) == before


def test_spec_users_log_in_with_their_secret_and_have_what_the_spec_says(cluster: LocalCluster) -> None:
    """Every login user logs in with its Secret's uri; options, ownership and grants match the spec."""
    leader = cluster.wait_healthy()
    reconcile(cluster, cluster.rendered, leader)
    rendered = cluster.rendered
    for user in spec_users(rendered):
        name, options = user["name"], expected_options(user)
        flags = leader.psql(
            f"SELECT {', '.join(ROLE_COLUMNS[o] for o in ROLE_DEFAULTS)} FROM pg_roles WHERE rolname = '{name}'"
        )
        assert flags == [["t" if options[o] else "f" for o in ROLE_DEFAULTS]], name
        if options["login"]:
            code, output = login(rendered, name, leader.pg_port, cluster.root / "logins")
            database = (user.get("databases") or [name])[0]
            assert (code, output) == (0, f"{name}\t{database}\tt"), name
        else:
            assert not any(o["metadata"]["name"] == f"{rendered.name}-pguser-{name}" for o in rendered.all("Secret"))
        for database in user.get("databases", []):
            assert leader.psql(
                f"SELECT has_database_privilege('{name}', '{database}', 'CONNECT, CREATE, TEMPORARY')"
            ) == [["t"]]
    owners = {row[0]: row[1] for row in leader.psql("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")}
    for database, owner in expected_owners(rendered).items():
        assert owners.get(database) == owner, database


@pytest.fixture
def rerender(trio: LocalCluster) -> Iterator[Callable[[Callable[[dict[str, Any]], None]], Rendered]]:
    """Render a changed copy of trio's spec; afterwards, apply and reconcile the original spec again."""
    counter = iter(range(100))
    original = trio.rendered

    def _rerender(change: Callable[[dict[str, Any]], None]) -> Rendered:
        spec = copy.deepcopy(original.spec)
        change(spec)
        return render_spec(spec, trio.root / f"respec-{next(counter)}")

    yield _rerender
    reconcile(trio, original, trio.wait_healthy())
    wanted = original.spec["spec"]["patroni"]["synchronousMode"]
    wait_until(
        "every member to see the spec's dynamic configuration again",
        lambda: all(m.api("/config")["synchronous_mode"] is wanted for m in trio.members if m.running()),
        timeout=30,
    )


def _user(spec: dict[str, Any], name: str) -> dict[str, Any]:
    user: dict[str, Any] = next(u for u in spec["spec"]["users"] if u["name"] == name)
    return user


def test_password_rotation_updates_the_role(trio: LocalCluster, rerender: Callable[..., Rendered]) -> None:
    """passwordRotation: 1, re-render, re-run: the new uri logs in, the old password fails."""
    leader = trio.wait_healthy()
    original = trio.rendered
    reconcile(trio, original, leader)
    rotated = rerender(lambda spec: _user(spec, "app").update(passwordRotation=1))
    old_uri = original.secret("trio-pguser-app")["uri"]
    assert rotated.secret("trio-pguser-app")["uri"] != old_uri
    reconcile(trio, rotated, leader)
    workdir = trio.root / "rotation"
    assert login(rotated, "app", leader.pg_port, workdir)[0] == 0
    code, error = login(original, "app", leader.pg_port, workdir)
    assert code != 0
    assert 'password authentication failed for user "app"' in error
    # Other users are untouched by app's rotation.
    assert login(rotated, "reporting", leader.pg_port, workdir)[0] == 0


SAMPLED = (
    # Settings a spec's parameters may hold that log whole statements, past the session's
    # log_statement and log_min_duration_statement (auto_explain needs a preload: left out here).
    "ALTER SYSTEM SET log_transaction_sample_rate = 1",
    "ALTER SYSTEM SET log_min_duration_sample = 0",
    "ALTER SYSTEM SET log_statement_sample_rate = 1",
)


def _sync_standby(cluster: LocalCluster) -> str | None:
    names = [m["name"] for m in cluster.cluster_state()["members"] if m["role"] in ("sync_standby", "sync standby")]
    return names[0] if names else None


def test_a_planned_switchover_is_made_once(trio: LocalCluster, rerender: Callable[..., Rendered]) -> None:
    """spec.patroni.switchover to a member: after the rollout the Job hands it the leader role and
    records the run; run again (its next pod, a later Job), it makes none."""
    leader = trio.wait_healthy()
    # trio runs in synchronous mode: Patroni hands over to the synchronous standby only
    target = wait_until("a synchronous standby", lambda: _sync_standby(trio), timeout=30)
    switched = rerender(lambda spec: spec["spec"]["patroni"].update(switchover={"run": 1, "target": target}))
    out = reconcile(trio, switched, leader)
    assert f"{leader.name}: switchover to {target}" in out
    new_leader = trio.wait_healthy()
    assert new_leader.name == target
    assert new_leader.psql("SELECT run, leader, done_at IS NOT NULL FROM pgrender.switchovers") == [
        ["1", leader.name, "t"]
    ]
    again = reconcile(trio, switched, new_leader)
    assert "switchover 1: made before" in again and "switchover to" not in again
    assert trio.wait_healthy().name == target


def test_no_verifier_reaches_the_server_log_whatever_logs_statements(
    trio: LocalCluster, rerender: Callable[..., Rendered]
) -> None:
    """With every statement sampled into the server log, a rotation's ALTER ROLE and the guards
    that compare each verifier are not in it (the reconcile session turns sampling off for itself);
    a statement of another session is, so the log is read where the sampling writes."""
    leader = trio.wait_healthy()
    reconcile(trio, trio.rendered, leader)
    try:
        for statement in SAMPLED:
            leader.psql(statement)
        leader.psql("SELECT pg_reload_conf()")
        rotated = rerender(lambda spec: _user(spec, "app").update(passwordRotation=7))
        reconcile(trio, rotated, leader)
        leader.psql("SELECT 'sampled-' || 'control'")
        wait_until(
            "the control statement in the log",
            lambda: "sampled-' || 'control'" in leader.log.read_text(errors="replace"),
            10,
        )
        log = leader.log.read_text(errors="replace")
        verifiers = {
            rendered.secret(f"trio-pguser-{user}")["verifier"].decode()
            for rendered in (trio.rendered, rotated)
            for user in ("app", "reporting", "migrator")
        }
        for verifier in verifiers:
            assert verifier.split("$")[2] not in log  # StoredKey:ServerKey, in any quoting
        assert "ALTER ROLE" not in log
    finally:
        for statement in SAMPLED:
            leader.psql(statement.replace("SET", "RESET").split(" =")[0])
        leader.psql("SELECT pg_reload_conf()")


def test_a_secret_value_is_never_code(trio: LocalCluster) -> None:
    """A verifier in a Secret (the provider existing's, or one a person edited) is data only: with a
    quote and psql's and the shell's escapes in it, the Job refuses it (not a SCRAM verifier) and
    runs nothing of it; the role keeps its password."""
    leader = trio.wait_healthy()
    reconcile(trio, trio.rendered, leader)
    before = leader.psql("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'app'")
    open_to_all = trio.root / "injection"  # where the Job's user could write, had it run anything
    open_to_all.mkdir(exist_ok=True)
    open_to_all.chmod(0o1777)
    marker = open_to_all / "ran"
    hostile = f"x' \\! touch {marker}\n\\! touch {marker}\n$(touch {marker})"
    rendered = trio.rendered
    secret = copy.deepcopy(rendered.get("Secret", "trio-pguser-app"))
    secret["data"]["verifier"] = base64.b64encode(hostile.encode()).decode()
    edited = replace(
        rendered,
        objects=(*(o for o in rendered.objects if o is not rendered.get("Secret", "trio-pguser-app")), secret),
    )
    trio.apply(edited)
    result = trio.run_job(trio.root / "job")
    assert result.returncode != 0, result.stdout
    assert "PGRENDER_VERIFIER_0: not a SCRAM verifier" in result.stderr + result.stdout
    assert not marker.exists()
    assert leader.psql("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'app'") == before == [["t"]]
    trio.apply(rendered)


def test_removing_an_option_revokes_it(trio: LocalCluster, rerender: Callable[..., Rendered]) -> None:
    """migrator without ``createrole: true``, re-rendered and re-run: NOCREATEROLE, CREATEDB kept."""
    leader = trio.wait_healthy()
    reconcile(trio, trio.rendered, leader)
    query = "SELECT rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'migrator'"
    assert leader.psql(query) == [["t", "t"]]
    reduced = rerender(lambda spec: _user(spec, "migrator")["options"].pop("createrole"))
    reconcile(trio, reduced, leader)
    assert leader.psql(query) == [["f", "t"]]


def test_patroni_dynamic_configuration_follows_the_spec(trio: LocalCluster, rerender: Callable[..., Rendered]) -> None:
    """Patroni reads bootstrap.dcs once; the Job makes later spec changes reach Patroni (PUT /config)."""
    leader = trio.wait_healthy()
    assert "patroni dynamic configuration" in reconcile(trio, trio.rendered, leader)
    assert leader.api("/config")["synchronous_mode"] is True

    # A parameter taken on reload: restarts (a raised and a lowered max_connections) are test_rollout's.
    def relax(spec: dict[str, Any]) -> None:
        spec["spec"]["patroni"]["synchronousMode"] = False
        spec["spec"]["patroni"]["parameters"]["log_min_duration_statement"] = 250

    relaxed = rerender(relax)
    assert "patroni dynamic configuration: updated" in reconcile(trio, relaxed, leader)
    # Each member answers /config from its view of the DCS, refreshed within a loop.
    wait_until(
        "every member to see the new dynamic configuration",
        lambda: all(m.api("/config")["synchronous_mode"] is False for m in trio.members if m.running()),
        timeout=30,
    )
    assert leader.api("/config")["postgresql"]["parameters"]["log_min_duration_statement"] == "250"
    assert "patroni dynamic configuration: unchanged" in reconcile(trio, relaxed, leader)
    # Patroni applies it: no member is a synchronous standby any more.
    wait_until(
        "no sync_standby",
        lambda: all(m.get("role") != "sync_standby" for m in trio.cluster_state()["members"]),
        timeout=30,
    )


def test_sql_split_over_several_config_maps_runs_in_one_session(
    trio: LocalCluster, rerender: Callable[..., Rendered], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cluster whose SQL outgrows one ConfigMap (1 MiB) spreads it over <c>-reconcile-sql-<n>; the Job
    mounts them all and psql runs the files in order in one session. The part size is lowered here so
    trio's own SQL splits; every role and database is then as the spec says."""
    builder = sys.modules["pgrender.components.reconcile"]  # the package exports the function by that name
    monkeypatch.setattr(builder, "SQL_PART_BYTES", 1500)
    leader = trio.wait_healthy()
    split = rerender(lambda spec: _user(spec, "app").update(passwordRotation=2))
    parts = [m for m in split.all("ConfigMap") if "-reconcile-sql-" in m["metadata"]["name"]]
    assert len(parts) >= 2
    output = reconcile(trio, split, leader)
    assert "patroni dynamic configuration" in output
    for user in spec_users(split):
        row = leader.psql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{user['name']}'")
        assert row == [["t" if expected_options(user)["login"] else "f"]], user["name"]
    owners = leader.psql("SELECT datname, pg_get_userbyid(datdba) FROM pg_database")
    assert {d: o for d, o in owners if d in expected_owners(split)} == expected_owners(split)
    assert login(split, "app", leader.pg_port, trio.root / "split")[0] == 0


MEMBERSHIPS = (
    "SELECT m.rolname, g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid"
    " JOIN pg_roles m ON m.oid = a.member WHERE m.rolname IN ('reporting', 'auditors') ORDER BY 1, 2"
)
ROLE_SETTINGS = (
    "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
    " WHERE r.rolname = 'reporting' AND setdatabase = 0 ORDER BY 1"
)
ROLE_SNAPSHOT = (
    "SELECT xmin, roleid, member, grantor FROM pg_auth_members ORDER BY 2, 3;"
    " SELECT xmin, setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 2, 3"
)


def _show(rendered: Rendered, user: str, port: int, workdir: Path, setting: str) -> str:
    """SHOW ``setting`` in a session of ``user``, logged in with its Secret's uri."""
    secret = f"{rendered.name}-pguser-{user}"
    files = write_secret(rendered, secret, workdir / secret)
    uri = loopback_uri(rendered.secret(secret)["uri"].decode(), port, files / "ca.crt")
    result = client_psql(uri, f"SHOW {setting}", {"PGSSLROOTCERT": str(files / "ca.crt")})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_memberships_and_role_settings_are_exactly_the_specs(
    trio: LocalCluster, rerender: Callable[..., Rendered]
) -> None:
    """inRoles and parameters are granted and set; a second run changes nothing; removed from the
    spec, they are revoked and reset, while a membership in a role pgrender does not manage stays."""
    leader = trio.wait_healthy()

    def grant(spec: dict[str, Any]) -> None:
        _user(spec, "reporting").update(
            inRoles=["pg_read_all_data", "auditors"],
            parameters={"work_mem": "64MB", "search_path": '"$user", public, "Audit Log"', "log_statement": "all"},
        )
        _user(spec, "auditors")["inRoles"] = ["pg_monitor"]

    granted = rerender(grant)
    reconcile(trio, granted, leader)
    assert leader.psql(MEMBERSHIPS) == [
        ["auditors", "pg_monitor"],
        ["reporting", "auditors"],
        ["reporting", "pg_read_all_data"],
    ]
    assert leader.psql(ROLE_SETTINGS) == [
        ["log_statement=all"],
        ['search_path="$user", public, "Audit Log"'],
        ["work_mem=64MB"],
    ]
    workdir = trio.root / "role-settings"
    assert _show(granted, "reporting", leader.pg_port, workdir, "work_mem") == "64MB"
    assert _show(granted, "reporting", leader.pg_port, workdir, "search_path") == '"$user", public, "Audit Log"'
    before = leader.psql(ROLE_SNAPSHOT)
    reconcile(trio, granted, leader)
    assert leader.psql(ROLE_SNAPSHOT) == before

    leader.psql("CREATE ROLE outsider NOLOGIN; GRANT outsider TO reporting")
    try:

        def reduce(spec: dict[str, Any]) -> None:
            grant(spec)
            _user(spec, "reporting").update(inRoles=["auditors"], parameters={"log_statement": "all"})

        reconcile(trio, rerender(reduce), leader)
        assert leader.psql(MEMBERSHIPS) == [
            ["auditors", "pg_monitor"],
            ["reporting", "auditors"],
            ["reporting", "outsider"],
        ]
        assert leader.psql(ROLE_SETTINGS) == [["log_statement=all"]]
    finally:
        leader.psql("DROP ROLE outsider")


INIT_MARKER = "SELECT count(*) FROM init_marker"
INIT_RECORDED = "SELECT to_regclass('pgrender.init_sql') IS NOT NULL"


def _with_init_sql(rendered: Rendered, sql: str) -> Rendered:
    """``rendered`` with the ConfigMap its databaseInitSQL names, as the user would apply it."""
    init = rendered.spec["spec"]["databaseInitSQL"]
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": init["name"], "namespace": rendered.namespace},
        "data": {init["key"]: sql},
    }
    return rendered.with_objects(config_map)


def test_init_sql_runs_once_and_a_failure_is_not_recorded(
    trio: LocalCluster, rerender: Callable[..., Rendered]
) -> None:
    """databaseInitSQL from a ConfigMap runs once (its row is inserted once over two Job runs), as
    PGO runs it: psql commits each statement, and \\c and CREATE DATABASE work (in one transaction
    with the record, a \\c rolled back what came before it, and CREATE DATABASE failed). After the
    record is dropped (how to run it again), a failing inline SQL fails the Job at the failing
    statement, keeps what it committed before, and writes no record."""
    leader = trio.wait_healthy()
    assert leader.psql(INIT_RECORDED) == [["f"]]
    try:
        from_config_map = rerender(
            lambda spec: spec["spec"].update(databaseInitSQL={"name": "trio-init", "key": "setup.sql"})
        )
        rendered = _with_init_sql(
            from_config_map,
            "CREATE TABLE init_marker (n int);\nINSERT INTO init_marker VALUES (1);\n"
            "CREATE DATABASE init_zoo;\n\\c init_zoo\nCREATE TABLE animals (name text);\n",
        )
        assert "init SQL: done" in reconcile(trio, rendered, leader)
        assert leader.psql(INIT_MARKER) == [["1"]]
        assert leader.psql(INIT_RECORDED) == [["t"]]
        assert leader.psql("SELECT count(*) FROM animals", database="init_zoo") == [["0"]]
        assert "init SQL: ran before" in reconcile(trio, rendered, leader)
        assert leader.psql(INIT_MARKER) == [["1"]]

        leader.psql("DROP TABLE pgrender.init_sql")
        failing = rerender(
            lambda spec: spec["spec"].update(
                databaseInitSQL={"sql": "INSERT INTO init_marker VALUES (2);\nSELECT 1/0;\n"}
            )
        )
        trio.apply(failing)
        result = trio.run_job(trio.root / "job")
        assert result.returncode != 0, result.stdout
        assert "division by zero" in result.stdout + result.stderr
        assert leader.psql(INIT_MARKER) == [["2"]]  # committed before the failing statement, as PGO's
        assert leader.psql(INIT_RECORDED) == [["f"]]

        # A transaction left open psql rolls back on exit without an error: the Job says so and fails.
        unfinished = rerender(
            lambda spec: spec["spec"].update(databaseInitSQL={"sql": "BEGIN;\nINSERT INTO init_marker VALUES (3);\n"})
        )
        trio.apply(unfinished)
        result = trio.run_job(trio.root / "job")
        assert result.returncode != 0, result.stdout
        assert "the init SQL ends inside a transaction" in result.stdout + result.stderr
        assert leader.psql(INIT_MARKER) == [["2"]]
        assert leader.psql(INIT_RECORDED) == [["f"]]
    finally:
        leader.psql("DROP TABLE IF EXISTS init_marker; DROP SCHEMA IF EXISTS pgrender CASCADE")
        leader.psql("DROP DATABASE IF EXISTS init_zoo")


def test_infrastructure_role_logs_in_with_the_password_every_cluster_shares(trio: LocalCluster) -> None:
    """An infrastructure role of pgrender.yaml is made in the cluster with its membership and
    settings, and logs in with its Secret; a second run changes nothing."""
    monitor = InfrastructureRoleSpec.model_validate(
        {"name": "monitor", "inRoles": ["pg_monitor"], "parameters": {"statement_timeout": "30s"}}
    )
    roles = (InfrastructureRole(monitor, 0, "pgrender.yaml", ()),)
    leader = trio.wait_healthy()
    rendered = render_spec(trio.rendered.spec, trio.root / "infrastructure", infrastructure_roles=roles)
    other = copy.deepcopy(trio.rendered.spec)
    other["metadata"].update(name="elsewhere", namespace="other")
    elsewhere = render_spec(other, trio.root / "infrastructure-other", infrastructure_roles=roles)
    assert (
        rendered.secret("trio-pguser-monitor")["password"] == elsewhere.secret("elsewhere-pguser-monitor")["password"]
    )
    try:
        reconcile(trio, rendered, leader)
        workdir = trio.root / "infrastructure-login"
        assert _show(rendered, "monitor", leader.pg_port, workdir, "statement_timeout") == "30s"
        assert leader.psql("SELECT pg_has_role('monitor', 'pg_monitor', 'MEMBER')") == [["t"]]
        before = leader.psql(ROLE_SNAPSHOT)
        reconcile(trio, rendered, leader)
        assert leader.psql(ROLE_SNAPSHOT) == before
    finally:
        reconcile(trio, trio.rendered, leader)
        leader.psql("DROP ROLE IF EXISTS monitor")


def test_dynamic_configuration_passthrough_reaches_patroni(
    trio: LocalCluster, rerender: Callable[..., Rendered]
) -> None:
    """spec.patroni.dynamicConfiguration, through the Job's PUT /config: Patroni shows and applies it."""
    leader = trio.wait_healthy()
    reconcile(trio, trio.rendered, leader)
    assert "synchronous_node_count" not in leader.api("/config")

    def passthrough(spec: dict[str, Any]) -> None:
        spec["spec"]["patroni"]["dynamicConfiguration"] = {
            "synchronous_node_count": 2,
            "maximum_lag_on_failover": 2097152,
            "max_timelines_history": 10,
            "postgresql": {"parameters": {"log_lock_waits": True}},
        }

    changed = rerender(passthrough)
    assert "patroni dynamic configuration: updated" in reconcile(trio, changed, leader)
    config = leader.api("/config")
    assert (config["synchronous_node_count"], config["maximum_lag_on_failover"], config["max_timelines_history"]) == (
        2,
        2097152,
        10,
    )
    assert config["postgresql"]["parameters"]["log_lock_waits"] == "on"
    assert config["synchronous_mode"] is True and config["postgresql"]["use_slots"] is True  # pgrender's stay
    # Patroni applies them: both replicas become synchronous standbys, the server takes the parameter.
    wait_until(
        "two synchronous standbys",
        lambda: sum(m.get("role") == "sync_standby" for m in trio.cluster_state()["members"]) == 2,
        timeout=60,
    )
    wait_until("log_lock_waits on the leader", lambda: leader.psql("SHOW log_lock_waits") == [["on"]], timeout=30)
