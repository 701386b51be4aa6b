"""Certificate validity warnings, the same for validate, render, check and `cmp generate`.

Certificates pgrender derives are valid from spec.tls.notBefore for a number of days; a CA given
in spec.tls.caCertificate carries its own dates. Each command warns on standard error when one
is not yet valid, has expired, or ends within EXPIRY_WARNING_DAYS. Only these warnings read the
clock: what is rendered never does, so the output stays the same whenever it is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from pgrender.plan import TLSPlan

EXPIRY_WARNING_DAYS = 60
_DERIVED_LEAVES = "derived"  # the TLS provider whose leaf certificates pgrender signs itself


class Cluster(Protocol):
    """A plan, or a rendered cluster: what the warnings need of either."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def tls(self) -> TLSPlan | None: ...


def certificate_warnings(clusters: Iterable[Cluster], now: dt.datetime | None = None) -> list[str]:
    """One line per certificate that is not yet valid, expired, or ends soon."""
    now = now or dt.datetime.now(dt.UTC)
    out = []
    for cluster in clusters:
        tls = cluster.tls
        if tls is None:
            continue
        where = f"{cluster.namespace}/{cluster.name}"
        if tls.ca_pem is not None:  # cert-manager or your own PKI: only the CA given is pgrender's to read
            out += _given_ca(where, tls.ca_pem, now)
            continue
        windows = [("CA", tls.ca_not_before, tls.ca_validity_days)]
        if tls.provider == _DERIVED_LEAVES:
            windows.insert(0, ("leaf certificates", tls.not_before, tls.validity_days))
        for what, start, days in windows:
            out += _window(where, what, start, start + dt.timedelta(days=days), now, _DERIVED_FIX)
    return out


_DERIVED_FIX = (
    "set spec.tls.notBefore to today and bump spec.tls.rotation",
    "set spec.tls.notBefore to a time already past",
)
_GIVEN_FIX = ("add its successor to caCertificate, then move the issuer to it (README 'TLS providers')", "")


def _window(
    where: str, what: str, start: dt.datetime, end: dt.datetime, now: dt.datetime, fix: tuple[str, str]
) -> list[str]:
    """The warning for one certificate (or set of them) valid from ``start`` to ``end``, if any;
    ``fix`` says what to do about an ending one and a not yet valid one."""
    ending, early = fix
    if start > now:
        return [
            f"{where}: {what} not valid before {start:%Y-%m-%d %H:%M} UTC: clients refuse it until then"
            + (f"; {early}" if early else "")
        ]
    verb = "expire" if what.endswith("certificates") else "expires"
    if end <= now:
        return [f"{where}: {what} expired on {end:%Y-%m-%d}; {ending}"]
    if end - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return [f"{where}: {what} {verb} on {end:%Y-%m-%d}; {ending}"]
    return []


def _given_ca(where: str, pem: str, now: dt.datetime) -> list[str]:
    """spec.tls.caCertificate's certificates (applications verify with them)."""
    from cryptography import x509

    out = []
    for certificate in x509.load_pem_x509_certificates(pem.encode()):
        what = f"spec.tls.caCertificate: the CA {certificate.subject.rfc4514_string()}"
        out += _window(where, what, certificate.not_valid_before_utc, certificate.not_valid_after_utc, now, _GIVEN_FIX)
    return out
