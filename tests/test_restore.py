"""spec.restore: the cluster's data restored in place from its own repository. What is refused, what
the rendering changes (and nothing else), the bootstrap command's shell run for real with a stand-in
pgbackrest, and the restore guard's decisions and steps (member_scripts/restore.py) against an
in-memory DCS. The restore with real processes (Patroni, etcd, PostgreSQL, pgBackRest, an S3 store) is
tests/runtime/test_restore_in_place.py; `pgrender diff`'s findings are golden/diff-restore*."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender import changes, write
from pgrender.changes import leaves
from pgrender.errors import ChangeRefusedError, SpecError
from pgrender.member_scripts import restore, upgrade
from pgrender.member_scripts.restore import decide
from pgrender.member_scripts.upgrade import Facts
from pgrender.plan.labels import RESTORE_RUN_ANNOTATION
from pgrender.plans import validate
from pgrender.pod import SYNC_WAVE
from pgrender.render import Request, render
from tests.conftest import GOLDEN_KEY, rendered_by_name

R = "spec.restore"
GOLDEN = Path(__file__).parent.parent / "golden"
SPEC = GOLDEN / "restore-in-place" / "spec.yaml"


def golden_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    spec["spec"].update(changes)
    return spec


S3 = {"bucket": "other-backups", "endpoint": "s3.example.com", "region": "r", "keyType": "web-id"}
# (the spec's changes) -> the problem's path, what it says
REFUSED = [
    ({"backups": None}, f"{R}.repo", "'repo1' is not a repository of spec.backups.repos (have none)"),
    ({"restore": {"repo": "repo2", "run": 1}}, f"{R}.repo", "(have repo1)"),
    ({"restore": {"repo": "repo1"}}, f"{R}.run", "required"),
    ({"restore": {"repo": "repo1", "run": 0}}, f"{R}.run", "expected a number of at least 1"),
    ({"restore": {"repo": "repo1", "run": 1, "targetName": "a", "targetXid": 5}}, R, "one target"),
    ({"standby": {"fromCluster": {"cluster": "source"}}}, R, "restore the source"),
    ({"upgrade": {"fromVersion": 15}}, R, "one at a time"),
    ({"bootstrap": {"fromCluster": {"cluster": "source"}}}, R, "remove spec.bootstrap first"),
    ({"bootstrap": {"fromBackup": {"cluster": "old", "repo": {"name": "repo1", "s3": S3}}}}, R, "remove spec.boot"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "path", "says"), REFUSED)
def test_refused(write_spec: Callable[..., Any], changes: dict[str, Any], path: str, says: str) -> None:
    spec = golden_spec(**changes)
    spec["spec"] = {k: v for k, v in spec["spec"].items() if v is not None}
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    assert [(p.path, says in p.message) for p in exc.value.problems] == [(path, True)], exc.value.problems


# ----------------------------------------------------------------------------------------------
# The rendering: what spec.restore changes, and nothing else
# ----------------------------------------------------------------------------------------------


def objects(tmp_path: Path, restoring: bool) -> dict[tuple[str, str], dict[str, Any]]:
    spec = golden_spec()
    if not restoring:
        del spec["spec"]["restore"]
    return rendered_by_name(spec, tmp_path / f"restore-{restoring}.yaml")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[Any, Any], dict[Any, Any]]:
    tmp = tmp_path_factory.mktemp("restore")
    return objects(tmp, False), objects(tmp, True)


def member(objs: dict[Any, Any], n: int) -> dict[str, Any]:
    return objs[("StatefulSet", f"hippo-instance1-{n}")]  # type: ignore[no-any-return]


def test_the_members_run_the_guard_before_the_copy_guard(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    plain, restoring = both
    command = member(restoring, 0)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "python3",
        "/etc/patroni/restore.py",
        "--run=1",
        "--bin=/usr/lib/postgresql/16/bin",
        "--data=/pgdata/pg16",
        "--wal=/pgwal/pg16_wal",
        "--set-aside=.delta",
        "--restored-file=pgrender_restored",
        "--members=hippo-instance1-0-0,hippo-instance1-1-0",
        "--",  # then what every member runs
        *member(plain, 0)["spec"]["template"]["spec"]["containers"][0]["command"],
    ]
    config = restoring[("ConfigMap", "hippo-config")]["data"]
    assert config["restore.py"] == Path(restore.__file__).read_text()
    assert config["upgrade.py"] == Path(upgrade.__file__).read_text()  # whose helpers it imports
    assert "restore.py" not in plain[("ConfigMap", "hippo-config")]["data"]


def bootstrap_command(objs: dict[Any, Any]) -> str:
    bootstrap = yaml.safe_load(objs[("ConfigMap", "hippo-config")]["data"]["bootstrap.yaml"])["bootstrap"]
    assert bootstrap["method"] == "pgbackrest" and bootstrap["pgbackrest"]["keep_existing_recovery_conf"] is True
    return str(bootstrap["pgbackrest"]["command"])


def test_the_bootstrap_restores_with_delta_to_the_target(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    words = shlex.split(bootstrap_command(both[1]))
    assert words[:4] == ["sh", "-c", 'touch -- "$0" && "$@" && rm -f -- "$0"', "/pgdata/pg16.bootstrapping"]
    assert words[4:6] == ["sh", "-c"] and words[7:11] == [".delta", "/pgdata/pg16", "/pgwal/pg16_wal", "1"]
    assert words[11:] == [
        "pgbackrest",
        "--stanza=db",
        "--repo=1",
        "--delta",
        "--link-map=pg_wal=/pgwal/pg16_wal",
        "--type=name",
        "--target=before-the-migration",
        "--target-action=promote",
        "restore",
    ]


def test_only_what_the_restore_needs_changes(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    """Beside the guard and the bootstrap: one sync wave, the annotation diff reads, and no pgBackRest
    replica method (the repository's latest backup may be of the history the restore leaves)."""
    plain, restoring = both
    renamed = {("Job", "hippo-reconcile-")}

    def family(key: tuple[str, str]) -> tuple[str, str]:
        prefix = next((p for k, p in renamed if key[0] == k and key[1].startswith(p)), None)
        return (key[0], prefix) if prefix else key

    plain_by, restoring_by = ({family(k): v for k, v in o.items()} for o in (plain, restoring))
    assert plain_by.keys() == restoring_by.keys()
    changed = {
        (key, ".".join(str(p) for p in path[:3]))
        for key in sorted(plain_by)
        for path, _, _ in leaves(plain_by[key], restoring_by[key])
    }
    assert changed == {
        (("StatefulSet", "hippo-instance1-0"), "spec.template.spec"),  # the command
        (("StatefulSet", "hippo-instance1-0"), "spec.template.metadata"),  # the config digest
        (("StatefulSet", "hippo-instance1-0"), f"metadata.annotations.{RESTORE_RUN_ANNOTATION}"),
        (("StatefulSet", "hippo-instance1-1"), "spec.template.spec"),
        (("StatefulSet", "hippo-instance1-1"), "spec.template.metadata"),
        (("StatefulSet", "hippo-instance1-1"), f"metadata.annotations.{RESTORE_RUN_ANNOTATION}"),
        (("StatefulSet", "hippo-instance1-1"), f"metadata.annotations.{SYNC_WAVE}"),
        (("ConfigMap", "hippo-config"), "data.bootstrap.yaml"),
        (("ConfigMap", "hippo-config"), "data.patroni.yaml"),
        (("ConfigMap", "hippo-config"), "data.restore.py"),
        (("ConfigMap", "hippo-config"), "data.upgrade.py"),
        (("Job", "hippo-reconcile-"), "metadata.name"),
        (("Job", "hippo-reconcile-"), "spec.template.spec"),  # the members' new template revisions
    }, changed
    patroni = yaml.safe_load(restoring[("ConfigMap", "hippo-config")]["data"]["patroni.yaml"])
    assert "create_replica_methods" not in patroni["postgresql"]
    assert (
        "create_replica_methods"
        in yaml.safe_load(plain[("ConfigMap", "hippo-config")]["data"]["patroni.yaml"])["postgresql"]
    )
    waves = {member(restoring, n)["metadata"]["annotations"][SYNC_WAVE] for n in (0, 1)}
    assert len(waves) == 1 and waves == {member(plain, 0)["metadata"]["annotations"][SYNC_WAVE]}


def rendered_files(tmp_path: Path, name: str, **changes: Any) -> dict[str, str]:
    spec = golden_spec(**changes)
    spec["spec"] = {k: v for k, v in spec["spec"].items() if v is not None}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return write.files(render(Request((str(path),), key_file=str(GOLDEN_KEY))))


def test_the_guard_refuses_a_restore_of_members_that_run(tmp_path: Path) -> None:
    """What `render --write` refuses whatever is acknowledged (restore-running); shut down first, or in
    the same change, it is a risk to acknowledge (restore:<run>)."""
    running = rendered_files(tmp_path, "running", restore=None)
    restoring = rendered_files(tmp_path, "restoring")
    with pytest.raises(ChangeRefusedError, match="restore-running:1"):
        changes.guard(running, restoring)
    stopped = rendered_files(tmp_path, "stopped", restore=None, shutdown=True)
    changes.guard(stopped, restoring)
    both = rendered_files(tmp_path, "both", shutdown=True)
    changes.guard(running, both)
    ids = [f.id for f in changes.changes(stopped, restoring).findings if f.id]
    assert ids == ["restore:1"]
    again = rendered_files(tmp_path, "again", restore={"repo": "repo1", "run": 2, "targetImmediate": True})
    assert [f.id for f in changes.changes(stopped, again).findings if f.id] == ["restore:2"]
    assert [f.id for f in changes.changes(restoring, restoring).findings if f.id] == []


# ----------------------------------------------------------------------------------------------
# The bootstrap command's shell, run for real (a stand-in pgbackrest)
# ----------------------------------------------------------------------------------------------


def put_back(tmp_path: Path, pgbackrest_exit: int) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """The rendered PUT_BACK shell around a stand-in pgbackrest that records where it ran, with the
    data and WAL directories of tmp_path."""
    data, wal = tmp_path / "pg16", tmp_path / "pg16_wal"
    tool = tmp_path / "pgbackrest"
    tool.write_text(
        f'#!/bin/sh\nls "{data}" > "{tmp_path}/seen"; echo "$@" >> "{tmp_path}/seen"; exit {pgbackrest_exit}\n'
    )
    tool.chmod(0o755)
    from pgrender.plan.restore import PUT_BACK, SET_ASIDE

    command = ["sh", "-c", PUT_BACK, SET_ASIDE, str(data), str(wal), "7", str(tool), "--delta", "restore"]
    return data, wal, subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_directories_set_aside_are_put_back_then_restored_into(tmp_path: Path) -> None:
    (tmp_path / "pg16.delta").mkdir()
    (tmp_path / "pg16.delta" / "PG_VERSION").write_text("16")
    (tmp_path / "pg16_wal.delta").mkdir()
    (tmp_path / "pg16").mkdir()  # what Patroni or a restore that stopped left in its place
    (tmp_path / "pg16" / "partial").write_text("")
    data, wal, done = put_back(tmp_path, 0)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "seen").read_text() == "PG_VERSION\n--delta restore\n"  # the kept files, in place
    assert (data / "pgrender_restored").read_text() == "7\n" and wal.is_dir()
    assert not (tmp_path / "pg16.delta").exists() and not (tmp_path / "pg16_wal.delta").exists()


