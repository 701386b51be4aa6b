"""The pieces the backup tests stand on, run for real: the S3 object store, Debian's pgBackRest
against it, and a pgBackRest TLS server in a pod's sidecar reached by a backup Job's container.

The pods here are written by hand in the shape pgrender renders backups (a StatefulSet pod with a
``pgbackrest server`` sidecar, a CronJob whose container backs it up to an S3 repository) and run
through the harness like rendered ones: :func:`harness.prepare_container` writes their volumes as
kubelet would (Secret files root-owned, group postgres, mode 0640) and localizes their pgBackRest
configs. The PostgreSQL server is a bare one in the pod's data volume.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import module_root
from .harness import (
    Peer,
    Placement,
    Rendered,
    default_pg_major,
    free_ports,
    image_environment,
    make_dir,
    missing_pgbackrest_requirements,
    mount_paths,
    os_ids,
    plain_server,
    pod_spec_of,
    prepare_container,
    running_container,
    wait_until,
)
from .object_store import S3Server, ThrowawayCA, missing_object_store_requirements

pytestmark = pytest.mark.runtime

BUCKET = "backups"
NAMESPACE = "ns"
CLUSTER = "c"
POD = f"{CLUSTER}-db-0"
POD_HOST = f"{POD}.{CLUSTER}-pods.{NAMESPACE}.svc.cluster.local"


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    yield from module_root("pgrender-backup-", missing_pgbackrest_requirements() + missing_object_store_requirements())


@pytest.fixture(scope="module")
def s3(root: Path) -> Iterator[S3Server]:
    with S3Server(root / "s3") as server:
        server.create_bucket(BUCKET)
        yield server


def pgbackrest(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    uid, gid = os_ids()
    return subprocess.run(
        ["pgbackrest", *args],
        env=image_environment(home) | env,
        user=uid,
        group=gid,
        extra_groups=[gid],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pgbackrest_keeps_a_stanza_in_the_object_store(s3: S3Server, root: Path) -> None:
    """stanza-create against the S3 server (path-style, TLS verified with its CA), then info."""
    work = make_dir(root / "direct", 0o2770)
    with plain_server(make_dir(root / "direct-pg")) as server:
        conf = work / "pgbackrest.conf"
        conf.write_text(
            "[global]\n"
            "repo1-type=s3\n"
            "repo1-path=/direct\n"
            f"repo1-s3-bucket={BUCKET}\n"
            f"repo1-s3-endpoint={s3.endpoint}\n"
            f"repo1-s3-region={s3.region}\n"
            "repo1-s3-uri-style=path\n"
            f"repo1-storage-port={s3.port}\n"
            f"repo1-storage-ca-file={s3.ca_file}\n"
            f"lock-path={work}/lock\n"
            "log-level-file=off\n"
            "\n[db]\n"
            f"pg1-path={server.data}\n"
            f"pg1-socket-path={server.root}\n"
        )
        conf.chmod(0o644)
        env = {
            "PGBACKREST_CONFIG": str(conf),
            "PGBACKREST_REPO1_S3_KEY": s3.access_key,
            "PGBACKREST_REPO1_S3_KEY_SECRET": s3.secret_key,
        }
        created = pgbackrest(["--stanza=db", "stanza-create"], env, work)
        assert created.returncode == 0, created.stdout + created.stderr
        info = pgbackrest(["--stanza=db", "info", "--output=json"], env, work)
        assert info.returncode == 0, info.stdout + info.stderr
    stanzas = json.loads(info.stdout)
    assert [s["name"] for s in stanzas] == ["db"]
    assert [db["version"] for db in stanzas[0]["db"]] == [str(default_pg_major())]
    assert {"direct/archive/db/archive.info", "direct/backup/db/backup.info"} <= set(s3.list_keys(BUCKET, "direct/"))


# --------------------------------------------------------------------------------------------
# A sidecar and a backup Job, run like rendered ones
# --------------------------------------------------------------------------------------------


def _secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    return {"kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE}, "data": encoded}


def _items(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "path": path} for key, path in pairs]


def backup_objects(s3: S3Server, tls_mode: int) -> Rendered:
    """A database pod with a ``pgbackrest server`` sidecar and a CronJob backing it up to ``s3``.

    ``tls_mode`` is the defaultMode of the pods' TLS volumes, which hold the private keys.
    """
    ca = ThrowawayCA("pgrender test cluster CA")
    server_cert, server_key = ca.issue(POD_HOST, [POD_HOST, f"{POD}.{CLUSTER}-pods"])
    client_cert, client_key = ca.issue("pgbackrest", server=False, client=True)
    s3_ca = s3.ca_file.read_bytes()
    instance_conf = (
        "[global]\n"
        "tls-server-address=*\n"
        "tls-server-cert-file=/pgconf/tls/tls.crt\n"
        "tls-server-key-file=/pgconf/tls/tls.key\n"
        "tls-server-ca-file=/pgconf/tls/ca.crt\n"
        "tls-server-auth=pgbackrest=db\n"
        "lock-path=/tmp/pgbackrest\n"
        "log-level-file=off\n"
        "\n[db]\n"
        "pg1-path=/pgdata/data\n"
        "pg1-port=5432\n"
        "pg1-socket-path=/pgdata\n"
    )
    job_conf = (
        "[global]\n"
        "repo1-type=s3\n"
        "repo1-path=/pgbackrest/repo1\n"
        f"repo1-s3-bucket={BUCKET}\n"
        f"repo1-s3-endpoint={s3.endpoint}\n"
        f"repo1-s3-region={s3.region}\n"
        "repo1-s3-uri-style=path\n"
        f"repo1-storage-port={s3.port}\n"
        "repo1-storage-ca-file=/pgconf/tls/s3/ca.crt\n"
        "repo1-retention-full=2\n"
        "lock-path=/tmp/pgbackrest\n"
        "log-level-file=off\n"
        "start-fast=y\n"
        "archive-check=n\n"
        "\n[db]\n"
        f"pg1-host={POD_HOST}\n"
        "pg1-host-type=tls\n"
        "pg1-host-port=8432\n"
        "pg1-host-cert-file=/pgconf/tls/pgbackrest/tls.crt\n"
        "pg1-host-key-file=/pgconf/tls/pgbackrest/tls.key\n"
        "pg1-host-ca-file=/pgconf/tls/ca.crt\n"
        "pg1-path=/pgdata/data\n"
        "pg1-port=5432\n"
        "pg1-socket-path=/pgdata\n"
    )
    backup_sh = (
        "set -eu\n"
        "pgbackrest --stanza=db stanza-create\n"
        'pgbackrest --stanza=db backup --type="$1"\n'
        "pgbackrest --stanza=db info --output=json\n"
    )
    config_env = {"name": "PGBACKREST_CONFIG", "value": "/etc/pgbackrest/pgbackrest.conf"}
    security = {"runAsUser": 101, "runAsGroup": 103, "fsGroup": 103}
    tmp = {"name": "tmp", "emptyDir": {}}
    statefulset = {
        "kind": "StatefulSet",
        "metadata": {"name": f"{CLUSTER}-db", "namespace": NAMESPACE},
        "spec": {
            "serviceName": f"{CLUSTER}-pods",
            "template": {
                "spec": {
                    "securityContext": security,
                    "containers": [
                        {
                            "name": "pgbackrest",
                            "command": ["pgbackrest", "server"],
                            "env": [config_env],
                            "ports": [{"name": "pgbackrest", "containerPort": 8432}],
                            "volumeMounts": [
                                {"name": "pgdata", "mountPath": "/pgdata"},
                                {"name": "tls", "mountPath": "/pgconf/tls"},
                                {"name": "pgbackrest-config", "mountPath": "/etc/pgbackrest"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "pgdata", "persistentVolumeClaim": {"claimName": f"{POD}-pgdata"}},
                        {
                            "name": "tls",
                            "projected": {
                                "defaultMode": tls_mode,
                                "sources": [
                                    {
                                        "secret": {
                                            "name": f"{CLUSTER}-cluster-cert",
                                            "items": _items(
                                                ("tls.crt", "tls.crt"), ("tls.key", "tls.key"), ("ca.crt", "ca.crt")
                                            ),
                                        }
                                    }
                                ],
                            },
                        },
                        {
                            "name": "pgbackrest-config",
                            "configMap": {
                                "name": f"{CLUSTER}-pgbackrest-config",
                                "items": _items(("instance.conf", "pgbackrest.conf")),
                            },
                        },
                        tmp,
                    ],
                }
            },
        },
    }
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": f"{CLUSTER}-repo1-full", "namespace": NAMESPACE},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "securityContext": security,
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "pgbackrest",
                                    "command": ["sh", "/etc/pgbackrest/backup.sh", "full"],
                                    "env": [
                                        config_env,
                                        *(
                                            {
                                                "name": f"PGBACKREST_REPO1_S3_{name}",
                                                "valueFrom": {"secretKeyRef": {"name": f"{CLUSTER}-s3", "key": key}},
                                            }
                                            for name, key in (("KEY", "key"), ("KEY_SECRET", "key-secret"))
                                        ),
                                    ],
                                    "volumeMounts": [
                                        {"name": "pgbackrest-config", "mountPath": "/etc/pgbackrest"},
                                        {"name": "tls", "mountPath": "/pgconf/tls"},
                                        {"name": "tmp", "mountPath": "/tmp"},
                                    ],
                                }
                            ],
                            "volumes": [
                                {
                                    "name": "pgbackrest-config",
                                    "configMap": {
                                        "name": f"{CLUSTER}-pgbackrest-config",
                                        "items": _items(
                                            ("job-repo1.conf", "pgbackrest.conf"), ("backup.sh", "backup.sh")
                                        ),
                                    },
                                },
                                {
                                    "name": "tls",
                                    "projected": {
                                        "defaultMode": tls_mode,
                                        "sources": [
                                            {
                                                "secret": {
                                                    "name": f"{CLUSTER}-pgbackrest-cert",
                                                    "items": _items(
                                                        ("tls.crt", "pgbackrest/tls.crt"),
                                                        ("tls.key", "pgbackrest/tls.key"),
                                                        ("ca.crt", "ca.crt"),
                                                    ),
                                                }
                                            },
                                            {
                                                "secret": {
                                                    "name": f"{CLUSTER}-s3",
                                                    "items": _items(("ca.crt", "s3/ca.crt")),
                                                }
                                            },
                                        ],
                                    },
                                },
                                tmp,
                            ],
                        }
                    }
                }
            }
        },
    }
    objects = (
        statefulset,
        cronjob,
        {
            "kind": "ConfigMap",
            "metadata": {"name": f"{CLUSTER}-pgbackrest-config", "namespace": NAMESPACE},
            "data": {"instance.conf": instance_conf, "job-repo1.conf": job_conf, "backup.sh": backup_sh},
        },
        _secret(f"{CLUSTER}-cluster-cert", {"tls.crt": server_cert, "tls.key": server_key, "ca.crt": ca.ca_pem}),
        _secret(f"{CLUSTER}-pgbackrest-cert", {"tls.crt": client_cert, "tls.key": client_key, "ca.crt": ca.ca_pem}),
        _secret(
            f"{CLUSTER}-s3", {"key": s3.access_key.encode(), "key-secret": s3.secret_key.encode(), "ca.crt": s3_ca}
        ),
    )
    return Rendered(CLUSTER, NAMESPACE, {}, objects)


def test_a_backup_job_backs_up_through_the_sidecar_to_the_object_store(s3: S3Server, root: Path) -> None:
    """The CronJob's container runs stanza-create and a full backup through the pod's pgBackRest
    server (TLS, client certificate, the pod's name checked against its certificate) into S3.

    The private keys are what kubelet writes with fsGroup and defaultMode 0640: owner root, group
    postgres, mode 0640; pgBackRest, running as postgres, takes them (it accepts a group-readable
    key only when root owns it)."""
    rendered = backup_objects(s3, 0o640)
    statefulset = rendered.get("StatefulSet", f"{CLUSTER}-db")
    cronjob = rendered.get("CronJob", f"{CLUSTER}-repo1-full")
    pod_root = root / "sidecar" / POD
    sidecar_paths = mount_paths(pod_spec_of(statefulset)["containers"][0], pod_root)
    # The bare server listens on its own unix socket only (in the pod's /pgdata), so 5432 is free to use.
    server_port, postgres_port = free_ports(1)[0], 5432
    peers = {POD: Peer(sidecar_paths, postgres_port, server_port)}
    sidecar = prepare_container(
        rendered,
        statefulset,
        "pgbackrest",
        pod_root,
        Placement({}, postgres_port, pgbackrest_port=server_port, peers=peers),
    )
    key = sidecar.placement.paths["/pgconf/tls"] / "tls.key"
    assert (key.stat().st_uid, key.stat().st_gid, key.stat().st_mode & 0o777) == (0, os_ids()[1], 0o640)
    job = prepare_container(rendered, cronjob, "pgbackrest", root / "sidecar" / "job", Placement({}, 0, peers=peers))
    assert job.hosts == (POD_HOST,), "the pgN-host of the job's config resolves to 127.0.0.1"

    with plain_server(sidecar.placement.paths["/pgdata"]), running_container(sidecar) as server:
        server.wait_listening(server_port)
        result = job.run_once(timeout=180)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.log_tail()}"
        assert server.running()
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert [b["type"] for b in info[0]["backup"]] == ["full"]
    label = info[0]["backup"][0]["label"]
    keys = s3.list_keys(BUCKET, "pgbackrest/repo1/backup/db/")
    assert f"pgbackrest/repo1/backup/db/{label}/backup.manifest" in keys
    assert any(k.startswith(f"pgbackrest/repo1/backup/db/{label}/pg_data/base/") for k in keys)


@pytest.mark.parametrize("mode", [0o644, 0o660], ids=["0644", "0660"])
def test_the_pgbackrest_server_refuses_a_key_others_may_read_or_write(s3: S3Server, root: Path, mode: int) -> None:
    """Why the TLS volumes' mode matters: with a root-owned key more open than 0640 (the projected
    volume's default 0644, or group-writable) ``pgbackrest server`` exits at once."""
    rendered = backup_objects(s3, mode)
    statefulset = rendered.get("StatefulSet", f"{CLUSTER}-db")
    pod_root = root / f"refused-{mode:o}" / POD
    port = free_ports(1)[0]
    sidecar = prepare_container(
        rendered, statefulset, "pgbackrest", pod_root, Placement({}, 5432, pgbackrest_port=port)
    )
    with running_container(sidecar) as server:
        wait_until("pgbackrest server to exit", lambda: not server.running(), timeout=20)
        assert server.proc is not None and server.proc.returncode != 0
        assert "has group or other permissions" in server.log_tail()
