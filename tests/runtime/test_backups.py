"""Backups and disaster recovery, run as rendered: Debian's pgBackRest, an S3 object store on
loopback over HTTPS (moto under gunicorn), a volume repository on its repository host, and the
real cluster of the harness (what this and test_copies.py share: disaster_recovery.py).

The source cluster is examples/backups.yaml with spec changes only: its S3 repository points at
the local object store (endpoint, port, path-style URIs, the store's CA as ``storageCA``) and keeps
two full backups (to see ``expire`` work).

The tests run in order and build on each other, as the story of one cluster: a first backup, an
incremental, the volume repository, a failover, a lost replica, a point-in-time clone, expiry,
encryption, a logical dump, and the cluster restored in place.
"""

from __future__ import annotations

import datetime
import gzip
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .disaster_recovery import (
    BUCKET,
    CLONE_PATH,
    SOURCE_PATH,
    backups_of,
    info,
    local_repo,
    rows,
    run_backup,
    source_spec,
    succeeded,
    switch_and_wait_archived,
    wal_is_on_its_volume,
    with_user_secrets,
    with_wal_volume,
)
from .harness import (
    ACTIVE,
    LocalCluster,
    client_psql,
    local_spec,
    loopback_uri,
    render_spec,
    running_cluster,
    wait_until,
    write_secret,
)
from .object_store import S3Server

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def source(dr_root: Path, s3: S3Server) -> Iterator[LocalCluster]:
    """source_spec's cluster, its members' WAL on WAL volumes."""
    rendered = with_user_secrets(render_spec(with_wal_volume(source_spec(s3)), dr_root / "specs" / "hippo"), s3)
    with running_cluster(rendered, dr_root / "hippo") as cluster:
        yield cluster


# --------------------------------------------------------------------------------------------
# The story
# --------------------------------------------------------------------------------------------


def test_initial_job_creates_the_stanza_and_a_full_backup(source: LocalCluster, s3: S3Server) -> None:
    out = succeeded(run_backup(source, "Job", "hippo-repo1-init-"))
    assert "+ pgbackrest stanza-create" in out
    assert [t for t, _ in backups_of(info(source, "hippo-repo1-full"))] == ["full"]
    # backupFrom prefer-standby, processMax 2, compressType zst: from the replica, as configured.
    assert "+ pgbackrest backup --type=full --start-fast --backup-standby" in out
    assert "replay on the standby reached" in out, out
    (begin,) = [line for line in out.splitlines() if "backup command begin" in line]
    assert "--backup-standby" in begin and "--process-max=2" in begin and "--compress-type=zst" in begin
    assert "no backup from a standby" not in out
    files = [k for k in s3.list_keys(BUCKET, f"{SOURCE_PATH}/backup/db/") if "/pg_data/" in k]
    assert files and all(k.endswith(".zst") for k in files if not k.endswith(".manifest")), files[:5]
    # Run again (a changed configuration renders a new init Job): the backup is there, nothing to do.
    assert "the repository holds a backup already" in succeeded(run_backup(source, "Job", "hippo-repo1-init-"))


def test_scheduled_incremental_backup(source: LocalCluster) -> None:
    leader = source.wait_healthy()
    leader.psql("CREATE TABLE events (id serial PRIMARY KEY, what text NOT NULL)")
    leader.psql("INSERT INTO events (what) VALUES ('first')")
    succeeded(run_backup(source, "CronJob", "hippo-repo1-incr"))
    (full, incremental) = info(source, "hippo-repo1-full")["backup"]
    assert (full["type"], incremental["type"]) == ("full", "incr")
    assert incremental["prior"] == full["label"]


def test_volume_repository_on_its_repository_host(source: LocalCluster) -> None:
    # The members archive to repo2 through the repository host's TLS server; the backup Job mounts
    # the repository's claim (the same disk) and reaches the members' servers.
    out = succeeded(run_backup(source, "CronJob", "hippo-repo2-full"))
    assert "backup command end: completed successfully" in out
    stanza = info(source, "hippo-repo2-full")
    assert [t for t, _ in backups_of(stanza)] == ["full"]
    leader = source.wait_healthy()
    segment = switch_and_wait_archived(source, leader, "hippo-repo2-full")
    claim = source.root / "claims" / "hippo-repo2" / "archive" / "db"
    assert any(p.name.startswith(segment) for p in claim.rglob("*")), "the segment reached the repository's claim"


