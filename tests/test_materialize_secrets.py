"""transforms.materialize_secrets: each SecretText in a Secret's data becomes base64 of the provider's values."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.providers import Values, secrets_provider, tls_provider
from pgrender.secrets import Material, SecretInput, SecretText, keys, secret_text, user_password
from pgrender.secrets.derived import DerivedValues
from pgrender.transforms import Context
from pgrender.transforms.materialize_secrets import materialize_secrets
from tests.conftest import GOLDEN_KEY, base_spec

Manifest = dict[str, Any]


class NamedValues:
    """Values that spell out which input they stand for."""

    def value(self, item: SecretInput) -> str:
        return f"<{item.material.value} {item.subject} {item.rotation}>"

    def ca_key_identifier(self) -> str:
        return "ca-key"


def context(plan: ClusterPlan, values: Values | None) -> Context:
    return Context(plan, secrets_provider("derived"), tls_provider("derived"), values)


def secret(data: dict[str, Any]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "db"}, "data": data}


def decoded(value: str) -> str:
    return base64.b64decode(value).decode()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (secret_text("literal"), "literal"),
        (secret_text(user_password("app", 0)), "<password user:app 0>"),
        (secret_text(user_password("app", 3)), "<password user:app 3>"),
        (
            secret_text("postgresql://app:", user_password("app", 0), "@h/db"),
            "postgresql://app:<password user:app 0>@h/db",
        ),
        (secret_text(SecretInput(Material.CA_CERT, "ca", 1)), "<ca.crt ca 1>"),
        (SecretText(()), ""),
    ],
)
def test_secret_text_becomes_base64_of_the_provider_values(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], value: SecretText, text: str
) -> None:
    (filled,) = materialize_secrets(context(plan_of(base_spec()), NamedValues()), [secret({"k": value})])
    assert decoded(filled["data"]["k"]) == text


def test_data_that_is_already_text_is_kept(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    (filled,) = materialize_secrets(context(plan_of(base_spec()), NamedValues()), [secret({"k": "YWJj"})])
    assert filled["data"] == {"k": "YWJj"}


def test_objects_other_than_secrets_are_untouched(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": secret_text("x")}}
    assert materialize_secrets(context(plan_of(base_spec()), NamedValues()), [config_map]) == [config_map]


def test_without_values_nothing_is_filled_in(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    manifests = [secret({"k": secret_text(user_password("app", 0))})]
    assert materialize_secrets(context(plan_of(base_spec()), None), manifests) is manifests


def test_the_input_objects_are_not_changed(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    value = secret_text(user_password("app", 0))
    original = secret({"k": value})
    materialize_secrets(context(plan_of(base_spec()), NamedValues()), [original])
    assert original["data"] == {"k": value}


def test_every_secret_of_a_cluster_is_filled_from_the_root_key(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
) -> None:
    plan = plan_of(base_spec())
    values = DerivedValues(keys.load(str(GOLDEN_KEY), {"PGRENDER_ALLOW_TEST_KEY": "1"}), plan)
    manifests = build(plan)
    filled = materialize_secrets(context(plan, values), manifests)
    assert [(m["kind"], m["metadata"]["name"]) for m in filled] == [
        (m["kind"], m["metadata"]["name"]) for m in manifests
    ]
    for m in filled:
        if m["kind"] == "Secret":
            assert all(isinstance(v, str) and decoded(v) for v in m["data"].values()), m["metadata"]["name"]
    cert = next(m for m in filled if m["metadata"]["name"] == plan.names.cluster_cert)
    assert decoded(cert["data"]["tls.crt"]).startswith("-----BEGIN CERTIFICATE-----")
