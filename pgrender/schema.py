"""JSON Schema of the spec and of pgrender.yaml, exported from the pydantic models, checked in and
shipped inside the package (pgrender/schemas/; the repository's schemas/ links there).

A string under a model's field is the field's description (editors' hover, `explain`), as pydantic's
``use_attribute_docstrings`` would make it. That setting reads every model's source while the
models are built, which cost every render and validate about 55 ms of CPU (measured: 370 → 314 ms
for a cold render of hippo); the descriptions are only needed here, so they are read here.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.json_schema import GenerateJsonSchema

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import core_schema

SCHEMA_FILE = "postgrescluster-v1alpha1.json"
CONFIG_SCHEMA_FILE = "pgrender-config-v1alpha1.json"
# The schemas' identity (JSON Schema $id): the API group's domain and the file name.
PACKAGED = Path(__file__).parent / "schemas"  # the copies shipped in the package
SCHEMA_ID_ROOT = "https://pgrender.io/schemas/"


def cluster_schema() -> dict[str, Any]:
    from pgrender.spec import PostgresCluster

    schema = PostgresCluster.model_json_schema(by_alias=True, mode="validation", schema_generator=_Described)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID_ROOT + SCHEMA_FILE
    schema["title"] = "pgrender PostgresCluster (pgrender.io/v1alpha1)"
    return schema


def config_schema() -> dict[str, Any]:
    from pgrender.spec.repository import RepositoryConfig

    schema = RepositoryConfig.model_json_schema(by_alias=True, mode="validation", schema_generator=_Described)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID_ROOT + CONFIG_SCHEMA_FILE
    schema["title"] = "pgrender repository config, pgrender.yaml (RenderConfig)"
    return schema


def schema_texts() -> dict[str, str]:
    """File name → content, byte-stable."""
    return {
        SCHEMA_FILE: json.dumps(cluster_schema(), indent=2, sort_keys=True) + "\n",
        CONFIG_SCHEMA_FILE: json.dumps(config_schema(), indent=2, sort_keys=True) + "\n",
    }


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


class _Described(GenerateJsonSchema):
    """pydantic's JSON Schema, each property described by the string under its field."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        model: type[BaseModel] = schema["cls"]
        properties = json_schema.get("properties", {})
        for name, text in field_docstrings(model).items():
            info = model.model_fields.get(name)
            key = (info.alias or name) if info and self.by_alias else name
            if info and key in properties:
                properties[key]["description"] = text
        return json_schema


def field_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Field name → the string under it, in ``model`` and the models it extends (pydantic's rule:
    a string right after an annotated assignment, cleaned as a docstring)."""
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if klass.__module__.startswith("pgrender."):
            docs.update(_module_docstrings(klass.__module__).get(klass.__qualname__, {}))
    return docs


@functools.cache
def _module_docstrings(module: str) -> dict[str, dict[str, str]]:
    """Class qualified name → its fields' docstrings, for every class of ``module``."""
    tree = ast.parse(inspect.getsource(sys.modules[module]))
    found: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = prefix + node.name
                found[name] = {
                    field.target.id: inspect.cleandoc(text.value.value)
                    for field, text in zip(node.body, node.body[1:], strict=False)
                    if isinstance(field, ast.AnnAssign)
                    and isinstance(field.target, ast.Name)
                    and isinstance(text, ast.Expr)
                    and isinstance(text.value, ast.Constant)
                    and isinstance(text.value.value, str)
                }
                visit(node.body, name + ".")

    visit(tree.body, "")
    return found
