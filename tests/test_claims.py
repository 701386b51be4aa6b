"""claims: no two clusters of one run (nor two fields of one cluster) make one object, node port or
output directory; each collision is reported at both places."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgrender import spill
from tests.conftest import base_spec, run_cli


def cluster(name: str, namespace: str = "db", **spec: Any) -> dict[str, Any]:
    doc = base_spec()
    doc["metadata"] = {"name": name, "namespace": namespace}
    doc["spec"].update(spec)
    return doc


def instances(set_name: str, replicas: int = 1) -> list[dict[str, Any]]:
    return [{"name": set_name, "replicas": replicas, "dataVolume": {"size": "1Gi"}}]


SHARED = "type=s3 s3-endpoint=s3.example.com s3-bucket=backups path=/shared"
S3_REPO = {
    "name": "repo1",
    "s3": {"bucket": "backups", "endpoint": "s3.example.com", "region": "eu-north-1"},
    "credentials": {"secretName": "s3"},
    "schedules": {"full": "0 1 * * *"},
}


def node_port(port: int) -> dict[str, Any]:
    return {"type": "NodePort", "nodePort": port}


# (case, clusters, [(file index, path, message start)] of every problem)
CASES: list[tuple[str, list[dict[str, Any]], list[tuple[int, str, str]]]] = [
    (
        "statefulset-across-clusters",
        [cluster("a-b", instances=instances("c")), cluster("a", instances=instances("b-c"))],
        [
            (0, "spec.instances[0].name", "PersistentVolumeClaim db/a-b-c-0-pgdata is also made by "),
            (0, "spec.instances[0].name", "StatefulSet db/a-b-c-0 is also made by "),
            (1, "spec.instances[0].name", "PersistentVolumeClaim db/a-b-c-0-pgdata is also made by "),
            (1, "spec.instances[0].name", "StatefulSet db/a-b-c-0 is also made by "),
        ],
    ),
    (
        "user-secret-across-clusters",
        [cluster("a-b", users=[{"name": "patroni"}]), cluster("a-b-pguser")],
        [
            (0, "spec.users[0].name", "Secret db/a-b-pguser-patroni is also made by "),
            (1, "metadata.name", "Secret db/a-b-pguser-patroni is also made by "),
        ],
    ),
    (
        "patroni-runtime-config-map",  # Patroni of cluster x writes ConfigMap x-ha-config
        [cluster("x"), cluster("x-ha")],
        [
            (0, "metadata.name", "ConfigMap db/x-ha-config is also made by "),
            (1, "metadata.name", "ConfigMap db/x-ha-config is also made by "),
        ],
    ),
    (
        "zalando-replica-service",
        [cluster("a", naming="zalando"), cluster("a-repl", naming="zalando")],
        [
            (0, "metadata.name", "Service db/a-repl is also made by "),
            (1, "metadata.name", "Service db/a-repl is also made by "),
        ],
    ),
    (
        "pgd-node-service",
        [cluster("a", naming="pgd", instances=instances("b")), cluster("a-b-0", naming="pgd")],
        [
            (0, "spec.naming", "Service db/a-b-0 is also made by "),
            (1, "metadata.name", "Service db/a-b-0 is also made by "),
        ],
    ),
    (
        "other-namespace-is-fine",
        [cluster("a-b", instances=instances("c")), cluster("a", "other", instances=instances("b-c"))],
        [],
    ),
    (
        "output-directories",
        [cluster("b", "a"), cluster("b", "c"), cluster("a-b", "x")],
        [
            (0, "metadata.name", "output directory a-b/ is also made by "),
            (2, "metadata.name", "output directory a-b/ is also made by "),
        ],
    ),
    (
        "output-directories-of-shared-names",  # b-c twice, c twice: a-b-c made by two namespaced ones
        [cluster("b-c", "a"), cluster("c", "z"), cluster("b-c", "b"), cluster("c", "a-b"), cluster("d", "a")],
        [
            (0, "metadata.name", "output directory a-b-c/ is also made by "),
            (3, "metadata.name", "output directory a-b-c/ is also made by "),
        ],
    ),
    (
        "node-port-across-clusters",
        [cluster("a", service=node_port(30001)), cluster("b", "other", service=node_port(30001))],
        [
            (0, "spec.service.nodePort", "node port 30001 is also made by "),
            (1, "spec.service.nodePort", "node port 30001 is also made by "),
        ],
    ),
    (
        "node-port-within-a-cluster",
        [cluster("a", service=node_port(30002), replicaService=node_port(30002))],
        [
            (0, "spec.replicaService.nodePort", "node port 30002 is also made by "),
            (0, "spec.service.nodePort", "node port 30002 is also made by "),
        ],
    ),
    (
        "node-port-of-a-group-service",  # spec.groupService (cnpg: <c>-r) takes a node port like spec.service
        [
            cluster("a", naming="cnpg", service=node_port(30003), groupService=node_port(30003)),
            cluster("b", "other", naming="cnpg", groupService=node_port(30004)),
            cluster("c", "other", service=node_port(30004)),
        ],
        [
            (0, "spec.groupService.nodePort", "node port 30003 is also made by "),
            (0, "spec.service.nodePort", "node port 30003 is also made by "),
            (1, "spec.groupService.nodePort", "node port 30004 is also made by "),
            (2, "spec.service.nodePort", "node port 30004 is also made by "),
        ],
    ),
    (
        "node-port-of-a-member-service",  # spec.memberServices (pgd) of a single member
        [
            cluster("a", naming="pgd", instances=instances("i"), memberServices=node_port(30005)),
            cluster("b", service=node_port(30005)),
        ],
        [
            (0, "spec.memberServices.nodePort", "node port 30005 is also made by "),
            (1, "spec.service.nodePort", "node port 30005 is also made by "),
        ],
    ),
    (
        "pod-disruption-budget-within-a-cluster",
        [cluster("a", instances=instances("pgbouncer", 2), proxy={"pgBouncer": {"replicas": 2}})],
        [
            (0, "metadata.name", "PodDisruptionBudget db/a-pgbouncer is also made by "),
            (0, "spec.instances[0].name", "PodDisruptionBudget db/a-pgbouncer is also made by "),
        ],
    ),
    (
        "replicas-pgbouncer-across-clusters",  # cluster a-pgbouncer's replicas Service
        [cluster("a", proxy={"pgBouncerReplicas": {}}), cluster("a-pgbouncer")],
        [
            (0, "metadata.name", "Service db/a-pgbouncer-replicas is also made by "),
            (1, "metadata.name", "Service db/a-pgbouncer-replicas is also made by "),
        ],
    ),
    (
        "cnpg-replicas-pooler-across-clusters",  # cluster a-pooler's -ro Service
        [cluster("a", naming="cnpg", proxy={"pgBouncerReplicas": {}}), cluster("a-pooler", naming="cnpg")],
        [
            (0, "metadata.name", "Service db/a-pooler-ro is also made by "),
            (1, "metadata.name", "Service db/a-pooler-ro is also made by "),
        ],
    ),
    (
        "replicas-pgbouncer-disruption-budget-within-a-cluster",
        [cluster("a", instances=instances("pgbouncer-replicas", 2), proxy={"pgBouncerReplicas": {"replicas": 2}})],
        [
            (0, "metadata.name", "PodDisruptionBudget db/a-pgbouncer-replicas is also made by "),
            (0, "spec.instances[0].name", "PodDisruptionBudget db/a-pgbouncer-replicas is also made by "),
        ],
    ),
    (
        "node-port-of-both-pgbouncers",
        [
            cluster(
                "a",
                proxy={"pgBouncer": {"service": node_port(30003)}, "pgBouncerReplicas": {"service": node_port(30003)}},
            )
        ],
        [
            (0, "spec.proxy.pgBouncer.service.nodePort", "node port 30003 is also made by "),
            (0, "spec.proxy.pgBouncerReplicas.service.nodePort", "node port 30003 is also made by "),
        ],
    ),
    (
        "network-policy-across-clusters",
        [
            cluster("x", backups={"repos": [S3_REPO], "logical": {"repo": "repo1", "schedule": "0 2 * * *"}}),
            cluster("x-logical", backups={"repos": [S3_REPO]}),
        ],
        [
            (0, "spec.backups.logical", "NetworkPolicy db/x-logical-backup is also made by "),
            (1, "spec.backups", "NetworkPolicy db/x-logical-backup is also made by "),
        ],
    ),
    (
        "repository-location-across-namespaces",  # one bucket and path: WAL and backups would mix
        [
            cluster("a", backups={"repos": [{**S3_REPO, "path": "/shared"}]}),
            cluster("b", "other", backups={"repos": [{**S3_REPO, "name": "repo2", "path": "/shared"}]}),
        ],
        [
            (0, "spec.backups.repos[0]", f"pgBackRest repository {SHARED} is also made by "),
            (1, "spec.backups.repos[0]", f"pgBackRest repository {SHARED} is also made by "),
        ],
    ),
    (
        "repository-default-paths-differ",  # the default path names the namespace and the cluster
        [cluster("a", backups={"repos": [S3_REPO]}), cluster("a", "other", backups={"repos": [S3_REPO]})],
        [],
    ),
    (
        "network-policies-off-no-clash",
        [
            cluster("x", backups={"repos": [S3_REPO], "logical": {"repo": "repo1", "schedule": "0 2 * * *"}}),
            cluster("x-logical", backups={"repos": [S3_REPO]}, networkPolicy={"enabled": False}),
        ],
        [],
    ),
]


@pytest.mark.parametrize("in_memory", [spill.IN_MEMORY, 0], ids=["memory", "file"])
@pytest.mark.parametrize(("clusters", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_collisions(
    write_spec: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    clusters: list[dict[str, Any]],
    expected: list[tuple[int, str, str]],
    in_memory: int,
) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)  # file: the registry's stores each in a file
    files = [write_spec(c, f"c{i}.yaml") for i, c in enumerate(clusters)]
    result = run_cli("validate", "--format", "json", *map(str, files))
    if not expected:
        assert result.exit_code == 0, result.stderr
        return
    assert result.exit_code == 2
    problems = json.loads(result.stderr)
    found = sorted((files.index(Path(p["file"])), p["path"], p["message"]) for p in problems)
    assert [(i, path, message.split(" is also made by ")[0] + " is also made by ") for i, path, message in found] == (
        sorted(expected)
    )
    for _, _, message in found:  # each names the other place: file:line:col (path)
        assert message.split(" is also made by ")[1].startswith(str(files[0].parent))
