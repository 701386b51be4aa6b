"""spec.upgrade: an in-place major version upgrade. What is refused, what the rendering changes (and
nothing else), and the upgrade guard's decisions and steps (member_scripts/upgrade.py) against an
in-memory DCS. The upgrade with real processes (Patroni, etcd, PostgreSQL 15 and 17, pgBackRest) is
tests/runtime/test_upgrade.py; `pgrender diff`'s findings are golden/diff-upgrade*."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from pgrender.changes import leaves
from pgrender.errors import SpecError
from pgrender.member_scripts import liveness, upgrade
from pgrender.member_scripts.upgrade import Facts, decide
from pgrender.plans import validate
from pgrender.pod import SYNC_WAVE
from tests.conftest import base_spec, rendered_by_name
from tests.self_signed import self_signed

U = "spec.upgrade"


def with_upgrade(version: int = 17, **upgrade_fields: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["postgresVersion"] = version
    spec["spec"]["upgrade"] = upgrade_fields
    return spec


# (the spec's changes, upgrade's fields) -> the problem's path, what it says
REFUSED = [
    ({}, {"fromVersion": 17}, f"{U}.fromVersion", "below postgresVersion (17)"),
    ({"postgresVersion": 15}, {"fromVersion": 16}, f"{U}.fromVersion", "below postgresVersion (15)"),
    ({}, {"fromVersion": 13}, f"{U}.fromVersion", "14, 15, 16 or 17"),
    ({}, {}, f"{U}.fromVersion", "required"),
    ({"standby": {"fromCluster": {"cluster": "source"}}}, {"fromVersion": 16}, U, "upgrade the source"),
    ({"bootstrap": {"fromCluster": {"cluster": "source"}}}, {"fromVersion": 16}, U, "remove spec.bootstrap first"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "fields", "path", "says"), REFUSED)
def test_refused(
    write_spec: Callable[..., Any], changes: dict[str, Any], fields: dict[str, Any], path: str, says: str
) -> None:
    spec = with_upgrade(**fields)
    spec["spec"].update(changes)
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    assert [(p.path, says in p.message) for p in exc.value.problems] == [(path, True)], exc.value.problems


# ----------------------------------------------------------------------------------------------
# The rendering: what spec.upgrade changes, and nothing else
# ----------------------------------------------------------------------------------------------


def objects(tmp_path: Path, upgrading: bool) -> dict[tuple[str, str], dict[str, Any]]:
    """golden/upgrade/spec.yaml (two members, a WAL volume, an S3 repository), with or without its upgrade."""
    spec = yaml.safe_load((Path(__file__).parent.parent / "golden" / "upgrade" / "spec.yaml").read_text())
    if not upgrading:
        del spec["spec"]["upgrade"]
    return rendered_by_name(spec, tmp_path / f"upgrade-{upgrading}.yaml")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[Any, Any], dict[Any, Any]]:
    tmp = tmp_path_factory.mktemp("upgrade")
    return objects(tmp, False), objects(tmp, True)


def member(objs: dict[Any, Any], n: int) -> dict[str, Any]:
    return objs[("StatefulSet", f"hippo-instance1-{n}")]  # type: ignore[no-any-return]


def test_the_members_run_the_guard_before_patroni(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    _, upgrading = both
    command = member(upgrading, 0)["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "python3",
        "/etc/patroni/upgrade.py",
        "--old-bin=/usr/lib/postgresql/16/bin",
        "--new-bin=/usr/lib/postgresql/17/bin",
        "--old-data=/pgdata/pg16",
        "--new-data=/pgdata/pg17",
        "--old-wal=/pgwal/pg16_wal",
        "--new-wal=/pgwal/pg17_wal",
        "--new-version=17",
        "--superuser=postgres",
        "--members=hippo-instance1-0-0,hippo-instance1-1-0",
        "--",  # then what a member runs that does not upgrade: the WAL mover, the copy guard, then Patroni
        "python3",
        "/etc/patroni/wal_volume.py",
        "/pgdata/pg17",
        "/pgwal/pg17_wal",
        "--",
        "python3",
        "/etc/patroni/copy_guard.py",
        "/pgdata/pg17.bootstrapping",
        "/pgdata/pg17.copying",
        "/pgdata/pg17",
        "/pgwal/pg17_wal",
        "--",
        "patroni",
        "/etc/patroni",
    ]
    config = upgrading[("ConfigMap", "hippo-config")]["data"]
    assert config["upgrade.py"] == (Path(upgrade.__file__)).read_text()


def test_only_what_the_upgrade_needs_changes(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    """Beside the guard: one sync wave, the annotation diff reads, no pgBackRest replica method, the
    backup script's stanza-upgrade (so the init Job's name and the CronJob's digest), the reconcile
    Job's ANALYZE."""
    plain, upgrading = both
    renamed = {("Job", "hippo-repo1-init-"), ("Job", "hippo-reconcile-")}

    def family(key: tuple[str, str]) -> tuple[str, str]:
        prefix = next((p for k, p in renamed if key[0] == k and key[1].startswith(p)), None)
        return (key[0], prefix) if prefix else key

    plain_by, upgrading_by = ({family(k): v for k, v in o.items()} for o in (plain, upgrading))
    assert plain_by.keys() == upgrading_by.keys()
    changed = {
        (key, ".".join(str(p) for p in path[:3]))
        for key in sorted(plain_by)
        for path, _, _ in leaves(plain_by[key], upgrading_by[key])
    }
    assert changed == {
        (("StatefulSet", "hippo-instance1-0"), "spec.template.spec"),  # the command
        (("StatefulSet", "hippo-instance1-0"), "spec.template.metadata"),  # the config digest
        (("StatefulSet", "hippo-instance1-0"), f"metadata.annotations.{upgrade_annotation()}"),
        (("StatefulSet", "hippo-instance1-1"), "spec.template.spec"),
        (("StatefulSet", "hippo-instance1-1"), "spec.template.metadata"),
        (("StatefulSet", "hippo-instance1-1"), f"metadata.annotations.{upgrade_annotation()}"),
        (("StatefulSet", "hippo-instance1-1"), f"metadata.annotations.{SYNC_WAVE}"),
        (("ConfigMap", "hippo-config"), "data.patroni.yaml"),
        (("ConfigMap", "hippo-config"), "data.upgrade.py"),
        (("ConfigMap", "hippo-pgbackrest-jobs"), "data.backup.sh"),
        (("ConfigMap", "hippo-reconcile"), "data.reconcile.sh"),
        (("Job", "hippo-repo1-init-"), "metadata.name"),
        (("CronJob", "hippo-repo1-full"), "spec.jobTemplate.spec"),  # the scripts' digest
        (("Job", "hippo-reconcile-"), "metadata.name"),
        (("Job", "hippo-reconcile-"), "spec.template.spec"),  # the members' new template revisions
    }, changed
    waves = {member(upgrading, n)["metadata"]["annotations"][SYNC_WAVE] for n in (0, 1)}
    assert len(waves) == 1 and waves == {member(plain, 0)["metadata"]["annotations"][SYNC_WAVE]}


