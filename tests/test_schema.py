"""schema: the checked-in JSON Schema is current and accepts every example."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pgrender.schema import CONFIG_SCHEMA_FILE, SCHEMA_FILE, schema_texts
from tests.conftest import EXAMPLES, ROOT, run_cli


def test_checked_in_schema_is_current() -> None:
    for name, text in schema_texts().items():
        assert (ROOT / "schemas" / name).read_text() == text, "run `make schema` and commit schemas/"


def test_examples_match_the_schema() -> None:
    schema = json.loads((ROOT / "schemas" / SCHEMA_FILE).read_text())
    for example in sorted(EXAMPLES.glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(example.read_text()), schema)


def test_a_spec_without_namespace_is_valid_for_editors() -> None:
    """The namespace may come from pgrender.yaml, --namespace or Argo CD, which an editor cannot see."""
    schema = json.loads((ROOT / "schemas" / SCHEMA_FILE).read_text())
    spec = yaml.safe_load((EXAMPLES / "hippo.yaml").read_text())
    del spec["metadata"]["namespace"]
    jsonschema.validate(spec, schema)


def _set(spec: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = spec
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = value


# The editor contract: a broken field → both pgrender and the JSON Schema (what editors check while
# typing) refuse it. Names, quantities, enums, bounds and patterns pgrender checks.
BROKEN = [
    ("cluster-name-case", "metadata.name", "Hippo"),
    ("cluster-name-underscore", "metadata.name", "hip_po"),
    ("cluster-name-too-long", "metadata.name", "h" * 64),
    ("namespace", "metadata.namespace", "-db"),
    ("set-name", "spec.instances.0.name", "Set1"),
    ("quantity-space", "spec.instances.0.dataVolume.size", "1 Gi"),
    ("quantity-unit", "spec.instances.0.dataVolume.size", "10GB"),
    ("cpu", "spec.instances.0.resources.requests.cpu", "half"),
    ("storage-class", "spec.instances.0.dataVolume.storageClassName", "Fast_SSD"),
    ("replicas-0", "spec.instances.0.replicas", 0),
    ("replicas-100", "spec.instances.0.replicas", 100),
    ("port", "spec.port", 80),
    ("version", "spec.postgresVersion", 13),
    ("preset", "spec.preset", "gold"),
    ("naming", "spec.naming", "crunchy"),
    ("service-type", "spec.service.type", "External"),
    ("pool-mode", "spec.proxy.pgBouncer.poolMode", "sometimes"),
    ("role-name-case", "spec.users.0.name", "Alice"),
    ("role-name-pg", "spec.users.0.name", "pg_admin"),
    ("role-name-reserved", "spec.users.0.name", "public"),
    ("database-name", "spec.users.0.databases", ["template1"]),
    ("cluster-domain", "spec.clusterDomain", "Cluster.Local"),
    ("host-suffix", "spec.connectivity.dns", {"domain": "example.com", "hostSuffix": ".prod"}),
    ("mount-path", "spec.connectivity.secretMountPath", "etc/pgrender"),
    ("duration", "spec.tls.certManager", {"issuerRef": {"name": "ca"}, "duration": "90 days"}),
    ("unknown-field", "spec.instances.0.replica", 2),
    (
        "time-zone",
        "spec.backups",
        {"timeZone": "Mars/Olympus Mons", "repos": [{"name": "repo1", "volume": {"size": "1Gi"}}]},
    ),
    ("repo-name", "spec.backups", {"repos": [{"name": "backups", "volume": {"size": "1Gi"}}]}),
]


@pytest.mark.parametrize(("path", "value"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_editors_flag_what_pgrender_refuses(tmp_path: Path, path: str, value: Any) -> None:
    spec = yaml.safe_load((EXAMPLES / "hippo.yaml").read_text())
    spec["spec"].setdefault("users", [{"name": "hippo"}])
    _set(spec, path, value)
    target = tmp_path / "broken.yaml"
    target.write_text(yaml.safe_dump(spec))
    assert run_cli("validate", str(target)).exit_code == 2, "pgrender accepts it"
    schema = json.loads((ROOT / "schemas" / SCHEMA_FILE).read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(spec))
    assert errors, "the schema accepts it: editors would not flag it"


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    return [(name, json.loads((ROOT / "schemas" / name).read_text())) for name in (SCHEMA_FILE, CONFIG_SCHEMA_FILE)]


def _properties(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, property, the $defs), for every property of the schema and of its $defs."""
    defs: dict[str, Any] = schema.get("$defs", {})
    models = [("", schema), *defs.items()]
    return [
        (f"{model}.{key}", prop, defs) for model, node in models for key, prop in node.get("properties", {}).items()
    ]


def _resolved(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    return node


def _described(prop: dict[str, Any], defs: dict[str, Any]) -> bool:
    """Its own description, or that of the model or enum it refers to (what an editor shows on hover)."""
    return bool(prop.get("description")) or any(
        "$ref" in member and _resolved(member, defs).get("description") for member in [prop, *prop.get("anyOf", [])]
    )


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[SCHEMA_FILE, CONFIG_SCHEMA_FILE])
def test_every_property_has_a_description(name: str, schema: dict[str, Any]) -> None:
    """Editors show it on hover and `pgrender explain FIELD` prints it."""
    missing = [where for where, prop, defs in _properties(schema) if not _described(prop, defs)]
    assert not missing, f"{name}: properties without a description: {', '.join(missing)}"


def _names_each(description: str, values: list[Any]) -> list[Any]:
    """The values the description does not name as a word of their own."""
    return [v for v in values if not re.search(rf"(?<![\w-]){re.escape(str(v))}(?![\w-])", description)]


def _enums(schema: dict[str, Any]) -> list[tuple[str, list[Any], str]]:
    """(where, values, the description that must explain them): enum $defs and inline enums of properties."""
    found = [
        (f"$defs.{name}", node["enum"], node.get("description", ""))
        for name, node in schema.get("$defs", {}).items()
        if "enum" in node
    ]
    for where, prop, _ in _properties(schema):
        items = prop.get("items", {})
        for node in [prop, *prop.get("anyOf", []), items, *items.get("anyOf", [])]:
            if "enum" in node and len(node["enum"]) > 1:
                found.append((where, node["enum"], f"{prop.get('description', '')} {node.get('description', '')}"))
    return found


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[SCHEMA_FILE, CONFIG_SCHEMA_FILE])
def test_every_enum_explains_each_value(name: str, schema: dict[str, Any]) -> None:
    unexplained = [
        f"{where} ({', '.join(map(str, missing))})"
        for where, values, description in _enums(schema)
        if (missing := _names_each(description, values))
    ]
    assert not unexplained, f"{name}: enums whose description does not name each value: {'; '.join(unexplained)}"


def test_the_package_ships_the_schemas() -> None:
    """`pgrender schema --print-path` names the installed copies, which are the current schemas."""
    result = run_cli("schema", "--print-path")
    directory = Path(result.stdout.strip())
    assert result.exit_code == 0 and directory.name == "schemas" and directory.parent.name == "pgrender"
    for name, text in schema_texts().items():
        assert (directory / name).read_text() == text
        assert json.loads(text)["$id"] == f"https://pgrender.io/schemas/{name}"
