"""PostgreSQL 17 as scripts/setup-pg-upgrade-target.sh installs it (trixie's binaries with a private
sysroot, beside Debian's PostgreSQL), for real: what a major version upgrade in the member pods
needs of it.

* the harness's majors: the tests run on the Debian package's major unless they ask for 17;
* 17's binaries: initdb with data checksums, a server with TLS, psql over TLS, a streaming replica
  made by pg_basebackup, pg_controldata;
* ``pg_upgrade --link`` from a cluster of the default major (Debian's 15, initdb'd with data
  checksums, with tables and rows, cleanly shut down) to one initdb'd by 17's initdb, run as the
  postgres user in a directory of its own; then 17 starts on the upgraded directory and has the rows;
* pgBackRest 2.5x (bookworm's 2.45 does not know 17): a stanza and a full backup of a 17 server;
* Patroni (bookworm's 3.0.2, older than 17) running a rendered two-member cluster at 17
  (``imageContract.pgbackrest`` naming the 2.5x): bootstrap, streaming over TLS, WAL archiving and
  a backup through the repository host, failover and the old leader's rejoining.

Patroni 3.0.2 knows PostgreSQL's parameters up to 15: a parameter of 16 or 17 in the rendered
configuration (``reserved_connections``, ``summarize_wal``, ``transaction_timeout``, ...) is left
out of postgresql.conf with "WARNING: Removing unexpected parameter=... from the config", and the
server runs with its default. The specs here set none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from .harness import (
    PG_ROOT,
    UPGRADE_TARGET_MAJOR,
    UPGRADE_TARGET_PGBACKREST,
    LocalCluster,
    PlainServer,
    default_pg_major,
    free_ports,
    local_spec,
    pg_bin,
    pg_majors,
    plain_server,
    render_spec,
    running_cluster,
    wait_until,
)

pytestmark = pytest.mark.runtime

TARGET = UPGRADE_TARGET_MAJOR
CHECKSUMS = ("--data-checksums",)


@pytest.fixture(scope="module")
def root(upgrade_root: Path) -> Path:
    """This module's directory (conftest's upgrade_root: PostgreSQL 17 must be there)."""
    return upgrade_root


def tls_conninfo(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=require"


def controldata(server: PlainServer) -> dict[str, str]:
    out = server.run([server.bin("pg_controldata"), str(server.data)]).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def test_tests_run_on_the_default_major_and_may_ask_for_the_target(root: Path) -> None:
    """Both majors are there; the default is Debian's (not the one linked in), and ``major=`` asks
    for the other in specs and binaries."""
    default = default_pg_major()
    assert default is not None and default != TARGET
    assert {default, TARGET} <= set(pg_majors())
    assert (PG_ROOT / str(TARGET)).is_symlink() and not (PG_ROOT / str(default)).is_symlink()
    assert local_spec("minimal")["spec"]["postgresVersion"] == default
    assert local_spec("minimal", major=TARGET)["spec"]["postgresVersion"] == TARGET
    assert pg_bin("psql") == f"/usr/lib/postgresql/{default}/bin/psql"
    assert pg_bin("psql", major=TARGET) == f"/usr/lib/postgresql/{TARGET}/bin/psql"
    assert PlainServer(root / "unused").major == default


def test_target_runs_with_checksums_tls_and_a_streaming_replica(root: Path) -> None:
    """initdb --data-checksums, ssl = on, psql over TLS on TCP, pg_basebackup -R of a replica that
    streams (over TLS) what the primary writes next."""
    primary_port, replica_port = free_ports(2)
    with plain_server(root / "primary", major=TARGET, port=primary_port, initdb_options=CHECKSUMS) as primary:
        assert primary.json(
            "SELECT current_setting('server_version_num')::int / 10000 AS major,"
            " current_setting('data_checksums') AS checksums, current_setting('ssl') AS ssl"
        ) == [{"major": TARGET, "checksums": "on", "ssl": "on"}]
        assert controldata(primary)["Data page checksum version"] == "1"
        over_tls = primary.run(
            [
                primary.bin("psql"),
                *("-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", tls_conninfo(primary_port)),
                *("-c", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
            ]
        )
        assert over_tls.stdout.strip().split("|")[0] == "t", over_tls.stdout
        assert over_tls.stdout.strip().split("|")[1].startswith("TLSv1."), over_tls.stdout
        assert primary.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g").returncode == 0

        replica = PlainServer(root / "replica", major=TARGET, port=replica_port)
        backup = [replica.bin("pg_basebackup"), "-d", tls_conninfo(primary_port), "-D", str(replica.data)]
        replica.run([*backup, "-R", "-X", "stream", "-c", "fast", "--no-sync"])
        try:
            replica.start()
            assert replica.json("SELECT pg_is_in_recovery() AS standby, count(*) AS n FROM t") == [
                {"standby": True, "n": 1000}
            ]
            assert primary.psql("INSERT INTO t VALUES (1001)").returncode == 0
            replayed = [{"n": 1001}]
            wait_until("the replica to replay", lambda: replica.json("SELECT count(*) AS n FROM t") == replayed, 20)
            assert primary.json("SELECT r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)") == [
                {"state": "streaming", "ssl": True}
            ]
            assert controldata(replica)["Database cluster state"] == "in archive recovery"
        finally:
            replica.stop()


def test_pg_upgrade_link_from_the_default_major(root: Path) -> None:
    """A cluster of the default major, with checksums and data, cleanly shut down, upgraded in place
    (hard links) by 17's pg_upgrade, as the postgres user in its own working directory."""
    default = default_pg_major()
    assert default is not None
    old = PlainServer(root / "old", initdb_options=CHECKSUMS)
    new = PlainServer(root / "new", major=TARGET, initdb_options=CHECKSUMS)
    old.start()
    try:
        setup = (
            "CREATE TABLE kept (id int PRIMARY KEY, name text NOT NULL);"
            " INSERT INTO kept SELECT g, 'row ' || g FROM generate_series(1, 500) g;"
            " CREATE INDEX kept_name ON kept (name);"
            " CREATE VIEW kept_even AS SELECT * FROM kept WHERE id % 2 = 0;"
            " CREATE SEQUENCE kept_seq START 42"
        )
        created = old.psql(setup)
        assert created.returncode == 0, created.stderr
        ((old_file,),) = [[r["path"]] for r in old.json("SELECT pg_relation_filepath('kept') AS path")]
    finally:
        old.stop()
    assert controldata(old)["Database cluster state"] == "shut down"
    new.initdb()

    old_port, new_port = free_ports(2)
    # As the postgres user, in the new server's root: pg_upgrade puts its sockets in its working
    # directory (and its logs in the new data directory).
    result = new.run(
        [
            new.bin("pg_upgrade"),
            *("--old-bindir", str(Path(pg_bin("postgres", default)).parent)),
            *("--new-bindir", str(Path(pg_bin("postgres", TARGET)).parent)),
            *("--old-datadir", str(old.data), "--new-datadir", str(new.data)),
            *("--old-port", str(old_port), "--new-port", str(new_port), "--username", "postgres"),
            *("--socketdir", str(new.root), "--link"),
        ],
        timeout=300,
    )
    assert "Upgrade Complete" in result.stdout, result.stdout
    assert (old.data / "global" / "pg_control.old").exists(), "--link disables the old cluster"

    new.start()
    try:
        assert new.json(
            "SELECT current_setting('server_version_num')::int / 10000 AS major,"
            " current_setting('data_checksums') AS checksums, count(*) AS n, max(name) AS last,"
            " (SELECT count(*) FROM kept_even) AS even, (SELECT nextval('kept_seq')) AS seq FROM kept"
        ) == [{"major": TARGET, "checksums": "on", "n": 500, "last": "row 99", "even": 250, "seq": 42}]
        assert new.json("SELECT id FROM kept WHERE name = 'row 7'") == [{"id": 7}]  # through the index
        # --link: the table's file is the old cluster's file, not a copy.
        ((new_file,),) = [[r["path"]] for r in new.json("SELECT pg_relation_filepath('kept') AS path")]
        assert os.stat(new.data / new_file).st_ino == os.stat(old.data / old_file).st_ino
        analyzed = new.run([new.bin("vacuumdb"), "-h", str(new.root), "-U", "postgres", "--all", "--analyze-only"])
        assert analyzed.returncode == 0
    finally:
        new.stop()


