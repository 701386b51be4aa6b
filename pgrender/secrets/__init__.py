"""Secret values as templates: builders write what a value is made of, providers fill it in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SecretsProvider(StrEnum):
    """derived: Secrets in the output (plaintext; never in git). existing: Secrets are left out and
    created by other means (`pgrender render --only-secrets --stdout | kubeseal ...`)."""

    DERIVED = "derived"
    EXISTING = "existing"


class Material(StrEnum):
    """Kinds of secret material a provider can produce."""

    PASSWORD = "password"
    VERIFIER = "verifier"  # SCRAM-SHA-256 verifier of PASSWORD with the same subject
    CA_CERT = "ca.crt"
    CERT = "tls.crt"
    KEY = "tls.key"


@dataclass(frozen=True)
class SecretInput:
    """One secret value, named by what it is; never holds the value itself.

    ``subject`` is a user name for passwords, or a certificate name (see plan.tls) for TLS.
    ``uri_quoted`` asks for percent-encoding, for values placed inside a URI.
    """

    material: Material
    subject: str
    rotation: int = 0
    uri_quoted: bool = False


@dataclass(frozen=True)
class SecretText:
    """A Secret value: literal text and secret inputs, joined by the provider."""

    parts: tuple[str | SecretInput, ...]

    @property
    def inputs(self) -> tuple[SecretInput, ...]:
        return tuple(p for p in self.parts if isinstance(p, SecretInput))


def secret_text(*parts: str | SecretInput) -> SecretText:
    """Build a SecretText, merging adjacent literal parts."""
    merged: list[str | SecretInput] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return SecretText(tuple(merged))


def user_password(user: str, rotation: int, *, uri_quoted: bool = False) -> SecretInput:
    """A user's password; the verifier of the same subject and rotation belongs to it."""
    return SecretInput(Material.PASSWORD, f"user:{user}", rotation, uri_quoted)


def user_verifier(user: str, rotation: int) -> SecretInput:
    return SecretInput(Material.VERIFIER, f"user:{user}", rotation)
