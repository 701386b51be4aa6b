"""Checks of spec.tls (and of the TLS settings a standby copies from its source)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import TYPE_CHECKING

from pgrender import tls
from pgrender.patterns import Pattern
from pgrender.providers import DEFAULT_TLS_PROVIDER, TLS_PROVIDERS

if TYPE_CHECKING:
    from pgrender.spec.tls import CertManagerSpec, SecretItemsSpec, TLSSpec

# The keys of the spec.tls fields the checks below name (the models' camelCase aliases).
TLS_KEYS = {
    "cert_manager": "certManager",
    "existing": "existing",
    "not_before": "notBefore",
    "ca_validity_days": "caValidityDays",
    "validity_days": "validityDays",
    "rotation": "rotation",
    "ca_rotation": "caRotation",
}
# spec.tls.existing's fields naming a Secret the user makes, with their keys.
EXISTING_SECRET_FIELDS = {
    "server_secret_name": "serverSecretName",
    "replication_secret_name": "replicationSecretName",
    "superuser_secret_name": "superuserSecretName",
    "pg_bouncer_secret_name": "pgBouncerSecretName",
    "pg_back_rest_secret_name": "pgBackRestSecretName",
}


def check_dns_name(value: str) -> str:
    labels = value.removeprefix("*.").split(".")
    if len(value) > 253 or not all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() for label in labels
    ):
        raise ValueError(f"{value!r} is not a DNS name (wildcards only as a first '*.' label)")
    return value


def check_san(value: str) -> str:
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
    return check_dns_name(value)


DEFAULT_NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

# Go's time.ParseDuration, which cert-manager reads duration and renewBefore with.
GO_DURATION = Pattern(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|\u00b5s|ms|s|m|h))+\Z")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
MAX_CA_PEM_BYTES = 64 * 1024


def go_duration_seconds(value: str) -> float:
    """Seconds in a Go duration ("2160h", "1h30m"); the text was checked by check_go_duration."""
    return sum(
        float(number) * _GO_UNITS[unit] for number, unit in re.findall(r"([0-9.]+)(ns|us|\u00b5s|ms|s|m|h)", value)
    )


def check_go_duration(value: str) -> str:
    if not GO_DURATION.match(value):
        raise ValueError(f"{value!r} is not a Go duration; expected hours, minutes or seconds such as 2160h or 90m")
    return value


def check_ca_pem(value: str) -> str:
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


# A Secret's key (Kubernetes: letters, digits, '-', '_' and '.'); a file name in the pods.
SECRET_KEY = Pattern(r"^[-._a-zA-Z0-9]{1,253}\Z")


def check_secret_key(value: str) -> str:
    if not SECRET_KEY.match(value) or value in (".", ".."):
        raise ValueError(f"{value!r} is not a Secret key; expected letters, digits, '-', '_' and '.'")
    return value


# What a common name may be where pgrender writes it into pg_ident.conf: no blanks, quotes or '#'.
COMMON_NAME = Pattern(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\Z")


def check_common_name(value: str) -> str:
    if not COMMON_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a common name pgrender can map to a role; expected up to 64 letters, digits, "
            "'_', '.', '@' and '-'"
        )
    return value


def check_one_issuer(manager: CertManagerSpec) -> CertManagerSpec:
    if (manager.issuer_ref is None) == (manager.ca_secret_name is None):
        raise ValueError("set exactly one of issuerRef (an existing Issuer) and caSecretName (your CA's Secret)")
    duration = go_duration_seconds(manager.duration) if manager.duration else None
    renew = go_duration_seconds(manager.renew_before) if manager.renew_before else None
    if duration is not None and duration < 3600:
        raise ValueError(f"duration {manager.duration}: cert-manager's minimum is 1h")
    if renew is not None and renew < 300:
        raise ValueError(f"renewBefore {manager.renew_before}: cert-manager's minimum is 5m")
    if renew is not None and renew >= (duration if duration is not None else 90 * 86400):
        raise ValueError("renewBefore must be shorter than duration (default 2160h)")
    return manager


def check_distinct_items(items: SecretItemsSpec) -> SecretItemsSpec:
    if len({items.certificate, items.private_key, items.ca}) != 3:
        raise ValueError("certificate, privateKey and ca must be three different keys")
    return items


def to_utc(value: dt.datetime) -> dt.datetime:
    """A time without a zone is UTC's."""
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def check_provider_settings(spec: TLSSpec) -> TLSSpec:
    """The chosen provider's settings are there, no other provider's are, and the CA certificate is
    given exactly when the CA is not pgrender's."""
    if spec.provider not in TLS_PROVIDERS:  # reported by the field's own check
        return spec
    wanted = tls.settings_field(spec.provider)
    for name in TLS_PROVIDERS:
        field = tls.settings_field(name)
        if field is None:
            continue
        alias = TLS_KEYS.get(field, field)
        if field == wanted and getattr(spec, field) is None:
            raise ValueError(f"provider {spec.provider} needs its settings: set spec.tls.{alias}")
        if field != wanted and getattr(spec, field) is not None:
            raise ValueError(f"{alias} is read only with provider {name}")
    if not tls.own_ca(spec.provider):
        for field in ("not_before", "ca_validity_days", "validity_days", "rotation", "ca_rotation"):
            if field in spec.model_fields_set:
                alias = TLS_KEYS.get(field, field)
                raise ValueError(
                    f"{alias} is read only by provider {DEFAULT_TLS_PROVIDER}, which makes the certificates"
                )
    if not tls.decides_names(spec.provider) and spec.extra_sans:
        raise ValueError(f"extraSANs: provider {spec.provider}'s certificates are yours; put the names in them")
    if tls.own_ca(spec.provider) and spec.ca_certificate is not None:
        raise ValueError(f"caCertificate: provider {spec.provider} makes the CA itself; remove it")
    if not tls.own_ca(spec.provider) and spec.ca_certificate is None:
        raise ValueError(
            f"provider {spec.provider} needs caCertificate: the CA's certificate (PEM), which pgrender writes "
            "as ca.crt into the Secrets applications verify the server with"
        )
    return spec


def check_expiry_fits(spec: TLSSpec) -> TLSSpec:
    # X.509 times end with the year 9999 (RFC 5280 4.1.2.5), as do Python's.
    days = max(spec.ca_validity_days, spec.validity_days)
    if (dt.datetime.max.replace(tzinfo=dt.UTC) - spec.not_before).days < days:
        raise ValueError(
            f"notBefore plus {days} days of validity runs past the year 9999; "
            "choose an earlier notBefore or fewer validity days"
        )
    return spec
