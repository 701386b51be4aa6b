"""transforms.only_secrets: --only-secrets keeps the Secrets and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.providers import secrets_provider, tls_provider
from pgrender.transforms import Context
from pgrender.transforms.only_secrets import only_secrets
from tests.conftest import base_spec

Manifest = dict[str, Any]


def obj(kind: str, name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}


MIXED = [obj("ConfigMap", "c"), obj("Secret", "s1"), obj("SealedSecret", "x"), obj("Secret", "s2"), obj("Job", "j")]


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        (False, ["ConfigMap/c", "Secret/s1", "SealedSecret/x", "Secret/s2", "Job/j"]),
        (True, ["Secret/s1", "Secret/s2"]),
    ],
)
def test_only_secrets_keeps_what_was_asked(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], asked: bool, kept: list[str]
) -> None:
    context = Context(plan_of(base_spec()), secrets_provider("derived"), tls_provider("derived"), None, asked)
    assert [f"{m['kind']}/{m['metadata']['name']}" for m in only_secrets(context, MIXED)] == kept


def test_only_the_secrets_of_a_cluster(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    plan = plan_of(base_spec())
    manifests = build(plan)
    context = Context(plan, secrets_provider("derived"), tls_provider("derived"), None, only_secrets=True)
    out = only_secrets(context, manifests)
    assert out == [m for m in manifests if m["kind"] == "Secret"]
    assert {m["metadata"]["name"] for m in out} >= {plan.names.patroni_secret, plan.names.cluster_cert}


def test_without_the_flag_the_list_is_returned_as_is(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    context = Context(plan_of(base_spec()), secrets_provider("derived"), tls_provider("derived"), None)
    assert only_secrets(context, MIXED) is MIXED
