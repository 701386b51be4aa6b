"""Extensions: a secrets provider, a component, a pod part and a converter are each one new module plus one
registration line.

The modules are in tests/fixtures/; the registration line is the monkeypatch line of each test, standing for
the line a user adds to providers.py, components/__init__.py, pod_parts/__init__.py or convert/__init__.py.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender import components, pod_parts, providers
from pgrender.plan import ClusterPlan
from pgrender.transforms import Context, transform
from pgrender.transforms.rollout_digests import CONFIG_DIGEST, SECRETS_DIGEST
from tests.conftest import GOLDEN_KEY, base_spec, find, run_cli
from tests.fixtures.annotated_provider import ANNOTATION
from tests.fixtures.sidecar_part import config_map_name, exporter
from tests.fixtures.vacuum_component import vacuum

Manifest = dict[str, Any]
PlanOf = Callable[[dict[str, Any]], ClusterPlan]


def stream(*args: str) -> list[Manifest]:
    result = run_cli("render", *args, "--stdout", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def pipeline(plan: ClusterPlan, manifests: list[Manifest]) -> list[Manifest]:
    """The transforms, with the `existing` provider (no root key): digests cover the templated Secrets."""
    context = Context(plan, providers.secrets_provider("existing"), providers.tls_provider("derived"), None)
    return transform(context, manifests)


def template_annotations(obj: Manifest) -> dict[str, str]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    annotations: dict[str, str] = spec["template"]["metadata"].get("annotations", {})
    return annotations


def changed(manifests: list[Manifest], kind: str, name: str, data: dict[str, str]) -> list[Manifest]:
    return [{**m, "data": data} if (m["kind"], m["metadata"]["name"]) == (kind, name) else m for m in manifests]


# a. Secrets provider: tests/fixtures/annotated_provider.py ----------------------------------------------------------


@pytest.fixture
def annotated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(providers.SECRETS_PROVIDERS, "annotated", "tests.fixtures.annotated_provider")


@pytest.mark.usefixtures("annotated")
def test_registered_secrets_provider_renders(write_spec: Callable[..., Path]) -> None:
    objects = stream(str(write_spec(base_spec())), "--secrets-provider", "annotated")
    secrets = [o for o in objects if o["kind"] == "Secret"]
    assert secrets
    assert all(o["metadata"]["annotations"][ANNOTATION] == "annotated" for o in secrets)
    assert not [o for o in objects if o["kind"] != "Secret" and ANNOTATION in o["metadata"].get("annotations", {})]
    cert = find(objects, "Secret", "hippo-cluster-cert")  # values filled in from the root key
    assert base64.b64decode(cert["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("register", "provider", "exit_code"),
    [
        (True, "annotated", 0),
        (False, "annotated", 2),  # the CLI checks the name against the registry as it is when called
        (True, "nope", 2),
        (False, "nope", 2),
    ],
)
def test_secrets_provider_names_are_checked_against_the_registry(
    monkeypatch: pytest.MonkeyPatch, write_spec: Callable[..., Path], register: bool, provider: str, exit_code: int
) -> None:
    if register:
        monkeypatch.setitem(providers.SECRETS_PROVIDERS, "annotated", "tests.fixtures.annotated_provider")
    spec = str(write_spec(base_spec()))
    result = run_cli("render", spec, "--stdout", "--secrets-provider", provider, "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == exit_code, result.stderr
    if exit_code:
        assert f"'{provider}' is not one of {', '.join(providers.SECRETS_PROVIDERS)}" in result.stderr


# b. Component: tests/fixtures/vacuum_component.py -------------------------------------------------------------------


@pytest.fixture
def with_vacuum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(components, "BUILDERS", (*components.BUILDERS, vacuum))


@pytest.mark.usefixtures("with_vacuum")
def test_component_cron_job_follows_the_statefulsets_and_jobs(write_spec: Callable[..., Path]) -> None:
    kinds = [o["kind"] for o in stream(str(write_spec(base_spec())))]
    assert kinds.count("CronJob") == 1 and kinds.count("ConfigMap") == 3
    assert kinds.index("CronJob") > max(i for i, kind in enumerate(kinds) if kind in ("StatefulSet", "Job"))


@pytest.mark.usefixtures("with_vacuum")
def test_component_cron_job_carries_digests(write_spec: Callable[..., Path]) -> None:
    cron_job = find(stream(str(write_spec(base_spec()))), "CronJob", "hippo-vacuum")
    assert {CONFIG_DIGEST, SECRETS_DIGEST} <= set(template_annotations(cron_job))


@pytest.mark.usefixtures("with_vacuum")
def test_component_config_digest_follows_its_config_map(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    manifests = components.build(plan)
    edited = changed(manifests, "ConfigMap", "hippo-vacuum", {"vacuum.sh": "vacuumdb --all --full\n"})
    before = template_annotations(find(pipeline(plan, manifests), "CronJob", "hippo-vacuum"))
    after = template_annotations(find(pipeline(plan, edited), "CronJob", "hippo-vacuum"))
    assert before[CONFIG_DIGEST] != after[CONFIG_DIGEST]
    assert before[SECRETS_DIGEST] == after[SECRETS_DIGEST]


@pytest.mark.usefixtures("with_vacuum")
def test_component_job_pod_has_the_job_pod_parts(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    cron_job = find(components.build(plan), "CronJob", "hippo-vacuum")
    pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["vacuum", "tls", "tmp"]
    assert [m["name"] for m in pod["containers"][0]["volumeMounts"]] == ["vacuum", "tls", "tmp"]
    (tls,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert [s["secret"]["name"] for s in tls["projected"]["sources"]] == [plan.names.superuser_cert]


def test_component_is_absent_unless_registered(plan_of: PlanOf) -> None:
    assert not [m for m in components.build(plan_of(base_spec())) if m["kind"] == "CronJob"]


# c. Pod part: tests/fixtures/sidecar_part.py ------------------------------------------------------------------------


@pytest.fixture
def with_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pod_parts, "DATABASE_POD_PARTS", (*pod_parts.DATABASE_POD_PARTS, exporter))


def two_sets() -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["instances"].append({"name": "instance2", "replicas": 1, "dataVolume": {"size": "1Gi"}})
    return spec


def exporter_config(plan: ClusterPlan, queries: str) -> Manifest:
    meta = {"name": config_map_name(plan), "namespace": plan.namespace}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"queries.yaml": queries}}


@pytest.mark.usefixtures("with_exporter")
def test_pod_part_sidecar_in_every_database_pod(plan_of: PlanOf) -> None:
    plan = plan_of(two_sets())
    statefulsets = [m for m in components.build(plan) if m["kind"] == "StatefulSet"]
    assert len(statefulsets) == len(plan.instances) == 3
    for sts in statefulsets:
        pod = sts["spec"]["template"]["spec"]
        assert [c["name"] for c in pod["containers"]] == ["database", "exporter"]
        assert pod["volumes"][-1] == {"name": "exporter-queries", "configMap": {"name": "hippo-exporter"}}
        assert "exporter-queries" not in [m["name"] for m in pod["containers"][0]["volumeMounts"]]


@pytest.mark.usefixtures("with_exporter")
def test_pod_part_config_digest_follows_the_sidecar_config_map(plan_of: PlanOf) -> None:
    plan = plan_of(two_sets())
    manifests = components.build(plan)

    def digests(queries: str) -> list[str]:
        out = pipeline(plan, [*manifests, exporter_config(plan, queries)])
        return [template_annotations(m)[CONFIG_DIGEST] for m in out if m["kind"] == "StatefulSet"]

    assert digests("pg_up: {}") == digests("pg_up: {}")
    assert all(a != b for a, b in zip(digests("pg_up: {}"), digests("pg_stat: {}"), strict=True))


def test_pod_part_is_absent_unless_registered(plan_of: PlanOf) -> None:
    for m in components.build(plan_of(base_spec())):
        if m["kind"] == "StatefulSet":
            assert [c["name"] for c in m["spec"]["template"]["spec"]["containers"]] == ["database"]


# d. Converter: tests/fixtures/demo_converter.py ---------------------------------------------------------------------


def test_registered_converter_converts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pgrender import convert

    source = tmp_path / "demo.yaml"
    source.write_text(
        "apiVersion: demo.example.com/v1\nkind: PgCluster\nmetadata: {name: hippo, namespace: db}\n"
        "spec: {version: 16, replicas: 2, size: 1Gi, dashboard: true}\n"
    )
    assert run_cli("convert", "--from", "demo", str(source)).exit_code == 2  # not registered yet
    monkeypatch.setitem(convert.CONVERTERS, "demo", "tests.fixtures.demo_converter")
    result = run_cli("convert", "--from", "demo", str(source))
    assert result.exit_code == 1, result.stderr
    spec = next(d for d in yaml.safe_load_all(result.stdout) if d)
    assert spec["spec"]["instances"] == [{"name": "instance1", "replicas": 2, "dataVolume": {"size": "1Gi"}}]
    assert f"{source}:4:45: spec.dashboard: left out: pgrender renders no dashboard" in result.stderr
