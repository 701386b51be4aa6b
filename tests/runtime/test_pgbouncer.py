"""pgBouncer as rendered, in front of the real cluster: TLS both ways, auth_query, no superusers.

The cluster is examples/pooled.yaml (transaction pooling) plus a superuser role and the replicas'
pgBouncer (spec.proxy.pgBouncerReplicas, with the same settings), brought up like the other
examples; the reconcile Job creates pgBouncer's auth user and pgbouncer.get_auth(). Clients use the
rendered ``pgbouncer-uri`` of their Secret, localized only for address and port; for the replicas'
pgBouncer, with its Service's host, as the README tells applications to.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .harness import (
    LocalCluster,
    PgBouncer,
    client_psql,
    local_spec,
    loopback_uri,
    render_spec,
    running_cluster,
    write_secret,
)

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def pooled(runtime_root: Path) -> Iterator[tuple[LocalCluster, PgBouncer]]:
    spec = local_spec("pooled")
    spec["spec"]["users"].append({"name": "admin", "databases": ["shop"], "options": {"superuser": True}})
    # [databases] and [users] entries: an alias of shop with its own pool size, a user in session mode.
    spec["spec"]["users"].append({"name": "reports", "databases": ["shop"]})
    config = spec["spec"]["proxy"]["pgBouncer"]["config"]
    config["databases"] = {"shop_reports": "dbname=shop pool_size=3"}
    config["users"] = {"reports": "pool_mode=session"}
    # The replicas' pgBouncer, with the same settings (a YAML anchor would say the same).
    spec["spec"]["proxy"]["pgBouncerReplicas"] = copy.deepcopy(spec["spec"]["proxy"]["pgBouncer"])
    rendered = render_spec(spec, runtime_root / "specs" / "pooled")
    with running_cluster(rendered, runtime_root / "pooled") as cluster:
        leader = cluster.wait_healthy()
        job = cluster.run_job(runtime_root / "pooled-job")
        assert job.returncode == 0, job.stderr
        bouncer = PgBouncer(rendered, runtime_root / "pooled-pgbouncer", leader.pg_port)
        try:
            bouncer.start()
            yield cluster, bouncer
        finally:
            bouncer.stop()


def started_replicas_bouncer(
    pooled: tuple[LocalCluster, PgBouncer], root: Path, on_the_primary: bool
) -> Iterator[PgBouncer]:
    """The replicas' pgBouncer as rendered, under ``root``. Each Service it could name reaches the
    member it selects; ``on_the_primary``: the replicas Service reaches the leader, as the server
    connections it holds do after a failover (pgBouncer keeps them for server_lifetime; the Service
    no longer selects that member, but an open connection stays where it was)."""
    cluster, _ = pooled
    leader = cluster.wait_healthy()
    (replica,) = [m for m in cluster.members if m is not leader]
    reached = leader if on_the_primary else replica
    services = {"pooled-primary.apps.svc": leader.pg_port, "pooled-replicas.apps.svc": reached.pg_port}
    bouncer = PgBouncer(cluster.rendered, root, leader.pg_port, REPLICAS, services)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture(scope="module")
def replicas_bouncer(pooled: tuple[LocalCluster, PgBouncer], runtime_root: Path) -> Iterator[PgBouncer]:
    yield from started_replicas_bouncer(pooled, runtime_root / "pooled-pgbouncer-replicas", on_the_primary=False)


REPLICAS = "pooled-pgbouncer-replicas"


@pytest.fixture(scope="module")
def replicas_bouncer_on_the_primary(pooled: tuple[LocalCluster, PgBouncer], runtime_root: Path) -> Iterator[PgBouncer]:
    """The replicas' pgBouncer after a failover: its server connections on the member that now leads."""
    root = runtime_root / "pooled-pgbouncer-replicas-on-the-primary"
    yield from started_replicas_bouncer(pooled, root, on_the_primary=True)