def upgrade_annotation() -> str:
    from pgrender.plan.labels import UPGRADE_FROM_ANNOTATION

    return UPGRADE_FROM_ANNOTATION


def test_replicas_are_copied_from_the_leader_while_upgrading(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    """The repository's latest backup is the old version's until the init Job backs up the new one."""
    plain, upgrading = both
    patroni = [yaml.safe_load(o[("ConfigMap", "hippo-config")]["data"]["patroni.yaml"]) for o in (plain, upgrading)]
    assert patroni[0]["postgresql"]["create_replica_methods"] == ["pgbackrest", "basebackup"]
    assert "create_replica_methods" not in patroni[1]["postgresql"]  # Patroni's default: basebackup


def test_the_backups_upgrade_the_stanza_and_back_up_the_new_version(
    both: tuple[dict[Any, Any], dict[Any, Any]],
) -> None:
    plain, upgrading = (o[("ConfigMap", "hippo-pgbackrest-jobs")]["data"]["backup.sh"] for o in both)
    assert "until run stanza-create; do" in plain and "stanza-upgrade" not in plain
    assert (
        'until run stanza-create || { pgbackrest --stanza=db --output=json info | python3 -c "$older_stanza" '
        "&& run stanza-upgrade; }; do" in upgrading
    )
    assert "< 17 else 1)'" in upgrading  # stanza-upgrade only from a version before the new one
    assert 'python3 -c "$current_backup"' in upgrading and "a backup of this PostgreSQL version already" in upgrading


def test_the_reconcile_job_analyzes_once(both: tuple[dict[Any, Any], dict[Any, Any]]) -> None:
    plain, upgrading = (o[("ConfigMap", "hippo-reconcile")]["data"]["reconcile.sh"] for o in both)
    assert "vacuumdb" not in plain
    added = upgrading.removeprefix(plain).splitlines()
    assert any("CREATE TABLE IF NOT EXISTS pgrender.upgrades" in line for line in added)
    assert "    /usr/lib/postgresql/17/bin/vacuumdb --all --analyze-in-stages" in added
    assert any("WHERE (from_version, to_version) = (16, 17)" in line for line in added)
    # nothing is recorded unless the primary runs the new version (an upgrade that did not happen)
    check = next(i for i, line in enumerate(added) if "current_setting('server_version_num')" in line)
    assert added[check].endswith(" != 17 ]; then") and added[check + 2] == "    exit 1"
    assert check < next(i for i, line in enumerate(added) if "CREATE TABLE IF NOT EXISTS pgrender.upgrades" in line)


def test_postgres_18_analyzes_only_what_pg_upgrade_did_not_carry(plan_of: Callable[..., Any]) -> None:
    from pgrender.components.reconcile import reconcile_script

    script = reconcile_script(plan_of(with_upgrade(18, fromVersion=16)), ["reconcile.sql"])
    assert "vacuumdb --all --analyze-in-stages --missing-stats-only" in script


# ----------------------------------------------------------------------------------------------
# The guard's decision: the same on every member, from what the members published
# ----------------------------------------------------------------------------------------------

A, B, C = "hippo-0", "hippo-1", "hippo-2"
OLD = "7000000000000000001"


def primary(timeline: int = 1, checkpoint: int = 100) -> Facts:
    return Facts(OLD, "shut down", timeline, checkpoint, True)


def replica(timeline: int = 1, checkpoint: int = 90) -> Facts:
    return Facts(OLD, "shut down in recovery", timeline, checkpoint, True)


def crashed(timeline: int, checkpoint: int) -> Facts:
    """A primary that stopped without a shutdown checkpoint."""
    return Facts(OLD, "in production", timeline, checkpoint, True)


# (member deciding, published, initialize key, leader) -> its action, part of its reason
DECISIONS = [
    (A, {A: primary(), B: replica(), C: replica()}, OLD, None, "upgrade", "stopped as the primary"),
    (B, {A: primary(), B: replica(), C: replica()}, OLD, None, "wait", "hippo-0 holds the cluster's latest data"),
    (A, {A: primary(), B: replica()}, OLD, None, "wait", "waiting for hippo-2"),
    (B, {A: primary(), B: replica(), C: None}, OLD, None, "wait", "hippo-0 holds"),
    (C, {A: primary(), B: replica(), C: None}, OLD, None, "wait", "hippo-0 holds"),
    # a failover raced the shutdown: two stopped as primaries; the later timeline has the data
    (A, {A: primary(1, 500), B: primary(2, 200), C: replica(2, 150)}, OLD, None, "wait", "hippo-1 holds"),
    (B, {A: primary(1, 500), B: primary(2, 200), C: replica(2, 150)}, OLD, None, "upgrade", "timeline 2"),
    # same timeline: the latest checkpoint, then the name, so that all decide the same
    (B, {A: primary(1, 100), B: primary(1, 300), C: replica()}, OLD, None, "upgrade", "checkpoint 300"),
    (C, {A: primary(1, 100), B: primary(1, 100), C: primary(1, 100)}, OLD, None, "upgrade", "primary"),
    (A, {A: replica(), B: replica(), C: replica()}, OLD, None, "wait", "no member's data was shut down as a primary"),
    # the primary that stopped is not the latest: another member was promoted after it (a later timeline,
    # whether that one crashed, stopped in recovery or stopped too early to have checkpointed on it), or
    # holds a later checkpoint; upgrading the stopped primary would lose what the other has
    (A, {A: primary(1, 500), B: crashed(2, 200), C: replica(1, 400)}, OLD, None, "wait", "hippo-1 may be newer"),
    (B, {A: primary(1, 500), B: crashed(2, 200), C: replica(1, 400)}, OLD, None, "wait", "upgrading hippo-0 would"),
    (A, {A: primary(1, 500), B: crashed(1, 300), C: replica(1, 400)}, OLD, None, "wait", "hippo-1: in production"),
    (A, {A: primary(1, 500), B: replica(2, 450), C: replica(1, 400)}, OLD, None, "wait", "hippo-1 may be newer"),
    (A, {A: primary(1, 500), B: replica(1, 600), C: replica(1, 400)}, OLD, None, "wait", "hippo-1 may be newer"),
    # older data beside it is no reason to wait: a primary that crashed before the failover, a replica behind
    (A, {A: primary(2, 500), B: crashed(1, 900), C: replica(2, 500)}, OLD, None, "upgrade", "stopped as the primary"),
    (A, {A: primary(), B: Facts("7999", "shut down in recovery", 1, 1, True), C: replica()}, OLD, None, "wait",
     "different systems"),
    (A, {A: primary(), B: replica(), C: replica()}, OLD, "hippo-1", "wait", "hippo-1 leads the cluster at the old"),
    (C, {C: None}, OLD, "hippo-1", "start", "holds no data of the old version"),
    (B, {A: primary(), B: replica(), C: replica()}, "7123", None, "follow", "names system 7123"),
    (B, {B: replica()}, "7123", "hippo-0", "follow", "names system 7123"),
    (C, {B: replica(), C: None}, "7123", "hippo-0", "follow", "the cluster was upgraded"),
    (C, {C: None}, OLD, None, "wait", "no member has reported data of the old version yet"),
    (A, {A: None, B: None, C: None}, None, None, "start", "the DCS holds no cluster"),
    # ... but only once every member has said so: Patroni would make a new cluster (the DCS is empty: a
    # cluster converted from elsewhere, or whose ConfigMaps went), whose initialize key would then make
    # the member with the data, still starting, remove it
    (C, {C: None}, None, None, "wait", "waiting for hippo-0, hippo-1 to start"),
    (C, {B: None, C: None}, None, None, "wait", "waiting for hippo-0 to start"),
    # no initialize key (a DCS emptied meanwhile): the data decides all the same
    (A, {A: primary(), B: replica(), C: replica()}, None, None, "upgrade", "stopped as the primary"),
]  # fmt: skip


@pytest.mark.parametrize(("me", "published", "initialize", "leader", "action", "says"), DECISIONS)
def test_decide(
    me: str, published: dict[str, Facts | None], initialize: str | None, leader: str | None, action: str, says: str
) -> None:
    decision = decide(me, (A, B, C), published, initialize, leader, 17, 17)  # a leader here runs the new version
    assert (decision.action, says in decision.reason) == (action, True), decision


# a member without old data beside a leader: (the major version the leader runs, None: it does not say)
# -> its action, part of its reason
WITHOUT_DATA = [
    (17, "start", "hippo-1 leads at 17"),
    (15, "wait", "hippo-1 leads the cluster at PostgreSQL 15: this member, at 17 and without data, follows only"),
    (None, "wait", "its REST API does not say which PostgreSQL it runs"),
]


@pytest.mark.parametrize(("leader_major", "action", "says"), WITHOUT_DATA)
def test_a_member_without_data_follows_only_a_leader_of_the_new_version(
    leader_major: int | None, action: str, says: str
) -> None:
    """Patroni would copy the leader, whatever it runs (pg_basebackup of 17 copies a server of 15), into
    the new version's data directory, which PostgreSQL 17 then cannot start (and the guard would take it
    for the upgraded data when the container starts again)."""
    decision = decide(C, (A, B, C), {C: None}, OLD, B, leader_major, 17)
    assert (decision.action, says in decision.reason) == (action, True), decision


# pg_controldata's output (PostgreSQL 15, LC_ALL=C), as much as the guard reads
CONTROLDATA = """\
pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7714488273739725068
Database cluster state:               shut down in recovery
pg_control last modified:             Tue Dec  1 23:54:30 2026
Latest checkpoint location:           1/A7414F8
Latest checkpoint's REDO location:    0/17414F8
Latest checkpoint's TimeLineID:       3
Data page checksum version:           1
"""


def test_facts_from_pg_controldata() -> None:
    facts = upgrade.facts_of(upgrade.parse_controldata(CONTROLDATA))
    assert facts == Facts("7714488273739725068", "shut down in recovery", 3, (1 << 32) + 0xA7414F8, True)
    assert Facts.from_data(facts.as_data()) == facts
    assert Facts.from_data({"system_id": "1"}) is None and Facts.from_data(None) is None


# ----------------------------------------------------------------------------------------------
# The guard's steps, with the directories, pg_upgrade and the DCS standing in
# ----------------------------------------------------------------------------------------------


class FakeStore:
    """The DCS: what each member published, the initialize key, the leader; every call recorded."""

    def __init__(self, published: dict[str, Facts | None], initialize: str | None, leader: str | None = None) -> None:
        self.published, self.initialize, self.leader = published, initialize, leader
        self.leader_major: int | None = 17
        self.calls: list[str] = []
        self.after_look: Callable[[FakeStore], None] = lambda store: None

    def look(self) -> tuple[dict[str, Facts | None], str | None, str | None]:
        answer = dict(self.published), self.initialize, self.leader
        self.after_look(self)
        return answer

    def publish(self, facts: Facts | None) -> None:
        self.calls.append(f"publish {facts.state if facts else None}")

    def server_major(self, name: str) -> int | None:
        return self.leader_major

    def hand_over(self, system_id: str, position: int) -> None:
        self.calls.append(f"hand over {system_id} {position}")
        self.initialize = system_id


class FakeMember(upgrade.Member):
    """The member's directories under tmp_path; pg_controldata and the upgrade stand in."""

    def __init__(self, root: Path, name: str, facts: Facts | None, new_system: str | None = None) -> None:
        args = argparse.Namespace(
            name=name,
            old_bin="/old/bin",
            new_bin="/new/bin",
            old_data=str(root / "pg16"),
            new_data=str(root / "pg17"),
            old_wal=None,
            new_wal=None,
            superuser="postgres",
            new_version=17,
        )
        super().__init__(args)
        self.facts, self.new_system = facts, new_system
        self.steps: list[str] = []
        if facts:
            (root / "pg16" / "global").mkdir(parents=True)
            (root / "pg16" / "global" / "pg_control").write_text("")

    def old_facts(self) -> Facts | None:
        self.give_back_control_file()
        return self.facts if upgrade.has_cluster(self.old_data) else None

    def replay_old(self) -> None:
        assert self.facts is not None
        self.steps.append("replay")
        self.facts = dataclasses.replace(self.facts, state="shut down", checkpoint=self.facts.checkpoint + 1)

    def upgrade(self, facts: Facts) -> tuple[str, int]:
        Path(self.marker).write_text(json.dumps(facts.as_data()))  # as the real one (Member.begin)
        upgrade.remove(self.new_data)  # as the real one: a directory of an earlier attempt goes first
        (Path(self.new_data) / "global").mkdir(parents=True)
        (Path(self.new_data) / "global" / "pg_control").write_text("")
        self.steps.append("upgrade")
        assert self.new_system is not None
        return self.new_system, 123


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upgrade.time, "sleep", lambda seconds: None)


