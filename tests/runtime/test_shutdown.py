"""spec.shutdown on a running cluster, and back: rendered, applied, and run as Kubernetes would.

Applying ``shutdown: true`` scales every member StatefulSet to zero at once (the harness's
Kubernetes API stops their pods together, as the StatefulSet controllers would); each Patroni stops
its PostgreSQL cleanly, the data stays. Applied in Argo CD's sync waves, the same: the shut-down
StatefulSets share one wave, so no member stops before the others and no replica is promoted.
Applying the spec without it starts the members again, in two ways: all at once (Flux, ``kubectl
apply``), or in the StatefulSets' Argo CD sync waves, member 0 first and the next once it is ready,
with the primary of before the shutdown last. Either way
Patroni elects a leader, the others stream from it, the reconcile Job (rendered again) runs, and
every row written (and replicated) before the shutdown is there.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pgrender.pod import SYNC_WAVE

from .conftest import require_runtime
from .harness import (
    LocalCluster,
    Member,
    Rendered,
    local_spec,
    pg_bin,
    render_spec,
    running_cluster,
    temp_root,
    wait_until,
)

pytestmark = pytest.mark.runtime

ROWS = 1000


def control_state(member: Member) -> str:
    """What pg_control says of the data directory: "shut down" (a primary's clean stop), "shut down
    in recovery" (a replica's), "in production" (a primary that did not stop cleanly) ..."""
    out = subprocess.run(
        [pg_bin("pg_controldata"), str(member.data_dir)], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"^Database cluster state:\s*(.+)$", out, re.MULTILINE)
    assert found, out
    return found[1].strip()


def rows_everywhere(cluster: LocalCluster) -> bool | None:
    counts = {m.name: m.psql("SELECT count(*) FROM naps")[0][0] for m in cluster.members}
    return True if set(counts.values()) == {str(ROWS)} else None


@contextlib.contextmanager
def nap() -> Iterator[tuple[LocalCluster, dict[str, Any], Rendered, dict[str, Any]]]:
    """examples/hippo.yaml as cluster nap, running: the cluster, its spec and rendering, and the spec
    with shutdown: true."""
    require_runtime()
    root = temp_root("pgrender-shutdown-")
    spec: dict[str, Any] = local_spec("hippo")
    spec["metadata"]["name"] = "nap"
    rendered = render_spec(spec, root / "specs" / "running")
    asleep = copy.deepcopy(spec)
    asleep["spec"]["shutdown"] = True
    try:
        with running_cluster(rendered, root / "nap") as cluster:
            yield cluster, spec, rendered, asleep
    finally:
        shutil.rmtree(root, ignore_errors=True)


def led_by(cluster: LocalCluster, wanted: Member) -> Member:
    """The cluster with ``wanted`` leading: whoever leads else is crashed (a failover to the other
    member of two) and started again as a replica."""
    leader = cluster.wait_healthy()
    if leader.name != wanted.name:
        leader.crash()
        wait_until(f"{wanted.name} leading", lambda: (cluster.leader() or leader).name == wanted.name or None, 60)
        leader.start()
    return cluster.wait_healthy(60)


# how the members start again: together (Flux, kubectl apply), or in their Argo CD sync waves
@pytest.mark.parametrize("start", ["together", "in-waves"])
def test_shutdown_stops_every_member_cleanly_and_starting_again_keeps_the_data(start: str) -> None:
    with nap() as (cluster, spec, rendered, asleep):
        root = cluster.root.parent
        job = cluster.run_job(root / "job-created")
        assert job.returncode == 0, job.stdout + job.stderr
        # in waves, the primary in the last one: a replica starts first, alone
        leader = led_by(cluster, cluster.members[-1]) if start == "in-waves" else cluster.wait_healthy()
        leader.psql(f"CREATE TABLE naps (id int PRIMARY KEY); INSERT INTO naps SELECT generate_series(1, {ROWS})")
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)

        stopped = render_spec(asleep, root / "specs" / "stopped")
        assert not stopped.all("Job")  # nothing to run it on
        cluster.apply(stopped)  # returns once every member's pod is gone
        # as the StatefulSet controllers would, every member was stopped at the same time
        windows = [cluster.pod_deletions[m.name] for m in cluster.members]
        assert max(begin for begin, _ in windows) < min(end for _, end in windows), windows
        assert [m.name for m in cluster.members if m.running() or m.postmaster_pid()] == []
        states = {m.name: control_state(m) for m in cluster.members}
        assert states == {m.name: "shut down" if m is leader else "shut down in recovery" for m in cluster.members}, (
            "every PostgreSQL stopped cleanly, and no replica was promoted on the way"
        )

        started = render_spec(spec, root / "specs" / "started")
        assert started.objects == rendered.objects  # the same spec renders the same objects
        if start == "in-waves":  # each wave once the one before is ready, as Argo CD syncs them
            *waves, _ = member_waves(stopped, started)
            for step, member in zip(waves, cluster.members, strict=False):
                cluster.apply(step)
                wait_until(f"{member.name} ready", lambda m=member: cluster.pod_ready(m.name) or None, 60)
        cluster.apply(started)  # every member's pod made again, from the same template
        assert all(m.running() for m in cluster.members)
        new_leader = cluster.wait_healthy(90)
        job = cluster.run_job(root / "job-started")
        assert job.returncode == 0, job.stdout + job.stderr
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)
        new_leader.psql("INSERT INTO naps VALUES (0)")  # and it takes writes again
        if start == "in-waves":  # README: the member of the first wave leads, alone within the lag allowed
            names = [m.name for m in cluster.members]
            assert (leader.name, new_leader.name) == (names[-1], names[0])


