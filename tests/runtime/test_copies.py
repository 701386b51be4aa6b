"""Clusters and members that start from a copy, run as rendered (the object store, pgBackRest and
the helpers of disaster_recovery.py): a new replica restored from the repository, a restore, a
standby cluster through the repository and one streaming from its source, a direct clone; and each
copy killed in the middle (an OOM kill, an eviction: no shutdown), its container started again,
copying again with nobody's help (the copy guard, components/copy_guard.py).

Each test starts its clusters from the module's source cluster, which has a table of events and a
first backup in its S3 repository: the tests do not depend on each other's order.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .disaster_recovery import (
    bootstraps_again_after_a_kill,
    first_member,
    info,
    kill_while_copying,
    local_repo,
    rows,
    run_backup,
    source_spec,
    succeeded,
    switch_and_wait_archived,
    wait_leads,
    with_user_secrets,
)
from .harness import (
    LocalCluster,
    client_psql,
    local_spec,
    loopback_uri,
    render_spec,
    running_cluster,
    slow_link,
    wait_until,
    write_secret,
)
from .object_store import S3Server

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def source(dr_root: Path, s3: S3Server) -> Iterator[LocalCluster]:
    """The source cluster, its stanza made and a first full backup in its S3 repository (its init Job),
    with a table of events."""
    rendered = with_user_secrets(render_spec(source_spec(s3), dr_root / "specs" / "hippo"), s3)
    with running_cluster(rendered, dr_root / "hippo") as cluster:
        leader = cluster.wait_healthy()
        succeeded(run_backup(cluster, "Job", "hippo-repo1-init-"))
        leader.psql("CREATE TABLE events (id serial PRIMARY KEY, what text NOT NULL)")
        yield cluster


def test_a_replica_killed_while_it_is_restored_is_restored_again(dr_root: Path, s3: S3Server) -> None:
    """A new replica killed while pgBackRest restores it (an OOM kill, an eviction: no shutdown), its
    container started again: the copy guard empties what the restore left, Patroni restores it again,
    and it streams from the leader, with nobody running `patronictl reinit`. The object store is behind
    a slow link while the replica restores, so that the restore is still running when it is killed."""
    with slow_link(lambda: s3.port, rate=None) as link:
        spec = source_spec(s3)
        spec["metadata"]["name"] = "hippo-replica-again"
        spec["spec"]["backups"]["repos"][0]["s3"]["port"] = link.port
        rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / "replica-again"), s3)
        with running_cluster(rendered, dr_root / "replica-again") as cluster:
            leader = cluster.wait_healthy()
            succeeded(run_backup(cluster, "Job", "hippo-replica-again-repo1-init-"))
            leader.psql("CREATE TABLE events (id serial PRIMARY KEY, what text NOT NULL)")
            leader.psql("INSERT INTO events (what) VALUES ('before the killed restore')")
            replica = next(m for m in cluster.members if m is not leader)
            replica.stop()
            shutil.rmtree(replica.data_dir)  # a new replica: its volume is empty
            link.rate = 100_000
            replica.start()
            kill_while_copying(replica, "pgbackrest", at_least=1_000_000)
            link.rate = None
            replica.start()
            cluster.wait_healthy(120)
            log = replica.log_tail(2000)
            assert f"pgrender copy guard: emptied {replica.data_dir}: a copy into it did not finish" in log
            assert log.count("replica has been created using pgbackrest") == 1
            leader.psql("INSERT INTO events (what) VALUES ('after the replica came back')")
            wait_until("the replica to replay", lambda: rows(replica) == rows(leader), timeout=30)
            assert rows(replica) == ["before the killed restore", "after the replica came back"]


def test_a_restore_killed_in_the_middle_bootstraps_again(dr_root: Path, s3: S3Server, source: LocalCluster) -> None:
    """The first member of a restore killed while pgBackRest restores (an OOM kill, an eviction: no
    shutdown), its container started again: it restores again, from scratch, and runs with the data.
    The object store is behind a slow link, so that the restore is still running when it is killed."""
    leader = source.wait_healthy()
    leader.psql("INSERT INTO events (what) VALUES ('before the killed restore')")
    switch_and_wait_archived(source, leader)
    with slow_link(lambda: s3.port, rate=100_000) as link:
        spec = local_spec("restore")
        spec["metadata"]["name"] = "hippo-restore-again"
        spec["spec"].pop("backups")
        repo = local_repo(s3)
        repo["s3"]["port"] = link.port
        spec["spec"]["bootstrap"]["fromBackup"] = {"cluster": "hippo", "repo": repo}  # target: latest
        rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / "again"), s3)
        with first_member(rendered, dr_root / "again") as member:
            bootstraps_again_after_a_kill(member, link, "pgbackrest", 1_000_000, leader)


def test_restores_to_a_named_restore_point_and_to_a_backup_set_stop_there(
    dr_root: Path, s3: S3Server, source: LocalCluster
) -> None:
    """bootstrap.fromBackup.targetName: recovery ends at the point pg_create_restore_point() made,
    whatever was written after it; backupSet with targetImmediate: the data as that backup holds it,
    nothing replayed beyond it (though later WAL is in the archive)."""
    leader = source.wait_healthy()
    leader.psql("INSERT INTO events (what) VALUES ('in the backup set')")
    succeeded(run_backup(source, "CronJob", "hippo-repo1-full"))
    label = info(source, "hippo-repo1-full")["backup"][-1]["label"]
    leader.psql("INSERT INTO events (what) VALUES ('before the restore point')")
    leader.psql("SELECT pg_create_restore_point('before the migration')")
    leader.psql("INSERT INTO events (what) VALUES ('after the restore point')")
    switch_and_wait_archived(source, leader)
    written = rows(leader)
    cases = (
        ("to-point", {"targetName": "before the migration"}, "before the restore point"),
        ("to-set", {"backupSet": label, "targetImmediate": True}, "in the backup set"),
    )
    for name, fields, last in cases:
        spec = local_spec("restore")
        spec["metadata"]["name"] = f"hippo-{name}"
        spec["spec"].pop("backups")
        spec["spec"]["bootstrap"]["fromBackup"] = {"cluster": "hippo", "repo": local_repo(s3), **fields}
        rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / name), s3)
        with first_member(rendered, dr_root / name) as member:
            member.start()
            wait_leads(member, 120)
            assert rows(member) == written[: written.index(last) + 1], name


def test_standby_cluster_follows_the_archive_and_is_promoted_by_a_spec_change(
    dr_root: Path, s3: S3Server, source: LocalCluster
) -> None:
    """Through the repository alone (streaming: below). Its first member is killed while pgBackRest
    restores it from the source's repository (an OOM kill, an eviction; the object store behind a slow
    link meanwhile): Patroni copies it with its replica creation, holding the initialize key as "", and
    no bootstrap command marks the copy. Its container started again, the copy guard removes the key
    and what the restore left, and it restores again (without the guard: it waits for ever)."""
    leader = source.wait_healthy()
    with slow_link(lambda: s3.port, rate=100_000) as link:
        spec = local_spec("standby")
        spec["spec"]["instances"][0]["replicas"] = 1
        del spec["spec"]["standby"]["fromCluster"]
        spec["spec"]["standby"]["fromBackup"]["repo"] = local_repo(s3) | {
            "s3": local_repo(s3)["s3"] | {"port": link.port}
        }
        spec["spec"]["backups"]["repos"][0] = {**local_repo(s3), "schedules": {"full": "0 4 * * *"}}
        rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / "standby"), s3)
        with running_cluster(rendered, dr_root / "standby", members=False) as standby:
            (follower,) = standby.members
            follower.start()
            kill_while_copying(follower, "pgbackrest", at_least=1_000_000)
            link.rate = None
            follower.start()
            assert standby.wait_healthy(120) is follower
            assert follower.api("/patroni")["role"] == "standby_leader"
            log = follower.log_tail(2000)
            assert "pgrender copy guard: removed the initialize key of the interrupted bootstrap" in log
            leader.psql("INSERT INTO events (what) VALUES ('for the standby')")
            switch_and_wait_archived(source, leader)
            wait_until("the standby to replay the source's archive", lambda: "for the standby" in rows(follower), 90, 1)
            # Promote: the spec without the standby; its reconcile Job changes Patroni's configuration.
            spec["spec"]["standby"]["enabled"] = False
            promoted = with_user_secrets(render_spec(spec, dr_root / "specs" / "promoted"), s3)
            standby.apply(promoted)
            succeeded(standby.run_job(dr_root / "promote", timeout=180))
            # The Job ends once PostgreSQL left recovery; Patroni reports its new role at its next loop.
            wait_until(
                "Patroni to report the promotion",
                lambda: follower.api("/patroni")["role"] in ("master", "primary"),
                30,
            )
            follower.psql("INSERT INTO events (what) VALUES ('written on the promoted standby')")
            assert rows(follower)[-1] == "written on the promoted standby"


def test_streaming_standby_cluster_shares_the_sources_ca_and_is_promoted(dr_root: Path, source: LocalCluster) -> None:
    """standby.fromCluster: copied with pg_basebackup from the source's primary Service and
    streaming from it (no repository at all), its certificates signed by the source's CA."""
    leader = source.wait_healthy()
    spec = local_spec("standby")
    spec["metadata"]["name"] = "hippo-stream"
    spec["spec"]["instances"][0]["replicas"] = 1
    spec["spec"].pop("backups")
    source_tls = source.rendered.spec["spec"]["tls"]
    spec["spec"]["standby"] = {"fromCluster": {"cluster": "hippo", "tls": {"notBefore": source_tls["notBefore"]}}}
    rendered = render_spec(spec, dr_root / "specs" / "stream")
    assert (
        rendered.secret("hippo-stream-cluster-cert")["ca.crt"] == source.rendered.secret("hippo-cluster-cert")["ca.crt"]
    )
    remote = {"hippo-primary.postgres-dr.svc": leader.pg_port}
    with running_cluster(rendered, dr_root / "stream", remote) as standby:
        follower = standby.wait_healthy(120)
        assert follower.api("/patroni")["role"] == "standby_leader"
        assert follower.psql("SELECT status FROM pg_stat_wal_receiver") == [["streaming"]]
        leader.psql("INSERT INTO events (what) VALUES ('streamed')")  # no WAL switch: streaming, not the archive
        wait_until("the standby to stream the source's write", lambda: "streamed" in rows(follower), 30, 0.5)
        spec["spec"]["standby"]["enabled"] = False
        promoted = render_spec(spec, dr_root / "specs" / "stream-promoted")
        standby.apply(promoted)
        succeeded(standby.run_job(dr_root / "stream-promote", timeout=180))
        follower.psql("INSERT INTO events (what) VALUES ('written on the promoted stream')")
        assert rows(follower)[-1] == "written on the promoted stream"


