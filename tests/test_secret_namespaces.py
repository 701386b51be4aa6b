"""users[].secretNamespaces: a user's Secret (and access Secret) written into the namespaces of the
applications that log in as it, the same keys and values, with the cluster's NetworkPolicies letting
those namespaces in; what `-o`, `diff` and the sealed and external providers make of the copies."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgrender.errors import SpecError
from pgrender.plans import validate
from tests.conftest import base_spec, run_cli
from tests.netpol import Endpoint, Network, pod_labels
from tests.test_sealed import CERTIFICATE, controller_key, unseal

Objects = list[dict[str, Any]]
KEY = "tests/golden.key"


def shared(**user: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["users"] = [
        {"name": "hippo", "databases": ["zoo"], "secretNamespaces": ["shop", "billing"], **user},
        {"name": "alice", "databases": ["zoo"]},
    ]
    spec["spec"]["proxy"] = {"pgBouncer": {}}
    return spec


def placed(objects: Objects, kind: str, name: str) -> dict[str, dict[str, Any]]:
    """namespace -> the object of that kind and name there."""
    return {o["metadata"]["namespace"]: o for o in objects if (o["kind"], o["metadata"]["name"]) == (kind, name)}


@pytest.mark.parametrize("name", ["hippo-pguser-hippo", "hippo-pgaccess-hippo"])
def test_copies_hold_the_same_keys_and_values(objects_of: Callable[[dict[str, Any]], Objects], name: str) -> None:
    objects = objects_of(shared(accessSecret=True))
    secrets = placed(objects, "Secret", name)
    assert sorted(secrets) == ["billing", "db", "shop"]
    original = secrets["db"]
    for namespace in ("shop", "billing"):
        copy = secrets[namespace]
        assert copy["data"] == original["data"] and copy["type"] == original["type"]
        assert copy["metadata"]["labels"] == original["metadata"]["labels"]
        assert copy["metadata"]["annotations"]["pgrender.io/cluster-namespace"] == "db"
    assert "pgrender.io/cluster-namespace" not in original["metadata"].get("annotations", {})
    assert sorted(placed(objects, "Secret", "hippo-pguser-alice")) == ["db"]  # alice lists none


def test_the_copies_name_the_cluster_with_its_namespace(objects_of: Callable[[dict[str, Any]], Objects]) -> None:
    """Their host and URIs reach the cluster from another namespace (<service>.<namespace>.svc), and the
    server certificate names that form (verify-full)."""
    copy = placed(objects_of(shared()), "Secret", "hippo-pguser-hippo")["shop"]
    text = {k: base64.b64decode(v).decode() for k, v in copy["data"].items()}
    assert (text["host"], text["pgbouncer-host"]) == ("hippo-primary.db.svc", "hippo-pgbouncer.db.svc")
    assert "@hippo-primary.db.svc:5432/zoo?sslmode=verify-full" in text["uri"]


def test_files_and_kustomization(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    out = tmp_path / "out"
    result = run_cli("render", str(write_spec(shared())), "-o", str(out), "--key-file", KEY)
    assert result.exit_code == 0, result.stderr
    copies = sorted(p.name for p in out.glob("secret-hippo-pguser-hippo*"))
    assert copies == [
        "secret-hippo-pguser-hippo.billing.yaml",
        "secret-hippo-pguser-hippo.shop.yaml",
        "secret-hippo-pguser-hippo.yaml",
    ]
    assert "namespace: shop\n" in (out / "secret-hippo-pguser-hippo.shop.yaml").read_text()
    kustomization = (out / "kustomization.yaml").read_text()
    assert all(f"- {name}\n" in kustomization for name in copies)
    again = run_cli("check", str(write_spec(shared(), "again.yaml")), "-o", str(out), "--key-file", KEY)
    assert again.exit_code == 0, again.stdout + again.stderr


def test_the_namespaces_reach_postgresql_and_pgbouncer(objects_of: Callable[[dict[str, Any]], Objects]) -> None:
    objects = objects_of(shared())
    network = Network([o for o in objects if o["kind"] == "NetworkPolicy"])
    pods = pod_labels(objects)
    member = Endpoint("member", "10.0.0.1", *pods[("StatefulSet", "hippo-instance1-0")], {"postgres": 5432})
    pooler = Endpoint("pgbouncer", "10.0.0.2", *pods[("Deployment", "hippo-pgbouncer")], {"pgbouncer": 5432})
    for namespace, allowed in (("shop", True), ("billing", True), ("elsewhere", False)):
        app = Endpoint("app", "10.0.1.1", namespace, {"app": "shop"})
        assert network.allowed(app, member, 5432) is allowed, namespace
        assert network.allowed(app, pooler, 5432) is allowed, namespace


@pytest.mark.parametrize(
    ("user", "naming", "message"),
    [
        ({"secretNamespaces": ["db"]}, None, "db is the cluster's own namespace"),
        ({"secretNamespaces": ["shop", "shop"]}, None, "a namespace is listed twice"),
        ({"options": {"login": False}}, None, "a role that cannot log in has no Secret"),
        ({}, "cnpg", "CloudNativePG's Secret names its host without the namespace"),
    ],
)
def test_refused(write_spec: Callable[..., Path], user: dict[str, Any], naming: str | None, message: str) -> None:
    spec = shared(**user)
    if naming:
        spec["spec"]["naming"] = naming
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    (problem,) = exc.value.problems
    assert problem.path == "spec.users[0].secretNamespaces" and message in problem.message, problem


def test_diff_tells_the_copies_apart_from_a_cluster(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    """A copy belongs to its cluster (pgrender.io/cluster-namespace): adding or removing one is that
    Secret's change, never a cluster appearing or going in the application's namespace."""
    without = shared()
    del without["spec"]["users"][0]["secretNamespaces"]
    directories = {}
    for name, spec in (("without", without), ("with", shared())):
        directories[name] = tmp_path / name
        result = run_cli(
            "render", str(write_spec(spec, f"{name}.yaml")), "-o", str(directories[name]), "--key-file", KEY
        )
        assert result.exit_code == 0, result.stderr
    for old, new, expected in (("without", "with", "created"), ("with", "without", "secretNamespaces")):
        result = run_cli("diff", str(directories[old]), str(directories[new]))
        assert result.exit_code == 0, result.stdout + result.stderr
        assert "PostgresCluster" not in result.stdout, result.stdout
        lines = [line for line in result.stdout.splitlines() if "shop/hippo-pguser-hippo" in line]
        assert len(lines) == 1 and lines[0].startswith("live:") and expected in lines[0], result.stdout


def test_sealed_copies_open_in_their_own_namespace(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    out = tmp_path / "out"
    args = ["--key-file", KEY, "--secrets-provider", "sealed", "--sealing-certificate", str(CERTIFICATE)]
    result = run_cli("render", str(write_spec(shared())), "-o", str(out), *args)
    assert result.exit_code == 0, result.stderr
    import yaml

    sealed = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for p in sorted(out.glob("sealedsecret-hippo-pguser-hippo*.yaml"))
        for o in yaml.safe_load_all(p.read_text())
        if o
    }
    assert sorted(sealed) == [
        ("billing", "hippo-pguser-hippo"),
        ("db", "hippo-pguser-hippo"),
        ("shop", "hippo-pguser-hippo"),
    ]
    key = controller_key()
    opened = {namespace: unseal(key, s)["data"] for (namespace, _), s in sealed.items()}
    assert opened["shop"] == opened["db"] == opened["billing"]  # each sealed for its own namespace


def test_external_copies_read_the_clusters_values(tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    result = run_cli(
        "render", str(write_spec(shared())), "--stdout", "--key-file", KEY, "--secrets-provider", "external"
    )
    assert result.exit_code == 0, result.stderr
    import yaml

    externals = [
        o
        for o in yaml.safe_load_all(result.stdout)
        if o and o["kind"] == "ExternalSecret" and o["metadata"]["name"] == "hippo-pguser-hippo"
    ]
    keys = {o["metadata"]["namespace"]: sorted(d["remoteRef"]["key"] for d in o["spec"]["data"]) for o in externals}
    assert sorted(keys) == ["billing", "db", "shop"]
    assert keys["shop"] == keys["db"] == keys["billing"]
    assert "db/hippo/hippo" in keys["shop"]
