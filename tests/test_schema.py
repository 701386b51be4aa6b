"""schema: the checked-in JSON Schema is current and accepts every example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pgrender.schema import SCHEMA_FILE, schema_texts
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
