"""spec.upgrade for real: a running cluster at the default major (Debian's 15) with a repository on its
repository host and a backup, shut down with spec.shutdown, then applied at 17 with
``upgrade: {fromVersion: 15}``, as Kubernetes would: every member's container runs the rendered
upgrade guard (the ConfigMap's upgrade.py, the image's python3 and Patroni's DCS classes), then
Patroni 17. The member that stopped as the primary runs initdb and pg_upgrade --link and leads; the
others' old data goes and they are copied from it; every row written before is there, on every
member. Then the rendered Jobs: the init backup Job upgrades the stanza and backs up 17 (the 15 backup
is still listed), the reconcile Job analyzes every database once.

Then what can go wrong, each on a cluster of its own (hippo's two members, no backups): the upgrading
member's container killed in the middle of pg_upgrade, twice, and started again; a cluster with a WAL
volume; and the upgrade applied to members that still run.

PostgreSQL 17 and pgBackRest 2.55 are trixie's (scripts/setup-pg-upgrade-target.sh); the spec names
that pgBackRest as the image's (spec.imageContract.pgbackrest) before and after, since bookworm's 2.45
does not know 17. Patroni is bookworm's 3.0.2.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    UPGRADE_TARGET_MAJOR,
    UPGRADE_TARGET_PGBACKREST,
    LocalCluster,
    Member,
    default_pg_major,
    local_spec,
    pg_bin,
    render_spec,
    running_cluster,
    wait_until,
)

pytestmark = pytest.mark.runtime

ROWS = 1000


@pytest.fixture(scope="module")
def root(upgrade_root: Path) -> Path:
    """This module's directory (conftest's upgrade_root: PostgreSQL 17 must be there)."""
    return upgrade_root


def spec_at(major: int) -> dict[str, Any]:
    """examples/backups.yaml (two members) with its volume repository only, at ``major``."""
    spec = local_spec("backups", major=major)
    spec["metadata"]["name"] = "lift"
    backups = spec["spec"]["backups"]
    backups["repos"] = [repo for repo in backups["repos"] if "volume" in repo]
    backups["manual"]["repo"] = backups["repos"][0]["name"]
    del backups["logical"]
    spec["spec"]["imageContract"] = {"pgbackrest": str(UPGRADE_TARGET_PGBACKREST)}
    return spec


def run_rendered_job(cluster: LocalCluster, prefix: str) -> str:
    """The rendered Job named ``<cluster>-<prefix>...`` (not the reconcile Job), run to its end."""
    (job,) = [j for j in cluster.rendered.all("Job") if j["metadata"]["name"].startswith(f"lift-{prefix}")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    pod = cluster.pod_container(job, container["name"], postgres_port=cluster.wait_healthy().pg_port)
    result = pod.run_once(timeout=300)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def stanza(cluster: LocalCluster) -> dict[str, Any]:
    """pgBackRest's info of the stanza, as the backup Jobs see it."""
    (cron_job,) = [c for c in cluster.rendered.all("CronJob") if c["metadata"]["name"].endswith("-full")]
    (container,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    pod = cluster.pod_container(cron_job, container["name"], postgres_port=cluster.wait_healthy().pg_port)
    command = (str(UPGRADE_TARGET_PGBACKREST), "--stanza=db", "--output=json", "info")
    pod = replace(pod, run=replace(pod.run, command=command))
    result = pod.run_once(timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = json.loads(result.stdout)
    return found  # type: ignore[no-any-return]


def control(member: Member, major: int, data_dir: Path | None = None) -> dict[str, str]:
    """pg_controldata of the member's data directory (``data_dir``: another one of it)."""
    data_dir = member.data_dir if data_dir is None else data_dir
    out = subprocess.run(
        [pg_bin("pg_controldata", major), str(data_dir)], capture_output=True, text=True, check=True
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def rows_everywhere(cluster: LocalCluster, rows: int = ROWS) -> bool | None:
    counts = {m.name: m.psql("SELECT count(*) FROM lifts")[0][0] for m in cluster.members}
    return True if set(counts.values()) == {str(rows)} else None


def test_a_shut_down_cluster_is_upgraded_in_place_when_it_starts(root: Path) -> None:
    old, new = default_pg_major(), UPGRADE_TARGET_MAJOR
    assert old is not None and old < new
    running = spec_at(old)
    with running_cluster(render_spec(running, root / "specs" / "old"), root / "lift") as cluster:
        assert cluster.run_job(root / "job-old").returncode == 0
        assert "backup command end: completed successfully" in run_rendered_job(cluster, "repo2-init-")
        leader = cluster.wait_healthy()
        leader.psql(f"CREATE TABLE lifts (id int PRIMARY KEY); INSERT INTO lifts SELECT generate_series(1, {ROWS})")
        wait_until("every member has the rows", lambda: rows_everywhere(cluster), 30)
        primary = leader.name

        asleep = copy.deepcopy(running)
        asleep["spec"]["shutdown"] = True
        cluster.apply(render_spec(asleep, root / "specs" / "stopped"))
        states = {m.name: control(m, old)["Database cluster state"] for m in cluster.members}
        assert states == {
            m.name: "shut down" if m.name == primary else "shut down in recovery" for m in cluster.members
        }
        old_system = control(cluster.member(primary), old)["Database system identifier"]

        upgraded_spec = spec_at(new)
        upgraded_spec["spec"]["upgrade"] = {"fromVersion": old}
        upgraded = render_spec(upgraded_spec, root / "specs" / "upgraded")
        cluster.apply(upgraded)  # the members start, each with its upgrade guard first
        leader = cluster.wait_healthy(180)

        assert leader.name == primary, "the member that stopped as the primary holds the data and leads"
        assert leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(new)]]
        wait_until("every member has the rows at the new version", lambda: rows_everywhere(cluster), 60)
        streaming = cluster.streaming(leader)
        assert {name: row["state"] for name, row in streaming.items()} == {
            m.name: "streaming" for m in cluster.members if m is not leader
        }
        systems = {m.name: control(m, new)["Database system identifier"] for m in cluster.members}
        assert len(set(systems.values())) == 1 and old_system not in systems.values(), systems
        assert leader.api("/patroni")["database_system_identifier"] == systems[primary]
        for member in cluster.members:  # the old version's data is gone, on every member
            assert not (member.data_dir.parent / f"pg{old}").exists(), member.name
        guard = leader.log.read_text()
        assert "this member stopped as the primary" in guard and "it upgrades the cluster" in guard
        replica = next(m for m in cluster.members if m is not leader)
        assert "the cluster was upgraded" in replica.log.read_text()

        info = stanza(cluster)  # before the init Job: the stanza is the old version's
        assert [db["version"] for db in info["db"]] == [str(old)]
        out = run_rendered_job(cluster, "repo2-init-")
        assert "+ pgbackrest stanza-upgrade" in out and "backup command end: completed successfully" in out
        info = stanza(cluster)
        assert [db["version"] for db in info["db"]] == [str(old), str(new)]
        current = max(db["id"] for db in info["db"])
        assert [(b["type"], b["database"]["id"] == current) for b in info["backup"]] == [
            ("full", False),
            ("full", True),
        ]
        assert "holds a backup of this PostgreSQL version already" in run_rendered_job(cluster, "repo2-init-")

        job = cluster.run_job(root / "job-upgraded")
        assert job.returncode == 0, job.stdout + job.stderr
        assert f"upgraded from PostgreSQL {old}: analyzing every database" in job.stdout
        assert leader.psql("SELECT from_version, to_version FROM pgrender.upgrades") == [[str(old), str(new)]]
        assert leader.psql("SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'lifts'") == [["t"]]
        again = cluster.run_job(root / "job-again")
        assert again.returncode == 0 and "analyzed before" in again.stdout, again.stdout + again.stderr


# --------------------------------------------------------------------------------------------
# What can go wrong
# --------------------------------------------------------------------------------------------

TABLES = 1000  # empty tables beside ``lifts``: pg_upgrade's schema dump and restore then take seconds


def hippo_at(major: int, name: str) -> dict[str, Any]:
    spec = local_spec("hippo", major=major)
    spec["metadata"]["name"] = name
    return spec


def upgraded(spec: dict[str, Any], old: int) -> dict[str, Any]:
    """``spec`` at the upgrade target, upgraded in place from ``old``."""
    new = copy.deepcopy(spec)
    new["spec"]["postgresVersion"] = UPGRADE_TARGET_MAJOR
    new["spec"]["upgrade"] = {"fromVersion": old}
    new["spec"].pop("shutdown", None)
    return new


def shut_down(cluster: LocalCluster, spec: dict[str, Any], directory: Path) -> None:
    """spec.shutdown applied: every member stops, the primary's data says "shut down"."""
    asleep = copy.deepcopy(spec)
    asleep["spec"]["shutdown"] = True
    cluster.apply(render_spec(asleep, directory))
    assert not any(m.running() for m in cluster.members)


def fill(cluster: LocalCluster, tables: int = 0) -> Member:
    """``lifts`` with its rows (and ``tables`` empty tables), on every member; the leader."""
    leader = cluster.wait_healthy()
    leader.psql(f"CREATE TABLE lifts (id int PRIMARY KEY); INSERT INTO lifts SELECT generate_series(1, {ROWS})")
    if tables:
        leader.psql(
            f"DO $$ BEGIN FOR i IN 1..{tables} LOOP EXECUTE format("
            "'CREATE TABLE t%s (id int PRIMARY KEY, a text, b int)', i); END LOOP; END $$"
        )
    wait_until("every member has the rows", lambda: rows_everywhere(cluster), 60)
    return leader


def _parents() -> dict[int, int]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
    return found


def _mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def kill_container(member: Member) -> None:
    """What the container's kill does (the OOM killer, kubelet after a failed liveness probe): every process
    in it SIGKILLed at once. Here that is the process group of the container's command (the guard and what
    it runs: pg_upgrade, pg_dump, ...), killed first so that nothing moves on, and the servers pg_ctl
    started, which detach into sessions of their own (the old or the new cluster pg_upgrade runs: their
    command lines name the member's directory), with their children."""
    assert member.proc is not None and member.running()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(member.proc.pid, signal.SIGKILL)
    servers = set(_mentioning(str(member.root)))
    parents = _parents()
    while True:  # the servers' children: backends, checkpointer, ... (their command lines name no path)
        more = {pid for pid, parent in parents.items() if parent in servers} - servers
        if not more:
            break
        servers |= more
    for pid in servers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    member.kill()
    wait_until(
        f"every process of {member.name}'s container to die",
        lambda: not any(_alive(pid) for pid in servers),
        10,
        0.05,
    )


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def running(member: Member, program: str, *args: str) -> bool:
    """Whether ``program`` runs in the member's container, with ``args`` among its arguments."""
    if not member.running():
        raise AssertionError(f"{member.name}'s container exited:\n{member.log_tail()}")
    return any(os.path.basename(argv[0]) == program and set(args) <= set(argv) for argv in member.processes().values())


def test_a_member_killed_in_the_middle_of_pg_upgrade_takes_it_up_again(root: Path) -> None:
    """The member that upgrades is killed twice in the middle of pg_upgrade, and its container starts
    again each time, as kubelet starts it. First while pg_upgrade dumps the schema from the old cluster,
    which it runs then: the old control file says "in production" afterwards, not "shut down". Then once
    pg_upgrade has taken the old control file's name away (global/pg_control.old) and links the files.
    Each time the guard undoes what was begun and upgrades again; the other member waits throughout.
    In the end every row and table is there, on both members, at the new version."""
    old, new = default_pg_major(), UPGRADE_TARGET_MAJOR
    assert old is not None and old < new
    spec = hippo_at(old, "resume")
    with running_cluster(render_spec(spec, root / "specs" / "resume-old"), root / "resume") as cluster:
        primary = fill(cluster, TABLES).name
        shut_down(cluster, spec, root / "specs" / "resume-stopped")
        cluster.apply(render_spec(upgraded(spec, old), root / "specs" / "resume-upgraded"))
        member = cluster.member(primary)
        old_data, new_data = member.data_dir.parent / f"pg{old}", member.data_dir
        other = next(m for m in cluster.members if m is not member)

        # 1. While pg_upgrade dumps the old cluster's schema (from the old cluster, which runs then; not
        # pg_upgrade's first check, pg_dump -V).
        dumping = lambda: running(member, "pg_dump", "--schema-only", "--binary-upgrade")  # noqa: E731
        wait_until("pg_upgrade to dump the schema", dumping, 120, 0.02)
        kill_container(member)
        assert control(member, old, old_data)["Database cluster state"] == "in production"
        assert (old_data / "postmaster.pid").exists() and (new_data.parent / f"pg{new}.upgrading").exists()
        member.start()

        # 2. Once pg_upgrade has renamed the old control file (it links the files next).
        moved = old_data / "global" / "pg_control.old"
        wait_until("pg_upgrade to rename the old control file", moved.exists, 120, 0.002)
        kill_container(member)
        assert moved.exists() and not (old_data / "global" / "pg_control").exists()
        assert other.running() and not other.data_dir.exists(), "the other member waits, its old data whole"
        member.start()

        leader = cluster.wait_healthy(180)
        assert leader.name == primary
        assert leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(new)]]
        wait_until("every member has the rows at the new version", lambda: rows_everywhere(cluster), 60)
        for m in cluster.members:
            assert m.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [[str(TABLES + 1)]]
            assert not (m.data_dir.parent / f"pg{old}").exists(), m.name
        assert not (new_data.parent / f"pg{new}.upgrading").exists()
        log = member.log.read_text()
        assert "this container stopped while pg_upgrade ran the old cluster, which is replayed" in log
        assert "gave the old cluster its control file back" in log
        assert log.count("an upgrade of this member's data stopped half-way: it starts again") == 2
        assert "the cluster was upgraded" in other.log.read_text()


