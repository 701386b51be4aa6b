"""Secret values as templates: builders write what a value is made of, providers fill it in."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pgrender.frozen import frozen
from pgrender.plan import secret_keys

if TYPE_CHECKING:
    from pgrender.plan import CertificatePlan, TLSPlan


class Quoting(StrEnum):
    """How a value is written into the text around it (derived passwords need none of it, but a
    password from a store may hold any character)."""

    NONE = ""
    URI = "uri"  # percent-encoded: every byte but RFC 3986's unreserved characters
    PGPASS = "pgpass"  # a .pgpass field: backslash and colon escaped with a backslash
    AUTH_FILE = "auth-file"  # inside double quotes of pgBouncer's auth_file: a double quote doubled


class Material(StrEnum):
    """Kinds of secret material a provider can produce."""

    PASSWORD = "password"
    VERIFIER = "verifier"  # SCRAM-SHA-256 verifier of PASSWORD with the same subject
    CA_CERT = secret_keys.CA_CERT
    CERT = secret_keys.TLS_CERT
    KEY = secret_keys.TLS_KEY


@frozen
class SecretInput:
    """One secret value, named by what it is; never holds the value itself.

    ``subject`` is a user name for passwords, or a certificate name (see plan.tls) for TLS.
    ``quoting`` says how the value is written into the text around it (percent-encoded inside a
    URI, ...). ``owner`` (namespace, cluster) derives the value for another cluster: a clone reads
    its source's repository passphrase.
    """

    material: Material
    subject: str
    rotation: int = 0
    quoting: Quoting = Quoting.NONE
    owner: tuple[str, str] | None = None

    @property
    def uri_quoted(self) -> bool:
        return self.quoting is Quoting.URI

    def quote(self, text: str) -> str:
        """``text`` (this input's value) written as ``quoting`` says."""
        if self.quoting is Quoting.URI:
            return urllib.parse.quote(text, safe="")
        if self.quoting is Quoting.PGPASS:
            return text.replace("\\", "\\\\").replace(":", "\\:")
        if self.quoting is Quoting.AUTH_FILE:
            return text.replace('"', '""')
        return text


@frozen
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


def user_password(
    user: str,
    rotation: int,
    *,
    uri_quoted: bool = False,
    quoting: Quoting = Quoting.NONE,
    owner: tuple[str, str] | None = None,
) -> SecretInput:
    """A user's password; the verifier of the same subject, rotation and owner belongs to it.
    ``owner``: derived as another cluster's (an infrastructure role's, shared by every cluster)."""
    return SecretInput(Material.PASSWORD, f"user:{user}", rotation, Quoting.URI if uri_quoted else quoting, owner)


def user_verifier(user: str, rotation: int, owner: tuple[str, str] | None = None) -> SecretInput:
    return SecretInput(Material.VERIFIER, f"user:{user}", rotation, owner=owner)


def secret_inputs(manifests: list[dict[str, Any]]) -> Iterator[SecretInput]:
    """Every secret input the Secrets among ``manifests`` refer to."""
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            for value in manifest.get("data", {}).values():
                if isinstance(value, SecretText):
                    yield from value.inputs


def ca_certificate(tls: TLSPlan) -> SecretText:
    """The cluster CA's certificate, the root that clients and members trust: pgrender's own CA, or
    the one spec.tls.caCertificate gives (public: literal text)."""
    if tls.ca_pem is not None:
        return secret_text(tls.ca_pem)
    return secret_text(cluster_ca(tls))


def cluster_ca(tls: TLSPlan) -> SecretInput:
    """The input of the CA pgrender derives for the cluster. Named by its own counter and owner: a new
    CA (caRotation, a standby's source) is a new input to the providers that do not write values
    (rollout digests, ESO's refresh annotation)."""
    return SecretInput(Material.CA_CERT, tls.ca_subject, tls.ca_rotation, owner=tls.ca_owner)


def certificate_data(tls: TLSPlan, cert: CertificatePlan) -> dict[str, SecretText]:
    """The data of a kubernetes.io/tls Secret holding ``cert``, its key and the CA."""
    return {
        secret_keys.TLS_CERT: secret_text(SecretInput(Material.CERT, cert.subject, tls.rotation)),
        secret_keys.TLS_KEY: secret_text(SecretInput(Material.KEY, cert.subject, tls.rotation)),
        secret_keys.CA_CERT: ca_certificate(tls),
    }