def test_the_primary_upgrades_hands_over_and_removes_its_old_data(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, A, primary(), new_system="7123")
    store = FakeStore({B: replica(), C: None}, OLD)
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert me.steps == ["upgrade"] and store.calls == ["publish shut down", "hand over 7123 123"]
    assert not Path(me.old_data).exists() and not Path(me.marker).exists() and upgrade.has_cluster(me.new_data)


def test_a_replica_waits_then_follows(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, B, replica())
    Path(me.new_data).mkdir()  # what a copy that never finished could leave
    store = FakeStore({A: primary(), C: replica()}, OLD)
    looks = iter(range(3))

    def upgraded_on_the_third_look(store: FakeStore) -> None:
        if next(looks, 3) == 2:
            store.initialize = "7123"

    store.after_look = upgraded_on_the_third_look
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == ["publish shut down in recovery"] * 4
    assert not Path(me.old_data).exists() and not Path(me.new_data).exists() and me.steps == []


def test_a_wrong_from_version_is_named_and_nothing_is_reported(tmp_path: Path) -> None:
    """fromVersion 16, but the volume holds 15's data: reported as no data, the member would let the
    others (all as wrong) take the cluster for a new one."""
    me = FakeMember(tmp_path, A, None)
    (tmp_path / "pg15").mkdir()
    (tmp_path / "pg15" / "PG_VERSION").write_text("15\n")
    store = FakeStore({}, None)
    with pytest.raises(RuntimeError) as raised:
        upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"{me.old_data} holds no cluster, but this member's data volume holds {tmp_path / 'pg15'}: "
        "spec.upgrade.fromVersion must name the version the cluster ran before; nothing was changed"
    )
    assert store.calls == [] and me.steps == []