def test_a_cluster_with_a_wal_volume_is_upgraded(root: Path) -> None:
    """instances[].walVolume: the members' pg_wal is a link into /pgwal/pg<old>_wal. The upgraded
    cluster's is a link into /pgwal/pg<new>_wal (initdb --waldir on the member that upgrades,
    pg_basebackup --waldir on the other), and the old WAL directory is gone from every WAL volume."""
    old, new = default_pg_major(), UPGRADE_TARGET_MAJOR
    assert old is not None and old < new
    spec = hippo_at(old, "walup")
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    with running_cluster(render_spec(spec, root / "specs" / "walup-old"), root / "walup") as cluster:
        primary = fill(cluster).name
        for m in cluster.members:
            assert (m.data_dir / "pg_wal").resolve() == wal_volume(m) / f"pg{old}_wal", m.name
        shut_down(cluster, spec, root / "specs" / "walup-stopped")
        cluster.apply(render_spec(upgraded(spec, old), root / "specs" / "walup-upgraded"))
        leader = cluster.wait_healthy(180)
        assert leader.name == primary
        assert leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(new)]]
        leader.psql(f"INSERT INTO lifts SELECT generate_series({ROWS} + 1, {ROWS} + 10); SELECT pg_switch_wal()")
        wait_until("the new rows on every member", lambda: rows_everywhere(cluster, ROWS + 10), 60)
        for m in cluster.members:
            wal = m.data_dir / "pg_wal"
            assert wal.is_symlink() and wal.resolve() == wal_volume(m) / f"pg{new}_wal", m.name
            assert sorted(p.name for p in wal_volume(m).iterdir()) == [f"pg{new}_wal"], m.name
            assert any(len(p.name) == 24 for p in wal.iterdir()), f"{m.name}: no WAL segment in {wal.resolve()}"
            assert not (m.data_dir.parent / f"pg{old}").exists(), m.name


