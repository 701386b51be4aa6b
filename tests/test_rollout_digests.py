"""transforms.rollout_digests: pod templates carry digests of the ConfigMaps and Secrets they refer to."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.providers import secrets_provider, tls_provider
from pgrender.secrets import secret_text, user_password
from pgrender.transforms import Context
from pgrender.transforms.member_revisions import TEMPLATE_DIGEST
from pgrender.transforms.rollout_digests import CONFIG_DIGEST, POD_TEMPLATES, SECRETS_DIGEST, rollout_digests
from tests.conftest import base_spec

Manifest = dict[str, Any]
PlanOf = Callable[[dict[str, Any]], ClusterPlan]


@pytest.fixture
def context(plan_of: PlanOf) -> Context:
    return Context(plan_of(base_spec()), secrets_provider("existing"), tls_provider("derived"), None)


def config_map(name: str, value: str = "v") -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}}


def secret(name: str, value: Any = "dg==") -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"k": value}}


def workload(kind: str, pod: Manifest, annotations: dict[str, str] | None = None) -> Manifest:
    """A ``kind`` object whose pod template (at POD_TEMPLATES[kind], or spec.template for a Job) is ``pod``."""
    node: Manifest = {"metadata": {"annotations": dict(annotations)} if annotations else {}, "spec": pod}
    for key in reversed(POD_TEMPLATES.get(kind, ("spec", "template"))):
        node = {key: node}
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "w"}, **node}


def template(obj: Manifest) -> Manifest:
    node = obj
    for key in POD_TEMPLATES.get(obj["kind"], ("spec", "template")):
        node = node[key]
    return node


def template_annotations(obj: Manifest) -> dict[str, str]:
    return dict(template(obj)["metadata"].get("annotations", {}))


def digests(context: Context, pod: Manifest, *others: Manifest, kind: str = "StatefulSet") -> dict[str, str]:
    """The digest annotations of a ``kind`` with pod spec ``pod``, among ``others``."""
    out = rollout_digests(context, [workload(kind, pod), *others])
    (annotated,) = [m for m in out if m["kind"] == kind]
    return {k: v for k, v in template_annotations(annotated).items() if k in (CONFIG_DIGEST, SECRETS_DIGEST)}


MOUNTS_BOTH = {
    "containers": [{"name": "main"}],
    "volumes": [{"name": "a", "configMap": {"name": "cfg"}}, {"name": "b", "secret": {"secretName": "sec"}}],
}


def env(ref: str, name: str = "target") -> Manifest:
    return {"env": [{"name": "X", "valueFrom": {ref: {"name": name, "key": "k"}}}]}


def env_from(ref: str, name: str = "target") -> Manifest:
    return {"envFrom": [{ref: {"name": name}}]}


def projected(kind: str, name: str = "target") -> Manifest:
    return {"name": "p", "projected": {"sources": [{"downwardAPI": {"items": []}}, {kind: {"name": name}}]}}


MAIN = {"name": "main"}
# (referenced kind, pod spec that refers to the object named "target")
REFERENCES = [
    pytest.param("Secret", {"containers": [{**MAIN, **env("secretKeyRef")}]}, id="env-secretKeyRef"),
    pytest.param("ConfigMap", {"containers": [{**MAIN, **env("configMapKeyRef")}]}, id="env-configMapKeyRef"),
    pytest.param("Secret", {"containers": [{**MAIN, **env_from("secretRef")}]}, id="envFrom-secretRef"),
    pytest.param("ConfigMap", {"containers": [{**MAIN, **env_from("configMapRef")}]}, id="envFrom-configMapRef"),
    pytest.param("Secret", {"volumes": [{"name": "v", "secret": {"secretName": "target"}}]}, id="volume-secret"),
    pytest.param("ConfigMap", {"volumes": [{"name": "v", "configMap": {"name": "target"}}]}, id="volume-configMap"),
    pytest.param("Secret", {"volumes": [projected("secret")]}, id="projected-secret"),
    pytest.param("ConfigMap", {"volumes": [projected("configMap")]}, id="projected-configMap"),
    pytest.param("Secret", {"containers": [MAIN, {"name": "s", **env("secretKeyRef")}]}, id="sidecar-env"),
    pytest.param("Secret", {"initContainers": [{"name": "i", **env("secretKeyRef")}]}, id="init-env"),
    pytest.param("ConfigMap", {"initContainers": [{"name": "i", **env_from("configMapRef")}]}, id="init-envFrom"),
]
KIND_ANNOTATION = {"ConfigMap": CONFIG_DIGEST, "Secret": SECRETS_DIGEST}
OBJECT = {"ConfigMap": config_map, "Secret": secret}


@pytest.mark.parametrize("kind", ["StatefulSet", "Deployment", "DaemonSet", "CronJob"])
def test_workload_templates_carry_both_digests(context: Context, kind: str) -> None:
    found = digests(context, MOUNTS_BOTH, config_map("cfg"), secret("sec"), kind=kind)
    assert sorted(found) == [CONFIG_DIGEST, SECRETS_DIGEST]
    assert all(len(value) == 16 for value in found.values())


def test_cron_job_digests_sit_on_the_job_template(context: Context) -> None:
    (cron_job, _, _) = rollout_digests(context, [workload("CronJob", MOUNTS_BOTH), config_map("cfg"), secret("sec")])
    assert CONFIG_DIGEST in cron_job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    assert "annotations" not in cron_job["metadata"]


def test_jobs_are_left_as_they_are(context: Context) -> None:
    job = workload("Job", MOUNTS_BOTH)
    assert rollout_digests(context, [job, config_map("cfg"), secret("sec")])[0] == job


@pytest.mark.parametrize(("kind", "pod"), REFERENCES)
def test_digest_changes_with_the_referenced_object(context: Context, kind: str, pod: Manifest) -> None:
    make = OBJECT[kind]
    before = digests(context, pod, make("target", "one"))
    after = digests(context, pod, make("target", "two"))
    assert set(before) == {KIND_ANNOTATION[kind]}
    assert before != after


@pytest.mark.parametrize(("kind", "pod"), REFERENCES)
def test_digest_ignores_objects_not_referenced(context: Context, kind: str, pod: Manifest) -> None:
    make = OBJECT[kind]
    before = digests(context, pod, make("target"), config_map("other", "one"), secret("other", "one"))
    after = digests(context, pod, make("target"), config_map("other", "two"), secret("other", "two"))
    assert before == after


@pytest.mark.parametrize(
    ("pod", "objects", "expected"),
    [
        (MOUNTS_BOTH, [], set()),  # referenced objects not in the output (made elsewhere)
        ({"containers": [{"name": "main"}]}, [config_map("cfg"), secret("sec")], set()),  # nothing referenced
        (MOUNTS_BOTH, [config_map("cfg")], {CONFIG_DIGEST}),
        (MOUNTS_BOTH, [secret("sec")], {SECRETS_DIGEST}),
        (MOUNTS_BOTH, [config_map("sec"), secret("cfg")], set()),  # a name counts only with its kind
    ],
)
def test_which_digests_a_template_carries(
    context: Context, pod: Manifest, objects: list[Manifest], expected: set[str]
) -> None:
    assert set(digests(context, pod, *objects)) == expected


def test_digest_covers_the_object_name(context: Context) -> None:
    pod_a = {"containers": [], "volumes": [{"name": "v", "configMap": {"name": "a"}}]}
    pod_b = {"containers": [], "volumes": [{"name": "v", "configMap": {"name": "b"}}]}
    assert digests(context, pod_a, config_map("a")) != digests(context, pod_b, config_map("b"))


def test_other_template_annotations_are_kept(context: Context) -> None:
    (annotated, *_) = rollout_digests(context, [workload("Deployment", MOUNTS_BOTH, {"x": "y"}), config_map("cfg")])
    assert template_annotations(annotated)["x"] == "y"


def test_the_input_objects_are_not_changed(context: Context) -> None:
    manifests = [workload("CronJob", MOUNTS_BOTH), config_map("cfg"), secret("sec")]
    original = copy.deepcopy(manifests)
    rollout_digests(context, manifests)
    assert manifests == original


@pytest.mark.parametrize(
    ("before", "after", "changes"),
    [
        (user_password("app", 0), user_password("app", 0), False),
        (user_password("app", 0), user_password("app", 1), True),
        (user_password("app", 0), user_password("other", 0), True),
        (user_password("app", 0), user_password("app", 0, uri_quoted=True), True),
    ],
)
def test_templated_secret_digest_follows_its_inputs(context: Context, before: Any, after: Any, changes: bool) -> None:
    pod = {"containers": [{"name": "main", **env("secretKeyRef")}]}
    one = digests(context, pod, secret("target", secret_text("user=app password=", before)))
    two = digests(context, pod, secret("target", secret_text("user=app password=", after)))
    assert set(one) == {SECRETS_DIGEST}
    assert (one != two) is changes


def test_cluster_workloads_carry_digests(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    context = Context(plan, secrets_provider("existing"), tls_provider("derived"), None)
    out = rollout_digests(context, build(plan))
    for obj in out:
        if obj["kind"] == "StatefulSet":
            assert {CONFIG_DIGEST, SECRETS_DIGEST} <= set(template_annotations(obj)), obj["metadata"]["name"]
        elif obj["kind"] == "Job":
            assert not {CONFIG_DIGEST, SECRETS_DIGEST} & set(template_annotations(obj))


def test_cluster_digest_changes_with_the_patroni_config(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    context = Context(plan, secrets_provider("existing"), tls_provider("derived"), None)
    manifests = build(plan)
    changed = [
        {**m, "data": {**m["data"], "patroni.yaml": "changed"}} if m["metadata"]["name"] == plan.names.config_map else m
        for m in manifests
    ]

    def statefulset_digests(objects: list[Manifest]) -> list[tuple[str, str]]:
        return [
            (template_annotations(m)[CONFIG_DIGEST], template_annotations(m)[SECRETS_DIGEST])
            for m in rollout_digests(context, objects)
            if m["kind"] == "StatefulSet"
        ]

    for (config_before, secrets_before), (config_after, secrets_after) in zip(
        statefulset_digests(manifests), statefulset_digests(changed), strict=True
    ):
        assert config_before != config_after
        assert secrets_before == secrets_after


@pytest.mark.parametrize(
    ("kind", "field", "pod"),
    [
        ("ConfigMap", "binaryData", {"volumes": [{"name": "v", "configMap": {"name": "target"}}]}),
        ("Secret", "stringData", {"volumes": [{"name": "v", "secret": {"secretName": "target"}}]}),
    ],
)
def test_digest_covers_every_data_field(context: Context, kind: str, field: str, pod: Manifest) -> None:
    def obj(value: str) -> Manifest:
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "target"}, field: {"k": value}}

    assert digests(context, pod, obj("b25l")) != digests(context, pod, obj("dHdv"))


# --- what a spec change rolls: the pods, or only the reconcile Job ---------------------------------------


def set_parameter(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["spec"].setdefault("patroni", {}).setdefault("parameters", {}).update({name: value})


def set_hba(spec: dict[str, Any]) -> None:
    spec["spec"]["patroni"] = {"pgHBA": ["hostssl all all 10.0.0.0/8 scram-sha-256"]}


def set_image(spec: dict[str, Any]) -> None:
    spec["spec"]["image"] = "pgrender-test/postgres:16.9"


def set_resources(spec: dict[str, Any]) -> None:
    spec["spec"]["instances"][0]["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}}


def rendered_rollout(objects: list[Manifest]) -> tuple[dict[str, dict[str, str]], str]:
    """Each StatefulSet's template annotations and the reconcile Job's name."""
    templates = {o["metadata"]["name"]: template_annotations(o) for o in objects if o["kind"] == "StatefulSet"}
    (job,) = [o["metadata"]["name"] for o in objects if o["kind"] == "Job" and "-reconcile-" in o["metadata"]["name"]]
    return templates, job


@pytest.mark.parametrize(
    ("change", "rolls_pods"),
    [
        pytest.param(set_parameter("work_mem", "64MB"), False, id="work_mem"),
        pytest.param(set_parameter("max_connections", 300), False, id="max_connections"),
        pytest.param(set_parameter("shared_buffers", "256MB"), False, id="shared_buffers"),
        pytest.param(set_hba, False, id="pg_hba"),
        pytest.param(set_image, True, id="image"),
        pytest.param(set_resources, True, id="resources"),
    ],
)
def test_a_spec_change_rolls_the_pods_or_only_runs_the_job(
    objects_of: Callable[[dict[str, Any]], list[Manifest]], change: Callable[[dict[str, Any]], None], rolls_pods: bool
) -> None:
    """Settings Patroni applies itself (bootstrap.yaml's dynamic configuration, which the reconcile
    Job PUTs) change no member template: a new Job brings them to the running members, restarting
    only what Patroni flags. What the pod itself runs changes the templates, and the Job replaces them."""
    spec = base_spec()
    before_templates, before_job = rendered_rollout(objects_of(copy.deepcopy(spec)))
    change(spec)
    after_templates, after_job = rendered_rollout(objects_of(spec))
    assert after_job != before_job, "a new reconcile Job runs"
    assert set(after_templates) == set(before_templates)
    for name, before in before_templates.items():
        after = after_templates[name]
        assert (after[TEMPLATE_DIGEST] != before[TEMPLATE_DIGEST]) is rolls_pods, name
        if not rolls_pods:
            assert after == before, name
            assert after[CONFIG_DIGEST] == before[CONFIG_DIGEST], name


class KeyedValues:
    """Values whose keyed digest is an HMAC under ``key`` (DerivedValues derives it from the root key)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def value(self, item: Any) -> str:
        raise AssertionError("the values are filled in already")

    def keyed_digest(self, data: bytes) -> bytes:
        import hmac

        return hmac.digest(self.key, data, "sha256")