def test_what_else_is_on_the_volume_is_no_other_version(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, A, None)
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "pg17.copying").touch()
    (tmp_path / "pg15").mkdir()  # no PG_VERSION: not a data directory
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("15\n")
    assert me.other_versions() == []


def test_upgraded_before_nothing_to_do(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, A, None)
    (Path(me.new_data) / "global").mkdir(parents=True)
    (Path(me.new_data) / "global" / "pg_control").write_text("")
    store = FakeStore({}, "7123", A)
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == [] and me.steps == []


def test_stopped_half_way_the_old_cluster_gets_its_control_file_back_and_upgrades_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = FakeMember(tmp_path, A, primary(), new_system="7124")
    control = Path(me.old_data) / "global" / "pg_control"
    control.rename(str(control) + ".old")  # pg_upgrade --link had begun to link
    Path(me.marker).write_text("")
    (Path(me.new_data) / "global").mkdir(parents=True)
    (Path(me.new_data) / "global" / "pg_control").write_text("")
    monkeypatch.setattr(upgrade, "controldata", lambda bin_dir, data_dir: {"Database system identifier": "7123"})
    monkeypatch.setattr(upgrade, "facts_of", lambda control: Facts("7123", "shut down", 1, 5, True))
    store = FakeStore({B: replica(), C: replica()}, OLD)
    # the new directory from the first attempt goes before the upgrade runs again
    original = me.upgrade

    def again(facts: Facts) -> tuple[str, int]:
        assert control.exists()
        upgrade.remove(me.new_data)
        return original(facts)

    me.upgrade = again  # type: ignore[method-assign]
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert me.steps == ["upgrade"] and store.calls[-1] == "hand over 7124 123"


