"""A WAL volume added to a running cluster (``instances[].walVolume``), as rendered: examples/hippo.yaml
without one, running with rows; then the spec with a WAL volume applied and the reconcile Job run, as
Kubernetes would: it replaces each member's pod from the new template (replicas first, a switchover,
then the old primary), and each member's copy guard moves its pg_wal onto its new WAL claim before
Patroni starts. Every member's pg_wal then links to its WAL volume and holds the segments PostgreSQL
writes there, and every row is on every member.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import module_root
from .disaster_recovery import wal_is_on_its_volume, with_wal_volume
from .harness import LocalCluster, local_spec, missing_requirements, render_spec, running_cluster, wait_until

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