def test_a_failed_restore_records_no_run(tmp_path: Path) -> None:
    (tmp_path / "pg16").mkdir()
    data, _, done = put_back(tmp_path, 1)
    assert done.returncode == 1 and not (data / "pgrender_restored").exists()


# ----------------------------------------------------------------------------------------------
# The guard's decisions
# ----------------------------------------------------------------------------------------------

A, B, C = "hippo-0", "hippo-1", "hippo-2"


def stopped(timeline: int = 1, checkpoint: int = 100, state: str = "shut down") -> Facts:
    return Facts("7000", state, timeline, checkpoint, True)


def replica(timeline: int = 1, checkpoint: int = 90) -> Facts:
    return stopped(timeline, checkpoint, "shut down in recovery")


# (member deciding, published, leader, the leader's timeline, a bootstrap under way) -> action, part of its reason
DECISIONS = [
    (A, {A: stopped(), B: replica(), C: replica()}, None, None, False, "restore", "holds the latest data"),
    (B, {A: stopped(), B: replica(), C: replica()}, None, None, False, "wait", "hippo-0 holds the cluster's latest"),
    (A, {A: stopped(), B: replica()}, None, None, False, "wait", "waiting for hippo-2 to start"),
    # the latest data restores fastest (the most files match), whatever its state; then the primary's; then the order
    (B, {A: stopped(1, 100), B: replica(2, 50), C: None}, None, None, False, "restore", "timeline 2"),
    (C, {A: replica(1, 100), B: replica(1, 200), C: stopped(1, 200)}, None, None, False, "restore", "checkpoint 200"),
    (A, {A: replica(), B: replica(), C: replica()}, None, None, False, "restore", "holds the latest data"),
    (C, {A: None, B: stopped(), C: None}, None, None, False, "wait", "hippo-1 holds"),
    (A, {A: None, B: None, C: None}, None, None, False, "restore", "no member holds data"),
    (B, {A: None, B: None, C: None}, None, None, False, "wait", "hippo-0 holds"),
    # a member restores: the others wait for it to lead, then follow it
    (B, {B: replica()}, None, None, True, "wait", "a bootstrap is under way"),
    (B, {B: replica()}, A, 2, False, "follow", "the history the restore left"),
    (C, {C: None}, A, None, False, "start", "holds no data: Patroni copies it"),
    (B, {B: replica()}, A, None, False, "wait", "does not say on which timeline"),
    # a leader on this member's timeline: the cluster runs, and nothing is restored
    (B, {B: replica()}, A, 1, False, "start", "the cluster was not shut down"),
]  # fmt: skip