# Argo CD's ARGOCD_SYNC_WAVE_DELAY: the pause between one wave found Healthy and the next one's sync.
ARGO_CD_WAVE_DELAY = 2.0


def member_waves(before: Rendered, after: Rendered) -> list[Rendered]:
    """Argo CD's sync of ``after`` over ``before``, one step per sync wave of ``after``'s member
    StatefulSets: in step n those of the first n waves as in ``after``, the others as in ``before``."""
    old = {o["metadata"]["name"]: o for o in before.all("StatefulSet")}
    waves = sorted({int(o["metadata"]["annotations"][SYNC_WAVE]) for o in after.all("StatefulSet")})
    steps = []
    for wave in waves:
        objects = []
        for obj in after.objects:
            later = obj["kind"] == "StatefulSet" and int(obj["metadata"]["annotations"][SYNC_WAVE]) > wave
            objects.append(old[obj["metadata"]["name"]] if later else obj)
        steps.append(dataclasses.replace(after, objects=tuple(objects)))
    return steps


def test_shutdown_in_argo_cd_sync_waves_promotes_no_replica() -> None:
    """Argo CD syncs the shut-down rendering wave by wave. A StatefulSet scaled to 0 is Healthy to
    Argo CD as soon as its controller has seen it (ready replicas >= 0), so the next wave follows
    about ARGO_CD_WAVE_DELAY later, whether or not the pods of the waves before have stopped. Here
    they have (a small or idle database stops in well under a second). The primary, member 0 as
    after a bootstrap, is in the first wave: had it stopped alone, its Patroni would release the
    leader key and a replica would be promoted (and take writes) just before it is stopped in turn."""
    with nap() as (cluster, _, rendered, asleep):
        root = cluster.root.parent
        leader = led_by(cluster, cluster.members[0])  # member 0 leads, as it does after the bootstrap
        leader.psql(f"CREATE TABLE naps (id int PRIMARY KEY); INSERT INTO naps SELECT generate_series(1, {ROWS})")
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)

        stopped = render_spec(asleep, root / "specs" / "stopped")
        *waves, _ = member_waves(rendered, stopped)
        for step in waves:
            cluster.kube.apply(step.objects)
            cluster.kube.wait_idle(120)  # the wave's pods have stopped
            time.sleep(ARGO_CD_WAVE_DELAY)
        cluster.apply(stopped)  # the last wave; returns once every member's pod is gone
        states = {m.name: control_state(m) for m in cluster.members}
        assert states == {m.name: "shut down" if m is leader else "shut down in recovery" for m in cluster.members}, (
            "no replica was promoted on the way: the members stopped together"
        )
