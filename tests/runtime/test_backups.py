"""Backups and disaster recovery, run as rendered: Debian's pgBackRest, an S3 object store on
loopback over HTTPS (moto under gunicorn), a volume repository on its repository host, and the
real cluster of the harness.

The source cluster is examples/backups.yaml with spec changes only: its S3 repository points at
the local object store (endpoint, port, path-style URIs, the store's CA as ``storageCA``) and keeps
two full backups (to see ``expire`` work). The storage credentials and the CA are Secrets the user
keeps in the namespace (:meth:`Rendered.with_objects`). Every Job and CronJob runs its rendered
container through the harness (localized in paths, hosts and ports in ``harness.localize`` only).

The tests run in order and build on each other, as the story of one cluster: a first backup, an
incremental, the volume repository, a failover, a point-in-time clone, a standby and its
promotion, expiry, encryption, and a logical dump.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_runtime
from .harness import (
    ACTIVE,
    IMAGE_PATH,
    HarnessError,
    LocalCluster,
    Member,
    PodContainer,
    ProcessDied,
    Rendered,
    ServiceStandIn,
    client_psql,
    local_spec,
    loopback_uri,
    missing_pgbackrest_requirements,
    missing_requirements,
    render_spec,
    running_cluster,
    slow_link,
    temp_root,
    wait_until,
    write_secret,
)
from .object_store import S3Server, missing_object_store_requirements

pytestmark = pytest.mark.runtime

BUCKET = "hippo-backups"
SOURCE_PATH = "pgbackrest/postgres-dr/hippo/repo1"
CLONE_PATH = "pgbackrest/postgres-dr/hippo-clone/repo1"


def missing() -> list[str]:
    out = missing_requirements() + missing_pgbackrest_requirements() + missing_object_store_requirements()
    if shutil.which("aws", path=IMAGE_PATH) is None:  # where the logical backup's script looks
        out.append("aws on the image's PATH (Debian package awscli)")
    return sorted(set(out))


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    require_runtime(missing())
    directory = temp_root("pgrender-dr-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def s3(root: Path) -> Iterator[S3Server]:
    with S3Server(root / "s3") as server:
        server.create_bucket(BUCKET)
        yield server


def local_repo(s3: S3Server) -> dict[str, Any]:
    """The S3 repository as the specs here write it: the local store, trusted through its CA."""
    return {
        "name": "repo1",
        "s3": {"bucket": BUCKET, "endpoint": s3.endpoint, "region": s3.region, "uriStyle": "path", "port": s3.port},
        "credentials": {"secretName": "hippo-s3"},
        "storageCA": {"secretName": "s3-ca"},
    }


def with_user_secrets(rendered: Rendered, s3: S3Server) -> Rendered:
    def secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": rendered.namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }

    return rendered.with_objects(
        secret("hippo-s3", {"key": s3.access_key.encode(), "key-secret": s3.secret_key.encode()}),
        secret("s3-ca", {"ca.crt": s3.ca_file.read_bytes()}),
    )


def source_spec(s3: S3Server) -> dict[str, Any]:
    spec = local_spec("backups")
    repos = spec["spec"]["backups"]["repos"]
    repos[0] = {**local_repo(s3), "schedules": repos[0]["schedules"], "retention": {"full": 2}}
    return spec


@pytest.fixture(scope="module")
def source(root: Path, s3: S3Server) -> Iterator[LocalCluster]:
    rendered = with_user_secrets(render_spec(source_spec(s3), root / "specs" / "hippo"), s3)
    with running_cluster(rendered, root / "hippo") as cluster:
        yield cluster


# --------------------------------------------------------------------------------------------
# Running the rendered Jobs
# --------------------------------------------------------------------------------------------

_runs = itertools.count()


def workload(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    if kind == "Job" and name.endswith("-init-"):
        (job,) = [j for j in rendered.all("Job") if j["metadata"]["name"].startswith(name)]
        return job
    return rendered.get(kind, name)


def run_backup(
    cluster: LocalCluster, kind: str, name: str, command: tuple[str, ...] | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the container of a rendered backup Job or CronJob (or, with ``command``, another command
    in its pod, to look at the repository with the same configuration and credentials)."""
    job = workload(cluster.rendered, kind, name)
    container = job_container(cluster, job)
    if command is not None or env:
        run = container.run
        environment = {k: v for k, v in run.env.items() if k not in env or env[k] != ""}
        environment |= {k: v for k, v in env.items() if v}
        container = replace(container, run=replace(run, command=command or run.command, env=environment))
    return container.run_once(timeout=300)


