"""job_scripts/members.py: the reconcile Job's rollout, against an in-memory cluster (no network, no waiting).

FakeCluster stands in for both Patroni's REST API and the Kubernetes API: it replaces the methods of
``members.Patroni`` and ``members.Kubernetes`` that reach the network and simulates what each call
does (a deleted pod comes back from its StatefulSet's template, a restart clears pending_restart, a
switchover swaps the roles). Time is a fake clock: each sleep advances it and lets the cluster move
one step, so a member that was taken down comes back after a few polls, and a step that never
succeeds times out after a few fake seconds.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pgrender.job_scripts import members

OLD, NEW = "r-old", "r-new"  # template revisions
Action = tuple[str, ...]


@dataclass
class Member:
    """One member: its pod, its Patroni and its PostgreSQL."""

    name: str
    role: str  # leader, sync_standby or replica
    revision: str  # the pod's template revision; "" while the pod is gone
    state: str = "running"  # Patroni's state of PostgreSQL
    api: bool = True  # whether Patroni's REST API answers
    streaming: bool = True  # a replica: whether the leader streams to it
    lag: int = 0
    pending_restart: bool = False
    uid: int = 1
    busy: int = 0  # POST /restart answers 503 this many times first
    recovery: list[str] | None = None  # what it becomes at each coming tick (then running)


# After its pod is deleted a member comes back in steps: the pod is made anew (Patroni not yet
# answering), Patroni starts PostgreSQL, then it runs.
RECREATED = ["created", "starting"]
RESTARTED = ["restarting"]
DEMOTED = ["stopped"]


class FakeCluster:
    """Patroni and Kubernetes in memory; every action the rollout takes, in order, in ``actions``."""

    def __init__(
        self,
        roles: dict[str, str],
        revision: str = OLD,
        synchronous: bool = False,
        lowered: bool = False,
        demotion_restarts: bool = True,
    ) -> None:
        self.members = {name: Member(name, role, revision) for name, role in roles.items()}
        self.templates = {self.statefulset(name): NEW for name in roles}  # the applied StatefulSets
        self.config: dict[str, Any] = {"synchronous_mode": synchronous}
        self.lowered = lowered  # a lowered setting: replicas keep it pending while the leader does
        self.demotion_restarts = demotion_restarts  # demoting the old leader restarts its PostgreSQL
        self.actions: list[Action] = []
        self.now = 1000.0

    @staticmethod
    def statefulset(pod: str) -> str:
        return pod.rpartition("-")[0]

    def revisions(self) -> dict[tuple[str, str], str]:
        """What the Job was rendered with: every member's new template."""
        return {(self.statefulset(pod), pod): NEW for pod in self.members}

    # -- what happens ------------------------------------------------------------------------

    def record(self, *action: str) -> None:
        self.actions.append(action)
        down = [m.name for m in self.members.values() if m.state != "running"]
        assert len(down) <= 1, f"{action}: more than one member down: {down}"

    def leader(self) -> Member | None:
        leaders = [m for m in self.members.values() if m.role == "leader"]
        return leaders[0] if leaders else None

    def tick(self) -> None:
        """One step of time: every member on its way back takes its next step."""
        for member in self.members.values():
            if member.recovery is None:
                continue
            if member.recovery:
                step = member.recovery.pop(0)
                if step == "created":
                    member.revision = self.templates[self.statefulset(member.name)]
                    member.uid += 1
                    member.pending_restart = False  # a new PostgreSQL starts with the new settings
                else:
                    member.api = True
                member.state = step
                continue
            member.recovery = None
            member.state = "running"
            member.streaming = True
            leader = self.leader()
            if leader is None:  # the only member takes the leader lock again
                member.role = "leader"

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.tick()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    # -- the Kubernetes API ------------------------------------------------------------------

    def pod(self, name: str) -> dict[str, Any] | None:
        member = self.members[name]
        if not member.revision:
            return None
        annotations = {members.TEMPLATE_DIGEST: member.revision}
        return {"metadata": {"name": name, "uid": f"uid-{member.uid}", "annotations": annotations}}

    def statefulset_object(self, name: str) -> dict[str, Any] | None:
        if name not in self.templates:
            return None
        return {"spec": {"template": {"metadata": {"annotations": {members.TEMPLATE_DIGEST: self.templates[name]}}}}}

    def delete_pod(self, name: str, uid: str) -> None:
        member = self.members[name]
        if not member.revision or uid != f"uid-{member.uid}":
            return  # the precondition on the uid: another incarnation is left alone
        member.revision, member.state, member.api = "", "stopped", False
        member.recovery = list(RECREATED)
        if member.role == "leader" and len(self.members) > 1:
            raise AssertionError(f"the leader {name} was deleted while it led")
        self.record("delete", name)

    # -- Patroni's REST API ------------------------------------------------------------------

    def call(self, member: str, method: str, path: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
        target = self.members[member]
        if not target.api:
            raise ConnectionRefusedError(f"{member}: connection refused")
        if (method, path) == ("GET", "/config"):
            return 200, dict(self.config)
        if (method, path) == ("PUT", "/config"):
            self.config = dict(body)
            self.actions.append(("put-config", json.dumps(body, sort_keys=True)))
            return 200, self.config
        if (method, path) == ("GET", "/cluster"):
            return 200, {"members": [self.entry(m) for m in self.members.values() if m.api]}
        if (method, path) == ("POST", "/restart"):
            return self.restart(target)
        if (method, path) == ("POST", "/switchover"):
            return self.switchover(body["leader"], body["candidate"])
        raise AssertionError(f"unexpected call {method} {path} on {member}")

    def entry(self, member: Member) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": member.name, "role": member.role, "state": member.state}
        if member.role != "leader":
            entry["lag"] = member.lag
        if member.pending_restart:
            entry["pending_restart"] = True
        return entry

    def restart(self, member: Member) -> tuple[int, Any]:
        if member.busy:
            member.busy -= 1
            return 503, "restart conditions are not satisfied"
        leader = self.leader()
        keeps = self.lowered and member.role != "leader" and leader is not None and leader.pending_restart
        member.pending_restart = keeps
        member.state, member.recovery = "restarting", []
        self.record("restart", member.name)
        return 200, "restarted successfully"

    def switchover(self, leader_name: str, candidate_name: str) -> tuple[int, Any]:
        leader, candidate = self.members[leader_name], self.members[candidate_name]
        synchronous = self.config.get("synchronous_mode")
        if leader.role != "leader" or candidate.state != "running":
            return 412, "leader name does not match, or the candidate does not run"
        if synchronous and candidate.role != "sync_standby":
            return 412, "candidate name does not match with sync_standby"
        candidate.role = "leader"
        leader.role = "sync_standby" if synchronous else "replica"
        leader.state, leader.recovery = "stopped", list(DEMOTED)
        if self.demotion_restarts:
            leader.pending_restart = False
        self.record("switchover", leader_name, candidate_name)
        return 200, f"Successfully switched over to {candidate_name}"

    def any_member(self, method: str, path: str, body: Any = None) -> Any:
        for name in self.members:
            try:
                status, answer = self.call(name, method, path, body)
            except OSError:
                continue
            if status == 200:
                return answer
        raise members.Stop("no Patroni member answered " + path)

    def cluster(self) -> dict[str, dict[str, Any]]:
        return {m["name"]: m for m in self.any_member("GET", "/cluster")["members"]}

    def streaming_to(self, leader: str) -> set[str]:
        if not self.members[leader].api or self.members[leader].role != "leader":
            return set()
        return {m.name for m in self.members.values() if m.role != "leader" and m.state == "running" and m.streaming}


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Put a FakeCluster in place of the network and the clock; return (patroni, kube)."""
    monkeypatch.setattr(members, "POLL_SECONDS", 1.0)
    monkeypatch.setattr(members, "CHANGED_MARK", str(tmp_path / "configuration-changed"))

    def _install(fake: FakeCluster) -> tuple[members.Patroni, members.Kubernetes]:
        monkeypatch.setattr(members, "time", fake)  # sleep, monotonic and time: the fake clock
        monkeypatch.setattr(members.Patroni, "call", lambda _self, *args, **kwargs: fake.call(*args, **kwargs))
        monkeypatch.setattr(members.Patroni, "cluster", lambda _self: fake.cluster())
        monkeypatch.setattr(members.Patroni, "streaming", lambda _self, leader: fake.streaming_to(leader))
        monkeypatch.setattr(members.Patroni, "any_member", lambda _self, *args: fake.any_member(*args))
        monkeypatch.setattr(members.Kubernetes, "pod", lambda _self, name: fake.pod(name))
        monkeypatch.setattr(members.Kubernetes, "statefulset", lambda _self, name: fake.statefulset_object(name))
        monkeypatch.setattr(members.Kubernetes, "delete_pod", lambda _self, name, uid: fake.delete_pod(name, uid))
        patroni = object.__new__(members.Patroni)
        patroni.members = {name: f"{name}.hippo-pods.db.svc:8008" for name in fake.members}
        kube = object.__new__(members.Kubernetes)
        kube.namespace = "db"
        return patroni, kube

    return _install


def rollout(install: Any, fake: FakeCluster, step_timeout: int = 30) -> members.Rollout:
    patroni, kube = install(fake)
    args = argparse.Namespace(loop_wait="10", max_lag_bytes="1048576", step_timeout=str(step_timeout))
    return members.Rollout(patroni, kube, fake.revisions(), args)


def actions(text: str) -> list[Action]:
    """ "delete b-0, switchover c-0 a-0" -> [("delete", "b-0"), ("switchover", "c-0", "a-0")]"""
    return [tuple(action.split()) for action in text.split(",") if action.strip()]


def roll(install: Any, fake: FakeCluster) -> list[Action]:
    rollout(install, fake).run()
    assert all(m.state == "running" and m.revision == NEW for m in fake.members.values())
    assert not any(m.pending_restart for m in fake.members.values())
    return fake.actions


SYNC = {"a-0": "sync_standby", "b-0": "replica", "c-0": "leader"}  # the sync standby sorts first by name
ASYNC = {"a-0": "replica", "b-0": "replica", "c-0": "leader"}
LEADS_FIRST = {"a-0": "leader", "b-0": "sync_standby", "c-0": "replica"}


# --- a new template for every member -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "synchronous", "lags", "expected"),
    [
        (SYNC, True, {}, "delete b-0, delete a-0, switchover c-0 a-0, delete c-0"),
        (LEADS_FIRST, True, {}, "delete c-0, delete b-0, switchover a-0 b-0, delete a-0"),
        (ASYNC, False, {"a-0": 500}, "delete a-0, delete b-0, switchover c-0 b-0, delete c-0"),
        (ASYNC, False, {"b-0": 500}, "delete a-0, delete b-0, switchover c-0 a-0, delete c-0"),
    ],
)
def test_new_template_replicas_first_then_switchover_then_old_leader(
    install: Any, roles: dict[str, str], synchronous: bool, lags: dict[str, int], expected: str
) -> None:
    fake = FakeCluster(roles, synchronous=synchronous)
    for name, lag in lags.items():
        fake.members[name].lag = lag
    assert roll(install, fake) == actions(expected)
    assert fake.leader() is fake.members[actions(expected)[2][2]]


# --- pending_restart only ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "synchronous", "demotion_restarts", "expected"),
    [
        (SYNC, True, True, "restart b-0, restart a-0, switchover c-0 a-0"),
        (SYNC, True, False, "restart b-0, restart a-0, switchover c-0 a-0, restart c-0"),
        (ASYNC, False, False, "restart a-0, restart b-0, switchover c-0 a-0, restart c-0"),
    ],
)
def test_pending_restart_restarts_replicas_then_switches_over(
    install: Any, roles: dict[str, str], synchronous: bool, demotion_restarts: bool, expected: str
) -> None:
    fake = FakeCluster(roles, revision=NEW, synchronous=synchronous, demotion_restarts=demotion_restarts)
    for member in fake.members.values():
        member.pending_restart = True
    assert roll(install, fake) == actions(expected)


def test_nothing_to_do(install: Any, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeCluster(SYNC, revision=NEW, synchronous=True)
    assert roll(install, fake) == []
    assert "every member runs its current template and settings" in capsys.readouterr().out


# --- members already down or unhealthy ----------------------------------------------------------------


@pytest.mark.parametrize("api", [True, False], ids=["postgres-stopped", "patroni-not-answering"])
def test_a_replica_down_and_outdated_is_replaced_first_without_the_health_gate(
    install: Any, monkeypatch: pytest.MonkeyPatch, api: bool
) -> None:
    fake = FakeCluster(ASYNC)
    fake.members["b-0"].state, fake.members["b-0"].api, fake.members["b-0"].streaming = "stopped", api, False
    gate = members.Rollout.others_healthy

    def gated(self: members.Rollout, target: str) -> None:
        fake.actions.append(("gate", target))
        gate(self, target)

    monkeypatch.setattr(members.Rollout, "others_healthy", gated)
    # b-0 goes first, and no health gate before it (it would wait for b-0 itself)
    expected = "delete b-0, gate a-0, delete a-0, gate c-0, switchover c-0 a-0, gate c-0, delete c-0"
    assert roll(install, fake) == actions(expected)


@pytest.mark.parametrize(
    ("trouble", "why"),
    [
        ({"streaming": False}, "a-0 does not stream from the leader"),
        ({"lag": 2 * 1048576}, "a-0 lags 2097152 bytes (at most 1048576)"),
        ({"state": "starting"}, "a-0 is starting"),
    ],
)
def test_an_unhealthy_member_stops_the_rollout_before_anything_goes_down(
    install: Any, trouble: dict[str, Any], why: str
) -> None:
    fake = FakeCluster(ASYNC)
    fake.members["a-0"].revision = NEW  # up to date: nothing replaces it
    for field, value in trouble.items():
        setattr(fake.members["a-0"], field, value)
    with pytest.raises(members.Stop, match="before taking b-0 down") as stop:
        rollout(install, fake, step_timeout=5).run()
    assert why in str(stop.value)
    assert fake.actions == []


def test_restart_is_asked_again_while_patroni_is_busy(install: Any) -> None:
    fake = FakeCluster(ASYNC, revision=NEW)
    fake.members["b-0"].pending_restart, fake.members["b-0"].busy = True, 2
    assert roll(install, fake) == [("restart", "b-0")]
    assert fake.members["b-0"].busy == 0


def test_no_switchover_to_an_asynchronous_replica_in_synchronous_mode(install: Any) -> None:
    fake = FakeCluster(ASYNC, revision=NEW, synchronous=True)  # no member is the synchronous standby
    fake.members["c-0"].pending_restart = True
    with pytest.raises(members.Stop, match=r"^a replica to switch over to from c-0: not so after 5s \(no replica"):
        rollout(install, fake, step_timeout=5).run()
    assert fake.actions == []


# --- a lowered setting --------------------------------------------------------------------------------


def test_lowered_setting_restarts_the_primary_in_place_then_the_replicas(
    install: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeCluster(SYNC, revision=NEW, synchronous=True, lowered=True)
    for member in fake.members.values():
        member.pending_restart = True
    # the primary in place (no switchover), then the replicas again
    assert roll(install, fake) == actions("restart b-0, restart a-0, restart c-0, restart b-0, restart a-0")
    assert fake.leader() is fake.members["c-0"]
    assert "c-0: a lowered setting replicas can take only after the primary" in capsys.readouterr().out


# --- a single member ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revision", "pending", "expected"),
    [
        (OLD, False, "delete a-0"),
        (NEW, True, "restart a-0"),
        (OLD, True, "delete a-0"),  # the new pod starts with the new settings
    ],
)
def test_single_member_is_restarted_in_place_as_an_outage(
    install: Any, capsys: pytest.CaptureFixture[str], revision: str, pending: bool, expected: str
) -> None:
    fake = FakeCluster({"a-0": "leader"}, revision=revision)
    fake.members["a-0"].pending_restart = pending
    assert roll(install, fake) == actions(expected)
    out = capsys.readouterr().out
    assert "a-0: the only member; restarting it takes the cluster down until it is back" in out
    assert "switchover" not in out


def test_single_member_down_and_outdated_is_replaced(install: Any) -> None:
    """The only member crashes with its old template (Patroni does not answer): the new one replaces it."""
    fake = FakeCluster({"a-0": "leader"})
    fake.members["a-0"].state, fake.members["a-0"].api = "crashed", False
    assert roll(install, fake) == [("delete", "a-0")]


# --- the StatefulSets must carry this Job's revisions -------------------------------------------------


def test_statefulset_without_the_expected_revision_stops_the_rollout(install: Any) -> None:
    fake = FakeCluster(SYNC)
    fake.templates["b"] = OLD
    with pytest.raises(members.Stop, match=r"^StatefulSet b with template revision r-new .*not so after 5s") as stop:
        rollout(install, fake, step_timeout=5).run()
    assert "it carries r-old" in str(stop.value)
    assert fake.actions == []


def test_statefulset_missing_stops_the_rollout(install: Any) -> None:
    fake = FakeCluster(SYNC)
    del fake.templates["a"]
    with pytest.raises(members.Stop, match=r"^StatefulSet a with template revision r-new .*it carries None"):
        rollout(install, fake, step_timeout=5).run()
    assert fake.actions == []


# --- parse_revisions and main ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "hippo-a/hippo-a-0=0123 hippo-b/hippo-b-0=4567",
            {("hippo-a", "hippo-a-0"): "0123", ("hippo-b", "hippo-b-0"): "4567"},
        ),
        (" hippo-a/hippo-a-0=0123\n", {("hippo-a", "hippo-a-0"): "0123"}),
        ("", {}),
        (None, {}),
    ],
)
def test_parse_revisions(value: str | None, expected: dict[tuple[str, str], str]) -> None:
    environ = {} if value is None else {"PGRENDER_MEMBER_REVISIONS": value}
    assert members.parse_revisions(environ) == expected


ROLL = ["roll", "--loop-wait=10", "--max-lag-bytes=1048576", "--step-timeout=900"]


@pytest.mark.parametrize(("stop", "status"), [(True, 1), (False, 0)])
def test_main_roll(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stop: bool, status: int
) -> None:
    seen: list[Any] = []

    class Rollout:
        def __init__(self, patroni: Any, kube: Any, revisions: Any, args: argparse.Namespace) -> None:
            seen.append((patroni, kube, revisions, args.step_timeout))

        def run(self) -> None:
            if stop:
                raise members.Stop("b-0 back, running and streaming: not so after 900s (b-0 is starting)")

    monkeypatch.setattr(members, "Patroni", lambda environ: "patroni")
    monkeypatch.setattr(members, "Kubernetes", lambda environ: "kube")
    monkeypatch.setattr(members, "Rollout", Rollout)
    monkeypatch.setenv("PGRENDER_MEMBER_REVISIONS", "b/b-0=0123")
    assert members.main(ROLL) == status
    assert seen == [("patroni", "kube", {("b", "b-0"): "0123"}, "900")]
    out = capsys.readouterr().out
    if stop:
        assert out.startswith("roll stopped: b-0 back, running and streaming: not so after 900s (b-0 is starting)\n")
        assert "the Job's next attempt carries on from here" in out
    else:
        assert out == ""


# --- configure ---------------------------------------------------------------------------------------


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    path = tmp_path / "patroni-dynamic.json"
    path.write_text(json.dumps({"synchronous_mode": True, "postgresql": {"parameters": {"work_mem": "8MB"}}}))
    return path


@pytest.mark.parametrize("first_answers", [True, False])
def test_configure_unchanged_puts_nothing(
    install: Any, capsys: pytest.CaptureFixture[str], desired: Path, first_answers: bool
) -> None:
    fake = FakeCluster(SYNC, revision=NEW)
    fake.config = json.loads(desired.read_text())
    fake.members["a-0"].api = first_answers
    patroni, _ = install(fake)
    members.configure(patroni, str(desired))
    assert fake.actions == []
    assert not Path(members.CHANGED_MARK).exists()
    assert "patroni dynamic configuration: unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("first_answers", [True, False])
def test_configure_changed_puts_and_marks(
    install: Any, capsys: pytest.CaptureFixture[str], desired: Path, first_answers: bool
) -> None:
    fake = FakeCluster(SYNC, revision=NEW)
    fake.members["a-0"].api = first_answers
    patroni, _ = install(fake)
    members.configure(patroni, str(desired))
    assert fake.actions == [("put-config", json.dumps(json.loads(desired.read_text()), sort_keys=True))]
    assert fake.config == json.loads(desired.read_text())
    assert float(Path(members.CHANGED_MARK).read_text()) == fake.now
    assert "patroni dynamic configuration: updated" in capsys.readouterr().out


def test_configure_stops_when_no_member_answers(install: Any, desired: Path) -> None:
    fake = FakeCluster(SYNC, revision=NEW)
    for member in fake.members.values():
        member.api = False
    patroni, _ = install(fake)
    with pytest.raises(members.Stop, match="no Patroni member answered: c-0: connection refused"):
        members.configure(patroni, str(desired))
    assert fake.actions == []
    assert not Path(members.CHANGED_MARK).exists()


def test_settle_waits_for_every_member_after_a_change(install: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """After `configure` changed the configuration, roll waits two Patroni loops before it looks."""
    fake = FakeCluster(SYNC, revision=NEW)
    run = rollout(install, fake)
    Path(members.CHANGED_MARK).write_text(str(fake.now - 5))
    run.run()
    assert fake.now >= 1000 - 5 + 2 * 10 + 1
    assert "waiting 16s for every member to apply the new configuration" in capsys.readouterr().out


# --- spec.patroni.switchover: once for each run --------------------------------------------------


class FakeRecord:
    """Table pgrender.switchovers in memory: run -> [leader it started from, done]."""

    def __init__(self, rows: dict[int, list[Any]] | None = None) -> None:
        self.rows = rows or {}

    def started(self, run: int, leader: str) -> tuple[str, bool]:
        self.rows.setdefault(run, [leader, False])
        return self.rows[run][0], self.rows[run][1]

    def done(self, run: int) -> None:
        self.rows[run][1] = True


CURRENT = {"a-0": "replica", "b-0": "replica", "c-0": "leader"}  # every member on its template already

# (roles, synchronous, target, what the table holds of run 1 first) -> actions, the leader after it
SWITCHOVERS = [
    (CURRENT, False, "a-0", None, "switchover c-0 a-0", "a-0"),
    (CURRENT, False, None, None, "switchover c-0 a-0", "a-0"),  # an up-to-date replica
    (CURRENT, False, "c-0", None, "", "c-0"),  # it leads already
    (CURRENT, False, "a-0", ["c-0", True], "", "c-0"),  # made before: not twice
    (CURRENT, False, None, ["b-0", False], "", "c-0"),  # stopped after the switchover, before the mark
    (SYNC, True, None, None, "switchover c-0 a-0", "a-0"),  # the synchronous standby
]  # fmt: skip


@pytest.mark.parametrize(("roles", "synchronous", "target", "row", "expected", "leader"), SWITCHOVERS)
def test_planned_switchover(
    install: Any,
    roles: dict[str, str],
    synchronous: bool,
    target: str | None,
    row: list[Any] | None,
    expected: str,
    leader: str,
) -> None:
    fake = FakeCluster(roles, revision=NEW, synchronous=synchronous)
    record = FakeRecord({1: row} if row else {})
    members.planned_switchover(rollout(install, fake), record, 1, target)  # type: ignore[arg-type]
    assert fake.actions == actions(expected)
    assert fake.leader() is not None and fake.leader().name == leader  # type: ignore[union-attr]
    assert record.rows[1][1] is True  # marked done


def test_a_switchover_to_an_asynchronous_replica_in_synchronous_mode_is_refused(install: Any) -> None:
    fake = FakeCluster(SYNC, revision=NEW, synchronous=True)
    record = FakeRecord()
    with pytest.raises(members.Stop, match="only to the synchronous standby, not b-0"):
        members.planned_switchover(rollout(install, fake), record, 1, "b-0")  # type: ignore[arg-type]
    assert fake.actions == [] and record.rows[1] == ["c-0", False]  # a later Job tries again


def test_no_switchover_while_another_member_is_down(install: Any) -> None:
    fake = FakeCluster(CURRENT, revision=NEW)
    fake.members["b-0"].state = "stopped"
    with pytest.raises(members.Stop, match="b-0 is stopped"):
        members.planned_switchover(rollout(install, fake, step_timeout=5), FakeRecord(), 1, "a-0")  # type: ignore[arg-type]
    assert fake.actions == []


@pytest.mark.parametrize("leader", ["c-0", "c-0'; DROP TABLE x; --"])
def test_the_record_takes_only_pod_names(monkeypatch: pytest.MonkeyPatch, leader: str) -> None:
    queries: list[str] = []
    record = members.Record("psql", 5)
    monkeypatch.setattr(record, "sql", lambda query: queries.append(query) or "c-0|f")
    if "'" in leader:
        with pytest.raises(members.Stop, match="not a pod name"):
            record.started(1, leader)
        assert queries == []
    else:
        assert record.started(1, leader) == ("c-0", False)
        assert "VALUES (1, 'c-0') ON CONFLICT (run) DO NOTHING" in queries[1]
