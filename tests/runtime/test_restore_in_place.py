"""spec.restore for real: examples/backups.yaml (two members, WAL volumes, its S3 repository on the
local object store; Patroni on its Kubernetes DCS against the Kubernetes API stand-in with the rendered
Role, as in production) with a backup and rows written on either side of a restore point, shut down with
spec.shutdown, then applied with ``restore: {repo: repo1, run: 1, targetName: ...}``, as Kubernetes
would: every member's container runs the rendered restore guard (the ConfigMap's restore.py beside
upgrade.py, the image's python3 and Patroni's DCS classes), then the copy guard and Patroni. The member
that holds the latest data sets it aside and Patroni's bootstrap restores it with pgBackRest's --delta
to the restore point; it leads on a new timeline, archives there, and the other member is copied from
it. Then the cluster is shut down and started again with the same spec.restore: nothing is restored
again, and what was written after the restore is there.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgrender.member_scripts import upgrade

from .disaster_recovery import (
    BUCKET,
    SOURCE_PATH,
    info,
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
    LocalCluster,
    Member,
    Rendered,
    ServiceStandIn,
    render_spec,
    running_cluster,
    slow_link,
    wait_until,
)
from .object_store import S3Server

pytestmark = pytest.mark.runtime

POINT = "before-the-mistake"


def rendered(spec: dict[str, Any], s3: S3Server, directory: Path) -> Rendered:
    return with_user_secrets(render_spec(spec, directory), s3)


@pytest.fixture(scope="module")
def link(s3: S3Server) -> Iterator[ServiceStandIn]:
    """The object store behind a link a test may slow down (full speed unless it does)."""
    with slow_link(lambda: s3.port, rate=None) as link:
        yield link


@pytest.fixture(scope="module")
def spec(s3: S3Server, link: ServiceStandIn) -> dict[str, Any]:
    spec = with_wal_volume(source_spec(s3))
    spec["spec"]["backups"]["repos"][0]["s3"]["port"] = link.port
    return spec


@pytest.fixture(scope="module")
def cluster(dr_root: Path, s3: S3Server, spec: dict[str, Any]) -> Iterator[LocalCluster]:
    with running_cluster(
        rendered(spec, s3, dr_root / "specs" / "running"), dr_root / "hippo", dcs="kubernetes"
    ) as cluster:
        yield cluster


def leftovers(member: Member, suffix: str) -> list[str]:
    """What lies beside the member's data directory, on its data and WAL volumes, named ``*suffix``."""
    places = (member.data_dir.parent, Path(member.placement.paths["/pgwal"]).resolve())
    return sorted(p.name for place in places for p in place.iterdir() if p.name.endswith(suffix))


def timeline(cluster: LocalCluster) -> int:
    leader = cluster.wait_healthy()
    return int(leader.psql("SELECT timeline_id FROM pg_control_checkpoint()")[0][0])


def stamped(cluster: LocalCluster) -> tuple[str, list[str]]:
    """A point in time with a row written before it and one after, archived and on every member; the
    point, and the rows a restore to it holds."""
    leader = cluster.wait_healthy()
    # Healthy as Patroni says: a leader just promoted may take writes a moment later.
    wait_until("writes", lambda: leader.psql("SELECT pg_is_in_recovery()") == [["f"]], 60)
    leader.psql("INSERT INTO events (what) VALUES ('before the stamp')")
    time.sleep(1.5)
    (stamp,) = leader.psql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")[0]
    time.sleep(1.5)
    leader.psql("INSERT INTO events (what) VALUES ('after the stamp')")
    switch_and_wait_archived(cluster, leader)
    everywhere = rows(leader)
    wait_until("the replica has every row", lambda: all(rows(m) == everywhere for m in cluster.members), 30)
    return str(stamp), everywhere[:-1]


def taking(cluster: LocalCluster, run: int) -> Member | None:
    """The member that took restore ``run`` on (its guard's log says so), if one has."""
    return next((m for m in cluster.members if f"it restores run {run}" in m.log.read_text()), None)


def stop_and_start(cluster: LocalCluster, spec: dict[str, Any], s3: S3Server, directory: Path) -> None:
    """spec.shutdown applied (every member stops), then ``spec`` (they start)."""
    asleep = copy.deepcopy(spec)
    asleep["spec"]["shutdown"] = True
    cluster.apply(rendered(asleep, s3, directory / "stopped"))
    assert not any(m.running() for m in cluster.members)
    cluster.apply(rendered(spec, s3, directory / "started"))