def job_container(cluster: LocalCluster, job: dict[str, Any]) -> PodContainer:
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"] if job["kind"] == "CronJob" else None
    name = (pod or job["spec"]["template"]["spec"])["containers"][0]["name"]
    leader = cluster.wait_healthy()
    return cluster.pod_container(job, name, root=cluster.root / f"job-{next(_runs)}", postgres_port=leader.pg_port)


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def info(cluster: LocalCluster, cron_job: str) -> dict[str, Any]:
    """pgbackrest info of the repository of ``cron_job``, from its Job's pod."""
    out = succeeded(run_backup(cluster, "CronJob", cron_job, ("pgbackrest", "--stanza=db", "--output=json", "info")))
    (stanza,) = json.loads(out)
    assert stanza["status"]["message"] == "ok", stanza["status"]
    return dict(stanza)


def backups_of(stanza: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["type"], b["label"]) for b in stanza["backup"]]


def switch_and_wait_archived(cluster: LocalCluster, leader: Member, cron_job: str = "hippo-repo1-full") -> str:
    """Switch to a new WAL segment and wait until the last one written is in the repository."""
    (segment,) = leader.psql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0]
    leader.psql("SELECT pg_switch_wal()")

    def archived() -> bool:
        return any(a["max"] and a["max"] >= segment for a in info(cluster, cron_job)["archive"])

    wait_until(f"WAL segment {segment} in the repository", archived, timeout=90, interval=2)
    return segment


def rows(member: Member, table: str = "events") -> list[str]:
    return [r[0] for r in member.psql(f"SELECT what FROM {table} ORDER BY id")]


@contextlib.contextmanager
def members_not_started(
    rendered: Rendered, root: Path, remote_services: dict[str, int] | None = None
) -> Iterator[LocalCluster]:
    """A new cluster's processes but its members (LocalCluster.start_all_but_members), which a test
    starts. Every process is stopped on exit."""
    cluster = LocalCluster(rendered, root, remote_services)
    ACTIVE.append(cluster)
    try:
        cluster.start_all_but_members()
        yield cluster
    finally:
        ACTIVE.remove(cluster)
        stragglers = cluster.stop()
        assert not stragglers, f"processes of {rendered.name} outlived their Patroni: {stragglers}"


@contextlib.contextmanager
def first_member(rendered: Rendered, root: Path, remote_services: dict[str, int] | None = None) -> Iterator[Member]:
    """members_not_started's first member."""
    with members_not_started(rendered, root, remote_services) as cluster:
        yield cluster.members[0]


def wait_leads(member: Member, timeout: float) -> None:
    """Wait until Patroni runs ``member`` as the leader holding the leader key; fail with its log (at
    once if Patroni exits). Not only its role: after a custom bootstrap Patroni reports "master" once
    PostgreSQL is promoted, then restores its configuration files and may restart PostgreSQL (a CI run
    saw a query fail there), and takes the leader key only after that: /primary answers 200 then."""

    def leads() -> bool:
        if not member.running():
            raise ProcessDied(f"Patroni of {member.name} exited")
        role = member.api("/patroni").get("role")
        return role in ("master", "primary") and member.api_response("/primary")[0] == 200

    try:
        wait_until(f"{member.name} to lead", leads, timeout)
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{member.log_tail(30)}") from None


