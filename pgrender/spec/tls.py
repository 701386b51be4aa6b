"""Spec of TLS material: spec.tls."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from pgrender.providers import DEFAULT_TLS_PROVIDER, TLS_PROVIDERS
from pgrender.spec.base import DNSSubdomain, ForEditors, ProviderName, StrictModel
from pgrender.spec.limits import MAX_EXTRA_SANS
from pgrender.spec.rules.tls import (
    COMMON_NAME,
    DEFAULT_NOT_BEFORE,
    GO_DURATION,
    MAX_CA_PEM_BYTES,
    SECRET_KEY,
    check_ca_pem,
    check_common_name,
    check_distinct_items,
    check_expiry_fits,
    check_go_duration,
    check_one_issuer,
    check_provider_settings,
    check_san,
    check_secret_key,
    go_duration_seconds,
    to_utc,
)

__all__ = ["DEFAULT_NOT_BEFORE", "SecretKey", "TLSSpec", "go_duration_seconds"]

SubjectAltName = Annotated[
    str, AfterValidator(check_san), ForEditors("^[^\\s]+$", ("db.example.com", "*.db.example.com", "10.0.0.5"))
]
GoDuration = Annotated[str, AfterValidator(check_go_duration), ForEditors.matching(GO_DURATION, "2160h", "90m")]
CACertificatePEM = Annotated[
    str, AfterValidator(check_ca_pem), ForEditors("-----BEGIN CERTIFICATE-----", max_length=MAX_CA_PEM_BYTES)
]
SecretKey = Annotated[str, AfterValidator(check_secret_key), ForEditors.matching(SECRET_KEY, "tls.crt")]
CommonName = Annotated[str, AfterValidator(check_common_name), ForEditors.matching(COMMON_NAME, "_pgrender_repl")]


class IssuerRefSpec(StrictModel):
    """A cert-manager Issuer (in the cluster's namespace) or ClusterIssuer that signs the certificates."""

    name: DNSSubdomain
    """The Issuer's or ClusterIssuer's name."""
    kind: Literal["Issuer", "ClusterIssuer"] = "Issuer"
    """Issuer (in the cluster's namespace) or ClusterIssuer."""
    group: DNSSubdomain = "cert-manager.io"
    """The issuer's API group: cert-manager.io, or an external issuer's."""


class CertManagerSpec(StrictModel):
    """cert-manager issues and renews the certificates (TLS provider cert-manager)."""

    issuer_ref: IssuerRefSpec | None = Field(
        default=None, description="The Issuer or ClusterIssuer that signs every certificate of the cluster."
    )
    ca_secret_name: DNSSubdomain | None = Field(
        default=None,
        description="Instead of issuerRef: a Secret in the cluster's namespace holding your CA's tls.crt and "
        "tls.key; pgrender writes a CA Issuer <cluster>-ca-issuer that signs with it.",
    )
    duration: GoDuration | None = Field(
        default=None, description="Lifetime of each certificate (cert-manager's default: 2160h, 90 days)."
    )
    renew_before: GoDuration | None = Field(
        default=None, description="Renew this long before expiry (cert-manager's default: a third of the lifetime)."
    )

    _one_issuer = model_validator(mode="after")(check_one_issuer)


class SecretItemsSpec(StrictModel):
    """The keys a Secret holds the certificate, its key and the CA under (PGO's customTLSSecret items,
    Zalando's certificateFile, privateKeyFile and caFile); pods see them as tls.crt, tls.key and ca.crt."""

    certificate: SecretKey = "tls.crt"
    """The key holding the certificate (PEM)."""
    private_key: SecretKey = "tls.key"
    """The key holding its private key (PEM)."""
    ca: SecretKey = "ca.crt"
    """The key holding the CA certificate (PEM)."""

    _distinct = model_validator(mode="after")(check_distinct_items)


class ExistingTLSSpec(StrictModel):
    """Secrets you create from your own PKI (TLS provider existing): pgrender only mounts them.

    Every certificate must come from one CA, the server Secret's ca.crt, which every pod trusts."""

    server_secret_name: DNSSubdomain = Field(
        description="The server certificate (every name README 'TLS providers' lists), its key, and the CA."
    )
    replication_secret_name: DNSSubdomain = Field(
        description="The replication client certificate (common name: replicationCommonName) and its key."
    )
    superuser_secret_name: DNSSubdomain = Field(
        description="A client certificate with common name postgres, for the Jobs pgrender writes (reconcile, "
        "backups): they connect as the superuser with it and call Patroni's REST API with it."
    )
    pg_bouncer_secret_name: DNSSubdomain | None = Field(
        default=None,
        description="pgBouncer's server certificate; default: the server Secret (its certificate must then "
        "name pgBouncer's Service too).",
    )
    pg_back_rest_secret_name: DNSSubdomain | None = Field(
        default=None,
        description="With spec.backups: pgBackRest's certificate (common name pgbackrest; with a repository "
        "host, also its server certificate).",
    )
    items: SecretItemsSpec = Field(default_factory=SecretItemsSpec)
    """The keys of those Secrets, when not tls.crt, tls.key and ca.crt."""


class TLSSpec(StrictModel):
    """Certificates for the cluster; validity comes from these fields, never from the clock."""

    provider: Annotated[str, ProviderName("TLS", TLS_PROVIDERS)] = Field(
        default=DEFAULT_TLS_PROVIDER,
        description="Where certificates come from: derived (pgrender makes a CA and every certificate from the "
        "root key, valid from notBefore), cert-manager (cert-manager issues and renews them: certManager), "
        "existing (Secrets you make from your own PKI: existing).",
    )
    extra_sans: list[SubjectAltName] = Field(
        default=[],
        max_length=MAX_EXTRA_SANS,
        alias="extraSANs",
        description="DNS names and IPv4 or IPv6 addresses the server certificate adds to the Service and pod names.",
    )
    not_before: dt.datetime = Field(default=DEFAULT_NOT_BEFORE, examples=["2026-11-01T00:00:00Z"])
    """When the derived certificates start to be valid (provider derived): a date in the spec, never the
    clock, so that the same spec renders the same certificates."""
    # Long defaults: nothing renews these at runtime, and an expired certificate is an outage.
    # `pgrender validate` warns 60 days before expiry; rotation is a commit (rotation, notBefore).
    ca_validity_days: int = Field(default=7300, ge=1, le=36500)
    """Days the derived CA is valid from notBefore (provider derived); validate and render warn 60 days
    before the end."""
    validity_days: int = Field(default=3650, ge=1, le=36500)
    """Days the derived server and client certificates are valid from notBefore (provider derived)."""
    rotation: int = Field(
        default=0,
        ge=0,
        description="Bump to derive new keys and certificates under the same CA: the members restart one at a "
        "time, each trusted by the others before and after.",
    )
    ca_rotation: int = Field(
        default=0,
        ge=0,
        description="Bump to derive a new CA: every member, pgBouncer and client must trust it at once, so `pgrender "
        "diff` calls it a risk (new-ca) and says how (README, Certificates).",
    )
    ca_certificate: CACertificatePEM | None = Field(
        default=None,
        description="With provider cert-manager or existing: the CA that signs the certificates, as PEM (a "
        "root, and any intermediate); the ca.crt of the Secrets pgrender writes for applications.",
    )
    replication_common_name: CommonName | None = Field(
        default=None,
        alias="replicationCommonName",
        description="Common name of the replication client certificate when it is not the replication "
        "user's (_pgrender_repl), such as EDB PGD's streaming_replica: pg_ident maps it to the user.",
    )
    cert_manager: CertManagerSpec | None = Field(default=None, description="Settings of provider cert-manager.")
    existing: ExistingTLSSpec | None = Field(default=None, description="Settings of provider existing.")

    _utc = field_validator("not_before")(to_utc)
    _provider_settings = model_validator(mode="after")(check_provider_settings)
    _expiry_fits = model_validator(mode="after")(check_expiry_fits)
