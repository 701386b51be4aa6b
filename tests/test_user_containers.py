"""A user's sidecars and init containers, imagePullSecrets on every pod, and image references."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.errors import SpecError
from pgrender.plan import defaults
from pgrender.plans import validate
from pgrender.pod_parts import pgbackrest, tls_reload
from tests.conftest import EXAMPLES, base_spec, find

Objects = Callable[[dict[str, Any]], list[dict[str, Any]]]
DIGEST = "sha256:" + "0123456789abcdef" * 4
SIDECAR = {"name": "log-shipper", "image": "fluent/fluent-bit:3.0"}
POD_ENV = [
    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
]
# What a container without resources of its own gets (plan/resources.py, user-container).
DEFAULT_RESOURCES = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def spec_with(instance: dict[str, Any] | None = None, pgbouncer: dict[str, Any] | None = None, **spec: Any) -> Any:
    out = base_spec()
    out["spec"]["instances"][0].update(instance or {})
    if pgbouncer is not None:
        out["spec"]["proxy"] = {"pgBouncer": pgbouncer}
    out["spec"].update(spec)
    return out


def with_backups(spec: dict[str, Any]) -> dict[str, Any]:
    spec["spec"]["backups"] = yaml.safe_load((EXAMPLES / "backups.yaml").read_text())["spec"]["backups"]
    return spec


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    template = obj["spec"].get("template") or obj["spec"]["jobTemplate"]["spec"]["template"]
    spec: dict[str, Any] = template["spec"]
    return spec


def failing(write_spec: Callable[..., Path], spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        validate((str(write_spec(spec)),))
    return sorted((p.path, p.message) for p in info.value.problems)


@pytest.mark.parametrize(
    ("spec", "kind", "name", "containers", "init_containers"),
    [
        (spec_with({"sidecars": [SIDECAR]}), "StatefulSet", "hippo-instance1-0", ["database", "log-shipper"], []),
        (
            spec_with({"sidecars": [SIDECAR]}, monitoring={}),
            "StatefulSet",
            "hippo-instance1-0",
            ["database", "exporter", "log-shipper"],
            [],
        ),
        (
            with_backups(spec_with({"sidecars": [SIDECAR], "initContainers": [{"name": "warm", "image": "busybox"}]})),
            "StatefulSet",
            "hippo-instance1-0",
            ["database", "pgbackrest", "log-shipper"],
            ["warm"],
        ),
        (
            spec_with(pgbouncer={"sidecars": [SIDECAR]}),
            "Deployment",
            "hippo-pgbouncer",
            ["pgbouncer", "log-shipper"],
            [],
        ),
        (spec_with(pgbouncer={}), "Deployment", "hippo-pgbouncer", ["pgbouncer"], []),
        (spec_with(), "StatefulSet", "hippo-instance1-0", ["database"], []),
    ],
    ids=[
        "database",
        "database-after-exporter",
        "database-after-pgbackrest",
        "pgbouncer",
        "pgbouncer-none",
        "database-none",
    ],
)
def test_order_main_then_pgrenders_then_yours(
    objects_of: Objects,
    spec: dict[str, Any],
    kind: str,
    name: str,
    containers: list[str],
    init_containers: list[str],
) -> None:
    pod_spec = pod(find(objects_of(spec), kind, name))
    assert [c["name"] for c in pod_spec["containers"]] == containers
    assert [c["name"] for c in pod_spec.get("initContainers", [])] == init_containers


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({**SIDECAR}, {**SIDECAR, "env": POD_ENV, "resources": DEFAULT_RESOURCES}),
        (
            {**SIDECAR, "env": [{"name": "LEVEL", "value": "info"}]},
            {**SIDECAR, "env": [*POD_ENV, {"name": "LEVEL", "value": "info"}], "resources": DEFAULT_RESOURCES},
        ),
        (
            {**SIDECAR, "env": [{"name": "POD_NAME", "value": "mine"}]},
            {**SIDECAR, "env": [POD_ENV[1], {"name": "POD_NAME", "value": "mine"}], "resources": DEFAULT_RESOURCES},
        ),
        (
            {
                **SIDECAR,
                "volumeMounts": [{"name": "pgdata", "mountPath": "/data", "readOnly": True}],
                "imagePullPolicy": "Always",
            },
            {
                **SIDECAR,
                "env": POD_ENV,
                "volumeMounts": [{"name": "pgdata", "mountPath": "/data", "readOnly": True}],
                "imagePullPolicy": "Always",
                "resources": DEFAULT_RESOURCES,
            },
        ),
        (
            {**SIDECAR, "resources": {"limits": {"memory": "64Mi"}}, "securityContext": {"runAsNonRoot": True}},
            {
                **SIDECAR,
                "env": POD_ENV,
                "resources": {"limits": {"memory": "64Mi"}},
                "securityContext": {"runAsNonRoot": True},
            },
        ),
    ],
    ids=["pod-env", "after-pod-env", "own-POD_NAME-kept", "passthrough", "resources-and-context-as-given"],
)
def test_containers_as_given_with_pod_environment(
    objects_of: Objects, given: dict[str, Any], expected: dict[str, Any]
) -> None:
    for spec, kind, name in (
        (spec_with({"sidecars": [given]}), "StatefulSet", "hippo-instance1-0"),
        (spec_with({"initContainers": [given]}), "StatefulSet", "hippo-instance1-0"),
    ):
        pod_spec = pod(find(objects_of(spec), kind, name))
        mine = [c for c in [*pod_spec["containers"], *pod_spec.get("initContainers", [])] if c["name"] == given["name"]]
        assert mine == [expected]


def test_native_sidecar_init_container(objects_of: Objects) -> None:
    init = {"name": "proxy", "image": "envoyproxy/envoy:v1.30", "restartPolicy": "Always"}
    pod_spec = pod(find(objects_of(spec_with({"initContainers": [init]})), "StatefulSet", "hippo-instance1-0"))
    assert pod_spec["initContainers"] == [{**init, "env": POD_ENV, "resources": DEFAULT_RESOURCES}]


def test_wal_volume_may_be_mounted(objects_of: Objects) -> None:
    sidecar = {**SIDECAR, "volumeMounts": [{"name": "pgwal", "mountPath": "/pgwal"}]}
    spec = spec_with({"walVolume": {"size": "1Gi"}, "sidecars": [sidecar]})
    pod_spec = pod(find(objects_of(spec), "StatefulSet", "hippo-instance1-0"))
    assert "pgwal" in {v["name"] for v in pod_spec["volumes"]}


@pytest.mark.parametrize(
    ("spec", "path", "says"),
    [
        (
            spec_with({"sidecars": [{**SIDECAR, "name": "database"}]}),
            "spec.instances[0].sidecars[0].name",
            "pgrender's containers",
        ),
        (
            spec_with({"initContainers": [{**SIDECAR, "name": "tls-reload"}]}),
            "spec.instances[0].initContainers[0].name",
            "pgrender's containers",
        ),
        (
            spec_with(pgbouncer={"sidecars": [{**SIDECAR, "name": "pgbouncer"}]}),
            "spec.proxy.pgBouncer.sidecars[0].name",
            "pgrender's containers",
        ),
        (
            spec_with({"sidecars": [{**SIDECAR, "name": "Log"}]}),
            "spec.instances[0].sidecars[0].name",
            "not a valid name",
        ),
        (spec_with({"sidecars": [{"name": "x"}]}), "spec.instances[0].sidecars[0].image", "required"),
        (
            spec_with({"sidecars": [{**SIDECAR, "imagePullPolicy2": "Always"}]}),
            "spec.instances[0].sidecars[0].imagePullPolicy2",
            "unknown field",
        ),
        (
            spec_with({"sidecars": [{**SIDECAR, "restartPolicy": "Always"}]}),
            "spec.instances[0].sidecars[0].restartPolicy",
            "unknown field",
        ),
        (spec_with({"sidecars": [SIDECAR], "initContainers": [SIDECAR]}), "spec.instances[0]", "used twice"),
        (
            spec_with({"sidecars": [{**SIDECAR, "volumeMounts": [{"name": "tls", "mountPath": "/t"}]}]}),
            "spec.instances[0].sidecars[0].volumeMounts[0].name",
            "volumes offered: pgdata",
        ),
        (
            spec_with({"sidecars": [{**SIDECAR, "volumeMounts": [{"name": "pgwal", "mountPath": "/w"}]}]}),
            "spec.instances[0].sidecars[0].volumeMounts[0].name",
            "no volume 'pgwal'",
        ),
        (
            spec_with(
                pgbouncer={"initContainers": [{**SIDECAR, "volumeMounts": [{"name": "pgdata", "mountPath": "/d"}]}]}
            ),
            "spec.proxy.pgBouncer.initContainers[0].volumeMounts[0].name",
            "volumes offered: none",
        ),
        (
            spec_with({"sidecars": [{**SIDECAR, "env": [{"name": "A", "value": "1", "valueFrom": {}}]}]}),
            "spec.instances[0].sidecars[0].env",
            "cannot both",
        ),
        (spec_with(imagePullSecrets=["regcred", "regcred"]), "spec.imagePullSecrets", "more than once"),
        (spec_with(imagePullSecrets=["Reg_Cred"]), "spec.imagePullSecrets[0]", "not a DNS name"),
    ],
    ids=[
        "clash-database",
        "clash-reloader",
        "clash-pgbouncer",
        "bad-name",
        "no-image",
        "unknown-field",
        "restartPolicy-on-sidecar",
        "twice-in-pod",
        "pgrenders-volume",
        "no-wal-volume",
        "pgbouncer-no-volumes",
        "value-and-valueFrom",
        "pull-secret-twice",
        "pull-secret-name",
    ],
)
def test_refused(write_spec: Callable[..., Path], spec: dict[str, Any], path: str, says: str) -> None:
    problems = failing(write_spec, spec)
    assert [p for p, _ in problems] == [path]
    assert says in problems[0][1]


def test_reserved_names_cover_pgrenders_containers(objects_of: Objects) -> None:
    """The names resolve() keeps free are those pgrender gives its containers (the reloader's too)."""
    objects = objects_of(with_backups(spec_with(pgbouncer={}, monitoring={})))
    database = pod(find(objects, "StatefulSet", "hippo-instance1-0"))
    pooler = pod(find(objects, "Deployment", "hippo-pgbouncer"))
    assert {c["name"] for c in database["containers"]} | {tls_reload.CONTAINER} <= defaults.DATABASE_CONTAINERS
    assert {c["name"] for c in pooler["containers"]} | {tls_reload.CONTAINER} <= defaults.PGBOUNCER_CONTAINERS
    assert pgbackrest.SIDECAR in defaults.DATABASE_CONTAINERS


def test_image_pull_secrets_on_every_pod(objects_of: Objects) -> None:
    spec = with_backups(spec_with(pgbouncer={}, imagePullSecrets=["regcred", "mirror"]))
    pods = [o for o in objects_of(spec) if o["kind"] in ("StatefulSet", "Deployment", "Job", "CronJob")]
    kinds = {o["kind"] for o in pods}
    assert kinds == {"StatefulSet", "Deployment", "Job", "CronJob"}
    for obj in pods:
        assert pod(obj)["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}], obj["metadata"]["name"]


def test_no_image_pull_secrets_no_field(objects_of: Objects) -> None:
    pods = [
        o
        for o in objects_of(with_backups(spec_with(pgbouncer={})))
        if o["kind"] in ("StatefulSet", "Deployment", "Job", "CronJob")
    ]
    assert not any("imagePullSecrets" in pod(o) for o in pods)


IMAGES_ACCEPTED = [
    "postgres",
    "postgres:16",
    "ghcr.io/zalando/spilo-16:3.3-p3",
    "registry.example.com:5000/team/spilo:3.3",
    "localhost:5000/spilo",
    f"ghcr.io/zalando/spilo-16@{DIGEST}",
    f"ghcr.io/zalando/spilo-16:3.3-p3@{DIGEST}",
    "quay.io/org/name_with__double.dots-and-dash:v1.2.3_rc",
    "example.com/a/b/c@sha512:" + "ab" * 64,
]
IMAGES_REFUSED = [
    "Postgres:16",  # upper case in the repository name
    "spilo:3.3 ",
    "spilo@sha256:0123",  # a digest is 64 hex digits
    f"spilo@{DIGEST.upper()}",
    "spilo@md5:" + "0" * 32,
    "spilo:",
    ":3.3",
    "spilo:-tag",
    "http://registry/spilo",
    "",
]


@pytest.mark.parametrize("image", IMAGES_ACCEPTED)
def test_image_references_accepted(write_spec: Callable[..., Path], image: str) -> None:
    spec = spec_with({"sidecars": [{**SIDECAR, "image": image}]}, pgbouncer={"image": image}, image=image)
    (plan,) = validate((str(write_spec(spec)),))
    assert plan.image == image
    assert plan.pgbouncer is not None and plan.pgbouncer.image == image
    assert plan.instances[0].containers.sidecars[0]["image"] == image


@pytest.mark.parametrize("image", IMAGES_REFUSED)
def test_image_references_refused(write_spec: Callable[..., Path], image: str) -> None:
    spec = spec_with({"sidecars": [{**SIDECAR, "image": image}]}, pgbouncer={"image": image}, image=image)
    assert [p for p, _ in failing(write_spec, spec)] == [
        "spec.image",
        "spec.instances[0].sidecars[0].image",
        "spec.proxy.pgBouncer.image",
    ]
