"""Schemas of the custom resources pgrender writes, for `pgrender lint`: the projects' own CRDs, bundled.

Each kind is one JSON file here, ``<kind>.<group>.json`` in lower case, holding ``apiVersion``,
``kind``, the CRD version's ``openAPIV3Schema`` unchanged, and ``source``: the repository, path and
commit it was copied from. Adding a kind is adding its file; a kind also served in an older version
has a file for it too, ``<kind>.<group>.<version>.json`` (ExternalSecret's v1beta1).

``validator`` turns a CRD schema into the strict JSON Schema that `lint` applies, as the API server
reads it with field validation ``Strict`` (kubectl's default): an object schema that lists
``properties`` admits no other field unless it says ``x-kubernetes-preserve-unknown-fields``;
``nullable`` admits null; ``apiVersion`` and ``kind`` must be the kind's own; and ``metadata`` is
checked against Kubernetes' ObjectMeta from kubernetes-validate's strict schemas for the version
linted (the API server checks metadata itself, whatever the CRD says of it).
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"


@functools.cache
def custom_kinds() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the bundled file's content, for every file here."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            content = json.loads(entry.read_text(encoding="utf-8"))
            out[(content["apiVersion"], content["kind"])] = content
    return out


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An openAPIV3Schema as strict JSON Schema (draft 2020-12): unknown fields refused, nullable honoured."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_schema(sub) for sub in value]
        elif key == "nullable" or key.startswith("x-kubernetes-"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    closed = "properties" in schema and "additionalProperties" not in schema
    if closed and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def validator(api_version: str, kind: str, kubernetes_version: str) -> Any | None:
    """A jsonschema validator for the bundled kind (None when none is bundled), metadata as in
    ``kubernetes_version``'s strict schemas of kubernetes-validate (the lint extra)."""
    content = custom_kinds().get((api_version, kind))
    if content is None:
        return None
    return _validator(api_version, kind, _schema_directory(kubernetes_version))


@functools.cache
def _validator(api_version: str, kind: str, directory: str) -> Any:
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    schema = strict_schema(custom_kinds()[(api_version, kind)]["openAPIV3Schema"])
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "enum": [api_version]}
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["metadata"] = {"$ref": f"{DEFINITIONS_ID}#/$defs/{OBJECT_META}"}
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata"})
    definitions = utils.schema_contents(f"kubernetes-json-schema/{directory}/_definitions.json", directory)
    registry: Any = Resource.from_contents(definitions) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _schema_directory(kubernetes_version: str) -> str:
    """kubernetes-validate's strict schema directory for a version: the newest bundled minor not newer."""
    from kubernetes_validate import utils

    def minor(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", version)[:2])

    wanted = minor(kubernetes_version)
    chosen = [v for v in utils.all_versions() if minor(v) <= wanted][-1]
    return f"v{chosen}-local-strict"