def kill_while_copying(member: Member, program: str, at_least: int) -> None:
    """Wait until ``program`` runs in the member's container and has written ``at_least`` bytes into
    the data directory (outside pg_wal), then kill the container (:meth:`Member.kill`). The copy was
    cut short: ``program`` was among the processes killed, and the data directory lacks
    global/pg_control, which pg_basebackup and pgBackRest's restore both write last."""

    def size() -> int:
        total = 0
        for directory, subdirectories, names in os.walk(member.data_dir):
            subdirectories[:] = [d for d in subdirectories if d != "pg_wal"]  # WAL segments start padded
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # the tool's temporary files come and go
                    total += os.lstat(os.path.join(directory, name)).st_size
        return total

    def copying() -> bool:
        if not member.running():
            raise AssertionError(f"{member.name} exited before the copy:\n{member.log_tail()}")
        running = any(os.path.basename(argv[0]) == program for argv in member.processes().values())
        return running and size() >= at_least

    wait_until(f"{program} to write {at_least} bytes", copying, timeout=120, interval=0.05)
    killed = member.kill()
    assert any(os.path.basename(argv[0]) == program for argv in killed.values()), killed
    assert size() >= at_least and not (member.data_dir / "global" / "pg_control").exists()


# --------------------------------------------------------------------------------------------
# The story
# --------------------------------------------------------------------------------------------


def test_initial_job_creates_the_stanza_and_a_full_backup(source: LocalCluster) -> None:
    out = succeeded(run_backup(source, "Job", "hippo-repo1-init-"))
    assert "+ pgbackrest stanza-create" in out
    assert [t for t, _ in backups_of(info(source, "hippo-repo1-full"))] == ["full"]
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


def test_archiving_survives_a_failover_and_the_first_backup_after_it(source: LocalCluster) -> None:
    old = source.wait_healthy()
    old.psql("INSERT INTO events (what) VALUES ('before failover')")
    switch_and_wait_archived(source, old)
    old.crash()
    new = wait_until("a new leader", lambda: (m := source.leader()) is not None and m is not old and m, timeout=60)
    wait_until("the new leader to accept writes", lambda: new.psql("SELECT pg_is_in_recovery()") == [["f"]], 60)
    new.psql("INSERT INTO events (what) VALUES ('after failover')")
    segment = switch_and_wait_archived(source, new)
    assert segment.startswith("00000002"), "the new primary archives its new timeline"
    # The old primary is still down: pgBackRest warns about it and backs up the new primary; the
    # first backup on the new timeline may fail once (error 058), and backup.sh retries it.
    out = succeeded(run_backup(source, "CronJob", "hippo-repo1-full"))
    assert "backup command end: completed successfully" in out
    last = info(source, "hippo-repo1-full")["backup"][-1]
    assert (last["type"], last["archive"]["start"][:8]) == ("full", "00000002")
    # Every segment from the first backup on is in the archive, across the timeline switch.
    verify = succeeded(run_backup(source, "CronJob", "hippo-repo1-full", ("pgbackrest", "--stanza=db", "verify")))
    assert "completed successfully" in verify, verify
    old.start()
    source.wait_healthy(90)


def test_a_lost_replica_is_rebuilt_from_the_repository(source: LocalCluster) -> None:
    """create_replica_methods: [pgbackrest, basebackup] - with a backup in repo1, a replica whose
    data is gone is restored from the repository (then streams), not copied from the leader."""
    leader = source.wait_healthy()
    replica = next(m for m in source.members if m is not leader)
    replica.stop()
    shutil.rmtree(replica.data_dir)
    replica.start()
    source.wait_healthy(120)
    assert "replica has been created using pgbackrest" in replica.log_tail(400)
    assert rows(replica) == rows(leader)


def test_a_replica_killed_while_it_is_restored_is_restored_again(root: Path, s3: S3Server) -> None:
    """A new replica killed while pgBackRest restores it (an OOM kill, an eviction: no shutdown), its
    container started again: the copy guard empties what the restore left, Patroni restores it again,
    and it streams from the leader, with nobody running `patronictl reinit`. The object store is behind
    a slow link while the replica restores, so that the restore is still running when it is killed."""
    with slow_link(lambda: s3.port, rate=None) as link:
        spec = source_spec(s3)
        spec["metadata"]["name"] = "hippo-replica-again"
        spec["spec"]["backups"]["repos"][0]["s3"]["port"] = link.port
        rendered = with_user_secrets(render_spec(spec, root / "specs" / "replica-again"), s3)
        with running_cluster(rendered, root / "replica-again") as cluster:
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


