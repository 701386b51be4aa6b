"""ConfigMap <c>-reconcile (reconcile.sh, reconcile.sql) and Job <c>-reconcile-<hash>.

The SQL creates roles with exactly the options the spec states, sets their passwords from the
SCRAM verifiers in the user Secrets (read by the Job at run time), and creates databases with
their owners. Every statement is guarded, so a second run changes nothing.

When the passwords are known only in the cluster (plan.runtime_passwords: a store, through the
secrets provider `external`), the Secrets hold no verifiers: the Job reads each password and
computes its verifier (passwords.py), and CronJob <c>-passwords does the same on a schedule for
passwords changed in the store since (password-sync.sh, passwords.sql).
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pgrender import json_text
from pgrender.components.role_sql import literal as _literal
from pgrender.components.role_sql import memberships_sql, role_settings_sql
from pgrender.digest import digest
from pgrender.frozen import frozen
from pgrender.plan import ClusterPlan, ContainerKind, DatabasePlan, UserPlan, defaults, secret_keys
from pgrender.plan.roles import RoleSetting
from pgrender.plan.upgrade import RECORD_TABLE as UPGRADE_RECORD
from pgrender.pod import (
    SYNC_WAVE,
    Manifest,
    apply,
    container_resources,
    container_security_context,
    job_pod_fields,
    object_meta,
)
from pgrender.pod_parts import job_pod
from pgrender.pod_parts.client_tls import superuser_libpq_env
from pgrender.spec import validated

if TYPE_CHECKING:
    from pgrender.spec.users import RoleOptions

SCRIPT = "reconcile.sh"
SQL = "reconcile.sql"
MEMBERS_SCRIPT = "members.py"  # pgrender/job_scripts/members.py: Patroni's configuration, the rollout
PASSWORDS_SCRIPT = "passwords.py"  # pgrender/job_scripts/passwords.py: verifiers from passwords, at run time
PASSWORDS_SQL = "passwords.sql"  # only the statements that set passwords (CronJob <c>-passwords)
PASSWORD_SYNC_SCRIPT = "password-sync.sh"
DCS_CONFIG = "patroni-dynamic.json"
INIT_SQL = "init.sql"  # spec.databaseInitSQL: inline in the reconcile ConfigMap, or the user's ConfigMap's key
INIT_RECORD_SQL = "init-record.sql"
INIT_END_SQL = "init-end.sql"
# Run right after spec.databaseInitSQL, in its session: a transaction it left open (a BEGIN without
# COMMIT) psql would roll back on exit, without an error, and the record would say it ran. In a
# transaction block now() is when it began; in none, each statement's own start.
INIT_END = """\
DO $init$
BEGIN
    IF pg_catalog.now() <> pg_catalog.statement_timestamp() THEN
        RAISE EXCEPTION 'the init SQL ends inside a transaction (a BEGIN without COMMIT): psql would roll it back';
    END IF;
