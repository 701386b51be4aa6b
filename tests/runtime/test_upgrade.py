"""spec.upgrade for real: a running cluster at the default major (Debian's 15) with a repository on its
repository host and a backup, shut down with spec.shutdown, then applied at 17 with
``upgrade: {fromVersion: 15}``, as Kubernetes would: every member's container runs the rendered
upgrade guard (the ConfigMap's upgrade.py, the image's python3 and Patroni's DCS classes), then
Patroni 17. The member that stopped as the primary runs initdb and pg_upgrade --link and leads; the
others' old data goes and they are copied from it; every row written before is there, on every
member. Then the rendered Jobs: the init backup Job upgrades the stanza and backs up 17 (the 15 backup
is still listed), the reconcile Job analyzes every database once.

PostgreSQL 17 and pgBackRest 2.55 are trixie's (scripts/setup-pg-upgrade-target.sh); the spec names
that pgBackRest as the image's (spec.imageContract.pgbackrest) before and after, since bookworm's 2.45
does not know 17. Patroni is bookworm's 3.0.2.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_runtime
from .harness import (
    UPGRADE_TARGET_MAJOR,
    UPGRADE_TARGET_PGBACKREST,
    LocalCluster,
    Member,
    default_pg_major,
    local_spec,
    missing_upgrade_target_requirements,
    pg_bin,
    render_spec,
    running_cluster,
    temp_root,
    wait_until,
)

pytestmark = pytest.mark.runtime

ROWS = 1000


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    require_runtime(missing_upgrade_target_requirements(("pg_upgrade", "pg_controldata", "vacuumdb")))
    directory = temp_root("pgrender-upgrade-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


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


def control(member: Member, major: int) -> dict[str, str]:
    out = subprocess.run(
        [pg_bin("pg_controldata", major), str(member.data_dir)], capture_output=True, text=True, check=True
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def rows_everywhere(cluster: LocalCluster) -> bool | None:
    counts = {m.name: m.psql("SELECT count(*) FROM lifts")[0][0] for m in cluster.members}
    return True if set(counts.values()) == {str(ROWS)} else None


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
