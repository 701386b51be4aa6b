"""NetworkPolicies (components/network_policies.py), judged on the rendered output by the evaluator
in tests/netpol.py: who may reach whom, on which port, for several specs."""

from __future__ import annotations

import copy
import fnmatch
import functools
import itertools
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.errors import SpecError
from pgrender.plans import validate
from pgrender.render import Request, render
from tests.conftest import EXAMPLES, GOLDEN, GOLDEN_KEY, base_spec
from tests.netpol import Endpoint, Network, selector_matches

Manifest = dict[str, Any]

# The evaluator itself, on hand-written policies: (policies, source, destination, port, protocol) -> allowed.
WEB = Endpoint("web", "10.0.0.1", "shop", {"app": "web"})
DB = Endpoint("db", "10.0.0.2", "shop", {"app": "db"})
OTHER_NS = Endpoint("batch", "10.0.1.1", "batch", {"app": "web"})
OUTSIDE = Endpoint("outside", "203.0.113.10")


def _np(name: str, selector: Manifest, **spec: Any) -> Manifest:
    return {"metadata": {"name": name, "namespace": "shop"}, "spec": {"podSelector": selector, **spec}}


DB_ONLY_FROM_WEB = _np(
    "db",
    {"matchLabels": {"app": "db"}},
    ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}],
)
DENY_ALL = _np("deny", {}, policyTypes=["Ingress", "Egress"])
EGRESS_BLOCK = _np(
    "out",
    {"matchLabels": {"app": "web"}},
    policyTypes=["Egress"],
    egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}],
)
BOTH_SELECTORS = _np(
    "both",
    {"matchLabels": {"app": "db"}},
    ingress=[
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"team": "b"}}, "podSelector": {"matchLabels": {"app": "web"}}}
            ]
        }
    ],
)
EITHER_SELECTOR = _np(
    "either",
    {"matchLabels": {"app": "db"}},
    ingress=[
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"team": "b"}}},
                {"podSelector": {"matchLabels": {"app": "web"}}},
            ]
        }
    ],
)


@pytest.mark.parametrize(
    ("policies", "source", "destination", "port", "protocol", "allowed"),
    [
        pytest.param([], WEB, DB, 5432, "TCP", True, id="no policy: open"),
        pytest.param([DB_ONLY_FROM_WEB], WEB, DB, 5432, "TCP", True, id="selected peer and port"),
        pytest.param([DB_ONLY_FROM_WEB], WEB, DB, 5433, "TCP", False, id="other port"),
        pytest.param([DB_ONLY_FROM_WEB], WEB, DB, 5432, "UDP", False, id="other protocol"),
        pytest.param([DB_ONLY_FROM_WEB], OTHER_NS, DB, 5432, "TCP", False, id="podSelector alone: own namespace"),
        pytest.param([DB_ONLY_FROM_WEB], DB, WEB, 80, "TCP", True, id="ingress only: egress stays open"),
        pytest.param([DB_ONLY_FROM_WEB, DENY_ALL], WEB, DB, 5432, "TCP", False, id="egress of web now isolated"),
        pytest.param([EGRESS_BLOCK], WEB, OUTSIDE, 443, "TCP", True, id="ipBlock"),
        pytest.param([EGRESS_BLOCK], WEB, DB, 443, "TCP", False, id="ipBlock except"),
        pytest.param([BOTH_SELECTORS], OTHER_NS, DB, 5432, "TCP", True, id="both selectors: AND"),
        pytest.param([BOTH_SELECTORS], WEB, DB, 5432, "TCP", False, id="both selectors: namespace must match"),
        pytest.param([EITHER_SELECTOR], WEB, DB, 5432, "TCP", True, id="two peers: OR"),
        pytest.param(
            [EITHER_SELECTOR], Endpoint("x", "10.0.1.2", "batch"), DB, 5432, "TCP", True, id="namespace alone"
        ),
    ],
)
def test_evaluator(
    policies: list[Manifest], source: Endpoint, destination: Endpoint, port: int, protocol: str, allowed: bool
) -> None:
    network = Network(policies, {"batch": {"team": "b"}})
    assert network.allowed(source, destination, port, protocol) is allowed


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x"]}]}, {}, True),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x"]}]}, {"t": "x"}, False),
        ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["x"]}]}, {}, False),
        ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {"t": ""}, True),
        ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, {"t": ""}, False),
    ],
)
def test_selector(selector: Manifest, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


# The rendered cases. Each is one or more spec files rendered together.
NARROW_API = {
    **base_spec(),
    "spec": {
        **base_spec()["spec"],
        "networkPolicy": {
            "kubernetesAPI": {"to": [{"ipBlock": {"cidr": "172.18.0.0/24"}}], "ports": [6443]},
            "dns": {
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "openshift-dns"}}}],
                "ports": [5353],
            },
        },
    },
}
OPENSHIFT = {**base_spec(), "spec": {**base_spec()["spec"], "openshift": True}}
OFF = {**base_spec(), "spec": {**base_spec()["spec"], "networkPolicy": {"enabled": False}}}
MONITORED = {**base_spec(), "spec": {**base_spec()["spec"], "monitoring": {}}}
POOLED = yaml.safe_load((EXAMPLES / "pooled.yaml").read_text())
# pooled under the cnpg profile, with the replicas' pgBouncer (<c>-pooler-ro) beside the primary's (<c>-pooler-rw).
READ_POOLED = {
    **POOLED,
    "spec": {
        **POOLED["spec"],
        "naming": "cnpg",
        "proxy": {**POOLED["spec"]["proxy"], "pgBouncerReplicas": {"replicas": 2}},
    },
}
BACKUPS = yaml.safe_load((EXAMPLES / "backups.yaml").read_text())


