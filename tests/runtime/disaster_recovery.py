"""What the disaster-recovery tests share (test_backups.py, the story of one cluster's backups, and
test_copies.py, the clusters and members that start from a copy): the S3 repository on the local
object store, the source cluster's spec, running the rendered backup Jobs and CronJobs, and killing
a member while it copies.

Every Job and CronJob runs its rendered container through the harness (localized in paths, hosts
and ports in ``harness.localize`` only). The storage credentials and the store's CA are Secrets the
user keeps in the namespace (:meth:`Rendered.with_objects`).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from .harness import (
    IMAGE_PATH,
    HarnessError,
    LocalCluster,
    Member,
    PodContainer,
    ProcessDied,
    Rendered,
    ServiceStandIn,
    local_spec,
    missing_pgbackrest_requirements,
    missing_requirements,
    running_cluster,
    wait_until,
)
from .object_store import S3Server, missing_object_store_requirements

BUCKET = "hippo-backups"
SOURCE_PATH = "pgbackrest/postgres-dr/hippo/repo1"
CLONE_PATH = "pgbackrest/postgres-dr/hippo-clone/repo1"


def missing_dr_requirements() -> list[str]:
    out = missing_requirements() + missing_pgbackrest_requirements() + missing_object_store_requirements()
    if shutil.which("aws", path=IMAGE_PATH) is None:  # where the logical backup's script looks
        out.append("aws on the image's PATH (Debian package awscli)")
    return sorted(set(out))


def local_repo(s3: S3Server) -> dict[str, Any]:
    """The S3 repository as the specs here write it: the local store, trusted through its CA."""
    return {
        "name": "repo1",
        "s3": {"bucket": BUCKET, "endpoint": s3.endpoint, "region": s3.region, "uriStyle": "path", "port": s3.port},
        "credentials": {"secretName": "hippo-s3"},
        "storageCA": {"secretName": "s3-ca"},
    }


def with_user_secrets(rendered: Rendered, s3: S3Server) -> Rendered:
    def secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": rendered.namespace},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }

    return rendered.with_objects(
        secret("hippo-s3", {"key": s3.access_key.encode(), "key-secret": s3.secret_key.encode()}),
        secret("s3-ca", {"ca.crt": s3.ca_file.read_bytes()}),
    )


def source_spec(s3: S3Server) -> dict[str, Any]:
    """examples/backups.yaml with its S3 repository on the local store, keeping two full backups;
    backups copy a streaming replica's files, with two processes (restores too), compressed with
    zstd (archived WAL too)."""
    spec = local_spec("backups")
    backups = spec["spec"]["backups"]
    repos = backups["repos"]
    repos[0] = {**local_repo(s3), "schedules": repos[0]["schedules"], "retention": {"full": 2}}
    backups |= {"backupFrom": "prefer-standby", "processMax": 2, "compressType": "zst"}
    return spec


_runs = itertools.count()


def workload(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    if kind == "Job" and name.endswith("-init-"):
        (job,) = [j for j in rendered.all("Job") if j["metadata"]["name"].startswith(name)]
        return job
    return rendered.get(kind, name)


def run_backup(
    cluster: LocalCluster, kind: str, name: str, command: tuple[str, ...] | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the container of a rendered backup Job or CronJob (or, with ``command``, another command
    in its pod, to look at the repository with the same configuration and credentials)."""
    job = workload(cluster.rendered, kind, name)
    container = job_container(cluster, job)
    if command is not None or env:
        run = container.run
        environment = {k: v for k, v in run.env.items() if k not in env or env[k] != ""}
        environment |= {k: v for k, v in env.items() if v}
        container = replace(container, run=replace(run, command=command or run.command, env=environment))
    return container.run_once(timeout=300)


def job_container(cluster: LocalCluster, job: dict[str, Any]) -> PodContainer:
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"] if job["kind"] == "CronJob" else None
    name = (pod or job["spec"]["template"]["spec"])["containers"][0]["name"]
    leader = cluster.wait_healthy()
    return cluster.pod_container(job, name, root=cluster.root / f"job-{next(_runs)}", postgres_port=leader.pg_port)


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def info(cluster: LocalCluster, cron_job: str) -> dict[str, Any]:
    """pgbackrest info of the repository of ``cron_job``, from its Job's pod."""
    out = succeeded(run_backup(cluster, "CronJob", cron_job, ("pgbackrest", "--stanza=db", "--output=json", "info")))
    (stanza,) = json.loads(out)
    assert stanza["status"]["message"] == "ok", stanza["status"]
    return dict(stanza)


