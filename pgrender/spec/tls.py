"""Spec of TLS material: spec.tls."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from pgrender.providers import DEFAULT_TLS_PROVIDER, TLS_PROVIDERS
from pgrender.spec.base import ProviderName, StrictModel
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


SubjectAltName = Annotated[str, AfterValidator(_check_san)]
DEFAULT_NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class TLSSpec(StrictModel):
    """Certificates for the cluster; validity comes from these fields, never from the clock."""

    provider: Annotated[str, ProviderName("TLS", TLS_PROVIDERS)] = Field(
        default=DEFAULT_TLS_PROVIDER, description="Where certificates come from."
    )
    extra_sans: list[SubjectAltName] = Field(
        default=[],
        max_length=MAX_EXTRA_SANS,
        alias="extraSANs",
        description="DNS names and IPv4 or IPv6 addresses the server certificate adds to the Service and pod names.",
    )
    not_before: dt.datetime = DEFAULT_NOT_BEFORE
    # Long defaults: nothing renews these at runtime, and an expired certificate is an outage.
    # `pgrender validate` warns 60 days before expiry; rotation is a commit (rotation, notBefore).
    ca_validity_days: int = Field(default=7300, ge=1, le=36500)
    validity_days: int = Field(default=3650, ge=1, le=36500)
    rotation: int = Field(default=0, ge=0, description="Bump to derive new keys and certificates.")

    @field_validator("not_before")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

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
