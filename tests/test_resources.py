"""Container resources (plan/resources.py): every container's requests and memory limit per preset
and from the spec, and the warning when PostgreSQL's settings cannot fit the database's memory limit."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.components import build
from pgrender.frozen import replace
from pgrender.plan import ClusterPlan, ContainerKind, RuntimePasswords
from pgrender.plan.resources import ResourcesPlan, decide, memory_estimate
from pgrender.spec.instances import ResourcesSpec
from tests.conftest import GOLDEN, GOLDEN_KEY, base_spec, run_cli

Manifest = dict[str, Any]
CA = yaml.safe_load((GOLDEN / "tls-cert-manager" / "spec.yaml").read_text())["spec"]["tls"]["caCertificate"]


def full_spec(preset: str | None = None) -> dict[str, Any]:
    """A cluster with every kind of container: pgBouncer, backups to an object store (scheduled,
    manual, logical) and to a volume (the repository host), and cert-manager (tls-reload sidecars)."""
    spec = base_spec()
    if preset:
        spec["spec"]["preset"] = preset
    s3 = {"bucket": "hippo-backups", "endpoint": "s3.example.com", "region": "eu-north-1"}
    spec["spec"]["proxy"] = {"pgBouncer": {}}
    spec["spec"]["monitoring"] = {}
    spec["spec"]["tls"] = {
        "provider": "cert-manager",
        "certManager": {"issuerRef": {"name": "pki", "kind": "ClusterIssuer"}},
        "caCertificate": CA,
    }
    spec["spec"]["backups"] = {
        "repos": [
            {"name": "repo1", "s3": s3, "credentials": {"secretName": "s3"}, "schedules": {"full": "0 1 * * *"}},
            {"name": "repo2", "volume": {"size": "1Gi"}},
        ],
        "manual": {"repo": "repo1", "run": 1},
        "logical": {"repo": "repo1", "schedule": "0 2 * * *"},
    }
    return spec


def containers(plan: ClusterPlan) -> dict[tuple[str, str], Manifest]:
    """(component label, container name) -> resources, over every pod pgrender writes (with the
    password CronJob of a provider whose passwords are known only in the cluster); the containers
    of one kind in several objects must agree."""
    out: dict[tuple[str, str], Manifest] = {}
    for m in build(replace(plan, runtime_passwords=RuntimePasswords("*/5 * * * *"))):
        spec = m.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if not template:
            continue
        for c in [*template["spec"]["containers"], *template["spec"].get("initContainers", [])]:
            key = (m["metadata"]["labels"]["app.kubernetes.io/component"], c["name"])
            assert out.setdefault(key, c["resources"]) == c["resources"], key
    return out


def r(cpu: str, memory: str, limit: str, cpu_limit: str | None = None) -> Manifest:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"memory": limit, **({"cpu": cpu_limit} if cpu_limit else {})},
    }


# (component, container) -> resources without a preset and with `standard` (Burstable) ...
BURSTABLE = {
    ("database", "database"): r("250m", "512Mi", "1Gi"),
    ("database", "pgbackrest"): r("50m", "64Mi", "256Mi"),
    ("database", "tls-reload"): r("10m", "32Mi", "64Mi"),
    ("database", "exporter"): r("10m", "32Mi", "128Mi"),
    ("pgbouncer", "pgbouncer"): r("50m", "32Mi", "128Mi"),
    ("pgbouncer", "tls-reload"): r("10m", "32Mi", "64Mi"),
    ("repo-host", "pgbackrest"): r("50m", "64Mi", "256Mi"),
    ("repo-host", "tls-reload"): r("10m", "32Mi", "64Mi"),
    ("backup", "pgbackrest"): r("100m", "128Mi", "512Mi"),
    ("backup", "logical-backup"): r("100m", "128Mi", "512Mi"),
    ("reconcile", "reconcile"): r("50m", "64Mi", "256Mi"),
    ("reconcile", "passwords"): r("50m", "64Mi", "256Mi"),
}
# ... and with `premium`: every memory request equal to its limit.
PREMIUM = {
    ("database", "database"): r("1", "2Gi", "2Gi"),
    ("database", "pgbackrest"): r("100m", "256Mi", "256Mi"),
    ("database", "tls-reload"): r("10m", "64Mi", "64Mi"),
    ("database", "exporter"): r("10m", "128Mi", "128Mi"),
    ("pgbouncer", "pgbouncer"): r("100m", "128Mi", "128Mi"),
    ("pgbouncer", "tls-reload"): r("10m", "64Mi", "64Mi"),
    ("repo-host", "pgbackrest"): r("100m", "256Mi", "256Mi"),
    ("repo-host", "tls-reload"): r("10m", "64Mi", "64Mi"),
    ("backup", "pgbackrest"): r("250m", "512Mi", "512Mi"),
    ("backup", "logical-backup"): r("250m", "512Mi", "512Mi"),
    ("reconcile", "reconcile"): r("50m", "256Mi", "256Mi"),
    ("reconcile", "passwords"): r("50m", "256Mi", "256Mi"),
}


@pytest.mark.parametrize(
    ("preset", "expected"),
    [(None, BURSTABLE), ("standard", BURSTABLE), ("premium", PREMIUM)],
    ids=["no-preset", "standard", "premium"],
)
def test_every_container_gets_the_presets_defaults(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], preset: str | None, expected: dict[tuple[str, str], Manifest]
) -> None:
    assert containers(plan_of(full_spec(preset))) == expected


def explicit(preset: str | None) -> dict[str, Any]:
    spec = full_spec(preset)
    spec["spec"]["instances"][0]["resources"] = {"limits": {"cpu": "2", "memory": "4Gi"}}
    spec["spec"]["proxy"]["pgBouncer"]["resources"] = {"requests": {"memory": "64Mi"}}
    spec["spec"]["backups"]["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    spec["spec"]["backups"]["logical"]["resources"] = {"limits": {"memory": "2Gi"}}
    return spec


# What the spec gives wins; what it leaves out comes from the preset (see decide's table below).
@pytest.mark.parametrize(
    ("preset", "component", "container", "expected"),
    [
        (None, "database", "database", r("2", "4Gi", "4Gi", cpu_limit="2")),
        ("premium", "database", "database", r("2", "4Gi", "4Gi", cpu_limit="2")),
        (None, "pgbouncer", "pgbouncer", r("50m", "64Mi", "128Mi")),
        ("premium", "pgbouncer", "pgbouncer", r("100m", "64Mi", "64Mi")),
        (None, "database", "pgbackrest", r("500m", "1Gi", "1Gi")),
        (None, "repo-host", "pgbackrest", r("500m", "1Gi", "1Gi")),
        (None, "backup", "pgbackrest", r("500m", "1Gi", "1Gi")),
        ("premium", "backup", "pgbackrest", r("500m", "1Gi", "1Gi")),
        (None, "backup", "logical-backup", r("100m", "2Gi", "2Gi")),
        ("premium", "backup", "logical-backup", r("250m", "2Gi", "2Gi")),
        (None, "database", "tls-reload", r("10m", "32Mi", "64Mi")),
        (None, "reconcile", "reconcile", r("50m", "64Mi", "256Mi")),
    ],
)
def test_spec_fields_size_their_containers(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
    preset: str | None,
    component: str,
    container: str,
    expected: Manifest,
) -> None:
    assert containers(plan_of(explicit(preset)))[(component, container)] == expected


def given(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> ResourcesSpec:
    return ResourcesSpec.model_validate({"requests": requests, "limits": limits})


# decide(): the database container, Burstable defaults 250m / 512Mi / 1Gi, premium 1 / 2Gi / 2Gi.
@pytest.mark.parametrize(
    ("premium", "spec", "expected"),
    [
        (False, None, ResourcesPlan("250m", "512Mi", "1Gi")),
        (True, None, ResourcesPlan("1", "2Gi", "2Gi")),
        (False, given(limits={"memory": "4Gi"}), ResourcesPlan("250m", "4Gi", "4Gi")),
        (True, given(limits={"memory": "4Gi"}), ResourcesPlan("1", "4Gi", "4Gi")),
        (False, given(requests={"memory": "256Mi"}), ResourcesPlan("250m", "256Mi", "1Gi")),
        (False, given(requests={"memory": "3Gi"}), ResourcesPlan("250m", "3Gi", "3Gi")),
        (True, given(requests={"memory": "256Mi"}), ResourcesPlan("1", "256Mi", "256Mi")),
        (False, given({"memory": "1Gi"}, {"memory": "8Gi"}), ResourcesPlan("250m", "1Gi", "8Gi")),
        (True, given({"memory": "1Gi"}, {"memory": "8Gi"}), ResourcesPlan("1", "1Gi", "8Gi")),
        (False, given(requests={"cpu": "4"}), ResourcesPlan("4", "512Mi", "1Gi")),
        (False, given(limits={"cpu": "3"}), ResourcesPlan("3", "512Mi", "1Gi", cpu_limit="3")),
        (False, given({"cpu": "1"}, {"cpu": "3"}), ResourcesPlan("1", "512Mi", "1Gi", cpu_limit="3")),
        (
            False,
            given(limits={"ephemeral-storage": "2Gi"}),
            ResourcesPlan("250m", "512Mi", "1Gi", ephemeral_storage="2Gi", ephemeral_storage_limit="2Gi"),
        ),
        (
            False,
            given(requests={"ephemeral-storage": "1Gi"}),
            ResourcesPlan("250m", "512Mi", "1Gi", ephemeral_storage="1Gi"),
        ),
    ],
)
def test_decide(premium: bool, spec: ResourcesSpec | None, expected: ResourcesPlan) -> None:
    assert decide(ContainerKind.DATABASE, premium, spec) == expected


def test_a_cpu_limit_and_ephemeral_storage_reach_the_container(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["resources"] = {
        "requests": {"ephemeral-storage": "1Gi"},
        "limits": {"cpu": "2", "ephemeral-storage": "2Gi"},
    }
    assert containers(plan_of(spec))[("database", "database")] == {
        "requests": {"cpu": "2", "memory": "512Mi", "ephemeral-storage": "1Gi"},
        "limits": {"memory": "1Gi", "cpu": "2", "ephemeral-storage": "2Gi"},
    }


# --- the presets, as rendered ----------------------------------------------------------------


def golden_containers(case: str) -> list[tuple[str, str, Manifest]]:
    out = []
    for path in sorted((GOLDEN / case / "expected").glob("*.yaml")):
        m = yaml.safe_load(path.read_text())
        spec = m.get("spec", {}) if isinstance(m.get("spec"), dict) else {}
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if template:
            for c in [*template["spec"]["containers"], *template["spec"].get("initContainers", [])]:
                out.append((path.name, c["name"], c["resources"]))
    return out


GOLDEN_CASES = sorted(p.parent.name for p in GOLDEN.glob("*/expected/kustomization.yaml"))


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_every_rendered_container_has_requests_and_a_memory_limit_and_no_cpu_limit(case: str) -> None:
    for name, container, resources in golden_containers(case):
        assert set(resources["requests"]) >= {"cpu", "memory"}, (name, container)
        assert "memory" in resources["limits"], (name, container)
        assert "cpu" not in resources["limits"], (name, container)  # no golden spec asks for one


@pytest.mark.parametrize(("case", "guaranteed"), [("premium", True), ("hippo", False), ("backups", False)])
def test_premium_renders_memory_requests_equal_to_limits_and_the_others_burst(case: str, guaranteed: bool) -> None:
    found = golden_containers(case)
    assert found
    for name, container, resources in found:
        same = resources["requests"]["memory"] == resources["limits"]["memory"]
        assert same is guaranteed, (name, container, resources)


# --- the memory warning ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "total_mib"),
    [
        ({}, 128 + 100 * 6),  # PostgreSQL's defaults: 128MB, 100, 4MB
        ({"shared_buffers": "1GB", "max_connections": "200"}, 1024 + 200 * 6),
        ({"shared_buffers": "131072"}, 1024 + 100 * 6),  # 8kB pages
        ({"work_mem": "65536"}, 128 + 100 * 66),  # kB
        ({"work_mem": "0.5GB", "max_connections": "10"}, 128 + 10 * 514),
    ],
)
def test_memory_estimate(parameters: dict[str, str], total_mib: int) -> None:
    assert memory_estimate(17, parameters).total == total_mib * 2**20


def with_memory(
    preset: str | None = None, parameters: dict[str, Any] | None = None, *resources: dict[str, Any] | None
) -> dict[str, Any]:
    spec = base_spec()
    if preset:
        spec["spec"]["preset"] = preset
    if parameters:
        spec["spec"]["patroni"] = {"parameters": parameters}
    first = spec["spec"]["instances"][0]
    spec["spec"]["instances"] = []
    for i, res in enumerate(resources or (None,)):
        instance = {**copy.deepcopy(first), "name": f"set{i}"}
        if res is not None:
            instance["resources"] = res
        spec["spec"]["instances"].append(instance)
    return spec


BIG = {"shared_buffers": "1GB", "max_connections": 100}  # 1024 + 100 × 6 = 1624 MiB


@pytest.mark.parametrize(
    ("spec", "warnings"),
    [
        # fits: PostgreSQL's defaults (728 MiB) in the default 1Gi, BIG in premium's default 2Gi
        (with_memory(), []),
        (with_memory("premium", BIG), []),
        (with_memory(None, None, {"limits": {"memory": "728Mi"}}), []),
        (with_memory(None, BIG, {"limits": {"memory": "2Gi"}}), []),
        # does not fit: a limit given, or (no limit given) the default one
        (
            with_memory(None, None, {"limits": {"memory": "727Mi"}}),
            [
                "spec.instances[0].resources.limits.memory: shared_buffers 128MB + max_connections 100 * (work_mem 4MB "
                "+ 2MB per backend) = 728MiB does not fit the database container's memory limit 727Mi: PostgreSQL "
                "would be killed for memory under load; raise the limit or lower shared_buffers, max_connections or "
                "work_mem"
            ],
        ),
        (
            with_memory(None, BIG),
            [
                "spec.instances[0].resources.limits.memory: shared_buffers 1GB + max_connections 100 * (work_mem 4MB "
                "+ 2MB per backend) = 1624MiB does not fit the database container's memory limit 1Gi (the default; set "
                "resources.limits.memory): PostgreSQL would be killed for memory under load; raise the limit or lower "
                "shared_buffers, max_connections or work_mem"
            ],
        ),
        (
            with_memory("standard", {"work_mem": "64MB"}, {"requests": {"memory": "2Gi"}}, None),
            [
                "spec.instances[0].resources.limits.memory: shared_buffers 128MB + max_connections 100 * (work_mem "
                "64MB + 2MB per backend) = 6728MiB does not fit the database container's memory limit 2Gi: "
                "PostgreSQL would be killed for memory under load; raise the limit or lower shared_buffers, "
                "max_connections or work_mem",
                "spec.instances[1].resources.limits.memory: shared_buffers 128MB + max_connections 100 * (work_mem "
                "64MB + 2MB per backend) = 6728MiB does not fit the database container's memory limit 1Gi (the "
                "default; set resources.limits.memory): PostgreSQL would be killed for memory under load; raise the "
                "limit or lower shared_buffers, max_connections or work_mem",
            ],
        ),
    ],
)
def test_memory_warning(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], spec: dict[str, Any], warnings: list[str]
) -> None:
    assert [f"{w.path}: {w.message}" for w in plan_of(spec).warnings] == warnings


WARNED = """\
apiVersion: pgrender.io/v1alpha1
kind: PostgresCluster
metadata: {name: hippo, namespace: db}
spec:
  postgresVersion: 16
  patroni:
    parameters: {shared_buffers: 1GB}
  instances:
    - name: instance1
      dataVolume: {size: 1Gi}
      resources:
        requests: {cpu: "1"}
