"""Secrets provider `existing`: no Secret in the output, yet rotations still roll the pods that mount them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import base_spec, run_cli

SECRETS_DIGEST = "pgrender.io/secrets-digest"


def rendered(write_spec: Callable[..., Path], spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """kind/name -> object, rendered with --secrets-provider existing and no root key."""
    result = run_cli("render", str(write_spec(spec)), "--stdout", "--secrets-provider", "existing", env={})
    assert result.exit_code == 0, result.stderr
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in yaml.safe_load_all(result.stdout) if o}


def digests(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {
        ident: o["spec"]["template"]["metadata"]["annotations"][SECRETS_DIGEST]
        for ident, o in objects.items()
        if o["kind"] in ("StatefulSet", "Deployment")
    }


def with_pgbouncer() -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["proxy"] = {"pgBouncer": {}}
    return spec


def test_no_secret_is_written(write_spec: Callable[..., Path]) -> None:
    objects = rendered(write_spec, with_pgbouncer())
    assert [i for i in objects if i.startswith("Secret/")] == []
    assert set(digests(objects)) == {
        "StatefulSet/hippo-instance1-0",
        "StatefulSet/hippo-instance1-1",
        "Deployment/hippo-pgbouncer",
    }


@pytest.mark.parametrize(
    ("change", "rolled"),
    [
        (
            lambda s: s["spec"].update(tls={"rotation": 1}),
            {"StatefulSet/hippo-instance1-0", "StatefulSet/hippo-instance1-1", "Deployment/hippo-pgbouncer"},
        ),
        (
            lambda s: s["spec"].update(tls={"caRotation": 1}),  # a new CA: ca.crt in every Secret that holds it
            {"StatefulSet/hippo-instance1-0", "StatefulSet/hippo-instance1-1", "Deployment/hippo-pgbouncer"},
        ),
        (lambda s: s["spec"]["proxy"]["pgBouncer"].update(replicas=2), set()),
    ],
    ids=["tls-rotation", "ca-rotation", "unrelated"],
)
def test_a_rotation_changes_the_digest_of_the_pods_that_mount_the_material(
    write_spec: Callable[..., Path], change: Callable[[dict[str, Any]], None], rolled: set[str]
) -> None:
    before = digests(rendered(write_spec, with_pgbouncer()))
    spec = with_pgbouncer()
    change(spec)
    after = digests(rendered(write_spec, spec))
    assert {i for i in before if before[i] != after[i]} == rolled
