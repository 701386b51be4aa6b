"""ConfigMap <c>-reconcile (reconcile.sh, reconcile.sql) and Job <c>-reconcile-<hash>.

The SQL creates roles with exactly the options the spec states, sets their passwords from the
SCRAM verifiers in the user Secrets (read by the Job at run time), and creates databases with
their owners. Every statement is guarded, so a second run changes nothing.
"""

from __future__ import annotations

import functools
import json
import shlex
from importlib import resources

from pgrender.digest import digest
from pgrender.plan import ClusterPlan, DatabasePlan, UserPlan, defaults, secret_keys
from pgrender.pod import (
    SYNC_WAVE,
    Manifest,
    apply,
    container_security_context,
    job_pod_fields,
    object_meta,
)
from pgrender.pod_parts import job_pod
from pgrender.pod_parts.client_tls import superuser_libpq_env
from pgrender.spec.users import RoleOptions

SCRIPT = "reconcile.sh"
SQL = "reconcile.sql"
MEMBERS_SCRIPT = "members.py"  # pgrender/job_scripts/members.py: Patroni's configuration, the rollout
DCS_CONFIG = "patroni-dynamic.json"


@functools.cache
def members_script() -> str:
    return resources.files("pgrender.job_scripts").joinpath(MEMBERS_SCRIPT).read_text(encoding="utf-8")


ROTATIONS_ANNOTATION = "pgrender.io/password-rotations"
# The first line of each role's and each database's section of reconcile.sql (_role_sql and
# _database_sql write them). `pgrender diff` (changes.py) reads them back to tell which users and
# databases a spec dropped: change a format here and both sides follow.
ROLE_MARKER = "-- role {}"
DATABASE_MARKER = "-- database {}"

# (pg_authid column, keyword when true, keyword when false, RoleOptions attribute)
ROLE_ATTRIBUTES = (
    ("rolsuper", "SUPERUSER", "NOSUPERUSER", "superuser"),
    ("rolcreatedb", "CREATEDB", "NOCREATEDB", "createdb"),
    ("rolcreaterole", "CREATEROLE", "NOCREATEROLE", "createrole"),
    ("rolinherit", "INHERIT", "NOINHERIT", "inherit"),
    ("rolcanlogin", "LOGIN", "NOLOGIN", "login"),
    ("rolreplication", "REPLICATION", "NOREPLICATION", "replication"),
    ("rolbypassrls", "BYPASSRLS", "NOBYPASSRLS", "bypassrls"),
)


# SQL per ConfigMap: Kubernetes stores at most 1 MiB in one object, and the YAML indentation of a
# block scalar adds about a tenth; a cluster with hundreds of users spreads its SQL over several.
SQL_PART_BYTES = 640 * 1024


def reconcile(plan: ClusterPlan) -> list[Manifest]:
    """Return the reconcile ConfigMap(s) and the Job that runs them after every instance is up."""
    parts = _sql_parts(reconcile_sql_sections(plan))
    files = [SQL, *(_part_file(i) for i in range(1, len(parts)))]
    data = {
        SCRIPT: reconcile_script(plan, files),
        SQL: parts[0],
        MEMBERS_SCRIPT: members_script(),
        DCS_CONFIG: json.dumps(plan.patroni.dynamic_configuration, indent=2, sort_keys=True) + "\n",
    }
    maps = [(plan.names.reconcile_config_map, data)]
    maps += [(plan.names.reconcile_sql_config_map(i), {files[i]: parts[i]}) for i in range(1, len(parts))]
    config_maps = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(plan, name, plan.reconcile_labels),
            "data": content,
        }
        for name, content in maps
    ]
    template = _pod_template(plan, [name for name, _ in maps])
    every = data if len(maps) == 1 else {name: content for name, content in maps}
    content = digest({"data": every, "template": template}).hex()[:10]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(
            plan,
            plan.names.reconcile_job(content),
            plan.reconcile_labels,
            {SYNC_WAVE: str(plan.reconcile_wave)},
        ),
        "spec": {"backoffLimit": 10, "template": template},
    }
    return [*config_maps, job]


def _scripts_volume(config_maps: list[str]) -> Manifest:
    """One ConfigMap mounted as it is, or several projected into one directory."""
    if len(config_maps) == 1:
        return {"name": "reconcile", "configMap": {"name": config_maps[0]}}
    return {"name": "reconcile", "projected": {"sources": [{"configMap": {"name": name}} for name in config_maps]}}


def _part_file(index: int) -> str:
    return f"reconcile-{index}.sql"


def _sql_parts(sections: list[list[str]]) -> list[str]:
    """The SQL in as few parts as fit SQL_PART_BYTES each, cut only between sections (each section
    is whole: a \\connect and what runs in that database stay together)."""
    parts: list[list[str]] = [[]]
    size = 0
    for section in sections:
        length = sum(len(line.encode()) + 1 for line in section)
        if parts[-1] and size + length > SQL_PART_BYTES:
            parts.append([])
            size = 0
        parts[-1] += section
        size += length
    return ["\n".join(lines) for lines in parts]


