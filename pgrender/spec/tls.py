"""Spec of TLS material: spec.tls."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from pgrender import tls
from pgrender.providers import DEFAULT_TLS_PROVIDER, TLS_PROVIDERS
from pgrender.spec.base import DNSSubdomain, ForEditors, ProviderName, StrictModel
from pgrender.spec.limits import MAX_EXTRA_SANS


def _check_dns_name(value: str) -> str:
    labels = value.removeprefix("*.").split(".")
    if len(value) > 253 or not all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() for label in labels
    ):
        raise ValueError(f"{value!r} is not a DNS name (wildcards only as a first '*.' label)")
    return value


def _check_san(value: str) -> str:
    """A DNS name or an IPv4 or IPv6 address; the plan tells them apart again."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise ValueError(f"{value!r} has an IPv6 zone ('%...'), which a certificate cannot carry")
        return value
    if ":" in value:
        raise ValueError(f"{value!r} is not an IPv6 address")
    if value.rpartition(".")[2].isdigit():
        # RFC 3696 2: no top-level label is all digits, so clients would take such a name for an address.
        raise ValueError(f"{value!r} is not an IPv4 address, and a DNS name cannot end in a numeric label")
    return _check_dns_name(value)


SubjectAltName = Annotated[
    str, AfterValidator(_check_san), ForEditors("^[^\\s]+$", ("db.example.com", "*.db.example.com", "10.0.0.5"))
]
DEFAULT_NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# Go's time.ParseDuration, which cert-manager reads duration and renewBefore with.
_GO_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|\u00b5s|ms|s|m|h))+\Z")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
MAX_CA_PEM_BYTES = 64 * 1024


def go_duration_seconds(value: str) -> float:
    """Seconds in a Go duration ("2160h", "1h30m"); the text was checked by _check_go_duration."""
    return sum(
        float(number) * _GO_UNITS[unit] for number, unit in re.findall(r"([0-9.]+)(ns|us|\u00b5s|ms|s|m|h)", value)
    )


def _check_go_duration(value: str) -> str:
    if not _GO_DURATION.match(value):
        raise ValueError(f"{value!r} is not a Go duration; expected hours, minutes or seconds such as 2160h or 90m")
    return value


GoDuration = Annotated[str, AfterValidator(_check_go_duration), ForEditors.matching(_GO_DURATION, "2160h", "90m")]


def _check_ca_pem(value: str) -> str:
    """One or more PEM CA certificates, a self-signed root among them: what libpq's sslrootcert and
    PostgreSQL's ssl_ca_file need to verify a chain (OpenSSL stops at a root it trusts)."""
    from cryptography import x509

    if len(value.encode()) > MAX_CA_PEM_BYTES:
        raise ValueError(f"holds more than {MAX_CA_PEM_BYTES // 1024} KiB; expected one or a few CA certificates")
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise ValueError("expected PEM certificates (BEGIN CERTIFICATE blocks), found none")
    if "PRIVATE KEY" in value:
        raise ValueError("holds a private key: give only the CA's certificate (it goes into Secrets applications read)")
    try:
        certificates = x509.load_pem_x509_certificates(value.encode())
    except ValueError:
        raise ValueError("a certificate in it cannot be read (PEM, X.509)") from None
    for n, certificate in enumerate(certificates, 1):
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        except ValueError:
            raise ValueError(f"certificate {n} has extensions that cannot be read") from None
        if constraints is None or not constraints.ca:
            raise ValueError(f"certificate {n} is not a CA certificate (basicConstraints CA:TRUE); give the CA's")
    if not any(c.issuer == c.subject for c in certificates):
        raise ValueError(
            "no self-signed root among the certificates: libpq and PostgreSQL verify a chain up to a root, "
            "so give the root (and any intermediate CA that signs the cluster's certificates)"
        )
    return value


CACertificatePEM = Annotated[
    str, AfterValidator(_check_ca_pem), ForEditors("-----BEGIN CERTIFICATE-----", max_length=MAX_CA_PEM_BYTES)
]
# A Secret's key (Kubernetes: letters, digits, '-', '_' and '.'); a file name in the pods.
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}\Z")


