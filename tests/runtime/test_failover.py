"""Failover and synchronous mode with the rendered Patroni timing and settings.

Losing the leader's pod is emulated by SIGKILLing its Patroni and stopping its PostgreSQL without a
shutdown checkpoint (``Member.crash``). A replica must take over once the leader lease (``ttl``)
runs out, plus at most a couple of Patroni loops, and the old leader must rejoin as a replica when
it comes back (Patroni rewinds it with the rendered rewind credentials if its timeline diverged).
"""

from __future__ import annotations

import time

import pytest

from .harness import LocalCluster, Member, wait_until

pytestmark = pytest.mark.runtime

# Slack beyond ttl + 2 * loop_wait for process start-up, etcd round trips and a loaded CI machine.
MARGIN_SECONDS = 8


def dcs_timing(cluster: LocalCluster) -> tuple[int, int]:
    """The rendered ttl and loop_wait (bootstrap.dcs), as Patroni runs them."""
    config = cluster.members[0].run.patroni_config
    assert config is not None
    dcs = config["bootstrap"]["dcs"]
    return int(dcs["ttl"]), int(dcs["loop_wait"])


def new_leader(cluster: LocalCluster, old: Member) -> Member | None:
    """A leader other than ``old`` that is out of recovery, per Patroni and per PostgreSQL."""
    leader = cluster.leader()
    if leader is None or leader is old:
        return None
    return leader if leader.psql("SELECT pg_is_in_recovery()") == [["f"]] else None


def sync_standbys(cluster: LocalCluster) -> list[str]:
    return [m["name"] for m in cluster.cluster_state()["members"] if m.get("role") == "sync_standby"]


def test_synchronous_mode_shows_in_patroni_state(cluster: LocalCluster) -> None:
    """trio (synchronousMode: true) has a sync standby; hippo (default) has none."""
    leader = cluster.wait_healthy()
    wanted = bool(cluster.rendered.spec["spec"].get("patroni", {}).get("synchronousMode", False))
    assert leader.api("/config")["synchronous_mode"] is wanted
    if wanted:
        standby = wait_until("a synchronous standby", lambda: sync_standbys(cluster), timeout=20)
        assert len(standby) == 1
        assert cluster.streaming(leader)[standby[0]]["sync_state"] == "sync"
    else:
        assert sync_standbys(cluster) == []
        assert {row["sync_state"] for row in cluster.streaming(leader).values()} == {"async"}


def test_a_replica_takes_over_within_the_lease_and_the_old_leader_rejoins(cluster: LocalCluster) -> None:
    """Crash the leader: a replica leads within ttl (+ loops, margin); the old one rejoins as replica."""
    ttl, loop_wait = dcs_timing(cluster)
    old = cluster.wait_healthy()
    synchronous = cluster.rendered.spec["spec"].get("patroni", {}).get("synchronousMode", False)
    candidates = (
        wait_until("a synchronous standby", lambda: sync_standbys(cluster), timeout=20) if synchronous else None
    )

    crashed_at = time.monotonic()
    old.crash()
    leader = wait_until("a new leader", lambda: new_leader(cluster, old), timeout=ttl + 2 * loop_wait + MARGIN_SECONDS)
    took = time.monotonic() - crashed_at
    assert took <= ttl + 2 * loop_wait + MARGIN_SECONDS, f"failover took {took:.1f}s (ttl {ttl}s)"
    if candidates is not None:
        assert leader.name in candidates, "synchronous mode promotes only the synchronous standby"

    old.start()
    assert cluster.wait_healthy(timeout=60) is leader
    roles = {m["name"]: m["role"] for m in cluster.cluster_state()["members"]}
    assert roles[old.name] in ("replica", "sync_standby")
    assert old.psql("SELECT pg_is_in_recovery()") == [["t"]]
    assert cluster.streaming(leader)[old.name]["state"] == "streaming"