def wal_volume(member: Member) -> Path:
    """Where the member's WAL claim is (its /pgwal; the claims outlive the pods here as in Kubernetes)."""
    return Path(member.placement.paths["/pgwal"]).resolve()


def delete_pod(cluster: LocalCluster, name: str) -> None:
    """DELETE the pod through the Kubernetes API stand-in, with the reconcile Job's service account (as
    the Job, ``kubectl delete pod`` or a node drain do), and wait until the StatefulSet's next pod (from
    the current template) runs."""
    api = cluster.kube
    context = ssl.create_default_context(cafile=str(api.service_account_dir / "ca.crt"))
    host, port = api.env["KUBERNETES_SERVICE_HOST"], api.env["KUBERNETES_SERVICE_PORT"]
    request = urllib.request.Request(
        f"https://{host}:{port}/api/v1/namespaces/{cluster.rendered.namespace}/pods/{name}",
        method="DELETE",
        headers={"Authorization": "Bearer " + (api.service_account_dir / "token").read_text()},
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        assert answer.status == 200
    api.wait_idle(120)


def test_the_upgrade_of_members_that_still_run_waits(root: Path) -> None:
    """The upgrade applied while the members run (what `pgrender diff` refuses, upgrade-running): their pods
    keep running the old template (OnDelete). A replica's pod deleted (a drain, ``kubectl delete pod``)
    comes back from the new template, and its guard waits: the leader leads at the old version and takes
    writes, the replica's old data stays as it was, nothing of the new version is made, and the log says
    why; so too once the replica's data volume is emptied (it would copy the old leader). Only once the
    leader's pod goes too (its Patroni shuts PostgreSQL down, releasing the leader key)
    does the upgrade run, and from the leader's data, with what it took while the replica waited."""
    old, new = default_pg_major(), UPGRADE_TARGET_MAJOR
    assert old is not None and old < new
    spec = hippo_at(old, "busy")
    with running_cluster(render_spec(spec, root / "specs" / "busy-old"), root / "busy") as cluster:
        leader = fill(cluster)
        replica = next(m for m in cluster.members if m is not leader)
        system = control(leader, old)["Database system identifier"]
        cluster.apply(render_spec(upgraded(spec, old), root / "specs" / "busy-upgraded"))
        assert all(m.running() for m in cluster.members)  # OnDelete: no pod replaced by the apply

        delete_pod(cluster, replica.name)
        replica = cluster.member(replica.name)
        old_data = replica.data_dir.parent / f"pg{old}"
        waiting = f"{leader.name} leads the cluster at the old version: the upgrade starts only once every member"
        wait_until("the replica's guard to say why it waits", lambda: waiting in replica.log.read_text(), 30)
        for extra in range(1, 4):  # the leader serves, through a few rounds of the guard (2 s each)
            leader.psql(f"INSERT INTO lifts VALUES ({ROWS} + {extra})")
            time.sleep(2)
        assert cluster.leader() is leader and replica.running()
        assert leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(old)]]
        assert control(replica, old, old_data)["Database cluster state"] == "shut down in recovery"
        assert not replica.data_dir.exists() and not (replica.data_dir.parent / f"pg{new}.upgrading").exists()
        assert leader.api("/patroni")["database_system_identifier"] == system
        assert "pg_upgrade" not in replica.log.read_text()

        # The replica's data volume lost meanwhile (or a member new to the spec): its container starts on an
        # empty volume, beside the leader of the old version. Patroni would copy the leader into the new
        # version's data directory (pg_basebackup of the new version copies an older server), which the new
        # PostgreSQL cannot start: the guard waits for an upgraded leader instead.
        replica.stop()
        for entry in replica.data_dir.parent.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        replica.start()
        empty = f"{leader.name} leads the cluster at PostgreSQL {old}: this member, at {new} and without data"
        wait_until("the guard of the emptied replica to say why it waits", lambda: empty in replica.log.read_text(), 30)
        time.sleep(4)  # two more rounds of the guard
        assert replica.running() and not replica.data_dir.exists() and cluster.leader() is leader

        delete_pod(cluster, leader.name)  # the last member of the old version stops: the upgrade runs
        upgraded_leader = cluster.wait_healthy(180)
        assert upgraded_leader.name == leader.name, "the leader of before holds the latest data"
        assert upgraded_leader.psql("SELECT current_setting('server_version_num')::int / 10000") == [[str(new)]]
        wait_until("every row, those of the wait too", lambda: rows_everywhere(cluster, ROWS + 3), 60)