def user_uri(cluster: LocalCluster, bouncer: PgBouncer, user: str, tmp: Path) -> tuple[str, dict[str, str]]:
    """The user's rendered pgbouncer-uri, reaching the local pgBouncer, and the CA to verify it."""
    secret = cluster.rendered.secret(f"{cluster.rendered.name}-pguser-{user}")
    files = write_secret(cluster.rendered, f"{cluster.rendered.name}-pguser-{user}", tmp / user)
    ca = files / "ca.crt"
    return loopback_uri(secret["pgbouncer-uri"].decode(), bouncer.port, ca), {"PGSSLROOTCERT": str(ca)}


def test_user_logs_in_through_pgbouncer_over_tls(pooled: tuple[LocalCluster, PgBouncer], tmp_path: Path) -> None:
    cluster, bouncer = pooled
    uri, env = user_uri(cluster, bouncer, "shop", tmp_path)
    assert "sslmode=verify-full" in uri and urlsplit(uri).hostname == "pooled-pgbouncer.apps.svc"
    # The query runs on the server: its backend's TLS status is pgBouncer's connection to PostgreSQL.
    result = client_psql(uri, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", env)
    assert result.returncode == 0, result.stderr + bouncer.log_tail()
    assert result.stdout.strip() == "shop\tt"


def test_plaintext_clients_are_refused(pooled: tuple[LocalCluster, PgBouncer], tmp_path: Path) -> None:
    cluster, bouncer = pooled
    uri, env = user_uri(cluster, bouncer, "shop", tmp_path)
    result = client_psql(uri.replace("sslmode=verify-full", "sslmode=disable"), "SELECT 1", env)
    assert result.returncode != 0
    assert "SSL required" in result.stderr or "ssl" in result.stderr.lower()


def test_superuser_cannot_log_in_through_pgbouncer(pooled: tuple[LocalCluster, PgBouncer], tmp_path: Path) -> None:
    cluster, bouncer = pooled
    uri, env = user_uri(cluster, bouncer, "admin", tmp_path)
    result = client_psql(uri, "SELECT 1", env)
    assert result.returncode != 0
    # pgbouncer.get_auth() returns no row for a superuser, so pgBouncer knows no such user.
    assert "no such user" in result.stderr or "authentication failed" in result.stderr
    # The same password works directly against PostgreSQL: only pgBouncer's lookup refuses it.
    direct = cluster.rendered.secret("pooled-pguser-admin")["uri"].decode()
    leader = cluster.leader()
    assert leader is not None
    assert (
        client_psql(loopback_uri(direct, leader.pg_port, Path(env["PGSSLROOTCERT"])), "SELECT 1", env).returncode == 0
    )


def test_pool_mode_is_what_the_spec_says(pooled: tuple[LocalCluster, PgBouncer], tmp_path: Path) -> None:
    cluster, bouncer = pooled
    uri, env = user_uri(cluster, bouncer, "shop", tmp_path)
    assert client_psql(uri, "SELECT 1", env).returncode == 0  # makes the shop pool exist
    secret = cluster.rendered.secret("pooled-pgbouncer")
    console = (
        "host=pooled-pgbouncer.apps.svc hostaddr=127.0.0.1 "
        f"port={bouncer.port} dbname=pgbouncer user=_pgrender_pgbouncer sslmode=verify-full"
    )
    console_env = env | {"PGPASSWORD": secret["password"].decode()}
    config = client_psql(console, "SHOW CONFIG", console_env)
    assert config.returncode == 0, config.stderr + bouncer.log_tail()
    settings = {row.split("\t")[0]: row.split("\t")[1] for row in config.stdout.splitlines() if "\t" in row}
    assert settings["pool_mode"] == "transaction"
    assert settings["server_tls_sslmode"] == "verify-full" and settings["client_tls_sslmode"] == "require"
    pools = client_psql(console, "SHOW POOLS", console_env)
    assert pools.returncode == 0, pools.stderr
    shop = [row.split("\t") for row in pools.stdout.splitlines() if row.startswith("shop\t")]
    assert shop and shop[0][-1] == "transaction"


def console(
    bouncer: PgBouncer, cluster: LocalCluster, env: dict[str, str], command: str, name: str = "pooled-pgbouncer"
) -> list[list[str]]:
    """Rows of a command on pgBouncer ``name``'s admin console, as its auth user (a stats user)."""
    secret = cluster.rendered.secret(name)
    target = (
        f"host={name}.apps.svc hostaddr=127.0.0.1 "
        f"port={bouncer.port} dbname=pgbouncer user=_pgrender_pgbouncer sslmode=verify-full"
    )
    result = client_psql(target, command, env | {"PGPASSWORD": secret["password"].decode()})
    assert result.returncode == 0, result.stderr + bouncer.log_tail()
    return [row.split("\t") for row in result.stdout.splitlines()]


def test_database_alias_reaches_its_database(pooled: tuple[LocalCluster, PgBouncer], tmp_path: Path) -> None:
    cluster, bouncer = pooled
    uri, env = user_uri(cluster, bouncer, "shop", tmp_path)
    alias = uri.replace("/shop?", "/shop_reports?")
    assert alias != uri
    result = client_psql(alias, "SELECT current_user, current_database()", env)
    assert result.returncode == 0, result.stderr + bouncer.log_tail()
    assert result.stdout.strip() == "shop\tshop"
    # SHOW DATABASES: name, host, port, database, force_user, pool_size, ...
    (entry,) = [row for row in console(bouncer, cluster, env, "SHOW DATABASES") if row[0] == "shop_reports"]
    assert (entry[1], entry[3], entry[5]) == ("pooled-primary.apps.svc", "shop", "3")


def test_users_section_sets_a_users_pool_mode(pooled: tuple[LocalCluster, PgBouncer], tmp_path: Path) -> None:
    cluster, bouncer = pooled
    for user in ("reports", "shop"):
        uri, env = user_uri(cluster, bouncer, user, tmp_path)
        result = client_psql(uri, "SELECT 1", env)
        assert result.returncode == 0, result.stderr + bouncer.log_tail()
    # SHOW POOLS: database, user, ..., pool_mode last. reports is in session mode, shop keeps the spec's.
    modes = {row[1]: row[-1] for row in console(bouncer, cluster, env, "SHOW POOLS") if row[0] == "shop"}
    assert (modes["reports"], modes["shop"]) == ("session", "transaction")


def replicas_uri(cluster: LocalCluster, bouncer: PgBouncer, user: str, tmp: Path) -> tuple[str, dict[str, str]]:
    """The user's pgbouncer-uri with the replicas' pgBouncer's host, ``<service>.<namespace>.svc``
    (the README's), reaching its local process."""
    service = cluster.rendered.get("Service", REPLICAS)["metadata"]
    uri, env = user_uri(cluster, bouncer, user, tmp)
    host = f"{service['name']}.{service['namespace']}.svc"
    return uri.replace("@pooled-pgbouncer.apps.svc:", f"@{host}:"), env


def test_replicas_pgbouncer_lands_on_a_replica(
    pooled: tuple[LocalCluster, PgBouncer], replicas_bouncer: PgBouncer, tmp_path: Path
) -> None:
    cluster, bouncer = pooled
    query = "SELECT pg_is_in_recovery(), current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    uri, env = user_uri(cluster, bouncer, "shop", tmp_path)
    primary = client_psql(uri, query, env)
    assert primary.returncode == 0, primary.stderr + bouncer.log_tail()
    assert primary.stdout.strip() == "f\tshop\tt"
    uri, env = replicas_uri(cluster, replicas_bouncer, "shop", tmp_path)
    assert urlsplit(uri).hostname == "pooled-pgbouncer-replicas.apps.svc" and "sslmode=verify-full" in uri
    # Verified both ways: the client checks the replicas' pgBouncer's certificate for its Service's
    # name, which checks the replica's for pooled-replicas.apps.svc; the query runs on the replica.
    replica = client_psql(uri, query, env)
    assert replica.returncode == 0, replica.stderr + replicas_bouncer.log_tail()
    assert replica.stdout.strip() == "t\tshop\tt"
    writes = client_psql(uri, "CREATE TABLE landed_here (id int)", env)
    assert writes.returncode != 0 and "read-only transaction" in writes.stderr


# user (pool mode through the replicas' pgBouncer: shop transaction, reports session) → a write refused
READ_ONLY_ON_THE_PRIMARY = [("shop", "transaction"), ("reports", "session")]


@pytest.mark.parametrize(("user", "mode"), READ_ONLY_ON_THE_PRIMARY)
def test_replicas_pgbouncer_refuses_writes_on_a_promoted_member(
    pooled: tuple[LocalCluster, PgBouncer],
    replicas_bouncer_on_the_primary: PgBouncer,
    tmp_path: Path,
    user: str,
    mode: str,
) -> None:
    """Read-only pooling stays read-only when its server connections reach a primary: every server
    connection starts with default_transaction_read_only on (connect_query), and a session pool's
    reset between clients (which succeeds: the connection is reused, and what a client SET is gone)
    keeps it on. Three clients in turn, each on the one server connection of its pool."""
    cluster, _ = pooled
    bouncer = replicas_bouncer_on_the_primary
    uri, env = replicas_uri(cluster, bouncer, user, tmp_path)
    query = "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), pg_backend_pid()"
    backends, work_mem = set(), set()
    for _ in range(3):
        read = client_psql(uri, f"{query}, current_setting('work_mem'); SET work_mem = '7MB'", env)
        assert read.returncode == 0, read.stderr + bouncer.log_tail()
        on_primary, read_only, backend, memory = read.stdout.split()[:4]
        assert (on_primary, read_only) == ("f", "on")  # on the primary, and still read-only
        backends.add(backend)
        work_mem.add(memory)
        write = client_psql(uri, f"CREATE TABLE written_through_the_replicas_pooler_{mode} (id int)", env)
        assert write.returncode != 0 and "read-only transaction" in write.stderr, write.stdout + write.stderr
    assert len(backends) == 1, backends  # one server connection throughout: never dropped for a failed reset
    if mode == "session":
        assert work_mem == {"4MB"}  # the reset ran: each client starts with the server's settings
    # SHOW POOLS: database, user, ..., pool_mode last
    pools = console(bouncer, cluster, env, "SHOW POOLS", REPLICAS)
    assert [row[-1] for row in pools if row[:2] == ["shop", user]] == [mode], pools


def test_replicas_pgbouncer_refuses_what_the_primarys_refuses(
    pooled: tuple[LocalCluster, PgBouncer], replicas_bouncer: PgBouncer, tmp_path: Path
) -> None:
    cluster, _ = pooled
    uri, env = replicas_uri(cluster, replicas_bouncer, "admin", tmp_path)
    result = client_psql(uri, "SELECT 1", env)
    assert result.returncode != 0  # a superuser: get_auth() (replicated) returns no row for it
    assert "no such user" in result.stderr or "authentication failed" in result.stderr
    uri, env = replicas_uri(cluster, replicas_bouncer, "shop", tmp_path)
    plaintext = client_psql(uri.replace("sslmode=verify-full", "sslmode=disable"), "SELECT 1", env)
    assert plaintext.returncode != 0
    # Its certificate names its own Service, not the primary's pgBouncer's.
    wrong = client_psql(
        uri.replace("@pooled-pgbouncer-replicas.apps.svc:", "@pooled-pgbouncer.apps.svc:"), "SELECT 1", env
    )
    assert wrong.returncode != 0 and "does not match host name" in wrong.stderr