END
$init$;
"""
INIT_SQL_VOLUME = "init-sql"
# Run in the same transaction as the init SQL: the table's existence is the record that it ran, so
# a failed run leaves no record and a second Job running at the same time fails on CREATE TABLE.
INIT_RECORD = """\
-- spec.databaseInitSQL ran: the reconcile Job never runs it again while this table exists.
-- To run it again: DROP TABLE pgrender.init_sql; then run the reconcile Job again.
CREATE SCHEMA IF NOT EXISTS pgrender;
CREATE TABLE pgrender.init_sql (ran_at timestamptz NOT NULL DEFAULT pg_catalog.now());
INSERT INTO pgrender.init_sql DEFAULT VALUES;
"""


@functools.cache
def job_script(name: str) -> str:
    # package data beside this package, read as a file (pgrender.plan.parameters says why)
    return (Path(__file__).parents[1] / "job_scripts" / name).read_text(encoding="utf-8")


def members_script() -> str:
    return job_script(MEMBERS_SCRIPT)


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
        DCS_CONFIG: json_text.indented(plan.patroni.dynamic_configuration, sort_keys=True) + "\n",
    }
    sync = _password_sync_schedule(plan)
    if plan.runtime_passwords:
        data[PASSWORDS_SCRIPT] = job_script(PASSWORDS_SCRIPT)
    if plan.init_sql:
        data[INIT_RECORD_SQL] = INIT_RECORD
        data[INIT_END_SQL] = INIT_END
        if plan.init_sql.inline is not None:
            data[INIT_SQL] = plan.init_sql.inline
    if sync:
        data[PASSWORD_SYNC_SCRIPT] = password_sync_script(plan)
        data[PASSWORDS_SQL] = passwords_sql(plan)
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
    # Shut down, no member runs the Job's SQL; when the cluster starts again it is rendered anew (one
    # that had failed meanwhile would keep its name, and never run again).
    jobs = [] if plan.shutdown else [job]
    return [*config_maps, *jobs, *([_password_sync(plan, sync)] if sync else [])]


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
MONITORING_VERIFIER = "verifier_monitoring"
# The exporter's role reads statistics and settings (pg_monitor: pg_read_all_settings,
# pg_read_all_stats, pg_stat_scan_tables) and nothing of the data.
MONITORING_ROLE = "pg_monitor"
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


@frozen
class _Password:
    """A role whose password the Job sets: from which Secret, through which variables."""

    role: str
    secret: str
    psql_variable: str  # :'verifier_0' in the SQL
    verifier_env: str  # the Job's environment (from the Secret, or computed by passwords.py)
    password_env: str  # the Job's environment when the verifier is computed at run time


def _passwords(plan: ClusterPlan) -> list[_Password]:
    """Every login user, then pgBouncer's auth user, in the order of the Job's environment."""
    out = []
    for i, user in _login_users(plan):
        assert user.secret is not None
        out.append(
            _Password(user.name, user.secret, _verifier_variable(i), f"PGRENDER_VERIFIER_{i}", f"PGRENDER_PASSWORD_{i}")
        )
    if plan.poolers:  # one auth user for both pgBouncers; each Secret holds its password
        out.append(
            _Password(
                plan.poolers[0].auth_user,
                plan.poolers[0].name,
                PGBOUNCER_VERIFIER,
                "PGRENDER_PGBOUNCER_VERIFIER",
                "PGRENDER_PGBOUNCER_PASSWORD",
            )
        )
    if plan.monitoring:
        out.append(
            _Password(
                plan.monitoring.user,
                plan.monitoring.name,
                MONITORING_VERIFIER,
                "PGRENDER_MONITORING_VERIFIER",
                "PGRENDER_MONITORING_PASSWORD",
            )
        )
    return out


# The SQL that sets passwords holds their SCRAM verifiers as literals: this session is kept out of
# every place PostgreSQL writes a statement's text, whatever the parameters (a spec's included) say.
# log_statement and log_min_duration_statement log statements; log_min_duration_sample and
# log_transaction_sample_rate sample them; log_min_error_statement writes a failed statement (a
# concurrent ALTER ROLE, a timeout) beside its error; auto_explain logs plans with their query and
# constants; track_activities shows the running statement in pg_stat_activity (to pg_read_all_stats);
# pg_stat_statements keeps the text of utility statements; pgaudit's log_catalog logs the guards'
# reads of pg_authid (its role class still logs the ALTER ROLE, with the password redacted). The
# superuser may set each for its own session; a module's setting that is not loaded is only a
# placeholder.
QUIET_SESSION = (
    "SET log_statement = 'none';",
    "SET log_min_duration_statement = -1;",
    "SET log_min_duration_sample = -1;",
    "SET log_transaction_sample_rate = 0;",
    "SET log_min_error_statement = panic;",
    "SET debug_print_parse = off;",
    "SET debug_print_rewritten = off;",
    "SET debug_print_plan = off;",
    "SET track_activities = off;",
    "SET auto_explain.log_min_duration = -1;",
    "SET pg_stat_statements.track = 'none';",
    "SET pgaudit.log_catalog = off;",
)


def _psql_with_verifiers(plan: ClusterPlan, files: str) -> str:
    """psql running ``files`` in one session, each verifier variable checked first. The SQL's header
    (_verifier_sets) has psql read each verifier from the environment itself: never on a command
    line (any process of the pod or the node may read /proc/<pid>/cmdline), and never through the
    shell's or psql's parsing of the value (a quote in a Secret's value would have run commands)."""
    psql = shlex.quote(f"{plan.bin_dir}/psql")
    names = " ".join(p.verifier_env for p in _passwords(plan))
    check = (
        (
            "# Each verifier read as printenv prints it (the value is never a word of a command line), so a\n"
            "# Secret without one fails here rather than clear a role's password.\n"
            f"for variable in {names}; do\n"
            '    case "$(printenv "$variable")" in\n'
            "        SCRAM-SHA-256\\$*) ;;\n"
            '        *) echo "$variable: not a SCRAM verifier (the verifier key of its Secret)" >&2; exit 1 ;;\n'
            "    esac\n"
            "done\n"
        )
        if names
        else ""
    )
    return check + f"{psql} --no-psqlrc --set=ON_ERROR_STOP=1 \\\n  {files}\n"


def _verifier_sets(plan: ClusterPlan) -> list[str]:
    """psql's variables of the verifiers, read from the environment by psql (its backquotes run
    printenv: the value is its output, taken as it is)."""
    return [f"\\set {p.psql_variable} `printenv {p.verifier_env}`" for p in _passwords(plan)]


def _compute_verifiers(plan: ClusterPlan) -> str:
    """Shell lines that set each verifier variable from its password (plan.runtime_passwords)."""
    psql = shlex.quote(f"{plan.bin_dir}/psql")
    triples = " ".join(shlex.quote(f"{p.verifier_env}:{p.password_env}:{p.role}") for p in _passwords(plan))
    return (
        "# The passwords come from the Secrets (a store); passwords.py computes their SCRAM verifiers,\n"
        "# keeping a role's stored verifier while it matches, and never prints a password.\n"
        f'verifiers="$(python3 "$here/{PASSWORDS_SCRIPT}" --psql={psql} {triples})"\n'
        'eval "$verifiers"\n'
        f"export {' '.join(p.verifier_env for p in _passwords(plan))}\n"
    )


def _password_sync_schedule(plan: ClusterPlan) -> str | None:
    """The CronJob's schedule; none for a standby cluster, whose roles come from its source."""
    runtime = plan.runtime_passwords
    if runtime is None or runtime.schedule is None or plan.patroni.standby_cluster:
        return None
    return runtime.schedule


def password_sync_script(plan: ClusterPlan) -> str:
    """CronJob <c>-passwords: on the primary, set the passwords whose store value changed."""
    psql = shlex.quote(f"{plan.bin_dir}/psql")
    return (
        "#!/bin/sh\n"
        "# Set again every password the store changed since the last run; an unchanged password\n"
        "# changes nothing (its stored verifier matches). Connection settings come from PG* variables.\n"
        "set -eu\n"
        'here="$(dirname "$0")"\n'
        f'recovery="$({psql} --no-psqlrc --tuples-only --no-align \\\n'
        "  --command='SELECT pg_catalog.pg_is_in_recovery()')\"\n"
        'if [ "$recovery" != f ]; then\n'
        '    echo "the primary is in recovery (a failover or a standby); the next run sets the passwords"\n'
        "    exit 0\n"
        "fi\n" + _compute_verifiers(plan) + _psql_with_verifiers(plan, f'--file="$here/{PASSWORDS_SQL}"')
    )


def passwords_sql(plan: ClusterPlan) -> str:
    """Only the guarded statements that set passwords, for every role the reconcile Job sets."""
    lines = [
        "-- Generated by pgrender: each role's password from its verifier, where they differ.",
        *QUIET_SESSION,
        *_verifier_sets(plan),
        "",
    ]
    for password in _passwords(plan):
        lines += _password_sql(_literal(password.role), f":'{password.psql_variable}'")
    return "\n".join(lines) + "\n"


def reconcile_script(plan: ClusterPlan, sql_files: list[str]) -> str:
    """The Job's shell script: wait for the primary, set Patroni's dynamic configuration, run the
    SQL files with psql in one session once the primary accepts writes (unless the cluster is a
    standby, whose roles come from its source), then roll the members that need it, one at a time.

    Every word that comes from the spec is shell-quoted (binDir is validated as a plain path too,
    so quoting leaves it as it is); the rest are this module's constants and the plan's numbers.
    """
    pg_isready = shlex.quote(f"{plan.bin_dir}/pg_isready")
    psql = shlex.quote(f"{plan.bin_dir}/psql")
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
            + (_compute_verifiers(plan) if plan.runtime_passwords else "")
            + _psql_with_verifiers(plan, files)
            + (_init_sql_script(plan) if plan.init_sql else "")
        )
    rollout = plan.rollout
    timing = (
        f"--loop-wait={plan.patroni.loop_wait} --max-lag-bytes={rollout.max_lag_bytes} "
        f"--step-timeout={rollout.step_timeout_seconds}"
    )
    script += f'python3 "$here/{MEMBERS_SCRIPT}" roll {timing}\n'
    switchover = plan.switchover
    if switchover is not None:  # spec.patroni.switchover, once for its run (members.py records it)
        target = f" --target={shlex.quote(switchover.target)}" if switchover.target else ""
        script += f'python3 "$here/{MEMBERS_SCRIPT}" switchover {timing} --run={switchover.run}{target} --psql={psql}\n'
    if plan.upgrade is not None:
        script += _analyze_upgraded(plan)
    return script