def test_point_in_time_restore_into_a_new_cluster(root: Path, s3: S3Server, source: LocalCluster, target: str) -> None:
    spec = local_spec("restore")
    spec["spec"]["bootstrap"]["fromBackup"] |= {"target": target, "repo": local_repo(s3)}
    spec["spec"]["backups"]["repos"][0] = {**local_repo(s3), "schedules": {"full": "45 2 * * *"}}
    rendered = with_user_secrets(render_spec(spec, root / "specs" / "clone"), s3)
    with running_cluster(rendered, root / "clone") as clone:
        leader = clone.wait_healthy()

        assert rows(leader) == ["first", "before failover", "after failover", "before target"]
        # Its own roles and passwords, from its own spec and Secrets.
        clone.apply(rendered)
        succeeded(clone.run_job(root / "clone-reconcile"))
        secret = "hippo-clone-pguser-hippo-clone"
        files = write_secret(rendered, secret, root / "clone-user")
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


def test_a_target_before_every_backup_is_explained(root: Path, s3: S3Server, source: LocalCluster) -> None:
    """pgBackRest refuses to restore to a time no backup reaches, and says so in Patroni's log."""
    spec = local_spec("restore")
    spec["metadata"]["name"] = "hippo-early"
    spec["spec"].pop("backups")
    spec["spec"]["bootstrap"]["fromBackup"] |= {"target": "2001-01-01T00:00:00Z", "repo": local_repo(s3)}
    rendered = with_user_secrets(render_spec(spec, root / "specs" / "early"), s3)
    cluster = LocalCluster(rendered, root / "early")
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


def bootstraps_again_after_a_kill(
    member: Member, link: ServiceStandIn, tool: str, at_least: int, leader: Member
) -> None:
    """Start the first member of a new cluster; kill it while ``tool`` copies (``at_least`` bytes in,
    behind the slow ``link``); start it again at full speed: the guard starts the bootstrap again,
    and the member leads with ``leader``'s rows."""
    member.start()
    kill_while_copying(member, tool, at_least=at_least)
    link.rate = None
    member.start()
    wait_leads(member, 90)
    wait_until("writes", lambda: member.psql("SELECT pg_is_in_recovery()") == [["f"]], 60)
    assert rows(member) == rows(leader)
    log = member.log_tail(2000)
    assert "pgrender copy guard: removed the initialize key of the interrupted bootstrap" in log
    assert log.count("Running custom bootstrap script") == 2


def test_a_restore_killed_in_the_middle_bootstraps_again(root: Path, s3: S3Server, source: LocalCluster) -> None:
    """The first member of a restore killed while pgBackRest restores (an OOM kill, an eviction: no
    shutdown), its container started again: it restores again, from scratch, and runs with the data.
    The object store is behind a slow link, so that the restore is still running when it is killed."""
    leader = source.wait_healthy()
    succeeded(run_backup(source, "Job", "hippo-repo1-init-"))  # a backup to restore, when run alone
    leader.psql("CREATE TABLE IF NOT EXISTS events (id serial PRIMARY KEY, what text NOT NULL)")
    leader.psql("INSERT INTO events (what) VALUES ('before the killed restore')")
    switch_and_wait_archived(source, leader)
    with slow_link(lambda: s3.port, rate=100_000) as link:
        spec = local_spec("restore")
        spec["metadata"]["name"] = "hippo-restore-again"
        spec["spec"].pop("backups")
        repo = local_repo(s3)
        repo["s3"]["port"] = link.port
        spec["spec"]["bootstrap"]["fromBackup"] = {"cluster": "hippo", "repo": repo}  # target: latest
        rendered = with_user_secrets(render_spec(spec, root / "specs" / "again"), s3)
        with first_member(rendered, root / "again") as member:
            bootstraps_again_after_a_kill(member, link, "pgbackrest", 1_000_000, leader)


