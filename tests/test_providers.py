"""providers: every registered name loads a PROVIDER of the declared shape; hand_over replaces what one owns."""

from __future__ import annotations

from typing import Any

import pytest

from pgrender import providers
from pgrender.providers import (
    DEFAULT_SECRETS_PROVIDER,
    DEFAULT_TLS_PROVIDER,
    SECRETS_PROVIDERS,
    TLS_PROVIDERS,
    hand_over,
    secrets_provider,
    tls_provider,
    unknown,
)

Manifest = dict[str, Any]


@pytest.mark.parametrize("name", list(SECRETS_PROVIDERS))
def test_every_secrets_provider_has_the_declared_attributes(name: str) -> None:
    provider = secrets_provider(name)
    assert provider.name == name
    assert isinstance(provider.summary, str) and provider.summary.strip()
    assert isinstance(provider.needs_root_key, bool)
    assert isinstance(provider.writes_plaintext, bool)
    assert callable(provider.owns) and callable(provider.finish)


@pytest.mark.parametrize("name", list(TLS_PROVIDERS))
def test_every_tls_provider_has_the_declared_attributes(name: str) -> None:
    provider = tls_provider(name)
    assert provider.name == name
    assert isinstance(provider.summary, str) and provider.summary.strip()
    assert callable(provider.owns) and callable(provider.finish)


@pytest.mark.parametrize(
    ("name", "needs_root_key", "writes_plaintext"),
    [
        ("derived", True, True),
        ("existing", False, False),
        ("sealed", True, False),
    ],
)
def test_builtin_secrets_providers(name: str, needs_root_key: bool, writes_plaintext: bool) -> None:
    provider = secrets_provider(name)
    assert (provider.needs_root_key, provider.writes_plaintext) == (needs_root_key, writes_plaintext)


def test_defaults_are_registered() -> None:
    assert DEFAULT_SECRETS_PROVIDER in SECRETS_PROVIDERS
    assert DEFAULT_TLS_PROVIDER in TLS_PROVIDERS


def test_unregistered_names_are_a_key_error() -> None:
    with pytest.raises(KeyError):
        secrets_provider("nope")
    with pytest.raises(KeyError):
        tls_provider("nope")


def test_unknown_names_the_registered_ones() -> None:
    assert (
        unknown("secrets", "nope", {"a": "m.a", "b": "m.b"}) == "unknown secrets provider 'nope'; expected one of a, b"
    )


def test_registration_is_read_when_a_provider_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(providers.SECRETS_PROVIDERS, "annotated", "tests.fixtures.annotated_provider")
    assert secrets_provider("annotated").name == "annotated"


# hand_over -----------------------------------------------------------------------------------------------------


def obj(kind: str, name: str) -> Manifest:
    return {"kind": kind, "metadata": {"name": name}}


class OwnsKind:
    """Owns the objects of one kind; finish renames them, drops them, or keeps them."""

    name = "owns-kind"
    summary = "a provider for hand_over's tests"

    def __init__(self, kind: str, finish: str) -> None:
        self.kind, self.mode = kind, finish
        self.calls: list[list[str]] = []

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == self.kind)

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        self.calls.append([m["metadata"]["name"] for m in owned])
        if self.mode == "drop":
            return []
        if self.mode == "replace":
            return [obj("Stub", m["metadata"]["name"]) for m in owned]
        return owned


ITEMS = [obj("Secret", "s1"), obj("ConfigMap", "c1"), obj("Secret", "s2"), obj("Service", "v1")]


def names(manifests: list[Manifest]) -> list[str]:
    return [f"{m['kind']}/{m['metadata']['name']}" for m in manifests]


@pytest.mark.parametrize(
    ("kind", "finish", "result", "finish_got"),
    [
        ("Secret", "keep", ["ConfigMap/c1", "Service/v1", "Secret/s1", "Secret/s2"], [["s1", "s2"]]),
        ("Secret", "drop", ["ConfigMap/c1", "Service/v1"], [["s1", "s2"]]),
        ("Secret", "replace", ["ConfigMap/c1", "Service/v1", "Stub/s1", "Stub/s2"], [["s1", "s2"]]),
        ("Service", "drop", ["Secret/s1", "ConfigMap/c1", "Secret/s2"], [["v1"]]),
        ("Job", "drop", ["Secret/s1", "ConfigMap/c1", "Secret/s2", "Service/v1"], []),  # owns nothing: no call
    ],
)
def test_hand_over(kind: str, finish: str, result: list[str], finish_got: list[list[str]]) -> None:
    provider = OwnsKind(kind, finish)
    assert names(hand_over(provider, ITEMS)) == result
    assert provider.calls == finish_got


def test_hand_over_without_owned_objects_returns_the_list_itself() -> None:
    assert hand_over(OwnsKind("Job", "drop"), ITEMS) is ITEMS


def test_hand_over_leaves_its_input_alone() -> None:
    items = list(ITEMS)
    hand_over(OwnsKind("Secret", "drop"), items)
    assert items == ITEMS