def test_what_pg_upgrade_refuses_is_in_the_log_and_nothing_changes(root: Path) -> None:
    """pg_upgrade's checks refuse the data (a regproc column: reg* types name OIDs pg_upgrade does not
    keep). It says so and names a file with the problem columns, in the new data directory, which the
    next attempt (the container starts again) removes: the guard puts the file into the log. The old data
    is whole (its control file in place, "shut down"), the other member waits with its own."""
    old, new = default_pg_major(), UPGRADE_TARGET_MAJOR
    assert old is not None and old < new
    spec = hippo_at(old, "refused")
    with running_cluster(render_spec(spec, root / "specs" / "refused-old"), root / "refused") as cluster:
        leader = fill(cluster)
        leader.psql(
            "CREATE TABLE handlers (id int PRIMARY KEY, handler regproc); INSERT INTO handlers VALUES (1, 'now')"
        )
        primary = leader.name
        shut_down(cluster, spec, root / "specs" / "refused-stopped")
        cluster.apply(render_spec(upgraded(spec, old), root / "specs" / "refused-upgraded"))
        member = cluster.member(primary)
        other = next(m for m in cluster.members if m is not member)
        wait_until(f"{member.name}'s container to stop", lambda: not member.running(), 120)
        log = member.log.read_text()
        assert "pgrender upgrade guard: stopped: RuntimeError: pg_upgrade failed" in log, log[-3000:]
        assert "tables_using_reg.txt" in log and "public.handlers.handler" in log, log[-3000:]
        old_data = member.data_dir.parent / f"pg{old}"
        assert control(member, old, old_data)["Database cluster state"] == "shut down"
        assert other.running() and not other.data_dir.exists()
        member.wanted = False  # the harness does not start it again (kubelet would, and it would stop again)