def test_standby_cluster_follows_the_archive_and_is_promoted_by_a_spec_change(
    root: Path, s3: S3Server, source: LocalCluster
) -> None:
    """Through the repository alone (streaming: below). Its first member is killed while pgBackRest
    restores it from the source's repository (an OOM kill, an eviction; the object store behind a slow
    link meanwhile): Patroni copies it with its replica creation, holding the initialize key as "", and
    no bootstrap command marks the copy. Its container started again, the copy guard removes the key
    and what the restore left, and it restores again (without the guard: it waits for ever)."""
    leader = source.wait_healthy()
    leader.psql("CREATE TABLE IF NOT EXISTS events (id serial PRIMARY KEY, what text NOT NULL)")  # run alone
    with slow_link(lambda: s3.port, rate=100_000) as link:
        spec = local_spec("standby")
        spec["spec"]["instances"][0]["replicas"] = 1
        del spec["spec"]["standby"]["fromCluster"]
        spec["spec"]["standby"]["fromBackup"]["repo"] = local_repo(s3) | {
            "s3": local_repo(s3)["s3"] | {"port": link.port}
        }
        spec["spec"]["backups"]["repos"][0] = {**local_repo(s3), "schedules": {"full": "0 4 * * *"}}
        rendered = with_user_secrets(render_spec(spec, root / "specs" / "standby"), s3)
        with members_not_started(rendered, root / "standby") as standby:
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
            promoted = with_user_secrets(render_spec(spec, root / "specs" / "promoted"), s3)
            standby.apply(promoted)
            succeeded(standby.run_job(root / "promote", timeout=180))
            # The Job ends once PostgreSQL left recovery; Patroni reports its new role at its next loop.
            wait_until(
                "Patroni to report the promotion",
                lambda: follower.api("/patroni")["role"] in ("master", "primary"),
                30,
            )
            follower.psql("INSERT INTO events (what) VALUES ('written on the promoted standby')")
            assert rows(follower)[-1] == "written on the promoted standby"


def test_streaming_standby_cluster_shares_the_sources_ca_and_is_promoted(root: Path, source: LocalCluster) -> None:
    """standby.fromCluster: copied with pg_basebackup from the source's primary Service and
    streaming from it (no repository at all), its certificates signed by the source's CA."""
    leader = source.wait_healthy()
    spec = local_spec("standby")
    spec["metadata"]["name"] = "hippo-stream"
    spec["spec"]["instances"][0]["replicas"] = 1
    spec["spec"].pop("backups")
    source_tls = source.rendered.spec["spec"]["tls"]
    spec["spec"]["standby"] = {"fromCluster": {"cluster": "hippo", "tls": {"notBefore": source_tls["notBefore"]}}}
    rendered = render_spec(spec, root / "specs" / "stream")
    assert (
        rendered.secret("hippo-stream-cluster-cert")["ca.crt"] == source.rendered.secret("hippo-cluster-cert")["ca.crt"]
    )
    remote = {"hippo-primary.postgres-dr.svc": leader.pg_port}
    with running_cluster(rendered, root / "stream", remote) as standby:
        follower = standby.wait_healthy(120)
        assert follower.api("/patroni")["role"] == "standby_leader"
        assert follower.psql("SELECT status FROM pg_stat_wal_receiver") == [["streaming"]]
        leader.psql("INSERT INTO events (what) VALUES ('streamed')")  # no WAL switch: streaming, not the archive
        wait_until("the standby to stream the source's write", lambda: "streamed" in rows(follower), 30, 0.5)
        spec["spec"]["standby"]["enabled"] = False
        promoted = render_spec(spec, root / "specs" / "stream-promoted")
        standby.apply(promoted)
        succeeded(standby.run_job(root / "stream-promote", timeout=180))
        follower.psql("INSERT INTO events (what) VALUES ('written on the promoted stream')")
        assert rows(follower)[-1] == "written on the promoted stream"