def test_archiving_survives_a_failover_and_the_first_backup_after_it(source: LocalCluster, s3: S3Server) -> None:
    old = source.wait_healthy()
    old.psql("INSERT INTO events (what) VALUES ('before failover')")
    switch_and_wait_archived(source, old)
    old.crash()
    new = wait_until("a new leader", lambda: (m := source.leader()) is not None and m is not old and m, timeout=60)
    wait_until("the new leader to accept writes", lambda: new.psql("SELECT pg_is_in_recovery()") == [["f"]], 60)
    new.psql("INSERT INTO events (what) VALUES ('after failover')")
    segment = switch_and_wait_archived(source, new)
    assert segment.startswith("00000002"), "the new primary archives its new timeline"
    # The old primary is still down: pgBackRest warns about it and, with no standby to copy (backupFrom
    # prefer-standby), backs up the new primary; the first backup on the new timeline may fail once
    # (error 058), and backup.sh retries it.
    result = run_backup(source, "CronJob", "hippo-repo1-full")
    out = succeeded(result)
    assert "backup command end: completed successfully" in out
    assert "+ pgbackrest backup --type=full --backup-standby" in out  # refused: [056], no standby
    assert "no backup from a standby; backing up from the primary" in result.stderr, result.stderr
    archived = s3.list_keys(BUCKET, f"{SOURCE_PATH}/archive/db/")
    segments = [k for k in archived if re.fullmatch(r"[0-9A-F]{24}-[0-9a-f]{40}(\.\w+)?", k.rsplit("/", 1)[1])]
    assert segments and all(k.endswith(".zst") for k in segments), segments[:5]
    last = info(source, "hippo-repo1-full")["backup"][-1]
    assert (last["type"], last["archive"]["start"][:8]) == ("full", "00000002")
    # Every segment from the first backup on is in the archive, across the timeline switch.
    verify = succeeded(run_backup(source, "CronJob", "hippo-repo1-full", ("pgbackrest", "--stanza=db", "verify")))
    assert "completed successfully" in verify, verify
    old.start()
    source.wait_healthy(90)


def test_a_lost_replica_is_rebuilt_from_the_repository(source: LocalCluster) -> None:
    """create_replica_methods: [pgbackrest, basebackup] - with a backup in repo1, a replica whose
    data is gone is restored from the repository (then streams), not copied from the leader; its WAL
    on its WAL volume again (pgBackRest restores pg_wal's link as a directory unless it is mapped)."""
    leader = source.wait_healthy()
    replica = next(m for m in source.members if m is not leader)
    assert wal_is_on_its_volume(replica)
    replica.stop()
    shutil.rmtree(replica.data_dir)
    replica.start()
    source.wait_healthy(120)
    assert "replica has been created using pgbackrest" in replica.log_tail(400)
    assert rows(replica) == rows(leader)
    leader.psql("SELECT pg_switch_wal()")
    wait_until("the replica's WAL on its WAL volume", lambda: wal_is_on_its_volume(replica), 30)


@pytest.fixture(scope="module")
def target(source: LocalCluster) -> str:
    """A point in time: rows written before it, more after it, all archived."""
    leader = source.wait_healthy()
    leader.psql("INSERT INTO events (what) VALUES ('before target')")
    time.sleep(1.5)
    (stamp,) = leader.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")[0]
    time.sleep(1.5)
    leader.psql("INSERT INTO events (what) VALUES ('after target')")
    switch_and_wait_archived(source, leader)
    return str(stamp)