"""
WARNING = (
    "spec.instances[0].resources.limits.memory: shared_buffers 1GB + max_connections 100 * (work_mem 4MB + 2MB per "
    "backend) = 1624MiB does not fit the database container's memory limit 1Gi (the default; set "
    "resources.limits.memory): PostgreSQL would be killed for memory under load; raise the limit or lower "
    "shared_buffers, max_connections or work_mem"
)


# Line 11, column 7: the set's resources, the nearest field of the warning's path that the spec has.
@pytest.mark.parametrize(
    ("command", "fmt", "expected"),
    [
        ("validate", "text", "warning: {file}:11:7: " + WARNING),
        ("validate", "github", "::warning file={file},line=11,col=7::" + WARNING),
        ("render", "text", "warning: {file}:11:7: " + WARNING),
        ("render", "github", "::warning file={file},line=11,col=7::" + WARNING),
        ("check", "text", "warning: {file}:11:7: " + WARNING),
        ("diff", "text", "warning: {file}:11:7: " + WARNING),
        ("diff", "github", "::warning file={file},line=11,col=7::" + WARNING),
    ],
)
def test_validate_render_check_and_diff_print_the_warning_and_succeed(
    write_spec: Callable[..., Path], tmp_path: Path, command: str, fmt: str, expected: str
) -> None:
    path = write_spec(WARNED)
    out = tmp_path / "out"
    key = ["--key-file", str(GOLDEN_KEY)]
    compared = ["-o", str(out), *key]
    args = {"validate": [], "render": ["--stdout", *key], "check": compared, "diff": compared}[command]
    if command in ("check", "diff"):  # what it compares with, rendered before
        assert run_cli("render", str(path), "-o", str(out), *key, "--allow-secrets-in-git").exit_code == 0
    result = run_cli(command, str(path), "--format", fmt, *args)
    assert result.exit_code == 0, result.stderr
    assert [x for x in result.stderr.splitlines() if "warning" in x] == [expected.format(file=path)]


def test_validate_json_lists_the_warning_with_its_level(write_spec: Callable[..., Path]) -> None:
    result = run_cli("validate", str(write_spec(WARNED)), "--format", "json")
    assert result.exit_code == 0 and result.stdout == "[]\n"
    (warning,) = yaml.safe_load(result.stderr)
    assert (warning["level"], warning["path"]) == ("warning", "spec.instances[0].resources.limits.memory")


# A user's container: its own resources are kept; one without gets the user-container defaults.
@pytest.mark.parametrize(
    ("preset", "given", "expected"),
    [
        (None, None, r("10m", "64Mi", "256Mi")),
        ("premium", None, r("10m", "256Mi", "256Mi")),
        (None, {"requests": {"cpu": "1"}}, {"requests": {"cpu": "1"}}),
    ],
    ids=["default", "premium", "own"],
)
def test_user_containers_never_run_without_resources(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], preset: str | None, given: Manifest | None, expected: Manifest
) -> None:
    spec = full_spec(preset)
    sidecar: Manifest = {"name": "shipper", "image": "example.org/shipper:1.0"}
    if given:
        sidecar["resources"] = given
    spec["spec"]["instances"][0]["sidecars"] = [sidecar]
    spec["spec"]["instances"][0]["initContainers"] = [{**sidecar, "name": "prepare"}]
    spec["spec"]["proxy"]["pgBouncer"]["sidecars"] = [sidecar]
    found = containers(plan_of(spec))
    assert found[("database", "shipper")] == found[("database", "prepare")] == expected
    assert found[("pgbouncer", "shipper")] == expected