def test_direct_clone_copies_the_running_source_and_runs_on_its_own(root: Path, source: LocalCluster) -> None:
    """bootstrap.fromCluster: the first member copies the source's primary with pg_basebackup (a
    replication certificate from the source's CA), starts as a primary of its own, and its replica
    copies it; the source's later writes never reach it, and its own roles log in."""
    leader = source.wait_healthy()
    leader.psql("CREATE TABLE IF NOT EXISTS events (id serial PRIMARY KEY, what text NOT NULL)")  # run alone
    leader.psql("INSERT INTO events (what) VALUES ('before the copy')")
    spec = local_spec("clone")
    spec["spec"]["instances"][0]["replicas"] = 2
    spec["spec"]["bootstrap"]["fromCluster"]["tls"] = {"notBefore": source.rendered.spec["spec"]["tls"]["notBefore"]}
    rendered = render_spec(spec, root / "specs" / "copy")
    remote = {"hippo-primary.postgres-dr.svc": leader.pg_port}
    with running_cluster(rendered, root / "copy", remote) as copy:
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
        succeeded(copy.run_job(root / "copy-reconcile"))
        secret = "hippo-copy-pguser-hippo-copy"
        files = write_secret(rendered, secret, root / "copy-user")
        uri = loopback_uri(rendered.secret(secret)["uri"].decode(), first.pg_port, files / "ca.crt")
        login = client_psql(uri, "SELECT current_user", {"PGSSLROOTCERT": str(files / "ca.crt")})
        assert (login.returncode, login.stdout.strip()) == (0, "hippo-copy"), login.stderr


def test_a_direct_clone_killed_in_the_middle_bootstraps_again(root: Path, source: LocalCluster) -> None:
    """The first member of a copy killed while pg_basebackup copies (an OOM kill, an eviction: no
    shutdown), its container started again: it copies again, from scratch, and runs with the data.
    The source's primary Service is a slow link, so that the copy is still running when it is killed."""
    leader = source.wait_healthy()
    leader.psql("CREATE TABLE IF NOT EXISTS events (id serial PRIMARY KEY, what text NOT NULL)")  # run alone
    leader.psql("INSERT INTO events (what) VALUES ('before the killed copy')")
    spec = local_spec("clone")
    spec["metadata"]["name"] = "hippo-copy-again"
    spec["spec"]["bootstrap"]["fromCluster"]["tls"] = {"notBefore": source.rendered.spec["spec"]["tls"]["notBefore"]}
    rendered = render_spec(spec, root / "specs" / "copy-again")
    with slow_link(lambda: leader.pg_port, rate=2_000_000) as link:
        remote = {"hippo-primary.postgres-dr.svc": link.port}
        with first_member(rendered, root / "copy-again", remote) as member:
            bootstraps_again_after_a_kill(member, link, "pg_basebackup", 2_000_000, leader)


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
    root: Path, s3: S3Server, source: LocalCluster, target: str
) -> None:
    """The last chapter: the cluster is lost (every member and its data, Patroni's state, and the
    volume repository on its repository host), and comes back under its own name from its S3
    repository, at the target time (README's runbook: bootstrap.fromBackup naming the cluster
    itself). Its replica copies the leader (the repository's latest backup is from the history the
    restore left); it archives on a new timeline into that repository, beside the history it was
    restored from, and backs up there."""
    source.stop()
    spec = source_spec(s3)
    spec["spec"]["bootstrap"] = {"fromBackup": {"cluster": "hippo", "target": target, "repo": local_repo(s3)}}
    rendered = with_user_secrets(render_spec(spec, root / "specs" / "in-place"), s3)
    with running_cluster(rendered, root / "in-place") as restored:
        leader = restored.wait_healthy()
        assert rows(leader) == ["first", "before failover", "after failover", "before target"]
        (timeline,) = leader.psql("SELECT timeline_id FROM pg_control_checkpoint()")[0]
        segment = switch_and_wait_archived(restored, leader)
        keys = s3.list_keys(BUCKET, f"{SOURCE_PATH}/archive/")
        assert any(k.endswith(f"{int(timeline):08X}.history") for k in keys)
        assert any(segment in k for k in keys) and segment.startswith(f"{int(timeline):08X}")
        replica = next(m for m in restored.members if m is not leader)
        assert "replica has been created using basebackup" in replica.log_tail(400)
        assert rows(replica) == rows(leader)
        succeeded(run_backup(restored, "CronJob", "hippo-repo1-full"))
        newest = info(restored, "hippo-repo1-full")["backup"][-1]
        assert newest["type"] == "full" and newest["archive"]["start"].startswith(f"{int(timeline):08X}")
