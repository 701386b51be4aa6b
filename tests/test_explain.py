"""`pgrender explain FIELD.PATH`: type, default, allowed values, bounds, description, sub-fields,
and the objects the field ends up in, measured on the reference cluster (pgrender/explain)."""

from __future__ import annotations

from typing import Any

import pytest

from pgrender import schema, tuning
from pgrender.explain import _objects, _reference, explain, lookup
from tests.conftest import run_cli

# path → lines the explanation holds (in this order), among others
CASES = [
    (
        "spec.proxy.pgBouncer.poolMode",
        [
            "FIELD:    spec.proxy.pgBouncer.poolMode <string>",
            "DEFAULT:  session",
            "ALLOWED:  session | transaction | statement",
            "  ConfigMap/hippo-pgbouncer",
        ],
    ),
    (
        "spec.instances.replicas",
        [
            "FIELD:    spec.instances.replicas <integer>",
            "DEFAULT:  1",
            "BOUNDS:   >= 1, <= 99",
            "  StatefulSet/hippo-instance1-2",
        ],
    ),
    ("spec.instances[].replicas", ["FIELD:    spec.instances.replicas <integer>"]),
    (
        "spec.tls.validityDays",
        ["FIELD:    spec.tls.validityDays <integer>", "  Secret/hippo-cluster-cert", "  Secret/hippo-replication-cert"],
    ),
    (
        "spec.instances",
        ["FIELD:    spec.instances <[]object>", "REQUIRED: yes", "FIELDS:", "  name <string> -required-"],
    ),
    ("spec.patroni.synchronousMode", ["<boolean>", "  ConfigMap/hippo-config"]),
    ("", ["FIELD:    pgrender PostgresCluster (pgrender.io/v1alpha1) <object>", "  apiVersion <string> -required-"]),
]


@pytest.mark.parametrize(("path", "lines"), CASES, ids=[c[0] or "top" for c in CASES])
def test_explain(path: str, lines: list[str]) -> None:
    result = run_cli("explain", path)
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    positions = [next(i for i, o in enumerate(out) if line in o) for line in lines]
    assert positions == sorted(positions), result.stdout


# path → exactly the objects it ends up in. The read-only pooler is in the reference (else a field of
# it made the whole pooler appear); a field the reference leaves out is tried off its default.
MEASURED = [
    ("spec.proxy.pgBouncerReplicas.replicas", ["Deployment/hippo-pgbouncer-replicas"]),
    (
        "spec.proxy.pgBouncerReplicas.poolMode",
        ["ConfigMap/hippo-pgbouncer-replicas", "Deployment/hippo-pgbouncer-replicas"],
    ),
    ("spec.proxy.pgBouncer.replicas", ["Deployment/hippo-pgbouncer"]),
]


@pytest.mark.parametrize(("path", "objects"), MEASURED, ids=[m[0] for m in MEASURED])
def test_what_a_field_ends_up_in(path: str, objects: list[str]) -> None:
    out = explain(path).split("ENDS UP IN (measured on the reference cluster hippo, namespace db):\n")[1]
    assert out.split() == objects


# path → what the error says (exit 2)
ERRORS = [
    ("spec.instances.replica", "spec.instances has no field 'replica'; did you mean 'replicas'?"),
    ("spec.colour", "spec has no field 'colour'; expected one of "),
    ("spec.port.number", "spec.port has no fields"),
]


@pytest.mark.parametrize(("path", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_explain_refuses_unknown_fields(path: str, message: str) -> None:
    result = run_cli("explain", path)
    assert result.exit_code == 2
    assert result.stderr.startswith("pgrender: " + message), result.stderr


def test_explain_a_config_field() -> None:
    result = run_cli("explain", "--config", "secrets.provider")
    assert result.exit_code == 0
    assert "ALLOWED:  derived | existing | sealed | external" in result.stdout and "ENDS UP IN" not in result.stdout


def _paths(root: dict[str, Any], node: dict[str, Any], prefix: str) -> list[str]:
    from pgrender.explain import _properties

    out = []
    for name in _properties(root, node):
        path = f"{prefix}.{name}" if prefix else name
        out.append(path)
        out += _paths(root, lookup(root, path).node, path)
    return out


def test_every_field_of_both_schemas_can_be_explained() -> None:
    for root, config in ((schema.cluster_schema(), False), (schema.config_schema(), True)):
        paths = _paths(root, root, "")
        assert len(paths) > (15 if config else 100)
        for path in paths:
            text = explain(path, config=config, measure=False)
            assert text.startswith(f"FIELD:    {path} <"), text


def test_the_reference_cluster_is_valid() -> None:
    objects = _objects(_reference(), tuning.ScramPool())
    assert objects is not None and "StatefulSet/hippo-instance1-0" in objects