def test_point_in_time_restore_into_a_new_cluster(
    dr_root: Path, s3: S3Server, source: LocalCluster, target: str
) -> None:
    spec = local_spec("restore")
    spec["spec"]["bootstrap"]["fromBackup"] |= {"target": target, "repo": local_repo(s3)}
    spec["spec"]["backups"]["repos"][0] = {**local_repo(s3), "schedules": {"full": "45 2 * * *"}}
    rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / "clone"), s3)
    with running_cluster(rendered, dr_root / "clone") as clone:
        leader = clone.wait_healthy()

        assert rows(leader) == ["first", "before failover", "after failover", "before target"]
        # Its own roles and passwords, from its own spec and Secrets.
        clone.apply(rendered)
        succeeded(clone.run_job(dr_root / "clone-reconcile"))
        secret = "hippo-clone-pguser-hippo-clone"
        files = write_secret(rendered, secret, dr_root / "clone-user")
        uri = loopback_uri(rendered.secret(secret)["uri"].decode(), leader.pg_port, files / "ca.crt")
        login = client_psql(uri, "SELECT current_user", {"PGSSLROOTCERT": str(files / "ca.crt")})
        assert (login.returncode, login.stdout.strip()) == (0, "hippo-clone"), login.stderr
        # Running, it never reads the source's repository: recovery settings are gone, and what
        # it archives goes to its own repository (its init Job makes the stanza and a backup).
        auto_conf = (leader.data_dir / "postgresql.auto.conf").read_text()
        assert "source.conf" not in auto_conf, auto_conf
        ((restore_command,),) = leader.psql("SELECT 'restore_command=' || current_setting('restore_command')")
        assert "source.conf" not in restore_command
        succeeded(run_backup(clone, "Job", "hippo-clone-repo1-init-"))
        (timeline,) = leader.psql("SELECT timeline_id FROM pg_control_checkpoint()")[0]
        history = f"{int(timeline):08X}.history"
        clone_segment = switch_and_wait_archived(clone, leader, "hippo-clone-repo1-full")
        clone_keys = s3.list_keys(BUCKET, f"{CLONE_PATH}/archive/")
        source_keys = s3.list_keys(BUCKET, f"{SOURCE_PATH}/archive/")
        assert any(k.endswith(history) for k in clone_keys)
        assert not [k for k in source_keys if k.endswith(history) or clone_segment in k]


def test_a_target_before_every_backup_is_explained(dr_root: Path, s3: S3Server, source: LocalCluster) -> None:
    """pgBackRest refuses to restore to a time no backup reaches, and says so in Patroni's log."""
    spec = local_spec("restore")
    spec["metadata"]["name"] = "hippo-early"
    spec["spec"].pop("backups")
    spec["spec"]["bootstrap"]["fromBackup"] |= {"target": "2001-01-01T00:00:00Z", "repo": local_repo(s3)}
    rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / "early"), s3)
    cluster = LocalCluster(rendered, dr_root / "early")
    ACTIVE.append(cluster)
    try:
        cluster.etcd.start()
        cluster.start_containers()
        (member,) = cluster.members
        member.start()
        wait_until(
            "pgBackRest to refuse the target",
            lambda: "unable to find backup set with stop time less than" in member.log_tail(200),
            timeout=60,
        )
    finally:
        ACTIVE.remove(cluster)
        cluster.stop()


def test_expire_keeps_what_the_retention_says(source: LocalCluster) -> None:
    before = [label for kind, label in backups_of(info(source, "hippo-repo1-full")) if kind == "full"]
    assert len(before) == 2  # the initial full backup and the one after the failover
    succeeded(run_backup(source, "CronJob", "hippo-repo1-full"))
    after = backups_of(info(source, "hippo-repo1-full"))
    # retention.full: 2 - the oldest full backup went, and the incremental that depended on it.
    assert [kind for kind, _ in after] == ["full", "full"]
    assert after[0][1] == before[1]


def test_encrypted_repository_cannot_be_read_without_its_passphrase(source: LocalCluster, s3: S3Server) -> None:
    (key,) = [k for k in s3.list_keys(BUCKET, SOURCE_PATH) if k.endswith("/backup.info")]
    assert s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read().startswith(b"Salted__")
    command = ("pgbackrest", "--stanza=db", "info")
    right = succeeded(run_backup(source, "CronJob", "hippo-repo1-full", command))
    assert "status: ok" in right and "full backup" in right
    wrong = run_backup(source, "CronJob", "hippo-repo1-full", command, PGBACKREST_REPO1_CIPHER_PASS="not-the-one")
    assert "status: error" in wrong.stdout and "full backup" not in wrong.stdout, wrong.stdout
    missing = run_backup(source, "CronJob", "hippo-repo1-full", command, PGBACKREST_REPO1_CIPHER_PASS="")
    assert missing.returncode != 0 and "requires option: repo1-cipher-pass" in missing.stderr, missing.stderr


