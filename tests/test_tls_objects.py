"""transforms.tls_objects: the kubernetes.io/tls Secrets go to the TLS provider; what it returns takes their place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components import build
from pgrender.plan import ClusterPlan
from pgrender.providers import TLSProvider, secrets_provider, tls_provider
from pgrender.transforms import Context
from pgrender.transforms.tls_objects import tls_objects
from tests.conftest import base_spec

Manifest = dict[str, Any]
PlanOf = Callable[[dict[str, Any]], ClusterPlan]


class RecordingTLS:
    """A TLS provider that records what it was handed and puts ``replace(owned)`` in its place."""

    name = "recording"
    summary = "records the certificate Secrets it is handed"

    def __init__(self, replace: Callable[[list[Manifest]], list[Manifest]]) -> None:
        self.handed: list[Manifest] = []
        self.replace = replace

    def owns(self, manifest: Manifest) -> bool:
        return tls_provider("derived").owns(manifest)

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        self.handed = owned
        return self.replace(owned)


def certificate(secret: Manifest) -> Manifest:
    name = secret["metadata"]["name"]
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name}}


def run(plan: ClusterPlan, tls: TLSProvider) -> tuple[list[Manifest], list[Manifest]]:
    manifests = build(plan)
    return manifests, tls_objects(Context(plan, secrets_provider("derived"), tls, None), manifests)


def cert_names(plan: ClusterPlan) -> list[str]:
    return [plan.names.cluster_cert, plan.names.replication_cert, plan.names.superuser_cert]


def test_the_tls_secrets_are_handed_to_the_provider(plan_of: PlanOf) -> None:
    plan = plan_of(base_spec())
    tls = RecordingTLS(lambda owned: owned)
    run(plan, tls)
    assert sorted(m["metadata"]["name"] for m in tls.handed) == cert_names(plan)
    assert {(m["kind"], m["type"]) for m in tls.handed} == {("Secret", "kubernetes.io/tls")}


@pytest.mark.parametrize(
    ("replace", "in_their_place"),
    [
        pytest.param(lambda owned: owned, ["Secret"], id="kept"),
        pytest.param(lambda owned: [], [], id="dropped"),
        pytest.param(lambda owned: [certificate(m) for m in owned], ["Certificate"], id="replaced"),
    ],
)
def test_what_the_provider_returns_takes_their_place(
    plan_of: PlanOf, replace: Callable[[list[Manifest]], list[Manifest]], in_their_place: list[str]
) -> None:
    plan = plan_of(base_spec())
    before, after = run(plan, RecordingTLS(replace))
    for name in cert_names(plan):
        assert [m["kind"] for m in after if m["metadata"]["name"] == name] == in_their_place
    others = [m for m in before if m["metadata"]["name"] not in cert_names(plan)]
    assert [m for m in after if m["metadata"]["name"] not in cert_names(plan)] == others


def test_derived_tls_keeps_every_object(plan_of: PlanOf) -> None:
    before, after = run(plan_of(base_spec()), tls_provider("derived"))
    assert sorted(map(id, after)) == sorted(map(id, before))


def test_opaque_secrets_stay_in_place(plan_of: PlanOf) -> None:
    before, after = run(plan_of(base_spec()), RecordingTLS(lambda owned: []))
    opaque = [m for m in before if m["kind"] == "Secret" and m["type"] != "kubernetes.io/tls"]
    assert opaque and [m for m in after if m["kind"] == "Secret"] == opaque
