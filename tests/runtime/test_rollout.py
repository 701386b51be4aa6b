"""Day-2 changes to a running 3-member cluster (synchronous mode on) while an application writes.

Each change is rendered from a changed spec, applied (the harness's Kubernetes API stores the new
StatefulSets, which are OnDelete: nothing restarts by itself) and its rendered reconcile Job run, as
Argo CD, Flux or ``kubectl apply`` would. Meanwhile a writer inserts one row per transaction through
whichever member is primary (libpq's multi-host ``target_session_attrs=read-write``, as an app
behind the primary Service, reconnecting on error), and a monitor asks every member's PostgreSQL
whether it accepts connections, four times a second.

For every change: never more than one member down at a time; no row the writer saw committed is
lost; the longest time without a successful write is printed (and held to a bound). For changes
that need a restart: the replicas go down before the primary, and the primary changes once, by
the Job's switchover. For a reload-only change: no member goes down at all, no PostgreSQL restarts. For a lowered
setting a standby cannot run below its primary: the primary restarts in place, no switchover.
"""

from __future__ import annotations

import copy
import itertools
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_runtime
from .harness import (
    LOCAL_POD_IP,
    LocalCluster,
    Rendered,
    client_psql,
    image_environment,
    local_spec,
    pg_bin,
    render_spec,
    running_cluster,
    temp_root,
    wait_until,
    write_secret,
)

pytestmark = pytest.mark.runtime

TEMPLATE_DIGEST = "pgrender.io/template-digest"
# Write unavailability allowed per change: one switchover (a loop of Patroni, a promotion, libpq
# finding the new primary) on a loaded CI machine. The measured figure is printed.
MAX_WRITE_GAP_SECONDS = 20.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """trio (three members, synchronous mode) under its own name, etcd and Kubernetes API."""
    require_runtime()
    root = temp_root("pgrender-rollout-")
    spec = local_spec("trio")
    spec["metadata"]["name"] = "roll"
    rendered = render_spec(spec, root / "specs" / "initial")
    try:
        with running_cluster(rendered, root / "roll") as local:
            result = local.run_job(root / "initial-job")
            assert result.returncode == 0, result.stdout + result.stderr
            local.wait_healthy().psql(
                "CREATE TABLE IF NOT EXISTS writes (id bigint PRIMARY KEY); GRANT INSERT, SELECT ON writes TO app",
                database="payments",
            )
            yield local
    finally:
        shutil.rmtree(root, ignore_errors=True)


def changed(cluster: LocalCluster, name: str, change: Callable[[dict[str, Any]], None]) -> Rendered:
    spec = copy.deepcopy(cluster.rendered.spec)
    change(spec)
    return render_spec(spec, cluster.root.parent / "specs" / name)


def app_conninfo(cluster: LocalCluster, directory: Path) -> str:
    """The app user's rendered connection values, to every member: libpq picks the primary."""
    secret = cluster.rendered.secret("roll-pguser-app")
    files = write_secret(cluster.rendered, "roll-pguser-app", directory)
    members = cluster.members
    return " ".join(
        [
            f"host={','.join([secret['host'].decode()] * len(members))}",
            f"hostaddr={','.join([LOCAL_POD_IP] * len(members))}",
            f"port={','.join(str(m.pg_port) for m in members)}",
            f"user={secret['user'].decode()}",
            f"password={secret['password'].decode()}",
            "dbname=payments",
            "sslmode=verify-full",
            f"sslrootcert={files / 'ca.crt'}",
            "target_session_attrs=read-write",
            "connect_timeout=2",
        ]
    )


@dataclass
class Observation:
    """What the writer and the monitor saw during one change."""

    committed: list[int] = field(default_factory=list)
    commit_times: list[float] = field(default_factory=list)
    errors: int = 0
    down_at_once: int = 0
    first_down: dict[str, float] = field(default_factory=dict)
    last_down: dict[str, float] = field(default_factory=dict)
    leaders: list[str] = field(default_factory=list)  # each change of leader, in order
    down_polls: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)  # (time, members down)

    def longest_gap(self, start: float, end: float) -> float:
        times = [start, *self.commit_times, end]
        return max(b - a for a, b in itertools.pairwise(times))