@pytest.mark.parametrize(
    ("provider", "keyed"),
    [
        ("derived", False),  # plaintext Secrets in the output: a digest hides nothing more
        ("sealed", True),  # committed: a Secret's digest is keyed, and says nothing without the root key
    ],
)
def test_secret_digests_are_keyed_when_the_output_is_committed(plan_of: PlanOf, provider: str, keyed: bool) -> None:
    plan = plan_of(base_spec())
    pod = {"volumes": [{"name": "v", "secret": {"secretName": "sec"}}, {"name": "c", "configMap": {"name": "cfg"}}]}

    def with_key(key: bytes, value: str = "dg==") -> dict[str, str]:
        context = Context(plan, secrets_provider(provider), tls_provider("derived"), KeyedValues(key))
        return digests(context, pod, secret("sec", value), config_map("cfg"))

    a, b = with_key(b"a"), with_key(b"b")
    assert (a[SECRETS_DIGEST] != b[SECRETS_DIGEST]) is keyed
    assert a[CONFIG_DIGEST] == b[CONFIG_DIGEST]  # ConfigMaps are committed in any case: never keyed
    assert with_key(b"a") == a  # a pure function of the values and the key
    assert with_key(b"a", "dw==")[SECRETS_DIGEST] != a[SECRETS_DIGEST]  # a new value rolls the pods either way
