"""A cluster under EDB PGD's naming and connectivity, as rendered: replicas verify the full name of the
member they stream from, and every Service's fully qualified name is one the server certificate carries.

The spec is examples/hippo.yaml with ``naming: pgd``, ``connectivity.dns`` (domain and host suffix) and
``replicationSSLMode: verify-full``. Members advertise ``<pod>.<c>-pods``, which resolves to 127.0.0.1
in their private /etc/hosts (harness ``localize``, 2.), so libpq's verify-full checks that name against
the certificate on every replication connection. Applications' Secrets are written where the spec says
they are mounted (``secretMountPath``), and their ``uri`` is used as it is but for address and port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import LocalCluster, client_psql, local_spec, loopback_uri, render_spec, running_cluster, write_secret

pytestmark = pytest.mark.runtime

DOMAIN, SUFFIX = "pgd.example.com", "-east"


@pytest.fixture(scope="module")
def pgd(runtime_root: Path) -> Iterator[tuple[LocalCluster, Path]]:
    spec = local_spec("hippo")
    mount = runtime_root / "pgd-app-secret"
    spec["spec"]["naming"] = "pgd"
    spec["spec"]["connectivity"] = {
        "dns": {"domain": DOMAIN, "hostSuffix": SUFFIX},
        "replicationSSLMode": "verify-full",
        "secretMountPath": str(mount),
    }
    rendered = render_spec(spec, runtime_root / "specs" / "pgd")
    with running_cluster(rendered, runtime_root / "pgd") as cluster:
        cluster.wait_healthy()
        job = cluster.run_job(runtime_root / "pgd-job")
        assert job.returncode == 0, job.stderr
        yield cluster, mount


def test_replicas_stream_with_verify_full_to_the_leaders_pod_name(pgd: tuple[LocalCluster, Path]) -> None:
    cluster, _ = pgd
    leader = cluster.wait_healthy()
    rows = cluster.streaming(leader)
    assert set(rows) == {m.name for m in cluster.members if m is not leader}
    assert all(row["state"] == "streaming" and row["ssl"] == "t" for row in rows.values()), rows
    for replica in (m for m in cluster.members if m is not leader):
        ((conninfo,),) = replica.psql("SELECT conninfo FROM pg_stat_wal_receiver")
        assert "sslmode=verify-full" in conninfo, conninfo
        assert f"host={leader.pod_dns_name} " in conninfo, conninfo


def test_every_service_fqdn_verifies(pgd: tuple[LocalCluster, Path]) -> None:
    """<service><hostSuffix>.<domain> for the proxy, proxy-r, group and node Services."""
    cluster, _ = pgd
    leader = cluster.wait_healthy()
    certs = write_secret(cluster.rendered, "hippo-superuser-cert", cluster.root / "pgd-superuser")
    services = sorted(s["metadata"]["name"] for s in cluster.rendered.all("Service"))
    fqdns = [f"{name}.{DOMAIN}" for name in services if name.endswith(SUFFIX)]
    nodes = [f"{m.statefulset}{SUFFIX}.{DOMAIN}" for m in cluster.members]
    assert {f"hippo{SUFFIX}.{DOMAIN}", f"hippo-group{SUFFIX}.{DOMAIN}", *nodes} <= set(fqdns)
    failures = []
    for name in fqdns:
        conninfo = (
            f"host={name} hostaddr=127.0.0.1 port={leader.pg_port} dbname=postgres user=postgres "
            f"sslmode=verify-full sslrootcert={certs / 'ca.crt'} sslcert={certs / 'tls.crt'} sslkey={certs / 'tls.key'}"
        )
        result = client_psql(conninfo, "SELECT 1")
        if result.returncode != 0:
            failures.append(f"{name}: {result.stderr.strip()}")
    assert failures == []


def test_the_app_secret_uri_connects(pgd: tuple[LocalCluster, Path]) -> None:
    """hippo-app, mounted at secretMountPath: its uri names the proxy Service's FQDN and the CA there."""
    cluster, mount = pgd
    leader = cluster.wait_healthy()
    write_secret(cluster.rendered, "hippo-app", mount)
    uri = cluster.rendered.secret("hippo-app")["uri"].decode()
    assert f"@hippo{SUFFIX}.{DOMAIN}:5432/" in uri and f"sslrootcert={mount}/ca.crt" in uri
    result = client_psql(loopback_uri(uri, leader.pg_port), "SELECT current_user, current_database()")
    assert (result.returncode, result.stdout.strip()) == (0, "app\tapp"), result.stderr
