"""JSON Schema of the spec and of pgrender.yaml, exported from the pydantic models, checked in and
shipped inside the package (pgrender/schemas/; the repository's schemas/ links there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_FILE = "postgrescluster-v1alpha1.json"
CONFIG_SCHEMA_FILE = "pgrender-config-v1alpha1.json"
# The schemas' identity (JSON Schema $id): the API group's domain and the file name.
PACKAGED = Path(__file__).parent / "schemas"  # the copies shipped in the package
SCHEMA_ID_ROOT = "https://pgrender.io/schemas/"


def cluster_schema() -> dict[str, Any]:
    from pgrender.spec import PostgresCluster

    schema = PostgresCluster.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID_ROOT + SCHEMA_FILE
    schema["title"] = "pgrender PostgresCluster (pgrender.io/v1alpha1)"
    return schema


def config_schema() -> dict[str, Any]:
    from pgrender.config import RepositoryConfig

    schema = RepositoryConfig.model_json_schema(by_alias=True, mode="validation")
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