def test_target_pgbackrest_backs_up_the_target(root: Path) -> None:
    """The sysroot's pgBackRest (2.5x) knows 17: a stanza and a full backup to a local repository."""
    pgbackrest_bin = UPGRADE_TARGET_PGBACKREST
    with plain_server(root / "backed-up", major=TARGET, initdb_options=CHECKSUMS) as server:
        repo = root / "backed-up" / "repo"
        conf = root / "backed-up" / "pgbackrest.conf"
        conf.write_text(
            "[global]\n"
            f"repo1-path={repo}\n"
            f"lock-path={root / 'backed-up' / 'lock'}\n"
            "log-level-console=warn\nlog-level-file=off\nstart-fast=y\n"
            "\n[db]\n"
            f"pg1-path={server.data}\npg1-socket-path={server.root}\n"
        )
        conf.chmod(0o644)
        archive = f"{pgbackrest_bin} --config={conf} --stanza=db archive-push %p"
        for setting in ("archive_mode = on", f"archive_command = '{archive}'"):
            assert server.psql(f"ALTER SYSTEM SET {setting}").returncode == 0
        server.stop()
        server.start()

        def pgbackrest(*args: str) -> str:
            return server.run([str(pgbackrest_bin), f"--config={conf}", "--stanza=db", *args], timeout=120).stdout

        assert server.run([str(pgbackrest_bin), "version"]).stdout.startswith("pgBackRest 2.5")
        pgbackrest("stanza-create")
        pgbackrest("--type=full", "backup")
        (stanza,) = json.loads(pgbackrest("info", "--output=json"))
        assert [db["version"] for db in stanza["db"]] == [str(TARGET)]
        assert [b["type"] for b in stanza["backup"]] == ["full"]


