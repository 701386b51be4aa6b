"""transforms.secret_objects: the secrets provider's objects stand in place of the Secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.providers import secrets_provider, tls_provider
from pgrender.transforms import Context
from pgrender.transforms.secret_objects import secret_objects
from tests.conftest import base_spec

Manifest = dict[str, Any]


def ids(manifests: list[Manifest]) -> list[tuple[str, str]]:
    return sorted((m["kind"], m["metadata"]["name"]) for m in manifests)


@pytest.mark.parametrize(
    ("provider", "secrets_kept"),
    [
        ("derived", True),  # written into the output
        ("existing", False),  # created by other means, only referenced
    ],
)
def test_provider_keeps_or_drops_the_secrets(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], provider: str, secrets_kept: bool
) -> None:
    plan = plan_of(base_spec())
    manifests = build(plan)
    out = secret_objects(Context(plan, secrets_provider(provider), tls_provider("derived"), None), manifests)
    others = [m for m in manifests if m["kind"] != "Secret"]
    assert [m for m in out if m["kind"] != "Secret"] == others  # in their order, unchanged
    assert ids([m for m in out if m["kind"] == "Secret"]) == (
        ids([m for m in manifests if m["kind"] == "Secret"]) if secrets_kept else []
    )


def test_kept_secrets_are_the_same_objects(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    plan = plan_of(base_spec())
    manifests = build(plan)
    out = secret_objects(Context(plan, secrets_provider("derived"), tls_provider("derived"), None), manifests)
    assert sorted(map(id, out)) == sorted(map(id, manifests))
