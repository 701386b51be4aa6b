"""transforms.flux_protection: objects with "${" or "$$" in any key or value are kept from Flux substitution."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.providers import secrets_provider, tls_provider
from pgrender.transforms import Context
from pgrender.transforms.flux_protection import SUBSTITUTE, flux_protection
from tests.conftest import base_spec

Manifest = dict[str, Any]
PlanOf = Callable[[dict[str, Any]], ClusterPlan]


@pytest.fixture
def context(plan_of: PlanOf) -> Context:
    return Context(plan_of(base_spec()), secrets_provider("derived"), tls_provider("derived"), None)


def config_map(data: Any) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "db"}, "data": data}


@pytest.mark.parametrize(
    ("data", "protected"),
    [
        ({"k": "${var}"}, True),
        ({"k": "a ${var} b"}, True),
        ({"k": "${"}, True),
        ({"k": "AS $$ SELECT 1 $$"}, True),
        ({"k": "$$"}, True),
        ({"${var}": "v"}, True),  # a key
        ({"$$": "v"}, True),
        ({"k": ["a", ["b", {"c": "${d}"}]]}, True),  # nested lists and mappings
        ({"k": [[[["$$"]]]]}, True),
        ({"k": "$var"}, False),  # Flux substitutes ${var} only
        ({"k": "$(VAR)"}, False),  # the kubelet's expansion
        ({"k": "$ {var}"}, False),
        ({"k": "{var}$"}, False),
        ({"k": "$"}, False),
        ({"k": "a$b$c"}, False),
        ({"k": ["$", "{x}"]}, False),  # a marker split over two strings is no marker
        ({"k": 1, "n": None, "b": True}, False),
        ({}, False),
    ],
)
def test_which_objects_are_protected(context: Context, data: Any, protected: bool) -> None:
    original = config_map(data)
    (out,) = flux_protection(context, [copy.deepcopy(original)])
    annotations = out["metadata"].get("annotations", {})
    assert (annotations.get(SUBSTITUTE) == "disabled") is protected
    if not protected:
        assert out == original


def test_a_marker_in_metadata_counts(context: Context) -> None:
    marked = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"x": "a$$b"}}}
    (out,) = flux_protection(context, [marked])
    assert out["metadata"]["annotations"] == {SUBSTITUTE: "disabled"}


def test_protection_adds_only_the_annotation(context: Context) -> None:
    original = config_map({"k": "${var}"})
    original["metadata"]["annotations"] = {"example.com/owner": "dba"}
    (out,) = flux_protection(context, [copy.deepcopy(original)])
    assert out["metadata"]["annotations"] == {"example.com/owner": "dba", SUBSTITUTE: "disabled"}
    assert {**out, "metadata": original["metadata"]} == original


def test_the_input_objects_are_not_changed(context: Context) -> None:
    manifests = [config_map({"k": "${var}"}), config_map({"k": "plain"})]
    original = copy.deepcopy(manifests)
    flux_protection(context, manifests)
    assert manifests == original


def test_order_and_count_are_kept(context: Context) -> None:
    manifests = [config_map({"k": str(i) + ("$$" if i % 2 else "")}) for i in range(6)]
    out = flux_protection(context, manifests)
    assert [m["data"] for m in out] == [m["data"] for m in manifests]
    assert [SUBSTITUTE in m["metadata"].get("annotations", {}) for m in out] == [i % 2 == 1 for i in range(6)]


def test_reconcile_sql_is_protected_by_its_dollar_quotes(plan_of: PlanOf) -> None:
    spec = base_spec()
    spec["spec"]["proxy"] = {"pgBouncer": {}}
    plan = plan_of(spec)
    context = Context(plan, secrets_provider("derived"), tls_provider("derived"), None)
    # The last step before emit: the Secrets have their values by then (here: none at all).
    out = flux_protection(context, [m for m in build(plan) if m["kind"] != "Secret"])
    protected = [m["metadata"]["name"] for m in out if SUBSTITUTE in m["metadata"].get("annotations", {})]
    assert plan.names.reconcile_config_map in protected
