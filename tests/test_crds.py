"""crds: the bundled CRD schemas of the custom kinds pgrender writes, each with its source; the strict JSON Schema
`lint` makes of an openAPIV3Schema (unknown fields refused unless preserved, nullable honoured, metadata checked as
Kubernetes' ObjectMeta)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pgrender import crds
from pgrender.emit import KIND_ORDER


def test_every_bundled_kind_names_its_source() -> None:
    kinds = crds.custom_kinds()
    assert ("bitnami.com/v1alpha1", "SealedSecret") in kinds
    for (api_version, kind), content in kinds.items():
        source = content["source"]
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), kind
        assert source["repository"] and source["path"].endswith((".yaml", ".yml")), kind
        assert content["openAPIV3Schema"]["type"] == "object", kind
        assert kind in KIND_ORDER, f"{kind}: emit orders the kinds it writes"
        assert "/" in api_version


@pytest.mark.parametrize(
    ("schema", "strict"),
    [
        ({"type": "string"}, {"type": "string"}),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": True},
            {"type": "object", "properties": {"a": {"type": "string"}}},
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "string"}},
        ),
        ({"type": "object", "nullable": True}, {"type": ["object", "null"]}),
        (
            {"type": "array", "items": {"type": "object", "properties": {"b": {"type": "integer"}}}},
            {
                "type": "array",
                "items": {"type": "object", "properties": {"b": {"type": "integer"}}, "additionalProperties": False},
            },
        ),
    ],
    ids=["scalar", "closed-object", "preserved-object", "map", "nullable", "nested-in-items"],
)
def test_strict_schema(schema: dict[str, Any], strict: dict[str, Any]) -> None:
    assert crds.strict_schema(schema) == strict


SEALED = {
    "apiVersion": "bitnami.com/v1alpha1",
    "kind": "SealedSecret",
    "metadata": {"name": "s", "namespace": "n", "annotations": {"a": "b"}},
    "spec": {
        "encryptedData": {"k": "AgA="},
        "template": {"metadata": {"labels": {"l": "v"}, "creationTimestamp": None}, "type": "Opaque"},
    },
}


def edited(path: str, value: Any) -> dict[str, Any]:
    import copy

    obj = copy.deepcopy(SEALED)
    *parents, last = path.split(".")
    node = obj
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return obj


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        (SEALED, None),
        (edited("spec.extra", 1), "Additional properties are not allowed ('extra' was unexpected)"),
        (edited("spec.encryptedData", None), "'encryptedData' is a required property"),
        (edited("spec.template.immutable", "yes"), "'yes' is not of type 'boolean'"),
        (edited("metadata.colour", "red"), "Additional properties are not allowed ('colour' was unexpected)"),
        (edited("metadata.labels", {"a": 1}), "1 is not of type 'string', 'null'"),
        (edited("kind", "Secret"), "'Secret' is not one of ['SealedSecret']"),
        (edited("status", {"conditions": [{"type": "Synced"}]}), "'status' is a required property"),
    ],
    ids=[
        "valid",
        "unknown-spec-field",
        "no-encrypted-data",
        "immutable-type",
        "metadata-field",
        "label-type",
        "kind",
        "status-condition",
    ],
)
def test_validator(obj: dict[str, Any], error: str | None) -> None:
    validator = crds.validator("bitnami.com/v1alpha1", "SealedSecret", "1.30")
    assert validator is not None
    found = [e.message for e in validator.iter_errors(obj)]
    assert found == ([error] if error else [])


def test_kinds_without_a_bundled_schema() -> None:
    assert crds.validator("v1", "Secret", "1.30") is None
    assert crds.validator("bitnami.com/v1", "SealedSecret", "1.30") is None
