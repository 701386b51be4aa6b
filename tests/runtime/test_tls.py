"""TLS as clients see it: the names the design promises verify, others do not, plaintext is refused.

Connections go to 127.0.0.1 (``hostaddr``) while ``host`` carries the DNS name a client inside the
cluster would use, so ``sslmode=verify-full`` checks the rendered server certificate against that
name with the rendered ``ca.crt``. The client identity is the rendered superuser certificate
(``hostssl all postgres all cert``), which exists independently of the reconcile Job.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from .harness import LocalCluster, client_psql, write_secret

pytestmark = pytest.mark.runtime


def dns_forms(name: str, namespace: str) -> list[str]:
    """A Service's four DNS names: short, with namespace, with .svc, fully qualified."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


def promised_names(cluster: LocalCluster) -> list[str]:
    """Every name the design puts in the server certificate: primary, replicas and each pod."""
    c, ns = cluster.rendered.name, cluster.rendered.namespace
    names = dns_forms(f"{c}-primary", ns) + dns_forms(f"{c}-replicas", ns)
    for member in cluster.members:
        assert member.pod_dns_name == f"{member.name}.{c}-pods"
        names += [member.pod_dns_name + suffix for suffix in ("", f".{ns}", f".{ns}.svc", f".{ns}.svc.cluster.local")]
    return names


def superuser_conninfo(cluster: LocalCluster, certs: Path, host: str, port: int, sslmode: str = "verify-full") -> str:
    return (
        f"host={host} hostaddr=127.0.0.1 port={port} dbname=postgres user=postgres sslmode={sslmode} "
        f"sslrootcert={certs / 'ca.crt'} sslcert={certs / 'tls.crt'} sslkey={certs / 'tls.key'}"
    )


@pytest.fixture
def superuser_certs(cluster: LocalCluster) -> Path:
    """The rendered <c>-superuser-cert Secret as files (root:postgres 0640, as a pod sees them)."""
    return write_secret(cluster.rendered, f"{cluster.rendered.name}-superuser-cert", cluster.root / "client-tls")


def test_every_promised_name_verifies(cluster: LocalCluster, superuser_certs: Path) -> None:
    """verify-full succeeds for each Service and pod name, on the leader and on a replica."""
    leader = cluster.wait_healthy()
    replica = next(m for m in cluster.members if m is not leader)
    failures = []
    for member in (leader, replica):
        for name in promised_names(cluster):
            result = client_psql(
                superuser_conninfo(cluster, superuser_certs, name, member.pg_port),
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            )
            if result.returncode != 0 or not result.stdout.startswith("t\tTLSv1."):
                failures.append(f"{member.name} as {name}: {result.stderr.strip() or result.stdout.strip()}")
    assert failures == []


@pytest.mark.parametrize("wrong", ["db.example.com", "{c}-primary.other-namespace.svc", "{c}-pods.{ns}.svc"])
def test_a_name_not_in_the_certificate_fails_verification(
    cluster: LocalCluster, superuser_certs: Path, wrong: str
) -> None:
    """verify-full rejects a name the certificate does not carry (before authentication)."""
    leader = cluster.wait_healthy()
    name = wrong.format(c=cluster.rendered.name, ns=cluster.rendered.namespace)
    result = client_psql(superuser_conninfo(cluster, superuser_certs, name, leader.pg_port), "SELECT 1")
    assert result.returncode != 0
    assert f'does not match host name "{name}"' in result.stderr


@pytest.mark.parametrize("user", ["postgres", "someone"])
def test_plaintext_is_rejected_by_pg_hba(cluster: LocalCluster, user: str) -> None:
    """Without TLS, pg_hba rejects the connection for the superuser and for anyone else."""
    leader = cluster.wait_healthy()
    host = f"{cluster.rendered.name}-primary.{cluster.rendered.namespace}.svc"
    result = client_psql(
        f"host={host} hostaddr=127.0.0.1 port={leader.pg_port} dbname=postgres user={user} sslmode=disable", "SELECT 1"
    )
    assert result.returncode != 0
    assert "pg_hba.conf rejects connection" in result.stderr
    assert "no encryption" in result.stderr


def test_rest_api_certificate_matches_the_peer_address_used_in_kubernetes(cluster: LocalCluster) -> None:
    """Patroni's REST API serves the rendered certificate, valid for ``<pod>.<c>-pods``.

    In Kubernetes, ``api_url`` is ``https://$(PATRONI_NAME).<c>-pods:8008``; patronictl (``ctl:
    insecure: false``) verifies the host name, so that name must be in the certificate. Here the
    connect address is 127.0.0.1, which the certificate does not carry; that does not affect the
    members themselves, because Patroni's daemon checks its peers with ``PatroniRequest(config,
    insecure=True)``: CA verified, host name not (patroni/__main__.py, request.py in 3.0.2).
    """
    for member in cluster.members:
        assert member.api("/patroni")["state"] == "running"
        with pytest.raises(ssl.SSLCertVerificationError):
            member.api("/patroni", server_name="127.0.0.1")


def test_rest_api_unsafe_endpoints_need_a_client_certificate_and_the_password(cluster: LocalCluster) -> None:
    """POST endpoints need both a certificate from the cluster CA and the <c>-patroni password.

    With ``verify_client: optional`` Patroni lets GETs (the kubelet probes) through without a
    client certificate but refuses unsafe methods without one (403) before it even checks the
    password (401). In the pod, patronictl presents ``ctl.certfile`` and the env's password.
    """
    member = cluster.members[0]
    token = base64.b64encode(
        f"{member.run.env['PATRONI_RESTAPI_USERNAME']}:{member.run.env['PATRONI_RESTAPI_PASSWORD']}".encode()
    ).decode()
    password = {"Authorization": f"Basic {token}"}
    certificate = (member.tls_dir / "tls.crt", member.tls_dir / "tls.key")
    assert member.api_response("/reload", method="POST", headers=password) == (403, "client certificate required")
    assert member.api_response("/reload", method="POST", client_cert=certificate)[0] == 401
    assert member.api_response("/reload", method="POST", headers=password, client_cert=certificate)[0] == 202
