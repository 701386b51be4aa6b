"""The pydantic-free rules (pgrender/spec/rules/) agree with the models where they restate them: the
keys of fields the checks name, and defaults the plan writes without building a model."""

from __future__ import annotations

import pytest

from pgrender.plan.network_policies import peer
from pgrender.spec.base import StrictModel
from pgrender.spec.instances import ResourceList
from pgrender.spec.network_policy import LabelSelectorSpec, PeerSpec
from pgrender.spec.rules.instances import RESOURCE_FIELDS, RESOURCE_KEYS
from pgrender.spec.rules.network_policy import NAMESPACE_NAME_LABEL, openshift_dns_peers
from pgrender.spec.rules.tls import EXISTING_SECRET_FIELDS, TLS_KEYS
from pgrender.spec.tls import ExistingTLSSpec, TLSSpec


def _keys(model: type[StrictModel]) -> dict[str, str]:
    return {name: field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize(
    ("model", "table", "every_field"),
    [
        (TLSSpec, TLS_KEYS, False),
        (ExistingTLSSpec, EXISTING_SECRET_FIELDS, False),
        (ResourceList, RESOURCE_KEYS, True),
    ],
)
def test_keys_the_checks_name_are_the_models(
    model: type[StrictModel], table: dict[str, str], every_field: bool
) -> None:
    keys = _keys(model)
    assert {name: keys.get(name) for name in table} == table
    if every_field:
        assert sorted(table) == sorted(keys)


def test_existing_secret_fields_are_every_secret_name_field() -> None:
    assert sorted(EXISTING_SECRET_FIELDS) == sorted(
        n for n in ExistingTLSSpec.model_fields if n.endswith("_secret_name")
    )


def test_resource_fields_are_in_the_models_order() -> None:
    assert tuple(ResourceList.model_fields) == RESOURCE_FIELDS


def test_openshift_dns_peers_are_the_peer_the_spec_would_give() -> None:
    spec = PeerSpec(namespace_selector=LabelSelectorSpec(match_labels={NAMESPACE_NAME_LABEL: "openshift-dns"}))
    assert openshift_dns_peers() == (peer(spec),)
    assert openshift_dns_peers()[0] is not openshift_dns_peers()[0]  # each cluster's manifests are its own