def with_repo1(**s3: Any) -> dict[str, Any]:
    """examples/backups.yaml with repo1 (its S3 repository, where the logical dumps go too) changed."""
    spec = copy.deepcopy(BACKUPS)
    repo1 = spec["spec"]["backups"]["repos"][0]
    repo1["s3"] |= s3
    if s3.get("keyType", "shared") != "shared":
        del repo1["credentials"]
    return spec


CASES: dict[str, tuple[Path | dict[str, Any], ...]] = {
    "pooled": (EXAMPLES / "pooled.yaml",),
    "read-pooled": (READ_POOLED,),
    "dr": (EXAMPLES / "backups.yaml", EXAMPLES / "standby.yaml", EXAMPLES / "restore.yaml"),
    "zalando": (GOLDEN / "naming-zalando" / "spec.yaml",),
    "web-id": (with_repo1(keyType="web-id", port=9000),),
    "auto": (with_repo1(keyType="auto"),),
    "narrow": (NARROW_API,),
    "openshift": (OPENSHIFT,),
    "off": (OFF,),
    "monitored": (MONITORED,),
}
# What is not a rendered pod: named endpoints every case has.
OUTSIDE_PODS = {
    "kube-dns": Endpoint("kube-dns", "10.244.9.10", "kube-system", {"k8s-app": "kube-dns"}),
    "openshift-dns": Endpoint(
        "openshift-dns", "10.244.9.11", "openshift-dns", {"dns.operator.openshift.io/daemonset-dns": "default"}
    ),
    "api-server": Endpoint("api-server", "172.18.0.2"),  # a control-plane node's address
    "internet": Endpoint("internet", "203.0.113.10"),
    "metadata-service": Endpoint("metadata-service", "169.254.169.254"),  # the cloud's, on every node
    # The Prometheus Operator's Prometheus pod, in its own namespace.
    "prometheus": Endpoint("prometheus-k8s-0", "10.244.9.12", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
}


@functools.cache
def _rendered(case: str) -> tuple[Network, dict[str, Endpoint]]:
    """The case's policies and pods, rendered once per test session."""
    with tempfile.TemporaryDirectory(prefix="netpol-") as tmp:
        paths = []
        for i, spec in enumerate(CASES[case]):
            if isinstance(spec, dict):
                path = Path(tmp) / f"{case}-{i}.yaml"
                path.write_text(yaml.safe_dump(spec))
                spec = path
            paths.append(str(spec))
        rendering = render(Request(tuple(paths), key_file=str(GOLDEN_KEY)))
    objects = [m for c in rendering.clusters for m in c.manifests]
    return Network([o for o in objects if o["kind"] == "NetworkPolicy"]), _pods(objects)


def _pods(objects: list[Manifest]) -> dict[str, Endpoint]:
    """Every workload's pod as "<Kind>/<name>", with an address, plus the cluster's other pods."""
    addresses = (f"10.244.{i // 250}.{i % 250 + 1}" for i in itertools.count())
    out = dict(OUTSIDE_PODS)
    namespaces = set()
    for obj in objects:
        kind = obj["kind"]
        if kind not in ("StatefulSet", "Deployment", "Job", "CronJob"):
            continue
        spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
        namespace = obj["metadata"]["namespace"]
        namespaces.add(namespace)
        labels = dict(spec["template"]["metadata"]["labels"])
        pod = spec["template"]["spec"]
        ports = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c.get("ports", []) if "name" in p}
        out[f"{kind}/{obj['metadata']['name']}"] = Endpoint(
            obj["metadata"]["name"], next(addresses), namespace, labels, ports
        )
    for namespace in sorted(namespaces):
        # A pod nobody named: another application of the cluster's namespace.
        out[f"other-app/{namespace}"] = Endpoint("other", next(addresses), namespace, {"app": "other"})
    shop = yaml.safe_load((EXAMPLES / "apps" / "shop-deployment.yaml").read_text())
    meta = shop["metadata"]
    out["shop"] = Endpoint("shop", next(addresses), meta["namespace"], shop["spec"]["template"]["metadata"]["labels"])
    return out


