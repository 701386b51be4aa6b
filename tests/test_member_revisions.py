"""transforms.member_revisions: member templates carry their digest; the reconcile Job knows them all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.digest import digest
from pgrender.plan import ClusterPlan
from pgrender.providers import secrets_provider, tls_provider
from pgrender.transforms import Context
from pgrender.transforms.member_revisions import REVISIONS_ENV, TEMPLATE_DIGEST, member_revisions
from pgrender.transforms.rollout_digests import rollout_digests
from tests.conftest import base_spec

Manifest = dict[str, Any]
ObjectsOf = Callable[[dict[str, Any]], list[Manifest]]
PlanOf = Callable[[dict[str, Any]], ClusterPlan]


def with_repo_host(spec: dict[str, Any]) -> dict[str, Any]:
    """A volume repository: pgBackRest's repository host, a StatefulSet that is no member."""
    spec["spec"]["backups"] = {"repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]}
    return spec


def two_sets() -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["instances"].append({"name": "instance2", "replicas": 1, "dataVolume": {"size": "1Gi"}})
    return spec


def statefulsets(objects: list[Manifest]) -> dict[str, Manifest]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "StatefulSet"}


def reconcile_job(objects: list[Manifest], plan: ClusterPlan) -> Manifest:
    (job,) = [o for o in objects if o["kind"] == "Job" and plan.names.is_reconcile_job(o["metadata"]["name"])]
    return job


def revisions_env(job: Manifest) -> str:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (value,) = [e["value"] for e in container["env"] if e["name"] == REVISIONS_ENV]
    assert isinstance(value, str)
    return value


def template_revision(statefulset: Manifest) -> str | None:
    value = statefulset["spec"]["template"]["metadata"].get("annotations", {}).get(TEMPLATE_DIGEST)
    return None if value is None else str(value)


@pytest.mark.parametrize("spec", [base_spec(), two_sets(), with_repo_host(base_spec())], ids=["one-set", "two", "repo"])
def test_member_templates_carry_their_own_digest(objects_of: ObjectsOf, plan_of: PlanOf, spec: dict[str, Any]) -> None:
    objects, plan = objects_of(copy.deepcopy(spec)), plan_of(copy.deepcopy(spec))
    found = statefulsets(objects)
    pods = {instance.name: instance.pod for instance in plan.instances}
    assert set(pods) <= set(found)
    for name in pods:
        template = copy.deepcopy(found[name]["spec"]["template"])
        revision = template["metadata"]["annotations"].pop(TEMPLATE_DIGEST)
        assert revision == digest(template).hex()[:16], name
    others = set(found) - set(pods)
    assert all(template_revision(found[name]) is None for name in others), "only members are stamped"
    if "backups" in spec["spec"]:
        assert others == {plan.names.repo_host}
    revisions = sorted(f"{name}/{pods[name]}={template_revision(found[name])}" for name in pods)
    assert revisions_env(reconcile_job(objects, plan)) == " ".join(revisions)


def test_revisions_are_sorted_by_statefulset(objects_of: ObjectsOf, plan_of: PlanOf) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["replicas"] = 3
    spec["spec"]["instances"].insert(0, {"name": "z-set", "replicas": 1, "dataVolume": {"size": "1Gi"}})
    plan = plan_of(copy.deepcopy(spec))
    items = revisions_env(reconcile_job(objects_of(spec), plan)).split()
    assert [item.partition("/")[0] for item in items] == sorted(i.name for i in plan.instances)
    assert [item.partition("=")[0] for item in items] == sorted(f"{i.name}/{i.pod}" for i in plan.instances)


def test_revisions_differ_by_member(objects_of: ObjectsOf) -> None:
    """Each member's template names its own pod: no two members share a revision."""
    revisions = [template_revision(s) for s in statefulsets(objects_of(two_sets())).values()]
    assert len(revisions) == 3 and len(set(revisions)) == 3


def test_rendering_again_keeps_every_revision_and_the_job_name(objects_of: ObjectsOf, plan_of: PlanOf) -> None:
    spec = with_repo_host(base_spec())
    plan = plan_of(copy.deepcopy(spec))
    one, two = objects_of(copy.deepcopy(spec)), objects_of(copy.deepcopy(spec))
    assert reconcile_job(one, plan)["metadata"]["name"] == reconcile_job(two, plan)["metadata"]["name"]
    assert revisions_env(reconcile_job(one, plan)) == revisions_env(reconcile_job(two, plan))


@pytest.fixture
def context(plan_of: PlanOf) -> Context:
    return Context(plan_of(with_repo_host(base_spec())), secrets_provider("existing"), tls_provider("derived"), None)


def digested(context: Context) -> list[Manifest]:
    """The cluster's objects as member_revisions gets them."""
    return rollout_digests(context, build(context.plan))


def changed(manifests: list[Manifest], name: str) -> list[Manifest]:
    """``manifests`` with one more annotation on StatefulSet ``name``'s template."""
    out = copy.deepcopy(manifests)
    (statefulset,) = [m for m in out if m["kind"] == "StatefulSet" and m["metadata"]["name"] == name]
    statefulset["spec"]["template"]["metadata"].setdefault("annotations", {})["x"] = "y"
    return out


def test_any_member_template_change_renames_the_job(context: Context) -> None:
    plan = context.plan
    manifests = digested(context)
    before = member_revisions(context, copy.deepcopy(manifests))
    job = reconcile_job(before, plan)
    assert reconcile_job(member_revisions(context, copy.deepcopy(manifests)), plan) == job
    for instance in plan.instances:
        after = member_revisions(context, changed(manifests, instance.name))
        assert reconcile_job(after, plan)["metadata"]["name"] != job["metadata"]["name"], instance.name
        old, new = statefulsets(before), statefulsets(after)
        assert [n for n in old if template_revision(old[n]) != template_revision(new[n])] == [instance.name]


def test_non_member_template_change_keeps_the_job(context: Context) -> None:
    plan = context.plan
    assert plan.backups is not None and plan.backups.repo_host is not None
    manifests = digested(context)
    before = member_revisions(context, copy.deepcopy(manifests))
    after = member_revisions(context, changed(manifests, plan.names.repo_host))
    assert reconcile_job(after, plan) == reconcile_job(before, plan)
    assert template_revision(statefulsets(after)[plan.names.repo_host]) is None


def test_the_input_objects_are_not_changed(context: Context) -> None:
    manifests = digested(context)
    original = copy.deepcopy(manifests)
    member_revisions(context, manifests)
    assert manifests == original


def test_the_job_keeps_its_other_env(context: Context) -> None:
    manifests = digested(context)
    (before,) = [
        m for m in manifests if m["kind"] == "Job" and context.plan.names.is_reconcile_job(m["metadata"]["name"])
    ]
    after = reconcile_job(member_revisions(context, manifests), context.plan)
    (old,), (new,) = before["spec"]["template"]["spec"]["containers"], after["spec"]["template"]["spec"]["containers"]
    assert new["env"][:-1] == old["env"] and new["env"][-1]["name"] == REVISIONS_ENV