def test_direct_clone_copies_the_running_source_and_runs_on_its_own(dr_root: Path, source: LocalCluster) -> None:
    """bootstrap.fromCluster: the first member copies the source's primary with pg_basebackup (a
    replication certificate from the source's CA), starts as a primary of its own, and its replica
    copies it; the source's later writes never reach it, and its own roles log in."""
    leader = source.wait_healthy()
    leader.psql("INSERT INTO events (what) VALUES ('before the copy')")
    spec = local_spec("clone")
    spec["spec"]["instances"][0]["replicas"] = 2
    spec["spec"]["bootstrap"]["fromCluster"]["tls"] = {"notBefore": source.rendered.spec["spec"]["tls"]["notBefore"]}
    rendered = render_spec(spec, dr_root / "specs" / "copy")
    remote = {"hippo-primary.postgres-dr.svc": leader.pg_port}
    with running_cluster(rendered, dr_root / "copy", remote) as copy:
        first = copy.wait_healthy(120)
        assert first.api("/patroni")["role"] in ("master", "primary")
        assert rows(first) == rows(leader)
        assert rows(first)[-1] == "before the copy"
        leader.psql("INSERT INTO events (what) VALUES ('after the copy')")
        first.psql("INSERT INTO events (what) VALUES ('written on the copy')")
        (replica,) = [m for m in copy.members if m.name != first.name]
        wait_until("the copy's replica to stream its write", lambda: "written on the copy" in rows(replica), 30, 0.5)
        assert "after the copy" not in rows(first)
        assert "written on the copy" not in rows(leader)
        # Its own roles and passwords, from its own spec and Secrets (the reconcile Job).
        succeeded(copy.run_job(dr_root / "copy-reconcile"))
        secret = "hippo-copy-pguser-hippo-copy"
        files = write_secret(rendered, secret, dr_root / "copy-user")
        uri = loopback_uri(rendered.secret(secret)["uri"].decode(), first.pg_port, files / "ca.crt")
        login = client_psql(uri, "SELECT current_user", {"PGSSLROOTCERT": str(files / "ca.crt")})
        assert (login.returncode, login.stdout.strip()) == (0, "hippo-copy"), login.stderr


def test_a_direct_clone_killed_in_the_middle_bootstraps_again(dr_root: Path, source: LocalCluster) -> None:
    """The first member of a copy killed while pg_basebackup copies (an OOM kill, an eviction: no
    shutdown), its container started again: it copies again, from scratch, and runs with the data.
    The source's primary Service is a slow link, so that the copy is still running when it is killed."""
    leader = source.wait_healthy()
    leader.psql("INSERT INTO events (what) VALUES ('before the killed copy')")
    spec = local_spec("clone")
    spec["metadata"]["name"] = "hippo-copy-again"
    spec["spec"]["bootstrap"]["fromCluster"]["tls"] = {"notBefore": source.rendered.spec["spec"]["tls"]["notBefore"]}
    rendered = render_spec(spec, dr_root / "specs" / "copy-again")
    with slow_link(lambda: leader.pg_port, rate=2_000_000) as link:
        remote = {"hippo-primary.postgres-dr.svc": link.port}
        with first_member(rendered, dr_root / "copy-again", remote) as member:
            bootstraps_again_after_a_kill(member, link, "pg_basebackup", 2_000_000, leader)