def _analyze_upgraded(plan: ClusterPlan) -> str:
    """spec.upgrade: pg_upgrade does not carry the planner's statistics (18 carries most), and plans
    are poor until every table is analyzed: vacuumdb analyzes every database in stages (a rough pass
    first), once per upgrade, recorded in pgrender.upgrades (database postgres) after it ran."""
    assert plan.upgrade is not None
    psql = shlex.quote(f"{plan.bin_dir}/psql")
    vacuumdb = shlex.quote(f"{plan.bin_dir}/vacuumdb")
    versions = f"{plan.upgrade.from_version}, {plan.postgres_version}"
    missing_only = " --missing-stats-only" if plan.postgres_version >= 18 else ""
    sql = f"{psql} --no-psqlrc --set=ON_ERROR_STOP=1 --quiet --tuples-only --no-align --dbname=postgres"
    new = plan.postgres_version
    return (
        # The members' rollout ran before: the primary runs the new version, unless the upgrade did not
        # happen (its guard waits and says why); nothing is recorded then, and the Job's next pod tries again.
        f'if [ "$({sql} --command="SELECT pg_catalog.current_setting(\'server_version_num\')::int / 10000")" '
        f"!= {new} ]; then\n"
        f"    echo \"the primary does not run PostgreSQL {new}: the upgrade has not happened (see the members' "
        'logs)" >&2\n'
        "    exit 1\n"
        "fi\n"
        f'{sql} --command="CREATE SCHEMA IF NOT EXISTS pgrender" --command="CREATE TABLE IF NOT EXISTS '
        f"{UPGRADE_RECORD} (from_version int, to_version int, analyzed_at timestamptz NOT NULL DEFAULT "
        'pg_catalog.now(), PRIMARY KEY (from_version, to_version))"\n'
        f'if [ "$({sql} --command="SELECT count(*) FROM {UPGRADE_RECORD} WHERE (from_version, to_version) = '
        f'({versions})")" = 0 ]; then\n'
        f'    echo "upgraded from PostgreSQL {plan.upgrade.from_version}: analyzing every database"\n'
        f"    {vacuumdb} --all --analyze-in-stages{missing_only}\n"
        f'    {sql} --command="INSERT INTO {UPGRADE_RECORD} (from_version, to_version) VALUES ({versions}) '
        'ON CONFLICT DO NOTHING"\n'
        "else\n"
        f'    echo "upgraded from PostgreSQL {plan.upgrade.from_version}: analyzed before ({UPGRADE_RECORD})"\n'
        "fi\n"
    )