def test_a_shut_down_cluster_is_restored_in_place_to_a_restore_point(
    dr_root: Path, s3: S3Server, spec: dict[str, Any], cluster: LocalCluster
) -> None:
    leader = cluster.wait_healthy()
    # A table the backup holds as it stays (frozen, checkpointed, never written again): --delta keeps its
    # file where it is, the same file (inode) before and after the restore; a whole restore writes anew.
    leader.psql("CREATE TABLE steady AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g")
    leader.psql("VACUUM (FREEZE) steady")
    leader.psql("CHECKPOINT")
    (steady,) = leader.psql("SELECT pg_relation_filepath('steady')")[0]
    succeeded(run_backup(cluster, "Job", "hippo-repo1-init-"))
    succeeded(run_backup(cluster, "CronJob", "hippo-repo2-full"))  # the volume repository's stanza: archiving there too
    kept = (leader.data_dir / steady).stat().st_ino
    leader.psql("CREATE TABLE events (id serial PRIMARY KEY, what text NOT NULL)")
    leader.psql("INSERT INTO events (what) VALUES ('kept'), ('kept too')")
    leader.psql(f"SELECT pg_create_restore_point('{POINT}')")
    leader.psql("INSERT INTO events (what) VALUES ('after the point')")
    leader.psql("DELETE FROM events WHERE what = 'kept'")  # the mistake
    switch_and_wait_archived(cluster, leader)
    wait_until("the replica has the mistake", lambda: all(rows(m) == rows(leader) for m in cluster.members), 30)
    before, primary = timeline(cluster), leader.name

    restoring = copy.deepcopy(spec)
    restoring["spec"]["restore"] = {"repo": "repo1", "run": 1, "targetName": POINT}
    stop_and_start(cluster, restoring, s3, dr_root / "specs" / "restore-1")
    leader = cluster.wait_healthy(240)

    assert leader.name == primary, "the member that held the latest data restores and leads"
    assert rows(leader) == ["kept", "kept too"]
    assert timeline(cluster) > before
    replica = next(m for m in cluster.members if m is not leader)
    wait_until("the replica has the restored rows", lambda: rows(replica) == rows(leader), 60)
    assert {name: row["state"] for name, row in cluster.streaming(leader).items()} == {replica.name: "streaming"}
    log, replica_log = leader.log.read_text(), replica.log.read_text()
    assert "pgrender restore guard: this member holds the latest data" in log
    assert f"set {leader.data_dir}" in log and "aside as" in log
    (bootstrap,) = [line for line in log.splitlines() if "Running custom bootstrap script" in line]
    assert "--delta" in bootstrap and f"--target={POINT}" in bootstrap and "--type=name" in bootstrap
    assert (leader.data_dir / steady).stat().st_ino == kept, "--delta kept the file that matched the backup"
    assert "the history the restore left" in replica_log
    assert "replica has been created using basebackup" in replica_log
    for member in cluster.members:  # the run is recorded in every copy; nothing is left aside
        assert (member.data_dir / "pgrender_restored").read_text() == "1\n", member.name
        assert wal_is_on_its_volume(member), member.name
        assert leftovers(member, ".delta") == [], member.name
    # The restoring member's marker stays until it starts again (it says so should it stop before it leads).
    assert leftovers(leader, ".restoring") == [f"{leader.data_dir.name}.restoring"]

    # The restored cluster archives on its new timeline into the repository it was restored from.
    leader.psql("INSERT INTO events (what) VALUES ('after the restore')")
    segment = switch_and_wait_archived(cluster, leader)
    now = timeline(cluster)
    keys = s3.list_keys(BUCKET, f"{SOURCE_PATH}/archive/")
    assert any(k.endswith(f"{now:08X}.history") for k in keys) and segment.startswith(f"{now:08X}")
    succeeded(run_backup(cluster, "CronJob", "hippo-repo1-full"))
    assert info(cluster, "hippo-repo1-full")["backup"][-1]["archive"]["start"].startswith(f"{now:08X}")

    # Stopped and started again with the same run: nothing is restored again.
    stop_and_start(cluster, restoring, s3, dr_root / "specs" / "restore-1-again")
    leader = cluster.wait_healthy(120)
    assert rows(leader) == ["kept", "kept too", "after the restore"]
    for member in cluster.members:  # either may lead now (they stopped together): no bootstrap, on either
        log = member.log.read_text()
        assert "pgrender restore guard: this member's data holds restore run 1: Patroni starts" in log, member.name
        assert "Running custom bootstrap script" not in log and leftovers(member, ".restoring") == [], member.name


