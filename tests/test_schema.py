"""schema: the checked-in JSON Schema is current and accepts every example."""

from __future__ import annotations

import json

import jsonschema
import yaml

from pgrender.schema import SCHEMA_FILE, schema_texts
from tests.conftest import EXAMPLES, ROOT


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