def _init_sql_script(plan: ClusterPlan) -> str:
    """Run spec.databaseInitSQL once, as PGO runs its databaseInitSQL: psql as the superuser in
    database postgres, each statement committed as it completes (BEGIN/COMMIT group them), so
    meta-commands such as \\c and statements PostgreSQL refuses in a transaction (CREATE DATABASE)
    work; run in one transaction with its record, a \\c rolled back what came before it without an
    error. The record is written once psql has run it all; a failure stops at the failing statement
    (ON_ERROR_STOP) and fails the Job, whose next pod runs the SQL again from its start."""
    assert plan.init_sql is not None
    psql = shlex.quote(f"{plan.bin_dir}/psql")
    return (
        f'if [ "$({psql} --no-psqlrc --tuples-only --no-align --dbname=postgres '
        '--command="SELECT pg_catalog.to_regclass(\'pgrender.init_sql\') IS NOT NULL")" = t ]; then\n'
        '    echo "init SQL: ran before (table pgrender.init_sql in database postgres); not run again"\n'
        "else\n"
        '    echo "init SQL: running"\n'
        f"    {psql} --no-psqlrc --set=ON_ERROR_STOP=1 --dbname=postgres \\\n"
        f'      --file="$PGRENDER_INIT_SQL" --file="$here/{INIT_END_SQL}"\n'
        f"    {psql} --no-psqlrc --set=ON_ERROR_STOP=1 --single-transaction --dbname=postgres \\\n"
        f'      --file="$here/{INIT_RECORD_SQL}"\n'
        '    echo "init SQL: done"\n'
        "fi\n"
    )