def test_stopped_after_the_hand_over_only_finishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    me = FakeMember(tmp_path, A, primary())
    Path(me.marker).write_text("")
    (Path(me.new_data) / "global").mkdir(parents=True)
    (Path(me.new_data) / "global" / "pg_control").write_text("")
    monkeypatch.setattr(upgrade, "controldata", lambda bin_dir, data_dir: {})
    monkeypatch.setattr(upgrade, "facts_of", lambda control: Facts("7123", "shut down", 1, 5, True))
    store = FakeStore({B: replica()}, "7123")
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert me.steps == [] and store.calls == []
    assert not Path(me.old_data).exists() and not Path(me.marker).exists() and upgrade.has_cluster(me.new_data)


def test_stopped_while_pg_upgrade_ran_the_old_cluster_it_is_replayed_and_upgrades_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_upgrade runs the old cluster for its schema dump: a container stopped then leaves the old control
    file "in production", and no member would ever be the one to upgrade (none "shut down"). The marker
    says the data had stopped cleanly as the primary when the upgrade began: the old cluster is replayed
    and shut down again, and this member upgrades again (the others wait for it)."""
    me = FakeMember(tmp_path, A, crashed(1, 100), new_system="7124")
    Path(me.marker).write_text(json.dumps(primary(1, 100).as_data()))  # what the first attempt wrote (begin)
    (Path(me.new_data) / "global").mkdir(parents=True)
    (Path(me.new_data) / "global" / "pg_control").write_text("")
    monkeypatch.setattr(upgrade, "controldata", lambda bin_dir, data_dir: {})
    monkeypatch.setattr(upgrade, "facts_of", lambda control: Facts("7123", "shut down", 1, 5, True))
    store = FakeStore({B: replica(), C: replica()}, OLD)
    store.after_look = waits_at_most(5)
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == ["publish shut down", "hand over 7124 123"] and me.steps == ["replay", "upgrade"]


def test_a_crash_of_before_the_upgrade_is_not_replayed(tmp_path: Path) -> None:
    """Without the marker (no upgrade of this member began) a primary that crashed stays as it is: no
    member upgrades, and the log says to start the old version (which replays it) and shut it down."""
    me = FakeMember(tmp_path, A, crashed(1, 100))
    store = FakeStore({B: replica(), C: replica()}, OLD)
    looks = waits_at_most(3)
    with pytest.raises(AssertionError, match="still waits"):
        store.after_look = looks
        upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert me.steps == [] and set(store.calls) == {"publish in production"}


def test_an_unfinished_initdb_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A control file initdb had only begun to write cannot be read: that is no reason to stop (the
    container would start again and stop there again, for ever), but an upgrade to make again."""
    me = FakeMember(tmp_path, A, primary(), new_system="7124")
    Path(me.marker).write_text(json.dumps(primary().as_data()))
    (Path(me.new_data) / "global").mkdir(parents=True)
    (Path(me.new_data) / "global" / "pg_control").write_text("")

    def unreadable(bin_dir: str, data_dir: str) -> dict[str, str]:
        raise RuntimeError(f"pg_controldata -D {data_dir} failed: could not read file: read 0 of 296")

    monkeypatch.setattr(upgrade, "controldata", unreadable)
    store = FakeStore({B: replica(), C: replica()}, OLD)
    store.after_look = waits_at_most(5)
    upgrade.guard(me, store, (A, B, C))  # type: ignore[arg-type]
    assert store.calls == ["publish shut down", "hand over 7124 123"] and me.steps == ["upgrade"]