def _endpoint(pods: dict[str, Endpoint], name: str) -> Endpoint:
    found = [pods[k] for k in sorted(pods) if fnmatch.fnmatchcase(k, name)]
    assert found, f"no pod {name}; have {sorted(pods)}"
    return found[0]


U = "UDP"
T = "TCP"
# (case, from, to, port, protocol) -> allowed. A Job named by its content is written with a '*'.
TABLE = [
    # pooled: two members, pgBouncer, the reconcile Job; the application shop named by the spec.
    ("pooled", "StatefulSet/pooled-db-1", "StatefulSet/pooled-db-0", 5432, T, True),  # replication
    ("pooled", "StatefulSet/pooled-db-1", "StatefulSet/pooled-db-0", 8008, T, True),  # Patroni's leader race
    ("pooled", "StatefulSet/pooled-db-0", "kube-dns", 53, U, True),
    ("pooled", "StatefulSet/pooled-db-0", "kube-dns", 53, T, True),
    ("pooled", "StatefulSet/pooled-db-0", "api-server", 6443, T, True),  # Patroni's DCS
    ("pooled", "StatefulSet/pooled-db-0", "api-server", 443, T, True),
    ("pooled", "StatefulSet/pooled-db-0", "internet", 5432, T, False),
    ("pooled", "StatefulSet/pooled-db-0", "internet", 80, T, False),
    ("pooled", "StatefulSet/pooled-db-0", "other-app/apps", 5432, T, False),
    ("pooled", "StatefulSet/pooled-db-0", "Deployment/pooled-pgbouncer", 5432, T, False),
    ("pooled", "Deployment/pooled-pgbouncer", "StatefulSet/pooled-db-0", 5432, T, True),
    ("pooled", "Deployment/pooled-pgbouncer", "StatefulSet/pooled-db-0", 8008, T, False),  # not needed
    ("pooled", "Deployment/pooled-pgbouncer", "kube-dns", 53, U, True),  # it resolves the primary Service
    ("pooled", "Deployment/pooled-pgbouncer", "api-server", 6443, T, False),
    ("pooled", "Deployment/pooled-pgbouncer", "internet", 443, T, False),
    ("pooled", "Job/pooled-reconcile-*", "StatefulSet/pooled-db-0", 5432, T, True),  # roles, databases
    ("pooled", "Job/pooled-reconcile-*", "StatefulSet/pooled-db-1", 8008, T, True),  # the rollout, via Patroni
    ("pooled", "Job/pooled-reconcile-*", "api-server", 443, T, True),  # it deletes member pods
    ("pooled", "Job/pooled-reconcile-*", "Deployment/pooled-pgbouncer", 5432, T, False),
    ("pooled", "shop", "Deployment/pooled-pgbouncer", 5432, T, True),
    ("pooled", "shop", "StatefulSet/pooled-db-0", 5432, T, True),  # migrations go to the primary
    ("pooled", "shop", "StatefulSet/pooled-db-0", 8008, T, False),
    ("pooled", "other-app/apps", "StatefulSet/pooled-db-0", 5432, T, False),  # an unnamed pod
    ("pooled", "other-app/apps", "Deployment/pooled-pgbouncer", 5432, T, False),
    ("pooled", "other-app/apps", "StatefulSet/pooled-db-0", 8008, T, False),
    ("pooled", "internet", "StatefulSet/pooled-db-0", 5432, T, False),
    ("pooled", "internet", "Deployment/pooled-pgbouncer", 5432, T, False),
    # read-pooled: the replicas' pgBouncer, let in to the members (every one: roles move) and
    # reached by the applications, as the primary's.
    ("read-pooled", "shop", "Deployment/pooled-pooler-ro", 5432, T, True),
    ("read-pooled", "shop", "Deployment/pooled-pooler-rw", 5432, T, True),
    ("read-pooled", "other-app/apps", "Deployment/pooled-pooler-ro", 5432, T, False),
    ("read-pooled", "internet", "Deployment/pooled-pooler-ro", 5432, T, False),
    ("read-pooled", "Deployment/pooled-pooler-ro", "StatefulSet/pooled-db-0", 5432, T, True),
    ("read-pooled", "Deployment/pooled-pooler-ro", "StatefulSet/pooled-db-1", 5432, T, True),
    ("read-pooled", "Deployment/pooled-pooler-ro", "StatefulSet/pooled-db-1", 8008, T, False),
    ("read-pooled", "Deployment/pooled-pooler-ro", "kube-dns", 53, U, True),  # it resolves the replicas Service
    ("read-pooled", "Deployment/pooled-pooler-ro", "api-server", 443, T, False),
    ("read-pooled", "Deployment/pooled-pooler-ro", "internet", 5432, T, False),
    ("read-pooled", "Deployment/pooled-pooler-ro", "Deployment/pooled-pooler-rw", 5432, T, False),
    ("read-pooled", "StatefulSet/pooled-db-0", "Deployment/pooled-pooler-ro", 5432, T, False),
    ("read-pooled", "Job/pooled-reconcile-*", "Deployment/pooled-pooler-ro", 5432, T, False),
    # dr: hippo with an S3 and a volume repository (repository host), logical backups; a standby
    # streaming from it; a clone restored from its bucket.
    ("dr", "StatefulSet/hippo-instance1-0", "StatefulSet/hippo-repo-host", 8432, T, True),  # archive-push
    ("dr", "StatefulSet/hippo-instance1-0", "internet", 443, T, True),  # the S3 repository (any address)
    ("dr", "StatefulSet/hippo-instance1-0", "StatefulSet/hippo-instance1-1", 8432, T, False),
    ("dr", "StatefulSet/hippo-repo-host", "StatefulSet/hippo-instance1-0", 8432, T, False),  # it only serves
    ("dr", "StatefulSet/hippo-repo-host", "kube-dns", 53, U, False),
    ("dr", "StatefulSet/hippo-repo-host", "internet", 443, T, False),
    ("dr", "CronJob/hippo-repo1-full", "StatefulSet/hippo-instance1-0", 8432, T, True),  # pgBackRest's server
    ("dr", "CronJob/hippo-repo1-full", "StatefulSet/hippo-instance1-1", 8432, T, True),  # every member
    ("dr", "CronJob/hippo-repo1-full", "StatefulSet/hippo-instance1-0", 5432, T, False),
    ("dr", "CronJob/hippo-repo1-full", "internet", 443, T, True),
    ("dr", "CronJob/hippo-repo1-full", "api-server", 6443, T, False),  # no pod exec, no token
    ("dr", "CronJob/hippo-repo2-full", "StatefulSet/hippo-instance1-0", 8432, T, True),
    ("dr", "CronJob/hippo-repo2-full", "StatefulSet/hippo-repo-host", 8432, T, False),  # it mounts the volume
    ("dr", "Job/hippo-repo1-init-*", "StatefulSet/hippo-instance1-0", 8432, T, True),
    ("dr", "Job/hippo-repo1-manual-1", "StatefulSet/hippo-instance1-1", 8432, T, True),
    ("dr", "CronJob/hippo-logical-backup", "StatefulSet/hippo-instance1-0", 5432, T, True),  # pg_dumpall
    ("dr", "CronJob/hippo-logical-backup", "StatefulSet/hippo-instance1-0", 8432, T, False),
    ("dr", "CronJob/hippo-logical-backup", "internet", 443, T, True),  # the bucket
    ("dr", "CronJob/hippo-logical-backup", "internet", 5432, T, False),
    ("dr", "StatefulSet/hippo-standby-instance1-0", "StatefulSet/hippo-instance1-0", 5432, T, True),
    ("dr", "StatefulSet/hippo-standby-instance1-0", "StatefulSet/hippo-instance1-0", 8008, T, False),
    ("dr", "StatefulSet/hippo-standby-instance1-0", "internet", 443, T, True),  # the source's bucket
    ("dr", "CronJob/hippo-standby-repo1-full", "StatefulSet/hippo-standby-instance1-0", 8432, T, True),
    ("dr", "StatefulSet/hippo-clone-instance1-0", "internet", 443, T, True),  # restore from the bucket
    ("dr", "StatefulSet/hippo-instance1-0", "metadata-service", 80, T, False),  # keys from a Secret
    ("dr", "CronJob/hippo-repo1-full", "metadata-service", 80, T, False),
    # web-id: the store on its port, and AWS STS (443), where the pod's token is traded for keys.
    ("web-id", "StatefulSet/hippo-instance1-0", "internet", 9000, T, True),
    ("web-id", "StatefulSet/hippo-instance1-0", "internet", 443, T, True),
    ("web-id", "CronJob/hippo-repo1-full", "internet", 443, T, True),
    ("web-id", "CronJob/hippo-logical-backup", "internet", 443, T, True),
    ("web-id", "CronJob/hippo-logical-backup", "internet", 9000, T, True),
    ("web-id", "StatefulSet/hippo-instance1-0", "metadata-service", 80, T, False),
    ("web-id", "StatefulSet/hippo-repo-host", "internet", 443, T, False),
    # auto: the store, and the instance metadata service, which answers with keys.
    ("auto", "StatefulSet/hippo-instance1-0", "metadata-service", 80, T, True),
    ("auto", "CronJob/hippo-repo1-full", "metadata-service", 80, T, True),
    ("auto", "Job/hippo-repo1-init-*", "metadata-service", 80, T, True),
    ("auto", "CronJob/hippo-logical-backup", "metadata-service", 80, T, True),
    ("auto", "CronJob/hippo-repo2-full", "metadata-service", 80, T, True),  # one policy for every backup Job
    ("auto", "StatefulSet/hippo-repo-host", "metadata-service", 80, T, False),
    ("auto", "Job/hippo-reconcile-*", "metadata-service", 80, T, False),
    ("dr", "StatefulSet/hippo-clone-instance1-0", "StatefulSet/hippo-instance1-0", 5432, T, False),
    ("dr", "StatefulSet/hippo-clone-instance1-0", "StatefulSet/hippo-repo-host", 8432, T, False),
    ("dr", "other-app/postgres-dr", "StatefulSet/hippo-instance1-0", 8432, T, False),
    ("dr", "other-app/postgres-dr", "StatefulSet/hippo-repo-host", 8432, T, False),
    # zalando's names: the same policies, their selectors follow the profile's objects.
    ("zalando", "Deployment/acid-hippo-pooler", "StatefulSet/acid-hippo-main-0", 5432, T, True),
    ("zalando", "StatefulSet/acid-hippo-main-0", "StatefulSet/acid-hippo-main-1", 8008, T, True),
    ("zalando", "other-app/default", "Deployment/acid-hippo-pooler", 5432, T, False),
    # narrowed: the API servers' addresses and port, OpenShift's DNS named.
    ("narrow", "StatefulSet/hippo-instance1-0", "api-server", 6443, T, True),
    ("narrow", "StatefulSet/hippo-instance1-0", "api-server", 443, T, False),
    ("narrow", "StatefulSet/hippo-instance1-0", "internet", 6443, T, False),
    ("narrow", "StatefulSet/hippo-instance1-0", "openshift-dns", 5353, U, True),
    ("narrow", "StatefulSet/hippo-instance1-0", "kube-dns", 53, U, False),
    # openshift: its DNS by default (every pod of openshift-dns, port 5353).
    ("openshift", "StatefulSet/hippo-instance1-0", "openshift-dns", 5353, U, True),
    ("openshift", "StatefulSet/hippo-instance1-0", "openshift-dns", 5353, T, True),
    ("openshift", "StatefulSet/hippo-instance1-0", "kube-dns", 53, U, False),
    ("openshift", "Job/hippo-reconcile-*", "openshift-dns", 5353, U, True),
    # monitored: Prometheus scrapes the exporter's port only; nobody else reaches it.
    ("monitored", "prometheus", "StatefulSet/hippo-instance1-0", 9187, T, True),
    ("monitored", "prometheus", "StatefulSet/hippo-instance1-0", 5432, T, False),
    ("monitored", "other-app/db", "StatefulSet/hippo-instance1-0", 9187, T, False),
    ("pooled", "prometheus", "StatefulSet/pooled-db-0", 9187, T, False),  # no monitoring: no port
    # off: no policy, nothing isolated.
    ("off", "other-app/db", "StatefulSet/hippo-instance1-0", 5432, T, True),
    ("off", "StatefulSet/hippo-instance1-0", "internet", 5432, T, True),
]