def reconcile_sql(plan: ClusterPlan) -> str:
    """Idempotent SQL for psql: every change is a guarded statement run through \\gexec."""
    return "\n".join(line for section in reconcile_sql_sections(plan) for line in section)


def reconcile_sql_sections(plan: ClusterPlan) -> list[list[str]]:
    """reconcile_sql's lines in sections that each stand alone (a role, a database, a \\connect)."""
    sections = [
        [
            "-- Generated by pgrender from the cluster spec. Each SELECT yields a statement only when",
            "-- the catalog differs from the spec, and \\gexec runs it.",
            *QUIET_SESSION,
            *_verifier_sets(plan),
            "",
        ]
    ]
    verifiers = {u.name: _verifier_variable(i) for i, u in _login_users(plan)}
    for user in plan.users:
        sections.append(_role_sql(user.name, user.options, verifiers.get(user.name), user.settings))
    roles = [(user.name, user.in_roles) for user in plan.users]
    if plan.poolers:
        sections.append(_role_sql(plan.poolers[0].auth_user, _default_options(), PGBOUNCER_VERIFIER, ()))
        roles.append((plan.poolers[0].auth_user, ()))
    if plan.monitoring:
        sections.append(_monitoring_sql(plan.monitoring.user))
    sections += memberships_sql(roles)
    sections += [_database_sql(database) for database in plan.databases]
    if plan.poolers:  # created on the primary, replicated to the replicas the replicas' pgBouncer asks
        sections += _get_auth_sql(plan.poolers[0].auth_user, ["postgres", *(d.name for d in plan.databases)])
    return sections


@functools.cache
def _default_options() -> RoleOptions:
    """The role options pgrender's own login roles (pgBouncer's auth user, the exporter's) have."""
    made: RoleOptions = validated("RoleOptions", {})
    return made


def _monitoring_sql(user: str) -> list[str]:
    """The exporter's role: a login role with pg_monitor, and its password (spec.monitoring)."""
    name = _literal(user)
    role = _role_sql(user, _default_options(), MONITORING_VERIFIER, ())
    grant = [
        f"SELECT format('GRANT {MONITORING_ROLE} TO %I', {name})",
        f" WHERE NOT pg_catalog.pg_has_role({name}, {_literal(MONITORING_ROLE)}, 'MEMBER')",
        "\\gexec",
    ]
    return [*role[:-1], *grant, ""]


def _get_auth_sql(auth_user: str, databases: list[str]) -> list[list[str]]:
    """pgBouncer runs its auth_query in the database a client asks for: the function is in each."""
    body = GET_AUTH.format(user=f'"{auth_user}"', literal=_literal(auth_user))
    sections = [["-- pgBouncer's password lookup; never returns superusers, replication roles or itself"]]
    sections += [[f"\\connect {database}", body, ""] for database in databases]
    return sections


def _role_sql(role: str, options: RoleOptions, verifier: str | None, settings: Sequence[RoleSetting]) -> list[str]:
    name = _literal(role)
    keywords = " ".join(on if getattr(options, attr) else off for _, on, off, attr in ROLE_ATTRIBUTES)
    columns = ", ".join(col for col, *_ in ROLE_ATTRIBUTES)
    wanted = ", ".join("true" if getattr(options, attr) else "false" for *_, attr in ROLE_ATTRIBUTES)
    password = f":'{verifier}'" if verifier else "NULL"
    return [
        ROLE_MARKER.format(role),
        f"SELECT format('CREATE ROLE %I', {name})",
        f" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {name})",
        "\\gexec",
        f"SELECT format('ALTER ROLE %I WITH {keywords}', {name})",
        f"  FROM pg_catalog.pg_roles WHERE rolname = {name}",
        f"   AND ({columns}) IS DISTINCT FROM ({wanted})",
        "\\gexec",
        *_password_sql(name, password),
        *role_settings_sql(role, settings),
        "",
    ]


