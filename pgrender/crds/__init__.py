"""Bundled schemas of the custom resources pgrender writes (SOURCES.md says where each comes from).

kubernetes-validate knows the built-in kinds only; ``problems`` validates a custom resource against
its CRD's openAPIV3Schema with jsonschema, strictly: an object schema that lists its properties
refuses others (as ``kubectl apply --validate=strict`` does), unless the CRD keeps unknown fields.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

# (apiVersion, kind) -> file in this package
SCHEMAS: dict[tuple[str, str], str] = {
    ("cert-manager.io/v1", "Certificate"): "cert-manager.io_v1_certificate.json",
    ("cert-manager.io/v1", "Issuer"): "cert-manager.io_v1_issuer.json",
}
PRESERVE = "x-kubernetes-preserve-unknown-fields"


def known(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in SCHEMAS


@functools.cache
def schema(api_version: str, kind: str) -> dict[str, Any]:
    """The strict JSON Schema of a bundled kind."""
    text = resources.files(__name__).joinpath(SCHEMAS[(api_version, kind)]).read_text(encoding="utf-8")
    return strict(json.loads(text)["openAPIV3Schema"])


def strict(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with additionalProperties: false on every object schema that lists its properties."""
    out = copy.deepcopy(node)
    _close(out)
    return out


def _close(node: Any) -> None:
    if not isinstance(node, dict):
        return
    if "properties" in node and "additionalProperties" not in node and not node.get(PRESERVE):
        node["additionalProperties"] = False
    for key in ("properties",):
        for child in node.get(key, {}).values():
            _close(child)
    for key in ("items", "additionalProperties"):
        _close(node.get(key))


def problems(obj: dict[str, Any]) -> list[tuple[tuple[Any, ...], str, Any]]:
    """(path, message, the jsonschema error) of each way ``obj`` fails its bundled schema; jsonschema
    comes with the lint extra (kubernetes-validate needs it)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema(str(obj["apiVersion"]), str(obj["kind"])))
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return [(tuple(e.absolute_path), e.message, e) for e in errors]