class Watch:
    """The writer and the monitor, in threads, for as long as the ``with`` block runs."""

    def __init__(self, cluster: LocalCluster, directory: Path, first_id: int) -> None:
        self.cluster = cluster
        self.conninfo = app_conninfo(cluster, directory)
        self.seen = Observation()
        self.next_id = first_id
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.write), threading.Thread(target=self.monitor)]

    def __enter__(self) -> Watch:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        time.sleep(2)  # a steady state first
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(2)
        self.stopping.set()
        for thread in self.threads:
            thread.join()
        self.ended = time.monotonic()

    def write(self) -> None:
        while not self.stopping.is_set():
            result = client_psql(self.conninfo, f"INSERT INTO writes VALUES ({self.next_id})")
            if result.returncode == 0:
                self.seen.committed.append(self.next_id)
                self.seen.commit_times.append(time.monotonic())
                self.next_id += 1
            else:
                self.seen.errors += 1
                if "duplicate key" in result.stderr:  # committed, but the answer was lost
                    self.next_id += 1
                time.sleep(0.1)

    def monitor(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            # A member counts as down when it refuses twice in a row: one slow answer on a loaded
            # machine is not a restart (which takes a second or more, and the postmaster checks of
            # the reload test see any restart however short).
            down = [m.name for m in self.cluster.members if not accepting(m.pg_port) and not accepting(m.pg_port)]
            self.seen.down_at_once = max(self.seen.down_at_once, len(down))
            if down:
                self.seen.down_polls.append((round(now - self.started, 2), tuple(down)))
            for name in down:
                self.seen.first_down.setdefault(name, now)
                self.seen.last_down[name] = now
            try:
                leader = self.cluster.leader()
            except Exception:  # the REST API of a member going down: ask again
                leader = None
            if leader is not None and (not self.seen.leaders or self.seen.leaders[-1] != leader.name):
                self.seen.leaders.append(leader.name)
            time.sleep(0.25)


def accepting(port: int) -> bool:
    """PostgreSQL on ``port`` accepts connections (pg_isready: 0), as a client would find it."""
    result = subprocess.run(
        [pg_bin("pg_isready"), "-q", "-h", LOCAL_POD_IP, "-p", str(port), "-t", "2"],
        env=image_environment(Path("/nonexistent")),
        check=False,
        timeout=10,
    )
    return result.returncode == 0


def postmasters(cluster: LocalCluster) -> dict[str, int | None]:
    return {m.name: m.postmaster_pid() for m in cluster.members}


def roll(cluster: LocalCluster, rendered: Rendered, name: str, exit_code: int = 0) -> tuple[Observation, str, float]:
    """Apply ``rendered`` and run its reconcile Job while writing; what was seen, the Job's output,
    and the longest time without a successful write."""
    leader = wait_until("a leader", cluster.leader, 60)
    first = int(leader.psql("SELECT coalesce(max(id), 0) + 1 FROM writes", "payments")[0][0])
    with Watch(cluster, cluster.root.parent / f"{name}-client", first) as watch:
        cluster.apply(rendered)
        job = cluster.run_job(cluster.root.parent / f"{name}-job", timeout=600)
    output = job.stdout + job.stderr
    print(f"--- reconcile Job ({name}) ---\n{output}")
    assert job.returncode == exit_code, output
    seen = watch.seen
    gap = seen.longest_gap(watch.started, watch.ended)
    print(
        f"{name}: {len(seen.committed)} writes committed, {seen.errors} failed attempts, "
        f"longest time without a write {gap:.1f}s, members down at once at most {seen.down_at_once}, "
        f"leaders {seen.leaders}"
    )
    leader = wait_until("a leader", cluster.leader, 60)
    stored = {int(row[0]) for row in leader.psql("SELECT id FROM writes", "payments")}
    assert set(seen.committed) <= stored, f"lost committed rows: {sorted(set(seen.committed) - stored)}"
    assert seen.committed, "the writer never committed"
    assert seen.down_at_once <= 1, f"{seen.down_at_once} members were down at the same time: {seen.down_polls}"
    assert gap <= MAX_WRITE_GAP_SECONDS, f"no write for {gap:.1f}s"
    return seen, output, gap


def assert_replicas_first(cluster: LocalCluster, seen: Observation, old_leader: str, output: str) -> None:
    replicas = [m.name for m in cluster.members if m.name != old_leader]
    assert set(seen.first_down) == {m.name for m in cluster.members}, f"not every member restarted: {seen.first_down}"
    assert all(seen.last_down[r] < seen.first_down[old_leader] for r in replicas), (
        f"the old primary {old_leader} went down before the replicas were back: {seen.first_down} {seen.last_down}"
    )
    # One change of primary, to the replica the Job switched over to, while the old one was up.
    (new_leader,) = [
        line.split()[-1] for line in output.splitlines() if line.startswith(f"{old_leader}: switchover to")
    ]
    assert seen.leaders == [old_leader, new_leader], seen.leaders
    assert f"{new_leader}: leads" in output


def test_a_reload_only_parameter_restarts_nothing(cluster: LocalCluster) -> None:
    before = postmasters(cluster)
    templates = {s["metadata"]["name"]: s["spec"]["template"] for s in cluster.rendered.all("StatefulSet")}
    rendered = changed(cluster, "work-mem", lambda s: s["spec"]["patroni"]["parameters"].update(work_mem="24MB"))
    assert {s["metadata"]["name"]: s["spec"]["template"] for s in rendered.all("StatefulSet")} == templates
    seen, output, _ = roll(cluster, rendered, "work-mem")
    assert "patroni dynamic configuration: updated" in output
    assert "restarting" not in output and "deleting the pod" not in output
    assert seen.down_at_once == 0 and postmasters(cluster) == before
    for member in cluster.members:
        assert member.psql("SHOW work_mem") == [["24MB"]], member.name


def test_a_restart_parameter_restarts_one_member_at_a_time_replicas_first(cluster: LocalCluster) -> None:
    old_leader = cluster.wait_healthy().name
    rendered = changed(
        cluster, "shared-buffers", lambda s: s["spec"]["patroni"]["parameters"].update(shared_buffers="160MB")
    )
    seen, output, _ = roll(cluster, rendered, "shared-buffers")
    assert_replicas_first(cluster, seen, old_leader, output)
    assert "deleting the pod" not in output  # restarted through Patroni, the pods stay
    for member in cluster.members:
        assert member.psql("SHOW shared_buffers") == [["160MB"]], member.name
    assert not any(m.get("pending_restart") for m in cluster.cluster_state()["members"])


def test_a_lowered_setting_restarts_the_primary_in_place_then_the_replicas(cluster: LocalCluster) -> None:
    """A standby cannot run a lower max_connections than its primary, so Patroni keeps a lowered value
    pending on the replicas until the primary runs it: the Job restarts the primary in place (no
    switchover would help, the new primary would run the old value), then the replicas again."""
    leader = cluster.wait_healthy().name
    lowered = int(cluster.rendered.spec["spec"]["patroni"]["parameters"]["max_connections"]) - 50
    rendered = changed(
        cluster, "max-connections", lambda s: s["spec"]["patroni"]["parameters"].update(max_connections=lowered)
    )
    seen, output, _ = roll(cluster, rendered, "max-connections")
    assert f"{leader}: a lowered setting replicas can take only after the primary" in output
    assert "switchover" not in output and seen.leaders == [leader], seen.leaders
    for member in cluster.members:
        assert member.psql("SHOW max_connections") == [[str(lowered)]], member.name
    assert not any(m.get("pending_restart") for m in cluster.cluster_state()["members"])


def test_a_pod_template_change_replaces_one_pod_at_a_time_replicas_first(cluster: LocalCluster) -> None:
    old_leader = cluster.wait_healthy().name

    def resize(spec: dict[str, Any]) -> None:
        spec["spec"]["instances"][0]["resources"]["requests"]["cpu"] = "750m"

    rendered = changed(cluster, "resources", resize)
    seen, output, _ = roll(cluster, rendered, "resources")
    assert_replicas_first(cluster, seen, old_leader, output)
    # The pods were deleted through the Kubernetes API, in that order, and nothing else was.
    deletions = [path.rsplit("/", 1)[-1] for method, path, status in cluster.kube.requests if method == "DELETE"]
    assert deletions[-1] == old_leader and sorted(deletions) == sorted(m.name for m in cluster.members), deletions
    assert all(status == 200 for method, _, status in cluster.kube.requests if method == "DELETE")
    wanted = {
        s["metadata"]["name"]: s["spec"]["template"]["metadata"]["annotations"][TEMPLATE_DIGEST]
        for s in rendered.all("StatefulSet")
    }
    for member in cluster.members:
        pod = cluster.kube.pod(member.name)
        assert pod is not None and pod["metadata"]["annotations"][TEMPLATE_DIGEST] == wanted[member.statefulset]


def test_a_failed_step_stops_the_rollout_and_fixing_it_in_git_heals_it(cluster: LocalCluster) -> None:
    """A template whose pods cannot start (the image's patroni is not where the spec says): the
    first replica replaced does not come back, the Job fails saying which member and which step,
    and the two other members keep serving. Applying a good template again heals it."""
    good = cluster.rendered
    old_leader = cluster.wait_healthy().name

    def broken(spec: dict[str, Any]) -> None:
        spec["spec"].setdefault("imageContract", {})["patroni"] = "/nonexistent/patroni"
        spec["spec"]["rollout"] = {"stepTimeoutSeconds": 10}

    seen, output, _ = roll(cluster, changed(cluster, "broken", broken), "broken", exit_code=1)
    (stopped,) = [line for line in output.splitlines() if line.startswith("roll stopped:")]
    (replaced,) = [path.rsplit("/", 1)[-1] for method, path, _ in cluster.kube.requests[-200:] if method == "DELETE"][
        -1:
    ]
    assert replaced != old_leader
    assert f"{replaced} back, running and streaming: not so after 10s" in stopped, stopped
    assert "the cluster keeps serving" in output
    # Serving: the same leader, the other replica streaming from it.
    leader = cluster.leader()
    assert leader is not None and leader.name == old_leader
    others = {m.name for m in cluster.members} - {old_leader, replaced}
    assert all(cluster.streaming(leader)[name]["state"] == "streaming" for name in others)
    assert seen.down_at_once == 1

    _, healed, _ = roll(cluster, good, "healed")
    assert f"{replaced}: down and older than its template" in healed
    cluster.wait_healthy()