@pytest.mark.parametrize(
    ("case", "source", "destination", "port", "protocol", "allowed"),
    [pytest.param(*row, id=f"{row[0]}: {row[1]} -> {row[2]}:{row[3]}/{row[4]}") for row in TABLE],
)
def test_rendered_policies(
    case: str,
    source: str,
    destination: str,
    port: int,
    protocol: str,
    allowed: bool,
) -> None:
    network, pods = _rendered(case)
    assert network.allowed(_endpoint(pods, source), _endpoint(pods, destination), port, protocol) is allowed


# Spec problems: (spec.networkPolicy, failing path, what the message says).
@pytest.mark.parametrize(
    ("network_policy", "path", "message"),
    [
        (
            {"applications": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]},
            "spec.networkPolicy.applications[0]",
            "either ipBlock or podSelector/namespaceSelector",
        ),
        ({"applications": [{}]}, "spec.networkPolicy.applications[0]", "needs podSelector"),
        (
            {"applications": [{"ipBlock": {"cidr": "10.0.0.1/8"}}]},
            "spec.networkPolicy.applications[0].ipBlock.cidr",
            "not a CIDR",
        ),
        (
            {"applications": [{"ipBlock": {"cidr": "10.0.0.1"}}]},
            "spec.networkPolicy.applications[0].ipBlock.cidr",
            "no prefix length",
        ),
        (
            {"kubernetesAPI": {"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}},
            "spec.networkPolicy.kubernetesAPI.to[0].ipBlock",
            "not inside cidr",
        ),
        ({"kubernetesAPI": {"ports": [443, 443]}}, "spec.networkPolicy.kubernetesAPI.ports", "more than once"),
        ({"dns": {"ports": [0]}}, "spec.networkPolicy.dns.ports[0]", "at least 1"),
        ({"dns": {"to": []}}, "spec.networkPolicy.dns.to", "at least 1"),
        (
            {"applications": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}]},
            "spec.networkPolicy.applications[0].podSelector.matchExpressions[0]",
            "needs values",
        ),
        ({"objectStore": {}}, "spec.networkPolicy.objectStore", "unknown field"),
    ],
)
def test_spec_problems(network_policy: Manifest, path: str, message: str, tmp_path: Path) -> None:
    spec = base_spec()
    spec["spec"]["networkPolicy"] = network_policy
    written = tmp_path / "spec.yaml"
    written.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as info:
        validate((str(written),))
    assert [(p.path, message in p.message) for p in info.value.problems] == [(path, True)]