@pytest.mark.parametrize(("me", "published", "leader", "timeline", "bootstrapping", "action", "says"), DECISIONS)
def test_decide(
    me: str,
    published: dict[str, Facts | None],
    leader: str | None,
    timeline: int | None,
    bootstrapping: bool,
    action: str,
    says: str,
) -> None:
    decision = decide(me, (A, B, C), published, leader, timeline, bootstrapping)
    assert (decision.action, says in decision.reason) == (action, True), decision


# ----------------------------------------------------------------------------------------------
# The guard's steps, with the directories and the DCS standing in
# ----------------------------------------------------------------------------------------------


class FakeStore:
    """The DCS for one run: what each member published, the initialize key, the leader and its timeline."""

    def __init__(
        self, published: dict[str, Facts | None], initialize: str | None = "7000", leader: str | None = None
    ) -> None:
        self.published, self.initialize, self.leader = published, initialize, leader
        self.leader_timeline: int | None = 2
        self.calls: list[str] = []
        self.after_look: Callable[[FakeStore], None] = lambda store: None

    def look_for_run(self) -> tuple[dict[str, Facts | None], str | None, str | None]:
        answer = dict(self.published), self.initialize, self.leader
        self.after_look(self)
        return answer

    def publish(self, facts: Facts | None) -> None:
        self.calls.append(f"publish {facts.state if facts else None}")

    def timeline(self, name: str) -> int | None:
        return self.leader_timeline

    def make_room_for_bootstrap(self) -> None:
        self.calls.append("make room")
        self.initialize = None


