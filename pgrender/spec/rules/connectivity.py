"""Checks and enums of spec.naming and spec.connectivity."""

from __future__ import annotations

import posixpath
from enum import StrEnum

from pgrender.patterns import Pattern


class Naming(StrEnum):
    """Whose names, Secret keys and labels the output uses, so applications written against that
    operator keep working unchanged (README, "Naming profiles"): pgo (Crunchy PGO v5), zalando (Zalando
    postgres-operator), cnpg (CloudNativePG) or pgd (EDB PGD)."""

    PGO = "pgo"
    ZALANDO = "zalando"
    CNPG = "cnpg"
    PGD = "pgd"


class ReplicationSSLMode(StrEnum):
    """How a replica checks the server certificate of the member it streams from (libpq sslmode):
    verify-full (the cluster CA signed it and it names the member), verify-ca (the cluster CA signed it),
    require (encrypted, not checked)."""

    VERIFY_FULL = "verify-full"
    VERIFY_CA = "verify-ca"
    REQUIRE = "require"


HOST_SUFFIX = Pattern(r"^[-a-z0-9]{0,20}\Z")


def check_host_suffix(value: str) -> str:
    if not HOST_SUFFIX.match(value):
        raise ValueError(
            f"{value!r} is not a host suffix; expected up to 20 lower-case letters, digits and '-' "
            "(it ends every Service name, so it cannot hold a '.'; the domain follows it)"
        )
    return value


def check_mount_path(value: str) -> str:
    if not value.startswith("/") or posixpath.normpath(value) != value or value == "/":
        raise ValueError(f"{value!r} is not a mount path; expected an absolute, normalised path such as /etc/pgrender")
    if any(c in value for c in "?&#%= \t\n:"):
        raise ValueError(f"{value!r} holds a character a connection URI would need to escape; choose a plain path")
    return value
