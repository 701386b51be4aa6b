"""pod_parts: the volumes and mounts of the database pod and of every Job pod, in registration order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.pod import PodPart, apply
from pgrender.pod_parts import DATABASE_POD_PARTS, JOB_POD_PARTS, database_pod, job_pod
from tests.conftest import base_spec

Manifest = dict[str, Any]
PlanOf = Callable[[dict[str, Any]], ClusterPlan]


def spec_with(**instance: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["instances"][0].update(instance)
    return spec


def volume_names(part: PodPart) -> list[str]:
    return [v["name"] for v in part.volumes]


def mounts(part: PodPart) -> list[tuple[str, str]]:
    return [(m["name"], m["mountPath"]) for m in part.mounts]


@pytest.mark.parametrize(
    ("spec", "volumes", "mount_paths"),
    [
        (
            spec_with(),
            ["pgdata", "patroni-config", "tls", "tmp", "dshm"],
            ["/pgdata", "/etc/patroni", "/pgconf/tls", "/tmp", "/dev/shm"],
        ),
        (
            spec_with(walVolume={"size": "1Gi"}),
            ["pgdata", "pgwal", "patroni-config", "tls", "tmp", "dshm"],
            ["/pgdata", "/pgwal", "/etc/patroni", "/pgconf/tls", "/tmp", "/dev/shm"],
        ),
    ],
    ids=["data-only", "with-walVolume"],
)
def test_database_pod(plan_of: PlanOf, spec: dict[str, Any], volumes: list[str], mount_paths: list[str]) -> None:
    plan = plan_of(spec)
    for instance in plan.instances:
        part = database_pod(plan, instance)
        assert volume_names(part) == volumes
        assert [path for _, path in mounts(part)] == mount_paths
        assert [name for name, _ in mounts(part)] == volumes
        assert part.containers == () and part.init_containers == () and part.env == ()


@pytest.mark.parametrize(
    ("spec", "claims"),
    [
        (spec_with(), {"pgdata": "{i}-pgdata"}),
        (spec_with(walVolume={"size": "1Gi"}), {"pgdata": "{i}-pgdata", "pgwal": "{i}-pgwal"}),
    ],
    ids=["data-only", "with-walVolume"],
)
def test_database_pod_claims_are_the_instance_volumes(
    plan_of: PlanOf, spec: dict[str, Any], claims: dict[str, str]
) -> None:
    plan = plan_of(spec)
    for instance in plan.instances:
        found = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in database_pod(plan, instance).volumes
            if "persistentVolumeClaim" in v
        }
        assert found == {k: pattern.format(i=instance.name) for k, pattern in claims.items()}


def test_database_pod_secrets_and_config(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    volumes = {v["name"]: v for v in database_pod(plan, plan.instances[0]).volumes}
    assert volumes["patroni-config"]["configMap"] == {"name": plan.names.config_map}
    sources = [s["secret"]["name"] for s in volumes["tls"]["projected"]["sources"]]
    assert sources == [plan.names.cluster_cert, plan.names.replication_cert]


def test_job_pod(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    part = job_pod(plan)
    assert volume_names(part) == ["tls", "tmp"]
    assert mounts(part) == [("tls", "/pgconf/tls"), ("tmp", "/tmp")]
    (tls,) = [v for v in part.volumes if v["name"] == "tls"]
    assert [s["secret"]["name"] for s in tls["projected"]["sources"]] == [plan.names.superuser_cert]


def test_statefulsets_and_jobs_are_made_of_the_parts(plan_of: PlanOf) -> None:
    plan = plan_of(spec_with(walVolume={"size": "1Gi"}))
    objects = build(plan)
    for instance in plan.instances:
        (sts,) = [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == instance.name]
        pod = sts["spec"]["template"]["spec"]
        assert pod["volumes"] == list(database_pod(plan, instance).volumes)
        assert pod["containers"][0]["volumeMounts"] == list(database_pod(plan, instance).mounts)
    (job,) = [o for o in objects if o["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"][-2:] == list(job_pod(plan).volumes)  # after the Job's own
    assert pod["containers"][0]["volumeMounts"][-2:] == list(job_pod(plan).mounts)


def test_parts_are_listed_once() -> None:
    assert len({p.__name__ for p in DATABASE_POD_PARTS}) == len(DATABASE_POD_PARTS)
    assert len({p.__name__ for p in JOB_POD_PARTS}) == len(JOB_POD_PARTS)


# pod.apply: where a part's pieces go -----------------------------------------------------------------------------


POD: Manifest = {
    "containers": [{"name": "main", "volumeMounts": [{"name": "own"}]}, {"name": "other"}],
    "volumes": [{"name": "own"}],
}


@pytest.mark.parametrize(
    ("part", "field", "expected"),
    [
        (PodPart(volumes=({"name": "v"},)), "volumes", [{"name": "own"}, {"name": "v"}]),
        (PodPart(mounts=({"name": "v"},)), "main mounts", [{"name": "own"}, {"name": "v"}]),
        (PodPart(env=({"name": "E"},)), "main env", [{"name": "E"}]),
        (PodPart(containers=({"name": "sidecar"},)), "containers", ["main", "other", "sidecar"]),
        (PodPart(init_containers=({"name": "init"},)), "initContainers", [{"name": "init"}]),
        (PodPart(), "containers", ["main", "other"]),
        (PodPart(), "initContainers", None),
        (PodPart(), "main env", None),
    ],
)
def test_apply(part: PodPart, field: str, expected: Any) -> None:
    pod = apply(POD, part)
    found = {
        "volumes": pod["volumes"],
        "main mounts": pod["containers"][0]["volumeMounts"],
        "main env": pod["containers"][0].get("env"),
        "containers": [c["name"] for c in pod["containers"]],
        "initContainers": pod.get("initContainers"),
    }
    assert found[field] == expected
