"""TLS provider cert-manager as rendered, with certificates a CA issuer signed, renewed while running.

The spec is examples/hippo.yaml with pgBouncer, ``tls.provider: cert-manager`` (a CA Issuer from a
CA Secret), an extra DNS name and an extra IP address. cert-manager does not run here: for each
rendered Certificate the test's CA (tests/runtime/cert_manager.py) writes the Secret cert-manager
would, and the cluster runs with those beside the rendered objects. So the names the Certificates
ask for are checked against real verify-full connections.

Renewal is what kubelet does when cert-manager writes a renewed certificate into a Secret: the
mounted files change in place (harness ``update_mounted_secret``). Nobody acts: the rendered
``tls-reload`` sidecars (the members' and pgBouncer's, run as rendered) notice and send SIGHUP; the
test sees the new serial served by PostgreSQL (after its SSLRequest), Patroni's REST API and
pgBouncer, by the same processes (same PIDs).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .cert_manager import IssuingCA, served_serial
from .harness import (
    ContainerProcess,
    LocalCluster,
    PgBouncer,
    client_psql,
    local_spec,
    render_spec,
    running_cluster,
    update_mounted_secret,
    wait_until,
    write_secret,
)

pytestmark = pytest.mark.runtime

EXTRA_DNS, EXTRA_IP = "db.example.com", "10.11.12.13"


@dataclass
class Managed:
    cluster: LocalCluster
    bouncer: PgBouncer
    bouncer_reloader: ContainerProcess
    ca: IssuingCA
    certificates: dict[str, dict[str, Any]]  # secretName -> rendered Certificate
    serials: dict[str, int]  # secretName -> serial of the certificate issued at start


@pytest.fixture(scope="module")
def managed(runtime_root: Path) -> Iterator[Managed]:
    ca = IssuingCA()
    spec = local_spec("hippo")
    tls = spec["spec"]["tls"]
    del tls["notBefore"]  # pgrender's own certificates only (cert-manager decides validity)
    tls.update(
        provider="cert-manager",
        caCertificate=ca.pem,
        certManager={"caSecretName": "hippo-corp-ca", "duration": "2160h"},
        extraSANs=[EXTRA_DNS, EXTRA_IP],
    )
    spec["spec"]["proxy"] = {"pgBouncer": {"replicas": 1}}
    rendered = render_spec(spec, runtime_root / "specs" / "cert-manager")
    assert not [s for s in rendered.all("Secret") if s.get("type") == "kubernetes.io/tls"]
    (issuer,) = rendered.all("Issuer")
    assert issuer["spec"] == {"ca": {"secretName": "hippo-corp-ca"}}
    certificates = {c["spec"]["secretName"]: c for c in rendered.all("Certificate")}
    assert set(certificates) == {
        "hippo-cluster-cert",
        "hippo-replication-cert",
        "hippo-superuser-cert",
        "hippo-pgbouncer-cert",
    }
    issued = {name: ca.issue(c) for name, c in certificates.items()}
    rendered = rendered.with_objects(*(secret for secret, _ in issued.values()))
    with running_cluster(rendered, runtime_root / "cert-manager") as cluster:
        leader = cluster.wait_healthy()
        bouncer = PgBouncer(rendered, runtime_root / "cert-manager-pgbouncer", leader.pg_port)
        deployment = rendered.get("Deployment", "hippo-pgbouncer")
        reloader = ContainerProcess(cluster.pod_container(deployment, "tls-reload", root=bouncer.root))
        try:
            bouncer.start()
            reloader.start()
            yield Managed(cluster, bouncer, reloader, ca, certificates, {n: s for n, (_, s) in issued.items()})
        finally:
            reloader.stop()
            bouncer.stop()


def superuser_conninfo(certs: Path, host: str, port: int) -> str:
    return (
        f"host={host} hostaddr=127.0.0.1 port={port} dbname=postgres user=postgres sslmode=verify-full "
        f"sslrootcert={certs / 'ca.crt'} sslcert={certs / 'tls.crt'} sslkey={certs / 'tls.key'}"
    )


def test_every_name_the_certificate_asks_for_verifies(managed: Managed) -> None:
    """verify-full with the issued certificates, for each DNS name and the IP address the rendered
    server Certificate lists (Services, pods, extraSANs), on the leader and a replica; the
    superuser's client certificate (CN postgres) logs in with pg_hba's cert method."""
    cluster = managed.cluster
    leader = cluster.wait_healthy()
    replica = next(m for m in cluster.members if m is not leader)
    spec = managed.certificates["hippo-cluster-cert"]["spec"]
    assert EXTRA_DNS in spec["dnsNames"] and spec["ipAddresses"] == [EXTRA_IP]
    assert {f"{m.pod_dns_name}" for m in cluster.members} <= set(spec["dnsNames"])
    certs = write_secret(cluster.rendered, "hippo-superuser-cert", cluster.root / "cm-superuser")
    failures = []
    for member in (leader, replica):
        for name in [*spec["dnsNames"], *spec["ipAddresses"]]:
            result = client_psql(superuser_conninfo(certs, name, member.pg_port), "SELECT current_user")
            if (result.returncode, result.stdout.strip()) != (0, "postgres"):
                failures.append(f"{member.name} as {name}: {result.stderr.strip()}")
    assert failures == []


def test_replicas_stream_with_the_issued_replication_certificate(managed: Managed) -> None:
    cluster = managed.cluster
    leader = cluster.wait_healthy()
    rows = cluster.streaming(leader)
    assert set(rows) == {m.name for m in cluster.members if m is not leader}
    assert all(row["state"] == "streaming" and row["ssl"] == "t" for row in rows.values()), rows


def test_a_renewed_certificate_is_served_without_a_restart(managed: Managed) -> None:
    """The server and pgBouncer certificates renewed in place (same CA, new serial, new key): within a
    reload interval, PostgreSQL, Patroni's REST API and pgBouncer present the new one, and no process
    was restarted."""
    cluster, bouncer = managed.cluster, managed.bouncer
    leader = cluster.wait_healthy()
    members = cluster.members
    server, pooler = managed.serials["hippo-cluster-cert"], managed.serials["hippo-pgbouncer-cert"]
    for member in members:
        assert served_serial(member.pg_port, postgres=True) == server
        assert served_serial(member.api_port, postgres=False) == server
    assert served_serial(bouncer.port, postgres=True) == pooler
    pids = {m.name: (m.proc.pid if m.proc else None, m.postmaster_pid()) for m in members}
    assert bouncer.proc is not None
    bouncer_pid = bouncer.proc.pid

    renewed, new_server = managed.ca.issue(managed.certificates["hippo-cluster-cert"])
    renewed_pooler, new_pooler = managed.ca.issue(managed.certificates["hippo-pgbouncer-cert"])
    assert new_server != server and new_pooler != pooler
    files = {k: base64.b64decode(v) for k, v in renewed["data"].items()}
    for member in members:
        update_mounted_secret(member.tls_dir, files)
    pooler_files = {k: base64.b64decode(v) for k, v in renewed_pooler["data"].items()}
    update_mounted_secret(bouncer.root / "etc" / "pgbouncer" / "secret", pooler_files)

    def served() -> dict[str, int]:
        out = {f"{m.name} postgres": served_serial(m.pg_port, postgres=True) for m in members}
        out |= {f"{m.name} patroni": served_serial(m.api_port, postgres=False) for m in members}
        out["pgbouncer"] = served_serial(bouncer.port, postgres=True)
        return out

    expected = {k: (new_pooler if k == "pgbouncer" else new_server) for k in served()}
    started = time.monotonic()
    wait_until("the renewed certificates to be served", lambda: served() == expected, timeout=90, interval=1)
    # The sidecars look every 10 s; Patroni handles SIGHUP in its next loop (loop_wait: 2 s here).
    elapsed = time.monotonic() - started
    print(f"renewed certificates served after {elapsed:.1f} s")
    assert elapsed < 30

    assert {m.name: (m.proc.pid if m.proc else None, m.postmaster_pid()) for m in members} == pids
    assert bouncer.proc.pid == bouncer_pid and bouncer.proc.poll() is None
    assert cluster.wait_healthy() is leader
    # The new server certificate verifies like the old one did.
    certs = write_secret(cluster.rendered, "hippo-superuser-cert", cluster.root / "cm-superuser-after")
    result = client_psql(superuser_conninfo(certs, leader.pod_dns_name, leader.pg_port), "SELECT 1")
    assert result.returncode == 0, result.stderr
    logs = "".join(p.log.read_text() for p in cluster.containers) + managed.bouncer_reloader.log.read_text()
    assert "sent SIGHUP to patroni" in logs and "sent SIGHUP to pgbouncer" in logs, logs[-3000:]


# --- Provider existing: your own PKI's Secrets, with foreign key names -------------------------


def dns_forms(name: str, namespace: str) -> list[str]:
    return [f"{name}.{namespace}.svc.cluster.local", f"{name}.{namespace}.svc", f"{name}.{namespace}", name]


def foreign(secret: dict[str, Any], name: str, keys: dict[str, str]) -> dict[str, Any]:
    """An issued Secret as another PKI keeps it: its own name, type Opaque, its own key names."""
    data = {keys[k]: v for k, v in secret["data"].items()}
    meta = {"name": name, "namespace": secret["metadata"]["namespace"]}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta, "data": data}


KEYS = {"tls.crt": "server.crt", "tls.key": "server.key", "ca.crt": "root.crt"}  # Zalando-style file names


@dataclass
class Own:
    cluster: LocalCluster
    ca: IssuingCA
    server: dict[str, Any]  # what the server certificate was issued from (a Certificate's shape)
    serial: int


@pytest.fixture(scope="module")
def own(runtime_root: Path) -> Iterator[Own]:
    """hippo with TLS provider existing: Secrets named in the spec, keys server.crt/server.key/root.crt,
    and a pre-provisioned replication certificate for EDB PGD's streaming_replica."""
    ca = IssuingCA("corp root CA")
    spec = local_spec("hippo")
    tls = spec["spec"]["tls"]
    del tls["notBefore"]
    tls.update(
        provider="existing",
        caCertificate=ca.pem,
        replicationCommonName="streaming_replica",
        existing={
            "serverSecretName": "corp-db-server",
            "replicationSecretName": "corp-streaming-replica",
            "superuserSecretName": "corp-db-postgres",
            "items": {"certificate": "server.crt", "privateKey": "server.key", "ca": "root.crt"},
        },
    )
    rendered = render_spec(spec, runtime_root / "specs" / "existing")
    assert not rendered.all("Certificate") and not [
        s for s in rendered.all("Secret") if "cert" in s["metadata"]["name"]
    ]
    namespace = rendered.namespace
    pods = [f"{s['metadata']['name']}-0.hippo-pods" for s in rendered.all("StatefulSet")]
    names = [*dns_forms("hippo-primary", namespace), *dns_forms("hippo-replicas", namespace)]
    names += [n for pod in pods for n in dns_forms(pod, namespace)]

    def shape(secret: str, common_name: str, usages: list[str], dns: list[str]) -> dict[str, Any]:
        key = {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8"}
        spec = {"secretName": secret, "commonName": common_name, "usages": usages, "privateKey": key}
        return {"metadata": {"namespace": namespace}, "spec": {**spec, **({"dnsNames": dns} if dns else {})}}

    server = shape("server", names[0], ["digital signature", "server auth", "client auth"], names)
    issued_server, serial = ca.issue(server)
    issued_replication, _ = ca.issue(
        shape("replication", "streaming_replica", ["digital signature", "client auth"], [])
    )
    issued_superuser, _ = ca.issue(shape("superuser", "postgres", ["digital signature", "client auth"], []))
    secrets = [
        foreign(issued_server, "corp-db-server", KEYS),
        foreign(issued_replication, "corp-streaming-replica", KEYS),
        foreign(issued_superuser, "corp-db-postgres", KEYS),
    ]
    rendered = rendered.with_objects(*secrets)
    with running_cluster(rendered, runtime_root / "existing") as cluster:
        cluster.wait_healthy()
        yield Own(cluster, ca, server, serial)


def test_a_streaming_replica_certificate_replicates_through_the_ident_map(own: Own) -> None:
    """The replication certificate's common name is streaming_replica, not the replication user:
    pg_ident (pgrender-replication) maps it, and the replicas stream over TLS with it."""
    cluster = own.cluster
    leader = cluster.wait_healthy()
    rows = cluster.streaming(leader)
    assert set(rows) == {m.name for m in cluster.members if m is not leader}
    assert all(row["state"] == "streaming" and row["ssl"] == "t" for row in rows.values()), rows
    ((ident,),) = leader.psql(
        "SELECT string_agg(map_name || ' ' || sys_name || ' ' || pg_username, ',') FROM pg_ident_file_mappings"
    )
    assert ident == "pgrender-replication streaming_replica _pgrender_repl"


def test_the_reconcile_job_runs_with_the_users_superuser_certificate(own: Own) -> None:
    """The Jobs mount the superuser Secret the spec names, at its own keys, and reach PostgreSQL and
    Patroni's REST API with it."""
    job = own.cluster.run_job(own.cluster.root.parent / "existing-job")
    assert job.returncode == 0, job.stdout[-2000:] + job.stderr[-2000:]


def test_a_replaced_server_certificate_is_served_without_a_restart(own: Own) -> None:
    cluster = own.cluster
    cluster.wait_healthy()
    for member in cluster.members:
        assert served_serial(member.pg_port, postgres=True) == own.serial
    pids = {m.name: (m.proc.pid if m.proc else None, m.postmaster_pid()) for m in cluster.members}
    replaced, serial = own.ca.issue(own.server)
    files = {KEYS[k]: base64.b64decode(v) for k, v in replaced["data"].items()}
    for member in cluster.members:
        # The pods see the Secret's keys under the names the items mapping gives them.
        update_mounted_secret(member.tls_dir, {k: files[KEYS[k]] for k in KEYS})

    def served() -> set[int]:
        return {served_serial(m.pg_port, postgres=True) for m in cluster.members} | {
            served_serial(m.api_port, postgres=False) for m in cluster.members
        }

    wait_until("the replaced certificate to be served", lambda: served() == {serial}, timeout=90, interval=1)
    assert {m.name: (m.proc.pid if m.proc else None, m.postmaster_pid()) for m in cluster.members} == pids
