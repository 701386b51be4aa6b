"""reconcile: guarded SQL for roles and databases, a Job whose name follows its content."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from pgrender import emit
from pgrender.components.patroni import patroni
from pgrender.components.reconcile import QUIET_SESSION, reconcile
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec, find


def spec_with_users() -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["users"] = [
        {"name": "rhino", "databases": ["zoo"], "options": {"createdb": True, "inherit": False}},
        {"name": "keeper", "databases": ["zoo"]},
        {"name": "auditor", "options": {"login": False}},
    ]
    spec["spec"]["databases"] = [{"name": "zoo", "owner": "rhino"}]
    return spec


def test_sql_states_every_option(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    config_map, _ = reconcile(plan_of(spec_with_users()))
    sql = config_map["data"]["reconcile.sql"]
    assert "ALTER ROLE %I WITH NOSUPERUSER CREATEDB NOCREATEROLE NOINHERIT LOGIN NOREPLICATION NOBYPASSRLS" in sql
    assert "ALTER ROLE %I WITH NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOLOGIN NOREPLICATION NOBYPASSRLS" in sql
    assert "format('ALTER ROLE %I PASSWORD %L', 'rhino', :'verifier_0')" in sql
    assert "format('ALTER ROLE %I PASSWORD NULL', 'auditor')" in sql
    assert "CREATE DATABASE %I OWNER %I', 'zoo', 'rhino'" in sql
    assert "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO %I', 'zoo', 'keeper'" in sql
    # Verifiers must not reach the server log, pg_stat_activity or pg_stat_statements, whatever the
    # parameters say (tests/runtime/test_reconcile.py samples every statement into the log).
    assert "\n".join(QUIET_SESSION) in sql
    # Every statement that changes something is produced by a guarded SELECT and run by \gexec.
    assert sql.splitlines().count("\\gexec") == sql.count("SELECT format(")


def test_script_passes_verifiers_from_env(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    """psql reads each from the environment itself (printenv, in the SQL's header): never on a
    command line (which other processes read), never parsed by the shell or psql (a quote in a
    Secret's value ran commands through a here-document); the script refuses one that is no verifier."""
    config_map, job = reconcile(plan_of(spec_with_users()))
    script, sql = config_map["data"]["reconcile.sh"], config_map["data"]["reconcile.sql"]
    sets = "\\set verifier_0 `printenv PGRENDER_VERIFIER_0`\n\\set verifier_1 `printenv PGRENDER_VERIFIER_1`\n"
    assert "\n".join(QUIET_SESSION) + "\n" + sets in sql
    assert "verifier_2" not in sql and "--set=verifier" not in script and "<<" not in script
    assert "for variable in PGRENDER_VERIFIER_0 PGRENDER_VERIFIER_1; do\n" in script
    assert '    case "$(printenv "$variable")" in\n        SCRAM-SHA-256\\$*) ;;\n' in script
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PGRENDER_VERIFIER_0"]["valueFrom"] == {
        "secretKeyRef": {"name": "hippo-pguser-rhino", "key": "verifier"}
    }
    assert env["PGSSLMODE"]["value"] == "verify-full"
    assert env["PGHOST"]["value"] == "hippo-primary.db.svc"


def test_job_name_follows_content(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = spec_with_users()
    name = reconcile(plan_of(spec))[1]["metadata"]["name"]
    assert name == reconcile(plan_of(spec))[1]["metadata"]["name"]
    spec["spec"]["users"][0]["passwordRotation"] = 2
    assert reconcile(plan_of(spec))[1]["metadata"]["name"] != name, "a rotation must run the Job again"
    spec["spec"]["users"][0]["options"]["createdb"] = False
    assert reconcile(plan_of(spec))[1]["metadata"]["name"] != name
    assert len(name) <= 63 and name.startswith("hippo-reconcile-")


def test_job_runs_last(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    job = reconcile(plan_of(base_spec()))[1]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "3"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_patroni_dynamic_configuration_matches_bootstrap(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    """The Job writes Patroni's dynamic configuration to what bootstrap.yaml bootstraps with, then
    rolls the members with the plan's bounds."""
    spec = base_spec()
    spec["spec"]["patroni"] = {"synchronousMode": True, "parameters": {"max_connections": 300}}
    plan = plan_of(spec)
    config_map, job = reconcile(plan)
    data = config_map["data"]
    compile(data["members.py"], "members.py", "exec")
    bootstrap = yaml.safe_load(patroni(plan)[0]["data"]["bootstrap.yaml"])
    assert json.loads(data["patroni-dynamic.json"]) == bootstrap["bootstrap"]["dcs"]
    assert '\npython3 "$here/members.py" configure "$here/patroni-dynamic.json"\n' in data["reconcile.sh"]
    roll = 'python3 "$here/members.py" roll --loop-wait=10 --max-lag-bytes=1048576 --step-timeout=900\n'
    assert data["reconcile.sh"].endswith(roll)
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    members = env["PGRENDER_PATRONI_MEMBERS"]["value"].split()
    assert members == ["hippo-instance1-0-0.hippo-pods.db.svc:8008", "hippo-instance1-1-0.hippo-pods.db.svc:8008"]
    assert all(m.rpartition(":")[0] in plan.tls.server.dns_names for m in members), "names the certificate carries"
    assert env["PGRENDER_PATRONI_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "hippo-patroni", "key": "password"}


def test_a_thousand_users_fit_in_objects_kubernetes_stores(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """1,000 users (the limit) with long names and their own databases, behind pgBouncer: the SQL is
    spread over several ConfigMaps, each under 1 MiB, and the Job mounts every one of them."""
    spec = base_spec()
    spec["spec"]["users"] = [
        {"name": f"u{i:04d}-{'x' * 50}", "databases": [f"d{i:04d}-{'y' * 50}"]} for i in range(1000)
    ]
    spec["spec"]["proxy"] = {"pgBouncer": {}}
    objects = objects_of(spec)
    texts = {f"{o['kind']}/{o['metadata']['name']}": emit.dump(o) for o in objects}
    assert max(len(t.encode()) for t in texts.values()) < 1024 * 1024
    parts = sorted(n for n in texts if n.startswith("ConfigMap/hippo-reconcile"))
    assert parts[0] == "ConfigMap/hippo-reconcile" and len(parts) >= 3
    (job,) = [o for o in objects if o["kind"] == "Job"]
    (volume,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "reconcile"]
    assert sorted(f"ConfigMap/{s['configMap']['name']}" for s in volume["projected"]["sources"]) == parts
    script = find(objects, "ConfigMap", "hippo-reconcile")["data"]["reconcile.sh"]
    assert script.count('--file="$here/') == len(parts)  # and --file=-: the verifiers