PGBOUNCER_VERIFIER = "verifier_pgbouncer"
GET_AUTH = """\
CREATE SCHEMA IF NOT EXISTS pgbouncer;
REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO {user};
CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_username text)
RETURNS TABLE (username text, password text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT rolname::text, rolpassword::text
    FROM pg_catalog.pg_authid
   WHERE rolname = p_username
     AND rolcanlogin
     AND NOT rolsuper
     AND NOT rolreplication
     AND rolname <> {literal}
     AND (rolvaliduntil IS NULL OR rolvaliduntil >= CURRENT_TIMESTAMP)
$$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO {user};"""


def _verifier_variable(index: int) -> str:
    return f"verifier_{index}"


def _login_users(plan: ClusterPlan) -> list[tuple[int, UserPlan]]:
    return [(i, u) for i, u in enumerate(plan.users) if u.secret]


def reconcile_script(plan: ClusterPlan, sql_files: list[str]) -> str:
    """The Job's shell script: wait for the primary, set Patroni's dynamic configuration, run the
    SQL files with psql in one session once the primary accepts writes (unless the cluster is a
    standby, whose roles come from its source), then roll the members that need it, one at a time.

    Every word that comes from the spec is shell-quoted (binDir is validated as a plain path too,
    so quoting leaves it as it is); the rest are this module's constants and the plan's numbers.
    """
    pg_isready = shlex.quote(f"{plan.bin_dir}/pg_isready")
    psql = shlex.quote(f"{plan.bin_dir}/psql")
    variables = "".join(f' \\\n  --set={_verifier_variable(i)}="$PGRENDER_VERIFIER_{i}"' for i, _ in _login_users(plan))
    if plan.pgbouncer:
        variables += f' \\\n  --set={PGBOUNCER_VERIFIER}="$PGRENDER_PGBOUNCER_VERIFIER"'
    files = " ".join(f'--file="$here/{name}"' for name in sql_files)
    script = (
        "#!/bin/sh\n"
        "# Create roles and databases as the spec states, and bring the members to the rendered pod\n"
        "# templates and settings; safe to run any number of times.\n"
        "# Connection settings come from PG* variables; passwords from PGRENDER_VERIFIER_<n>.\n"
        "set -eu\n"
        'here="$(dirname "$0")"\n'
        f"until {pg_isready} --quiet; do sleep 2; done\n"
        "# Patroni's dynamic configuration first: for a standby cluster that is being promoted, removing\n"
        "# standby_cluster from it is what makes the standby leader a primary.\n"
        f'python3 "$here/{MEMBERS_SCRIPT}" configure "$here/{DCS_CONFIG}"\n'
    )
    if plan.patroni.standby_cluster:
        script += 'echo "standby cluster: roles and databases come with the source cluster\'s data"\n'
    else:
        script += (
            f'until [ "$({psql} --no-psqlrc --tuples-only --no-align '
            "--command='SELECT pg_catalog.pg_is_in_recovery()')\" = f ]; do\n"
            '    echo "waiting for the primary to leave recovery"\n'
            "    sleep 2\n"
            "done\n"
            f"{psql} --no-psqlrc --set=ON_ERROR_STOP=1{variables} \\\n"
            f"  {files}\n"
        )
    rollout = plan.rollout
    return script + (
        f'python3 "$here/{MEMBERS_SCRIPT}" roll --loop-wait={plan.patroni.loop_wait} '
        f"--max-lag-bytes={rollout.max_lag_bytes} --step-timeout={rollout.step_timeout_seconds}\n"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def reconcile_sql(plan: ClusterPlan) -> str:
    """Idempotent SQL for psql: every change is a guarded statement run through \\gexec."""
    return "\n".join(line for section in reconcile_sql_sections(plan) for line in section)


def reconcile_sql_sections(plan: ClusterPlan) -> list[list[str]]:
    """reconcile_sql's lines in sections that each stand alone (a role, a database, a \\connect)."""
    sections = [
        [
            "-- Generated by pgrender from the cluster spec. Each SELECT yields a statement only when",
            "-- the catalog differs from the spec, and \\gexec runs it.",
            "SET log_statement = 'none';",
            "SET log_min_duration_statement = -1;",
            "",
        ]
    ]
    verifiers = {u.name: _verifier_variable(i) for i, u in _login_users(plan)}
    for user in plan.users:
        sections.append(_role_sql(user.name, user.options, verifiers.get(user.name)))
    if plan.pgbouncer:
        sections.append(_role_sql(plan.pgbouncer.auth_user, RoleOptions(), PGBOUNCER_VERIFIER))
    sections += [_database_sql(database) for database in plan.databases]
    if plan.pgbouncer:
        sections += _get_auth_sql(plan.pgbouncer.auth_user, ["postgres", *(d.name for d in plan.databases)])
    return sections


def _get_auth_sql(auth_user: str, databases: list[str]) -> list[list[str]]:
    """pgBouncer runs its auth_query in the database a client asks for: the function is in each."""
    body = GET_AUTH.format(user=f'"{auth_user}"', literal=_literal(auth_user))
    sections = [["-- pgBouncer's password lookup; never returns superusers, replication roles or itself"]]
    sections += [[f"\\connect {database}", body, ""] for database in databases]
    return sections


def _role_sql(role: str, options: RoleOptions, verifier: str | None) -> list[str]:
    name = _literal(role)
    keywords = " ".join(on if getattr(options, attr) else off for _, on, off, attr in ROLE_ATTRIBUTES)
    columns = ", ".join(col for col, *_ in ROLE_ATTRIBUTES)
    wanted = ", ".join("true" if getattr(options, attr) else "false" for *_, attr in ROLE_ATTRIBUTES)
    password = f":'{verifier}'" if verifier else "NULL"
    password_sql = (
        f"format('ALTER ROLE %I PASSWORD %L', {name}, {password})"
        if verifier
        else (f"format('ALTER ROLE %I PASSWORD NULL', {name})")
    )
    return [
        ROLE_MARKER.format(role),
        f"SELECT format('CREATE ROLE %I', {name})",
        f" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {name})",
        "\\gexec",
        f"SELECT format('ALTER ROLE %I WITH {keywords}', {name})",
        f"  FROM pg_catalog.pg_roles WHERE rolname = {name}",
        f"   AND ({columns}) IS DISTINCT FROM ({wanted})",
        "\\gexec",
        f"SELECT {password_sql}",
        f"  FROM pg_catalog.pg_authid WHERE rolname = {name} AND rolpassword IS DISTINCT FROM {password}",
        "\\gexec",
        "",
    ]


def _database_sql(database: DatabasePlan) -> list[str]:
    name, owner = _literal(database.name), _literal(database.owner)
    out = [
        DATABASE_MARKER.format(database.name),
        f"SELECT format('CREATE DATABASE %I OWNER %I', {name}, {owner})",
        f" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = {name})",
        "\\gexec",
        f"SELECT format('ALTER DATABASE %I OWNER TO %I', {name}, {owner})",
        "  FROM pg_catalog.pg_database",
        f" WHERE datname = {name} AND pg_catalog.pg_get_userbyid(datdba) <> {owner}",
        "\\gexec",
    ]
    for grantee in database.grantees:
        if grantee == database.owner:
            continue
        user = _literal(grantee)
        out += [
            f"SELECT format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO %I', {name}, {user})",
            f" WHERE NOT pg_catalog.has_database_privilege({user}, {name}, 'CONNECT, CREATE, TEMPORARY')",
            "\\gexec",
        ]
    return [*out, ""]


def _pod_template(plan: ClusterPlan, config_maps: list[str]) -> Manifest:
    names = plan.names
    env = superuser_libpq_env(plan)
    env += [
        {"name": "PGRENDER_PATRONI_MEMBERS", "value": " ".join(plan.patroni.member_api_hosts)},
        {
            "name": "PGRENDER_PATRONI_USERNAME",
            "valueFrom": {"secretKeyRef": {"name": names.patroni_secret, "key": secret_keys.USERNAME}},
        },
        {
            "name": "PGRENDER_PATRONI_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": names.patroni_secret, "key": secret_keys.PASSWORD}},
        },
    ]
    rotations = []
    for i, user in _login_users(plan):
        assert user.secret is not None
        env.append(
            {
                "name": f"PGRENDER_VERIFIER_{i}",
                "valueFrom": {"secretKeyRef": {"name": user.secret, "key": secret_keys.VERIFIER}},
            }
        )
        rotations.append(f"{user.name}={user.password_rotation}")
    if plan.pgbouncer:
        env.append(
            {
                "name": "PGRENDER_PGBOUNCER_VERIFIER",
                "valueFrom": {"secretKeyRef": {"name": plan.pgbouncer.name, "key": secret_keys.VERIFIER}},
            }
        )
    container = {
        "name": "reconcile",
        "image": plan.image,
        "command": ["sh", f"{defaults.RECONCILE_DIR}/{SCRIPT}"],
        "env": env,
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "reconcile", "mountPath": defaults.RECONCILE_DIR, "readOnly": True}],
    }
    return {
        "metadata": {
            "labels": plan.labels_for(plan.reconcile_labels),
            # A new password (rotation) changes the template, hence the Job name, so the Job runs again.
            "annotations": {**plan.user_annotations, ROTATIONS_ANNOTATION: " ".join(rotations)},
        },
        "spec": apply(
            {
                **job_pod_fields(plan),
                # The token is what the rollout deletes member pods with (Role <c>-reconcile).
                "serviceAccountName": plan.names.reconcile_rbac,
                "automountServiceAccountToken": True,
                "containers": [container],
                "volumes": [_scripts_volume(config_maps)],
            },
            job_pod(plan),
        ),
    }