def _check_secret_key(value: str) -> str:
    if not _SECRET_KEY.match(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a Secret key; expected letters, digits, '-', '_' and '.'")
    return value


SecretKey = Annotated[str, AfterValidator(_check_secret_key), ForEditors.matching(_SECRET_KEY, "tls.crt")]
# What a common name may be where pgrender writes it into pg_ident.conf: no blanks, quotes or '#'.
_COMMON_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\Z")


def _check_common_name(value: str) -> str:
    if not _COMMON_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a common name pgrender can map to a role; expected up to 64 letters, digits, "
            "'_', '.', '@' and '-'"
        )
    return value


CommonName = Annotated[str, AfterValidator(_check_common_name), ForEditors.matching(_COMMON_NAME, "_pgrender_repl")]


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

    @model_validator(mode="after")
    def _one_issuer(self) -> CertManagerSpec:
        if (self.issuer_ref is None) == (self.ca_secret_name is None):
            raise ValueError("set exactly one of issuerRef (an existing Issuer) and caSecretName (your CA's Secret)")
        duration = go_duration_seconds(self.duration) if self.duration else None
        renew = go_duration_seconds(self.renew_before) if self.renew_before else None
        if duration is not None and duration < 3600:
            raise ValueError(f"duration {self.duration}: cert-manager's minimum is 1h")
        if renew is not None and renew < 300:
            raise ValueError(f"renewBefore {self.renew_before}: cert-manager's minimum is 5m")
        if renew is not None and renew >= (duration if duration is not None else 90 * 86400):
            raise ValueError("renewBefore must be shorter than duration (default 2160h)")
        return self


class SecretItemsSpec(StrictModel):
    """The keys a Secret holds the certificate, its key and the CA under (PGO's customTLSSecret items,
    Zalando's certificateFile, privateKeyFile and caFile); pods see them as tls.crt, tls.key and ca.crt."""

    certificate: SecretKey = "tls.crt"
    """The key holding the certificate (PEM)."""
    private_key: SecretKey = "tls.key"
    """The key holding its private key (PEM)."""
    ca: SecretKey = "ca.crt"
    """The key holding the CA certificate (PEM)."""

    @model_validator(mode="after")
    def _distinct(self) -> SecretItemsSpec:
        if len({self.certificate, self.private_key, self.ca}) != 3:
            raise ValueError("certificate, privateKey and ca must be three different keys")
        return self


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
    rotation: int = Field(default=0, ge=0, description="Bump to derive new keys and certificates.")
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

    @field_validator("not_before")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    @model_validator(mode="after")
    def _provider_settings(self) -> TLSSpec:
        """The chosen provider's settings are there, no other provider's are, and the CA certificate is
        given exactly when the CA is not pgrender's."""
        if self.provider not in TLS_PROVIDERS:  # reported by the field's own check
            return self
        wanted = tls.settings_field(self.provider)
        for name in TLS_PROVIDERS:
            field = tls.settings_field(name)
            if field is None:
                continue
            alias = type(self).model_fields[field].alias or field
            if field == wanted and getattr(self, field) is None:
                raise ValueError(f"provider {self.provider} needs its settings: set spec.tls.{alias}")
            if field != wanted and getattr(self, field) is not None:
                raise ValueError(f"{alias} is read only with provider {name}")
        if not tls.own_ca(self.provider):
            for field in ("not_before", "ca_validity_days", "validity_days", "rotation"):
                if field in self.model_fields_set:
                    alias = type(self).model_fields[field].alias or field
                    raise ValueError(
                        f"{alias} is read only by provider {DEFAULT_TLS_PROVIDER}, which makes the certificates"
                    )
        if not tls.decides_names(self.provider) and self.extra_sans:
            raise ValueError(f"extraSANs: provider {self.provider}'s certificates are yours; put the names in them")
        if tls.own_ca(self.provider) and self.ca_certificate is not None:
            raise ValueError(f"caCertificate: provider {self.provider} makes the CA itself; remove it")
        if not tls.own_ca(self.provider) and self.ca_certificate is None:
            raise ValueError(
                f"provider {self.provider} needs caCertificate: the CA's certificate (PEM), which pgrender writes "
                "as ca.crt into the Secrets applications verify the server with"
            )
        return self

    @model_validator(mode="after")
    def _expiry_fits(self) -> TLSSpec:
        # X.509 times end with the year 9999 (RFC 5280 4.1.2.5), as do Python's.
        days = max(self.ca_validity_days, self.validity_days)
        if (dt.datetime.max.replace(tzinfo=dt.UTC) - self.not_before).days < days:
            raise ValueError(
                f"notBefore plus {days} days of validity runs past the year 9999; "
                "choose an earlier notBefore or fewer validity days"
            )
        return self