class FakeMember(restore.Member):
    """The member's directories under tmp_path (a data volume, a WAL volume); pg_controldata stands in."""

    def __init__(self, root: Path, name: str, facts: Facts | None, restored: int | None = None) -> None:
        (root / "data").mkdir()
        (root / "wal").mkdir()
        args = argparse.Namespace(
            name=name,
            run=1,
            bin="/bin",
            data=str(root / "data" / "pg16"),
            wal=str(root / "wal" / "pg16_wal"),
            set_aside=".delta",
            restored_file="pgrender_restored",
        )
        super().__init__(args)
        self.known = facts
        if facts:
            (Path(self.data) / "global").mkdir(parents=True)
            (Path(self.data) / "global" / "pg_control").write_text("")
            (Path(self.data) / "postmaster.pid").write_text("")  # a crash's
            Path(self.wal).mkdir()
            (Path(self.wal) / "000000010000000000000001").write_text("")
        if restored is not None:
            Path(self.data).mkdir(exist_ok=True)
            Path(self.restored_file).write_text(f"{restored}\n")

    def facts(self) -> Facts | None:
        return self.known if upgrade.has_cluster(self.data) else None


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restore.time, "sleep", lambda seconds: None)


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_the_latest_data_is_set_aside_and_the_dcs_made_ready_for_the_bootstrap(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, A, stopped())
    store = FakeStore({B: replica(), C: None})
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == ["publish shut down", "make room"]
    assert listing(tmp_path) == [
        "data",
        "data/pg16.delta",
        "data/pg16.delta/global",
        "data/pg16.delta/global/pg_control",  # the stale postmaster.pid went: pgBackRest refuses one
        "data/pg16.restoring",
        "wal",
        "wal/pg16_wal.delta",
        "wal/pg16_wal.delta/000000010000000000000001",
    ]


