"""overlays/dev and overlays/prod: they build with kustomize on the rendered pooled base, every built object
passes kubernetes-validate (strict), and the per-environment changes land where users expect them."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT, find

OVERLAYS = ROOT / "overlays"
BASE = ROOT / "golden" / "pooled" / "expected"
VERSIONS = ("1.28", kubernetes_validate.latest_version())
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR` (default load restrictions, as Argo CD builds); fails in CI without kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is expected in CI")
        pytest.skip("kubectl not installed")
    return [d for d in yaml.load_all(_kubectl_kustomize(kubectl, directory), Loader=Loader) if d]


@functools.cache
def _kubectl_kustomize(kubectl: str, directory: Path) -> str:
    built = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    return built.stdout


def base_objects() -> list[dict[str, Any]]:
    objects = []
    for name in yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]:
        objects.extend(d for d in yaml.safe_load_all((BASE / name).read_text()) if d)
    return objects


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def database_container(statefulset: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "database"]
    return container


def quantity_gi(text: str) -> int:
    assert text.endswith("Gi"), text
    return int(text.removesuffix("Gi"))


@pytest.fixture(scope="module", params=["dev", "prod"])
def built(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize_build(OVERLAYS / request.param)


def test_overlays_build_on_the_rendered_pooled_base() -> None:
    for env in ("dev", "prod"):
        assert yaml.safe_load((OVERLAYS / env / "kustomization.yaml").read_text())["resources"] == [
            "../../golden/pooled/expected"
        ]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_built_object_is_valid(built: tuple[str, list[dict[str, Any]]], version: str) -> None:
    failures = []
    for obj in built[1]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_overlays_keep_every_object_name_and_namespace(built: tuple[str, list[dict[str, Any]]]) -> None:
    """Names and namespaces are baked into certificates and URIs: an overlay must never rename."""
    ids = sorted((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in built[1])
    assert ids == sorted((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in base_objects())


@pytest.mark.parametrize(
    ("env", "storage_class", "size_gi"),
    [("dev", "standard", 5), ("prod", "premium-rwo", 100)],
)
def test_volume_claims(env: str, storage_class: str, size_gi: int) -> None:
    claims = of_kind(kustomize_build(OVERLAYS / env), "PersistentVolumeClaim")
    assert len(claims) == len(of_kind(base_objects(), "PersistentVolumeClaim")) == 2
    assert {c["spec"]["storageClassName"] for c in claims} == {storage_class}
    assert {c["spec"]["resources"]["requests"]["storage"] for c in claims} == {f"{size_gi}Gi"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_volume_claims_never_shrink(env: str) -> None:
    """A PVC's requested size can only grow: every overlay asks for at least the rendered size."""
    rendered = {c["metadata"]["name"]: c for c in of_kind(base_objects(), "PersistentVolumeClaim")}
    for claim in of_kind(kustomize_build(OVERLAYS / env), "PersistentVolumeClaim"):
        before = rendered[claim["metadata"]["name"]]["spec"]["resources"]["requests"]["storage"]
        assert quantity_gi(claim["spec"]["resources"]["requests"]["storage"]) >= quantity_gi(before)


@pytest.mark.parametrize(
    ("env", "resources"),
    [
        ("dev", {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}),
        ("prod", {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}),
    ],
)
def test_database_container_resources(env: str, resources: dict[str, Any]) -> None:
    statefulsets = of_kind(kustomize_build(OVERLAYS / env), "StatefulSet")
    assert [s["metadata"]["name"] for s in statefulsets] == ["pooled-db-0", "pooled-db-1"]
    for statefulset in statefulsets:
        assert database_container(statefulset)["resources"] == resources


def test_patches_leave_the_rest_of_the_database_container_alone(built: tuple[str, list[dict[str, Any]]]) -> None:
    rendered = database_container(find(base_objects(), "StatefulSet", "pooled-db-0"))
    patched = database_container(find(built[1], "StatefulSet", "pooled-db-0"))
    assert {k: v for k, v in patched.items() if k != "resources"} == {
        k: v for k, v in rendered.items() if k != "resources"
    }


@pytest.mark.parametrize(("env", "replicas"), [("dev", 1), ("prod", 3)])
def test_pgbouncer_replicas(env: str, replicas: int) -> None:
    assert find(base_objects(), "Deployment", "pooled-pgbouncer")["spec"]["replicas"] == 2
    assert find(kustomize_build(OVERLAYS / env), "Deployment", "pooled-pgbouncer")["spec"]["replicas"] == replicas


@pytest.mark.parametrize(
    ("env", "budget"),
    [
        ("dev", {"maxUnavailable": 1}),
        ("prod", {"minAvailable": 1}),
    ],
)
def test_pgbouncer_disruption_budget_allows_drains(env: str, budget: dict[str, int]) -> None:
    """With one pgBouncer, minAvailable: 1 would block every node drain; dev relaxes the budget."""
    spec = find(kustomize_build(OVERLAYS / env), "PodDisruptionBudget", "pooled-pgbouncer")["spec"]
    assert {k: v for k, v in spec.items() if k != "selector"} == budget


def test_prod_primary_behind_an_internal_load_balancer() -> None:
    primary = find(kustomize_build(OVERLAYS / "prod"), "Service", "pooled-primary")
    assert primary["spec"]["type"] == "LoadBalancer"
    assert primary["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-internal"] == "true"
    assert primary["metadata"]["annotations"]["networking.gke.io/load-balancer-type"] == "Internal"


def test_dev_services_stay_internal() -> None:
    services = of_kind(kustomize_build(OVERLAYS / "dev"), "Service")
    assert services == of_kind(base_objects(), "Service")