# --------------------------------------------------------------------------------------------
# Patroni with the rendered configuration at 17
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def target_cluster(root: Path) -> Iterator[LocalCluster]:
    """examples/backups.yaml at 17 with its volume repository only (on the repository host; the S3
    one is test_backups.py's) and the sysroot's pgBackRest as the image's."""
    spec = local_spec("backups", major=TARGET)
    backups = spec["spec"]["backups"]
    backups["repos"] = [repo for repo in backups["repos"] if "volume" in repo]
    backups["manual"]["repo"] = backups["repos"][0]["name"]
    del backups["logical"]
    spec["spec"]["imageContract"] = {"pgbackrest": str(UPGRADE_TARGET_PGBACKREST)}
    with running_cluster(render_spec(spec, root / "specs" / "target"), root / "target") as cluster:
        yield cluster


def run_cron_job(cluster: LocalCluster, name: str, command: tuple[str, ...] | None = None) -> str:
    """The container of a rendered CronJob's Job (or ``command`` in it), run to the end."""
    cron_job = cluster.rendered.get("CronJob", name)
    (container,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    leader = cluster.wait_healthy()
    pod = cluster.pod_container(cron_job, container["name"], postgres_port=leader.pg_port)
    if command is not None:
        pod = replace(pod, run=replace(pod.run, command=command))
    result = pod.run_once(timeout=300)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_patroni_runs_the_target_backs_it_up_and_fails_over(target_cluster: LocalCluster) -> None:
    cluster = target_cluster
    leader = cluster.wait_healthy()
    assert leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(TARGET)]]
    assert {row["state"] for row in cluster.streaming(leader).values()} == {"streaming"}
    assert {row["ssl"] for row in cluster.streaming(leader).values()} == {"t"}

    (cron_job,) = [
        c["metadata"]["name"] for c in cluster.rendered.all("CronJob") if c["metadata"]["name"].endswith("-full")
    ]
    assert "backup command end: completed successfully" in run_cron_job(cluster, cron_job)
    info = run_cron_job(cluster, cron_job, (str(UPGRADE_TARGET_PGBACKREST), "--stanza=db", "--output=json", "info"))
    (stanza,) = json.loads(info)
    assert stanza["status"]["message"] == "ok", stanza["status"]
    assert [db["version"] for db in stanza["db"]] == [str(TARGET)]
    assert [b["type"] for b in stanza["backup"]] == ["full"]

    config = leader.run.patroni_config
    assert config is not None
    dcs = config["bootstrap"]["dcs"]
    bound = int(dcs["ttl"]) + 2 * int(dcs["loop_wait"]) + 8  # test_failover.py's bound
    leader.crash()

    def new_leader() -> bool:
        now = cluster.leader()
        return now is not None and now is not leader and now.psql("SELECT pg_is_in_recovery()") == [["f"]]

    wait_until("a new leader", new_leader, timeout=bound)
    new = cluster.leader()
    assert new is not None
    leader.start()
    assert cluster.wait_healthy(timeout=60) is new
    assert leader.psql("SELECT pg_is_in_recovery()") == [["t"]]
    assert cluster.streaming(new)[leader.name]["state"] == "streaming"