def test_the_others_wait_for_the_restored_leader_then_are_copied_anew(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, B, replica())
    store = FakeStore({A: stopped(), C: replica()})
    looks = iter(range(4))

    def leads_on_the_fourth_look(store: FakeStore) -> None:
        if next(looks, 4) == 1:
            store.initialize = ""  # hippo-0 bootstraps
        if next(looks, 4) == 3:
            store.initialize, store.leader = "7000", A

    store.after_look = leads_on_the_fourth_look
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert "make room" not in store.calls
    assert listing(tmp_path) == ["data", "data/pg16", "wal", "wal/pg16_wal"]  # emptied, kept


def test_data_that_holds_the_run_starts_as_it_is(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, B, replica(3), restored=1)
    Path(me.marker).write_text('{"run": 1}')
    store = FakeStore({}, leader=None)  # the cluster stopped again: no leader, nobody publishes
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == [] and upgrade.has_cluster(me.data) and not os.path.exists(me.marker)


def test_another_runs_data_is_restored_again(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, A, stopped(), restored=0)
    restore.guard(me, FakeStore({B: replica(), C: replica()}), (A, B, C))  # type: ignore[arg-type]
    assert os.path.isdir(me.data + ".delta") and not os.path.exists(me.data)


def test_stopped_after_it_took_the_restore_on_it_carries_on(tmp_path: Path) -> None:
    """The restore (put back, pgbackrest) was under way: what is in the data directory now goes, the
    directory set aside stays for the next delta restore; no member is asked again."""
    me = FakeMember(tmp_path, A, None)
    Path(me.marker).write_text('{"run": 1}')
    Path(me.data + ".delta").mkdir()
    Path(me.data).mkdir()
    (Path(me.data) / "base").mkdir()
    store = FakeStore({}, initialize="")
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == ["make room"]
    assert listing(tmp_path) == ["data", "data/pg16.delta", "data/pg16.restoring", "wal"]


def test_a_restore_that_failed_is_taken_back_for_the_next(tmp_path: Path) -> None:
    """Patroni renamed the directories of a bootstrap that failed .failed (recovery did not reach the
    target): they become the directories set aside, so the next attempt is a delta restore again."""
    me = FakeMember(tmp_path, A, None, restored=1)  # the run was written before recovery failed
    os.rename(me.data, me.data + ".failed")
    Path(me.wal + ".failed").mkdir()
    Path(me.marker).write_text('{"run": 1}')
    store = FakeStore({}, initialize=None)
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert listing(tmp_path) == [
        "data",
        "data/pg16.delta",
        "data/pg16.delta/pgrender_restored",
        "data/pg16.restoring",
        "wal",
        "wal/pg16_wal.delta",
    ]


def test_a_member_of_a_cluster_that_was_not_shut_down_starts_as_it_is(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, B, replica(2))
    store = FakeStore({}, leader=A)
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == [] and upgrade.has_cluster(me.data)


def test_what_a_run_given_up_left_goes_when_another_member_restores(tmp_path: Path) -> None:
    """Run 2 failed on this member (its data set aside, its marker); run 3 is restored by another: this
    member, without data, copies the leader, and the directories and marker of run 2 go."""
    me = FakeMember(tmp_path, A, None)
    Path(me.marker).write_text('{"run": 2}')
    Path(me.data + ".delta").mkdir()
    Path(me.wal + ".failed").mkdir()
    store = FakeStore({}, leader=B)
    restore.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == [] and listing(tmp_path) == ["data", "wal"]