def _password_sql(name: str, password: str) -> list[str]:
    """Set role ``name``'s password to ``password`` (a verifier variable, or NULL) unless it is."""
    password_sql = (
        f"format('ALTER ROLE %I PASSWORD NULL', {name})"
        if password == "NULL"
        else f"format('ALTER ROLE %I PASSWORD %L', {name}, {password})"
    )
    return [
        f"SELECT {password_sql}",
        f"  FROM pg_catalog.pg_authid WHERE rolname = {name} AND rolpassword IS DISTINCT FROM {password}",
        "\\gexec",
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


def _password_env(plan: ClusterPlan) -> list[Manifest]:
    """Each role's verifier from its Secret, or (plan.runtime_passwords) its password."""
    runtime = plan.runtime_passwords is not None
    return [
        {
            "name": p.password_env if runtime else p.verifier_env,
            "valueFrom": {
                "secretKeyRef": {"name": p.secret, "key": secret_keys.PASSWORD if runtime else secret_keys.VERIFIER}
            },
        }
        for p in _passwords(plan)
    ]


# CronJob <c>-passwords: a missed run is not made up (the next one does the same); one at a time.
PASSWORD_SYNC_DEADLINE_SECONDS = 300


def _password_sync(plan: ClusterPlan, schedule: str) -> Manifest:
    """CronJob <c>-passwords: password-sync.sh with the superuser's client certificate and every
    role's password; no service account token, no Patroni credentials."""
    container = {
        "name": "passwords",
        "image": plan.image,
        "command": ["sh", f"{defaults.RECONCILE_DIR}/{PASSWORD_SYNC_SCRIPT}"],
        "env": [*superuser_libpq_env(plan), *_password_env(plan)],
        "resources": container_resources(plan.resources[ContainerKind.RECONCILE]),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "reconcile", "mountPath": defaults.RECONCILE_DIR, "readOnly": True}],
    }
    labels = plan.labels_for(plan.reconcile_labels)
    pod = apply(
        {
            **job_pod_fields(plan),
            "containers": [container],
            "volumes": [_scripts_volume([plan.names.reconcile_config_map])],
        },
        job_pod(plan),
    )
    metadata: Manifest = {"labels": labels}
    if plan.user_annotations:
        metadata["annotations"] = dict(plan.user_annotations)
    job = {
        "backoffLimit": 1,
        "activeDeadlineSeconds": PASSWORD_SYNC_DEADLINE_SECONDS,
        "template": {"metadata": metadata, "spec": pod},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(plan, plan.names.password_sync, plan.reconcile_labels),
        "spec": {
            "schedule": schedule,
            **({"suspend": True} if plan.shutdown else {}),  # no member to set passwords on
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": PASSWORD_SYNC_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": job},
        },
    }


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
    env += _password_env(plan)
    rotations = [f"{user.name}={user.password_rotation}" for _, user in _login_users(plan)]
    mounts: list[Manifest] = [{"name": "reconcile", "mountPath": defaults.RECONCILE_DIR, "readOnly": True}]
    container = {
        "name": "reconcile",
        "image": plan.image,
        "command": ["sh", f"{defaults.RECONCILE_DIR}/{SCRIPT}"],
        "env": env,
        "resources": container_resources(plan.resources[ContainerKind.RECONCILE]),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    volumes = [_scripts_volume(config_maps)]
    init = plan.init_sql
    if init:
        where = defaults.RECONCILE_DIR if init.inline is not None else defaults.INIT_SQL_DIR
        env.append({"name": "PGRENDER_INIT_SQL", "value": f"{where}/{INIT_SQL}"})
    if init and init.config_map:
        # The user's ConfigMap, as it is when the Job runs; a missing ConfigMap or key keeps the pod
        # from starting (optional: false), rather than the SQL silently not running.
        volumes.append(
            {
                "name": INIT_SQL_VOLUME,
                "configMap": {
                    "name": init.config_map,
                    "items": [{"key": init.key, "path": INIT_SQL}],
                    "optional": False,
                },
            }
        )
        mounts.append({"name": INIT_SQL_VOLUME, "mountPath": defaults.INIT_SQL_DIR, "readOnly": True})
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
                "volumes": volumes,
            },
            job_pod(plan),
        ),
    }