def waits_at_most(looks: int) -> Callable[[FakeStore], None]:
    """A FakeStore.after_look that fails the test once the guard has looked ``looks`` times."""
    seen = iter(range(looks))

    def look(store: FakeStore) -> None:
        if next(seen, None) is None:
            raise AssertionError(f"the guard still waits after {looks} looks: {store.calls}")

    return look


def test_the_marker_holds_the_facts_the_upgrade_began_with(tmp_path: Path) -> None:
    me = FakeMember(tmp_path, A, primary())
    assert me.recorded_facts() is None
    upgrade.Member.begin(me, primary(3, 77))
    assert me.recorded_facts() == primary(3, 77)
    Path(me.marker).write_text("")  # a marker of before (or one whose content a crash lost): no facts
    assert me.recorded_facts() is None


# ----------------------------------------------------------------------------------------------
# Kubelet's liveness probe while the guard runs
# ----------------------------------------------------------------------------------------------


def certificate_files(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, PEM files in ``directory``."""
    cert_pem, key_pem = self_signed("member")
    cert, key = directory / "tls.crt", directory / "tls.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    return str(cert), str(key)


def probe(port: int, path: str, host: str = "127.0.0.1") -> int:
    import http.client
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # kubelet verifies nothing either
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_liveness_probe_is_answered_beside_connections_that_say_nothing(tmp_path: Path) -> None:
    """One client that connects and says nothing (no TLS handshake, or no request after it: a port scan,
    a TCP check, a stalled client) must not keep kubelet's probes from being answered: they would fail,
    and kubelet would kill the container, in the middle of pg_upgrade perhaps."""
    import socket
    import ssl

    certfile, keyfile = certificate_files(tmp_path)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    probes = liveness.Probes({"listen": f"127.0.0.1:{port}", "certfile": certfile, "keyfile": keyfile})
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5),  # no handshake
            context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)),  # no request
        ):
            assert [probe(port, "/liveness"), probe(port, "/readiness"), probe(port, "/liveness")] == [200, 503, 200]
    finally:
        probes.close()


# ----------------------------------------------------------------------------------------------
# The hand-over, against a DCS that behaves as Patroni's Kubernetes DCS does
# ----------------------------------------------------------------------------------------------


class KubernetesLikeDCS:
    """What the guard's Store calls, with the semantics of patroni/dcs/kubernetes.py (3.0.2) where they
    matter: delete_sync_state(index) is write_sync_state(None, None, index), a patch of the <scope>-sync
    object with that resourceVersion; without one (index None), a create, which conflicts with the
    object that is there, and the 409 is swallowed (catch_kubernetes_errors): False, nothing changed."""

    def __init__(self) -> None:
        self.sync = SimpleNamespace(index="41", leader="hippo-0", sync_standby="hippo-1")
        self.initialize_key: str | None = OLD
        self.calls: list[str] = []

    def get_cluster(self) -> Any:
        return SimpleNamespace(sync=self.sync, initialize=self.initialize_key)

    def set_config_value(self, value: str) -> bool:
        return True

    def write_status(self, value: dict[str, Any]) -> None:
        pass  # Kubernetes: unused (the leader object holds the position)

    def set_history_value(self, value: str) -> bool:
        return True

    def delete_sync_state(self, index: str | None = None) -> bool:
        self.calls.append(f"delete_sync_state {index}")
        if index is None:
            return False  # a create of an object that exists: 409, swallowed
        self.sync = SimpleNamespace(index=str(int(index) + 1), leader=None, sync_standby=None)
        return True

    def initialize(self, create_new: bool = True, sysid: str = "") -> bool:
        self.initialize_key = sysid
        return True


def test_the_hand_over_clears_the_synchronous_standby_in_kubernetes_too() -> None:
    """Left in place, the sync object names the old primary and synchronous standby as the only members
    Patroni lets promote (synchronous_mode)."""
    store = object.__new__(upgrade.Store)
    store.dynamic_configuration = {"ttl": 30}
    store.dcs = dcs = KubernetesLikeDCS()
    store.hand_over("7124", 123)
    assert dcs.calls == ["delete_sync_state 41"] and dcs.sync.leader is None and dcs.initialize_key == "7124"


def test_the_liveness_probe_is_answered_at_every_address_patroni_listens_at(tmp_path: Path) -> None:
    """restapi.listen "*:8008" (what pgrender renders): Patroni listens on IPv6 and IPv4 (one dual-stack
    socket); kubelet probes the pod's address, an IPv6 one in an IPv6 or IPv6-first cluster. Answered
    on IPv4 only, the probe fails there, and kubelet kills the container every half minute or so: a long
    pg_upgrade would never end."""
    import socket

    try:
        with socket.socket(socket.AF_INET6) as dual:
            dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            dual.bind(("::1", 0))
    except OSError:
        pytest.skip("no dual-stack IPv6 here")
    certfile, keyfile = certificate_files(tmp_path)
    with socket.socket(socket.AF_INET6) as free:
        free.bind(("::", 0))
        port = free.getsockname()[1]
    probes = liveness.Probes({"listen": f"*:{port}", "certfile": certfile, "keyfile": keyfile})
    try:
        assert [probe(port, "/liveness", host) for host in ("::1", "127.0.0.1")] == [200, 200]
    finally:
        probes.close()


def test_sigterm_stops_the_guard_as_the_containers_first_process() -> None:
    """The guard runs as PID 1 of the container's PID namespace, whose SIGTERM the kernel drops unless a
    handler is set: deleting a pod whose guard waits (the README's way out of a member that never starts)
    would take terminationGracePeriodSeconds (60 s). Here the guard's module is PID 1 of a new PID
    namespace (unshare, as root), and SIGTERM from outside stops it at once."""
    import shutil
    import signal
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a PID namespace needs root and unshare")
    script = (
        f"import sys, time; sys.path.insert(0, {str(Path(upgrade.__file__).parent)!r}); import upgrade; "
        "upgrade.exit_on_sigterm(); print('ready', flush=True); time.sleep(30)"
    )
    unshare = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert unshare.stdout is not None and unshare.stdout.readline().strip() == "ready"
        children = Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()
        (guard,) = [int(pid) for pid in children]
        (pids,) = [
            line.split()[1:]
            for line in Path(f"/proc/{guard}/status").read_text().splitlines()
            if line.startswith("NSpid:")
        ]
        assert pids[-1] == "1", pids  # PID 1 of its namespace
        os.kill(guard, signal.SIGTERM)
        assert unshare.wait(timeout=5) == 128 + signal.SIGTERM
    finally:
        if unshare.poll() is None:
            unshare.kill()
            unshare.wait()
