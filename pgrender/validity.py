"""Certificate validity warnings, the same for validate, render, check and `cmp generate`.

Certificates pgrender derives are valid from spec.tls.notBefore for a number of days; a CA given
in spec.tls.caCertificate carries its own dates. Each command warns on standard error when one
is not yet valid, has expired, or ends within EXPIRY_WARNING_DAYS. Only these warnings read the
clock: what is rendered never does, so the output stays the same whenever it is made.

The warnings are made in two steps, windows (what is valid from when to when: read from the plans)
and the warnings of those windows now, because a render's record (pgrender/record.py) keeps the
windows: a run that finds nothing changed prints the warnings of today without importing the plans.
For that reason this module imports nothing at start-up but datetime (typing costs 2.6 ms).
"""

from __future__ import annotations

import datetime as dt

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (mypy reads the name the same)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Protocol

    from pgrender.plan import TLSPlan

    class Cluster(Protocol):
        """What the windows need of a plan."""

        @property
        def name(self) -> str: ...
        @property
        def namespace(self) -> str: ...
        @property
        def tls(self) -> TLSPlan | None: ...


EXPIRY_WARNING_DAYS = 60
_DERIVED_LEAVES = "derived"  # the TLS provider whose leaf certificates pgrender signs itself

# One certificate (or set of them): where, what, valid from, valid until, and FIXES' key of what to do.
Window = tuple[str, str, dt.datetime, dt.datetime, str]


def certificate_windows(cluster: Cluster) -> tuple[Window, ...]:
    """When each certificate one cluster (its plan) uses is valid (the clock is not read here).
    A render keeps these, not the plan's TLS part, for every cluster until its warnings are printed."""
    tls = cluster.tls
    if tls is None:
        return ()
    where = f"{cluster.namespace}/{cluster.name}"
    if tls.ca_pem is not None:  # cert-manager or your own PKI: only the CA given is pgrender's to read
        return tuple(_given_ca(where, tls.ca_pem))
    windows = [("CA", tls.ca_not_before, tls.ca_validity_days)]
    if tls.provider == _DERIVED_LEAVES:
        windows.insert(0, ("leaf certificates", tls.not_before, tls.validity_days))
    return tuple((where, what, start, start + dt.timedelta(days=days), "derived") for what, start, days in windows)


def window_warnings(windows: Iterable[Window], now: dt.datetime | None = None) -> list[str]:
    """The warning of each window at ``now`` (default: the clock), for those that have one."""
    now = now or dt.datetime.now(dt.UTC)
    return [w for where, what, start, end, fix in windows for w in _window(where, what, start, end, now, FIXES[fix])]


FIXES = {
    "derived": (
        "set spec.tls.notBefore to today and bump spec.tls.rotation",
        "set spec.tls.notBefore to a time already past",
    ),
    "given": ("add its successor to caCertificate, then move the issuer to it (README 'TLS providers')", ""),
}


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


def _given_ca(where: str, pem: str) -> list[Window]:
    """spec.tls.caCertificate's certificates (applications verify with them)."""
    from cryptography import x509

    return [
        (
            where,
            f"spec.tls.caCertificate: the CA {certificate.subject.rfc4514_string()}",
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
            "given",
        )
        for certificate in x509.load_pem_x509_certificates(pem.encode())
    ]
