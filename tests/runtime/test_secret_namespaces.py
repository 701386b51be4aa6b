"""An application in another namespace logs in with the copy of its user's Secret (users[].secretNamespaces).

examples/hippo.yaml with a user shop whose Secret and access Secret are also written into namespace
storefront, running, its roles made by the reconcile Job. An application's pod of namespace storefront
(harness.localize, 8.: its command and environment as written; the primary Service's names resolve to
a stand-in that forwards to the leader) takes the access Secret as its environment (envFrom) and mounts
it at secretMountPath, where PGSSLROOTCERT points, as kubelet gives a pod the Secrets of its own
namespace: psql logs in as shop, verify-full. The same pod in a namespace the spec does not list finds no
such Secret, as kubelet would not: the copy is what lets the application in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgrender.plan.hosts import dns_forms

from .conftest import module_root
from .harness import (
    HarnessError,
    LocalCluster,
    Placement,
    PodFacts,
    local_spec,
    missing_requirements,
    pg_bin,
    prepare_container,
    render_spec,
    running_cluster,
)

pytestmark = pytest.mark.runtime

APP_NAMESPACE = "storefront"
ACCESS_SECRET = "hippo-pgaccess-shop"
MOUNT = "/etc/pgrender/hippo"  # the default secretMountPath, where PGSSLROOTCERT points
SQL = "SELECT current_user, current_database(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    for root in module_root("pgrender-secret-namespaces-", missing_requirements()):
        spec = local_spec("hippo")
        user = {"name": "shop", "databases": ["shop"], "accessSecret": True, "secretNamespaces": [APP_NAMESPACE]}
        spec["spec"]["users"] = [user]
        with running_cluster(render_spec(spec, root / "spec"), root / "hippo") as local:
            job = local.run_job(root / "job")
            assert job.returncode == 0, job.stdout + job.stderr
            yield local


def application(namespace: str) -> dict[str, Any]:
    """An application's Deployment in ``namespace``: psql with only the access Secret."""
    container = {
        "name": "app",
        "image": "registry.example.com/psql",
        "command": [pg_bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", SQL],
        "envFrom": [{"secretRef": {"name": ACCESS_SECRET}}],
        "volumeMounts": [{"name": "access", "mountPath": MOUNT, "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "containers": [container],
                    "volumes": [{"name": "access", "secret": {"secretName": ACCESS_SECRET}}],
                }
            }
        },
    }


def run_in(cluster: LocalCluster, namespace: str, root: Path) -> str:
    primary = cluster.service_stand_in("hippo-primary")
    services = dict.fromkeys(dns_forms("hippo-primary", cluster.rendered.namespace, "cluster.local"), primary.address)
    prepared = prepare_container(
        cluster.rendered,
        application(namespace),
        "app",
        root,
        Placement({}, 0, services=services),
        pod=PodFacts("app-local", namespace),
        bound=[MOUNT],
    )
    done = prepared.run_once(timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_application_in_another_namespace_logs_in_with_the_copy(cluster: LocalCluster) -> None:
    copy = cluster.rendered.secret(ACCESS_SECRET, APP_NAMESPACE)
    assert copy == cluster.rendered.secret(ACCESS_SECRET)  # the same keys and values as the cluster's own
    assert copy["PGHOST"].decode() == f"hippo-primary.{cluster.rendered.namespace}.svc"
    assert run_in(cluster, APP_NAMESPACE, cluster.root / "app-storefront") == "shop|shop|t"


def test_a_namespace_not_listed_has_no_such_secret(cluster: LocalCluster) -> None:
    with pytest.raises(HarnessError, match=f"no Secret elsewhere/{ACCESS_SECRET}"):
        run_in(cluster, "elsewhere", cluster.root / "app-elsewhere")