def backups_of(stanza: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["type"], b["label"]) for b in stanza["backup"]]


def switch_and_wait_archived(cluster: LocalCluster, leader: Member, cron_job: str = "hippo-repo1-full") -> str:
    """Switch to a new WAL segment and wait until the last one written is in the repository."""
    (segment,) = leader.psql("SELECT pg_walfile_name(pg_current_wal_lsn())")[0]
    leader.psql("SELECT pg_switch_wal()")

    def archived() -> bool:
        return any(a["max"] and a["max"] >= segment for a in info(cluster, cron_job)["archive"])

    wait_until(f"WAL segment {segment} in the repository", archived, timeout=90, interval=2)
    return segment


def with_wal_volume(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with a WAL volume for its members (instances[].walVolume)."""
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    return spec


def wal_is_on_its_volume(member: Member) -> bool:
    """The member's pg_wal links to its WAL directory on its WAL volume, and holds segments there."""
    wal = member.data_dir / "pg_wal"
    volume = Path(member.placement.paths["/pgwal"]).resolve()
    return wal.is_symlink() and wal.resolve().parent == volume and any(len(p.name) == 24 for p in wal.iterdir())


def rows(member: Member, table: str = "events") -> list[str]:
    return [r[0] for r in member.psql(f"SELECT what FROM {table} ORDER BY id")]


@contextlib.contextmanager
def first_member(rendered: Rendered, root: Path, remote_services: dict[str, int] | None = None) -> Iterator[Member]:
    """The first member of a new cluster whose other processes run (running_cluster without its
    members), which the test starts."""
    with running_cluster(rendered, root, remote_services, members=False) as cluster:
        yield cluster.members[0]


def wait_leads(member: Member, timeout: float) -> None:
    """Wait until Patroni runs ``member`` as the leader holding the leader key; fail with its log (at
    once if Patroni exits). Not only its role: after a custom bootstrap Patroni reports "master" once
    PostgreSQL is promoted, then restores its configuration files and may restart PostgreSQL (a CI run
    saw a query fail there), and takes the leader key only after that: /primary answers 200 then."""

    def leads() -> bool:
        if not member.running():
            raise ProcessDied(f"Patroni of {member.name} exited")
        role = member.api("/patroni").get("role")
        return role in ("master", "primary") and member.api_response("/primary")[0] == 200

    try:
        wait_until(f"{member.name} to lead", leads, timeout)
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{member.log_tail(30)}") from None


def kill_while_copying(member: Member, program: str, at_least: int) -> None:
    """Wait until ``program`` runs in the member's container and has written ``at_least`` bytes into
    the data directory (outside pg_wal), then kill the container (:meth:`Member.kill`). The copy was
    cut short: ``program`` was among the processes killed, and the data directory lacks
    global/pg_control, which pg_basebackup and pgBackRest's restore both write last."""

    def size() -> int:
        total = 0
        for directory, subdirectories, names in os.walk(member.data_dir):
            subdirectories[:] = [d for d in subdirectories if d != "pg_wal"]  # WAL segments start padded
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # the tool's temporary files come and go
                    total += os.lstat(os.path.join(directory, name)).st_size
        return total

    def copying() -> bool:
        if not member.running():
            raise AssertionError(f"{member.name} exited before the copy:\n{member.log_tail()}")
        running = any(os.path.basename(argv[0]) == program for argv in member.processes().values())
        return running and size() >= at_least

    wait_until(f"{program} to write {at_least} bytes", copying, timeout=120, interval=0.05)
    killed = member.kill()
    assert any(os.path.basename(argv[0]) == program for argv in killed.values()), killed
    assert size() >= at_least and not (member.data_dir / "global" / "pg_control").exists()


def bootstraps_again_after_a_kill(
    member: Member, link: ServiceStandIn, tool: str, at_least: int, leader: Member
) -> None:
    """Start the first member of a new cluster; kill it while ``tool`` copies (``at_least`` bytes in,
    behind the slow ``link``); start it again at full speed: the guard starts the bootstrap again,
    and the member leads with ``leader``'s rows."""
    member.start()
    kill_while_copying(member, tool, at_least=at_least)
    link.rate = None
    member.start()
    wait_leads(member, 90)
    wait_until("writes", lambda: member.psql("SELECT pg_is_in_recovery()") == [["f"]], 60)
    assert rows(member) == rows(leader)
    log = member.log_tail(2000)
    assert "pgrender copy guard: removed the initialize key of the interrupted bootstrap" in log
    assert log.count("Running custom bootstrap script") == 2
