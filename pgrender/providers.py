"""Secrets and TLS providers, registered by name, as Patroni picks a DCS backend.

A provider module defines ``PROVIDER``, an object of the ``SecretsProvider`` or ``TLSProvider``
shape. The command line,
the Argo CD plugin, pgrender.yaml and the JSON Schema read the names from these tables;
nothing else branches on a provider's name. Adding a provider is a new module plus one line here.
Modules are imported when chosen, so a render loads only the providers it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

if TYPE_CHECKING:
    from pgrender.plan import RuntimePasswords
    from pgrender.render import Request
    from pgrender.secrets import SecretInput

Manifest = dict[str, Any]

# name → module defining PROVIDER.
SECRETS_PROVIDERS: dict[str, str] = {
    "derived": "pgrender.secrets.derived",
    "existing": "pgrender.secrets.existing",
    "sealed": "pgrender.secrets.sealed",
    "external": "pgrender.secrets.external",
}
TLS_PROVIDERS: dict[str, str] = {
    "derived": "pgrender.tls.derived",
    "cert-manager": "pgrender.tls.cert_manager",
    "existing": "pgrender.tls.existing",
}
DEFAULT_SECRETS_PROVIDER = "derived"
DEFAULT_TLS_PROVIDER = "derived"


class Values(Protocol):
    """The source of secret values a render uses (the root key, for `derived`)."""

    def value(self, item: SecretInput) -> str: ...

    def keyed_digest(self, data: bytes) -> bytes:
        """A digest of secret values that says nothing of them without the root key (rollout digests
        of Secrets that are committed sealed)."""
        ...

    def ca_key_identifier(self) -> str:
        """The identifier of the CA key pgrender's ca.crt values hold, in hexadecimal (public)."""
        ...


class TLSProvider(Protocol):
    """Where the cluster's certificates come from.

    ``owns`` picks the certificate objects the builders made; ``finish`` returns what stands in
    the output in their place (the objects as they are, other objects, or nothing). It runs before
    secret values are filled in, so objects it keeps are delivered by the secrets provider.
    """

    name: str
    summary: str

    def owns(self, manifest: Manifest) -> bool: ...

    def finish(self, owned: list[Manifest]) -> list[Manifest]: ...


class SecretsProvider(TLSProvider, Protocol):
    """How Secrets reach the cluster: ``finish`` runs on every Secret still in the output, after
    values are filled in (when ``needs_root_key``) and rollout digests are taken.

    A provider whose passwords are known only in the cluster (external: a store) also has
    ``runtime_passwords`` (plan.RuntimePasswords, read by ``runtime_passwords`` below): the
    reconcile Job then computes the SCRAM verifiers, as no Secret carries one.
    """

    needs_root_key: bool  # values are derived from the root key and written into the output
    writes_plaintext: bool  # its output holds secret material in the clear (never into git)


class Configurable(Protocol):
    """A secrets provider that needs the render's settings (sealed: the certificate and the previous
    output); render() calls ``configure`` once and uses the provider it returns. A PgrenderError from
    it is reported after the specs' problems, as a missing root key is."""

    def configure(self, request: Request, root_key: bytes | None) -> SecretsProvider: ...


def is_configurable(provider: object) -> TypeGuard[Configurable]:
    """Whether ``provider`` has ``configure``. (Not isinstance with a runtime-checkable Protocol: from
    Python 3.12 that imports inspect, several milliseconds of every cold render.)"""
    return callable(getattr(provider, "configure", None))


def secrets_provider(name: str) -> SecretsProvider:
    """The registered secrets provider ``name`` (a KeyError is a bug: names are validated first)."""
    provider: SecretsProvider = importlib.import_module(SECRETS_PROVIDERS[name]).PROVIDER
    return provider


def reads_previous_output(provider: SecretsProvider) -> bool:
    """Whether the provider keeps what the previous output holds (sealed: each unchanged value's
    ciphertext, ``reads_previous_output = True``), so that a render with no directory of its own to
    replace (``cmp generate``) reads the committed output for it; no other provider looks at it."""
    return bool(getattr(provider, "reads_previous_output", False))


def reads_certificate(provider: SecretsProvider) -> bool:
    """Whether the provider seals for the sealing certificate (sealed, ``reads_certificate = True``):
    a render that records its inputs then reads the file once, for both (commands._record_inputs)."""
    return bool(getattr(provider, "reads_certificate", False))


def runtime_passwords(provider: SecretsProvider) -> RuntimePasswords | None:
    """Set when the provider's passwords are known only in the cluster (no verifier at render time)."""
    found: RuntimePasswords | None = getattr(provider, "runtime_passwords", None)
    return found


def tls_provider(name: str) -> TLSProvider:
    provider: TLSProvider = importlib.import_module(TLS_PROVIDERS[name]).PROVIDER
    return provider


def unknown(kind: str, name: str, registry: dict[str, str]) -> str:
    """The message for a provider name that is not registered."""
    return f"unknown {kind} provider {name!r}; expected one of {', '.join(registry)}"


def hand_over(provider: TLSProvider, manifests: list[Manifest]) -> list[Manifest]:
    """Replace the objects ``provider`` owns with what its ``finish`` returns (emit sorts later)."""
    owned = [m for m in manifests if provider.owns(m)]
    if not owned:
        return manifests
    return [m for m in manifests if not provider.owns(m)] + provider.finish(owned)
