"""A WAL volume added to a running cluster (``instances[].walVolume``), and one taken away, as rendered.

Added: examples/hippo.yaml without one, running with rows; then the spec with a WAL volume applied and
the reconcile Job run, as Kubernetes would: it replaces each member's pod from the new template
(replicas first, a switchover, then the old primary), and each member's WAL mover moves its pg_wal onto
its new WAL claim before Patroni starts. Every member's pg_wal then links to its WAL volume and holds
the segments PostgreSQL writes there, and every row is on every member.

Taken away: hippo with a WAL volume, running with rows; ``walVolume.retire: true`` applied and the Job
run: each member's wal_volume_back.py moves pg_wal back onto its data volume while its WAL claim is
still mounted; then the spec without walVolume (which `pgrender diff` admits only after that:
golden/diff-remove-retired-wal-volume) applied and the Job run: the members start without the claim,
with every row, and take new ones.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import module_root
from .disaster_recovery import wal_is_on_its_volume, with_wal_volume
from .harness import LocalCluster, Member, local_spec, missing_requirements, render_spec, running_cluster, wait_until

pytestmark = pytest.mark.runtime

ROWS = 1000


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    yield from module_root("pgrender-wal-", missing_requirements())


def rows_everywhere(cluster: LocalCluster) -> bool:
    return all(m.psql("SELECT count(*) FROM lifts") == [[str(ROWS)]] for m in cluster.members)


def test_a_wal_volume_added_to_running_members_takes_their_wal(root: Path) -> None:
    spec = local_spec("hippo")
    with running_cluster(render_spec(spec, root / "specs" / "without"), root / "hippo") as cluster:
        leader = cluster.wait_healthy()
        leader.psql(f"CREATE TABLE lifts (id int PRIMARY KEY); INSERT INTO lifts SELECT generate_series(1, {ROWS})")
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)
        assert not any((m.data_dir / "pg_wal").is_symlink() for m in cluster.members)

        cluster.apply(render_spec(with_wal_volume(copy.deepcopy(spec)), root / "specs" / "with"))
        job = cluster.run_job(root / "job")
        assert job.returncode == 0, job.stdout + job.stderr
        leader = cluster.wait_healthy(120)
        leader.psql("SELECT pg_switch_wal()")  # a segment written since, on every member's WAL volume
        for member in cluster.members:
            wait_until(f"{member.name}'s WAL on its WAL volume", lambda m=member: wal_is_on_its_volume(m), 30)
            assert not Path(f"{member.data_dir}.pg_wal").exists(), member.name
            log = member.log.read_text()
            assert f"{member.data_dir}/pg_wal is on the data volume: it moves to" in log, member.name
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)
        leader.psql("INSERT INTO lifts VALUES (0)")
        wait_until(
            "the replica replays onto its WAL volume",
            lambda: all(m.psql("SELECT count(*) FROM lifts") == [[str(ROWS + 1)]] for m in cluster.members),
            30,
        )


def wal_is_at_home(member: Member) -> bool:
    """The member's pg_wal is a directory of its data directory's own, holding segments."""
    wal = member.data_dir / "pg_wal"
    return wal.is_dir() and not wal.is_symlink() and any(len(p.name) == 24 for p in wal.iterdir())


def test_a_retired_wal_volume_gives_the_wal_back_then_leaves(root: Path) -> None:
    walled = with_wal_volume(local_spec("hippo"))
    retired = copy.deepcopy(walled)
    retired["spec"]["instances"][0]["walVolume"]["retire"] = True
    without = copy.deepcopy(walled)
    del without["spec"]["instances"][0]["walVolume"]
    renderings = {
        name: render_spec(spec, root / "specs" / name)
        for name, spec in (("walled", walled), ("retired", retired), ("without", without))
    }
    with running_cluster(renderings["walled"], root / "retired") as cluster:
        leader = cluster.wait_healthy()
        leader.psql(f"CREATE TABLE lifts (id int PRIMARY KEY); INSERT INTO lifts SELECT generate_series(1, {ROWS})")
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)
        assert all(wal_is_on_its_volume(m) for m in cluster.members)

        cluster.apply(renderings["retired"])
        job = cluster.run_job(root / "retired-job")
        assert job.returncode == 0, job.stdout + job.stderr
        leader = cluster.wait_healthy(120)
        leader.psql("SELECT pg_switch_wal()")
        for member in cluster.members:
            wait_until(f"{member.name}'s WAL back on its data volume", lambda m=member: wal_is_at_home(m), 30)
            assert "it moves back onto the data volume" in member.log.read_text(), member.name
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)

        cluster.apply(renderings["without"])
        job = cluster.run_job(root / "without-job")
        assert job.returncode == 0, job.stdout + job.stderr
        leader = cluster.wait_healthy(120)
        for member in cluster.members:
            assert "/pgwal" not in member.placement.paths, member.name  # started without the claim
            assert wal_is_at_home(member), member.name
        leader.psql("INSERT INTO lifts VALUES (0)")
        wait_until(
            "every member has every row",
            lambda: all(m.psql("SELECT count(*) FROM lifts") == [[str(ROWS + 1)]] for m in cluster.members),
            30,
        )