def test_a_target_the_archive_does_not_reach_fails_and_is_tried_again_as_a_delta_restore(
    dr_root: Path, s3: S3Server, spec: dict[str, Any], cluster: LocalCluster
) -> None:
    """Run 2 names a restore point that was never made: recovery ends before it, Patroni renames the
    data and WAL directories .failed and exits. Its container started again, the guard takes them back
    as the directories set aside (one copy on the volumes, not two), and the bootstrap fails the same
    way; the other member keeps its data meanwhile. Run 3, to a time that was reached, restores (on
    whichever member holds the latest data now), and what run 2 left is removed."""
    stamp, expected = stamped(cluster)

    wrong = copy.deepcopy(spec)
    wrong["spec"]["restore"] = {"repo": "repo1", "run": 2, "targetName": "never-made"}
    stop_and_start(cluster, wrong, s3, dr_root / "specs" / "restore-2")
    restoring = wait_until("a member to take run 2 on", lambda: taking(cluster, 2), 60)
    assert restoring is not None
    other = next(m for m in cluster.members if m is not restoring)
    name = restoring.data_dir.name  # pg<major>, its WAL directory pg<major>_wal

    def failed() -> bool:
        return not restoring.running() and leftovers(restoring, ".failed") == [f"{name}.failed", f"{name}_wal.failed"]

    wait_until("the failed bootstrap to stop Patroni", failed, 120)
    assert "recovery ended before configured recovery target was reached" in restoring.log.read_text()
    restoring.start()  # its container starts again
    wait_until("the second attempt to stop Patroni", failed, 120)
    log = restoring.log.read_text()
    assert "took restore run 2 on before its container stopped: it carries on" in log
    assert f"took back {restoring.data_dir}.failed" in log
    assert leftovers(restoring, ".delta") == []  # taken back, put back, failed again: one copy
    assert other.running() and upgrade.has_cluster(str(other.data_dir)), "the other member keeps its data"

    fixed = copy.deepcopy(spec)
    fixed["spec"]["restore"] = {"repo": "repo1", "run": 3, "target": stamp}
    stop_and_start(cluster, fixed, s3, dr_root / "specs" / "restore-3")
    leader = cluster.wait_healthy(240)
    assert rows(leader) == expected and leader is taking(cluster, 3)
    for member in cluster.members:
        wait_until(f"{member.name} has the restored rows", lambda m=member: rows(m) == expected, 60)
        assert (member.data_dir / "pgrender_restored").read_text() == "3\n", member.name
        assert leftovers(member, ".failed") == leftovers(member, ".delta") == [], member.name


def test_the_restoring_member_killed_in_the_middle_carries_on(
    dr_root: Path, s3: S3Server, spec: dict[str, Any], cluster: LocalCluster, link: ServiceStandIn
) -> None:
    """The member that restores killed while pgBackRest restores (an OOM kill, an eviction; the object
    store behind a slow link meanwhile), its container started again: its guard carries the run on
    without asking the others again, and the cluster is restored to the target."""
    stamp, expected = stamped(cluster)
    run = copy.deepcopy(spec)
    run["spec"]["restore"] = {"repo": "repo1", "run": 4, "target": stamp}
    link.rate = 100_000
    stop_and_start(cluster, run, s3, dr_root / "specs" / "restore-4")
    restoring = wait_until("a member to take run 4 on", lambda: taking(cluster, 4), 60)

    # Not kill_while_copying: a delta restore works in a directory that holds a cluster all along.
    def restoring_now() -> bool:
        return any(os.path.basename(argv[0]) == "pgbackrest" for argv in restoring.processes().values())

    wait_until("pgBackRest to restore", restoring_now, 120, interval=0.05)
    time.sleep(1)  # some of it done
    killed = restoring.kill()
    assert any(os.path.basename(argv[0]) == "pgbackrest" for argv in killed.values()), killed
    link.rate = None
    restoring.start()
    leader = cluster.wait_healthy(240)
    assert leader is restoring and rows(leader) == expected
    log = leader.log.read_text()
    assert "took restore run 4 on before its container stopped: it carries on" in log
    assert log.count("Running custom bootstrap script") == 2
    for member in cluster.members:
        wait_until(f"{member.name} has the restored rows", lambda m=member: rows(m) == expected, 60)
        assert leftovers(member, ".delta") == [], member.name