def test_logical_backup_to_the_bucket(source: LocalCluster, s3: S3Server) -> None:
    """A dump, written; then (retentionDays: 30) the dumps named for more than 30 days ago deleted, and
    nothing else below the prefix."""
    prefix = f"{SOURCE_PATH}/logical/"
    recent = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=29)).strftime("%Y%m%dT%H%M%SZ")
    kept = {f"{prefix}{recent}.sql.gz", f"{prefix}notes.txt", f"{prefix}20200101T000000Z.sql.gz.partial"}
    for key in (*kept, f"{prefix}20200101T000000Z.sql.gz", f"{prefix}20251231T235959Z.sql.gz"):
        s3.client().put_object(Bucket=BUCKET, Key=key, Body=b"old")
    out = succeeded(run_backup(source, "CronJob", "hippo-logical-backup"))
    (key,) = set(s3.list_keys(BUCKET, prefix)) - kept
    wrote, *deleted = out.strip().splitlines()
    assert wrote == f"wrote s3://{BUCKET}/{key}"
    assert sorted(deleted) == [
        f"deleted s3://{BUCKET}/{prefix}{stamp}.sql.gz (older than 30 days)"
        for stamp in ("20200101T000000Z", "20251231T235959Z")
    ]
    for old in kept:
        s3.client().delete_object(Bucket=BUCKET, Key=old)
    dump = gzip.decompress(s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()).decode()
    assert "CREATE TABLE public.events" in dump
    assert "before target" in dump
    assert "SCRAM-SHA-256$" not in dump, "roles are dumped without their passwords"
    stamp = key.rsplit("/", 1)[1].removesuffix(".sql.gz")
    assert (
        abs(datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC).timestamp() - time.time())
        < 600
    )


def test_the_cluster_restored_in_place_from_its_own_repository(
    dr_root: Path, s3: S3Server, source: LocalCluster, target: str
) -> None:
    """The last chapter: the cluster is lost (every member and its data, Patroni's state, and the
    volume repository on its repository host), and comes back under its own name from its S3
    repository, at the target time (README's runbook: bootstrap.fromBackup naming the cluster
    itself). Its replica copies the leader (the repository's latest backup is from the history the
    restore left); it archives on a new timeline into that repository, beside the history it was
    restored from, and backs up there. The volume repository, lost with the cluster, has no stanza
    until its backup Job makes it (each runs stanza-create first): until then archiving fails and
    WAL stays in pg_wal (pgBackRest pushes a segment to the other repositories only one ahead of a
    failing one), so it is made first."""
    source.stop()
    spec = with_wal_volume(source_spec(s3))
    spec["spec"]["bootstrap"] = {"fromBackup": {"cluster": "hippo", "target": target, "repo": local_repo(s3)}}
    rendered = with_user_secrets(render_spec(spec, dr_root / "specs" / "in-place"), s3)
    with running_cluster(rendered, dr_root / "in-place") as restored:
        leader = restored.wait_healthy()
        assert rows(leader) == ["first", "before failover", "after failover", "before target"]
        (timeline,) = leader.psql("SELECT timeline_id FROM pg_control_checkpoint()")[0]
        succeeded(run_backup(restored, "CronJob", "hippo-repo2-full", ("pgbackrest", "--stanza=db", "stanza-create")))
        segment = switch_and_wait_archived(restored, leader)
        keys = s3.list_keys(BUCKET, f"{SOURCE_PATH}/archive/")
        assert any(k.endswith(f"{int(timeline):08X}.history") for k in keys)
        assert any(segment in k for k in keys) and segment.startswith(f"{int(timeline):08X}")
        assert wal_is_on_its_volume(leader)  # the restore mapped pg_wal's link onto the WAL volume
        replica = next(m for m in restored.members if m is not leader)
        assert "replica has been created using basebackup" in replica.log_tail(400)
        assert rows(replica) == rows(leader)
        succeeded(run_backup(restored, "CronJob", "hippo-repo1-full"))
        newest = info(restored, "hippo-repo1-full")["backup"][-1]
        assert newest["type"] == "full" and newest["archive"]["start"].startswith(f"{int(timeline):08X}")
