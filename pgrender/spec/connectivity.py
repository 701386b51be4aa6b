"""Spec of how applications and members reach the cluster: spec.naming and spec.connectivity."""

from __future__ import annotations

import posixpath
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from pgrender.spec.base import DNSSubdomain, ForEditors, StrictModel


class Naming(StrEnum):
    """Whose names, Secret keys and labels the output uses, so applications written against that
    operator keep working unchanged (README, "Naming profiles")."""

    PGO = "pgo"
    ZALANDO = "zalando"
    CNPG = "cnpg"
    PGD = "pgd"


class ReplicationSSLMode(StrEnum):
    """How a replica checks the server certificate of the member it streams from (libpq sslmode)."""

    VERIFY_FULL = "verify-full"
    VERIFY_CA = "verify-ca"
    REQUIRE = "require"


_HOST_SUFFIX = re.compile(r"^[-a-z0-9]{0,20}\Z")


def _check_host_suffix(value: str) -> str:
    if not _HOST_SUFFIX.match(value):
        raise ValueError(
            f"{value!r} is not a host suffix; expected up to 20 lower-case letters, digits and '-' "
            "(it ends every Service name, so it cannot hold a '.'; the domain follows it)"
        )
    return value


def _check_mount_path(value: str) -> str:
    if not value.startswith("/") or posixpath.normpath(value) != value or value == "/":
        raise ValueError(f"{value!r} is not a mount path; expected an absolute, normalised path such as /etc/pgrender")
    if any(c in value for c in "?&#%= \t\n:"):
        raise ValueError(f"{value!r} holds a character a connection URI would need to escape; choose a plain path")
    return value


HostSuffix = Annotated[str, AfterValidator(_check_host_suffix), ForEditors.matching(_HOST_SUFFIX, "-prod")]
MountPath = Annotated[
    str, AfterValidator(_check_mount_path), ForEditors("^/[^?&#%= \t\n:]+$", ("/etc/pgrender/hippo",))
]


class DNSSpec(StrictModel):
    """Fully qualified names for every Service (EDB PGD's spec.connectivity.dns)."""

    domain: DNSSubdomain = Field(
        description="Domain every Service is known under: <service><hostSuffix>.<domain>; your DNS must "
        "resolve these names (for example a CoreDNS rewrite). The names go into the server certificate "
        "and the user Secrets' hosts."
    )
    host_suffix: HostSuffix = Field(
        default="",
        description="Added to every Service name (EDB PGD's hostSuffix), such as -east; part of the name, "
        "so letters, digits and '-' only.",
    )


class ConnectivitySpec(StrictModel):
    """Where applications find the CA, the names Services are known under, and replication TLS."""

    secret_mount_path: MountPath | None = Field(
        default=None,
        description="Directory an application mounts its user Secret at (or only the Secret's ca.crt); "
        "every URI names <secretMountPath>/ca.crt as sslrootcert, so libpq, pgJDBC and node-postgres "
        "verify the server with no code. Default /etc/pgrender/<cluster name>.",
    )
    dns: DNSSpec | None = Field(default=None, description="Fully qualified Service names (EDB PGD style).")
    replication_ssl_mode: ReplicationSSLMode = Field(
        default=ReplicationSSLMode.VERIFY_CA,
        alias="replicationSSLMode",
        description="How replicas check the certificate of the member they stream from: verify-ca (the "
        "cluster CA signed it), verify-full (and it names the member), require (encrypted, unchecked).",
    )