def test_readme_snippet_renders(tmp_path: Path) -> None:
    """README "Network policy": its spec snippet is valid and does what the section says."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme.split("\n## Network policy\n", 1)[1]
    snippet = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    spec = base_spec()
    spec["spec"] |= snippet["spec"]
    written = tmp_path / "spec.yaml"
    written.write_text(yaml.safe_dump(spec))
    objects = [m for c in render(Request((str(written),), key_file=str(GOLDEN_KEY))).clusters for m in c.manifests]
    network = Network([o for o in objects if o["kind"] == "NetworkPolicy"], {"reporting": {}})
    member = Endpoint(
        "member",
        "10.244.0.1",
        "db",
        {"pgrender.io/cluster": "hippo", "pgrender.io/patroni": "hippo-ha"},
        {"postgres": 5432, "patroni": 8008},
    )
    metabase = Endpoint("metabase", "10.244.1.1", "reporting", {"app": "metabase"})
    other = Endpoint("other", "10.244.1.2", "reporting", {"app": "other"})
    assert network.allowed(metabase, member, 5432)
    assert not network.allowed(other, member, 5432)
    assert network.allowed(Endpoint("client", "192.0.2.7"), member, 5432)
    assert network.allowed(member, Endpoint("api", "10.0.0.10"), 6443)
    assert not network.allowed(member, Endpoint("api", "10.0.0.11"), 6443)


@pytest.mark.parametrize(
    "specs",
    [*((p,) for p in sorted(EXAMPLES.glob("*.yaml"))), CASES["dr"]],
    ids=[*(p.name for p in sorted(EXAMPLES.glob("*.yaml"))), "three clusters in one namespace"],
)
def test_every_pod_is_isolated_by_exactly_one_policy(specs: tuple[Path, ...]) -> None:
    """Each pod the output runs is selected by one policy, for both directions: a new kind of pod
    without its own policy would fail here (or one that two policies open up between them), as
    would a policy reaching into another cluster of the namespace."""
    rendering = render(Request(tuple(str(p) for p in specs), key_file=str(GOLDEN_KEY)))
    objects = [m for c in rendering.clusters for m in c.manifests]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    ours = {
        k: pod
        for k, pod in _pods(objects).items()
        if k.split("/")[0] in ("StatefulSet", "Deployment", "Job", "CronJob")
    }
    assert ours
    for where, pod in ours.items():
        selecting = [
            p
            for p in policies
            if p["metadata"]["namespace"] == pod.namespace and selector_matches(p["spec"]["podSelector"], pod.labels)
        ]
        assert [p["metadata"]["labels"]["pgrender.io/cluster"] for p in selecting] == [
            pod.labels["pgrender.io/cluster"]
        ], where
        assert selecting[0]["spec"]["policyTypes"] == ["Ingress", "Egress"], where


def test_a_new_port_reaches_each_member_as_it_restarts(tmp_path: Path) -> None:
    """spec.port 5432 → 5433: the policies name the port, so each pod's own number counts. Members that
    still listen on 5432 stay reachable from the reconcile Job (which restarts them) and from the
    members already on 5433 (replication), until they restart."""
    spec = base_spec()
    spec["spec"]["port"] = 5433
    written = tmp_path / "spec.yaml"
    written.write_text(yaml.safe_dump(spec))
    objects = [m for c in render(Request((str(written),), key_file=str(GOLDEN_KEY))).clusters for m in c.manifests]
    network = Network([o for o in objects if o["kind"] == "NetworkPolicy"])
    pods = _pods(objects)
    job = _endpoint(pods, "Job/hippo-reconcile-*")
    restarted = _endpoint(pods, "StatefulSet/hippo-instance1-0")
    assert restarted.ports["postgres"] == 5433
    waiting = replace(restarted, name="hippo-instance1-1", ip="10.244.5.5", ports={"postgres": 5432, "patroni": 8008})
    assert network.allowed(job, waiting, 5432) and network.allowed(job, restarted, 5433)
    assert network.allowed(restarted, waiting, 5432) and network.allowed(waiting, restarted, 5433)
    assert not network.allowed(job, waiting, 5433)  # nothing else of the pod is opened
