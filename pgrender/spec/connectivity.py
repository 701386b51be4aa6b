"""Spec of how applications and members reach the cluster: spec.naming and spec.connectivity."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from pgrender.spec.base import DNSSubdomain, ForEditors, StrictModel
from pgrender.spec.rules.connectivity import (
    HOST_SUFFIX,
    Naming,
    ReplicationSSLMode,
    check_host_suffix,
    check_mount_path,
)

HostSuffix = Annotated[str, AfterValidator(check_host_suffix), ForEditors.matching(HOST_SUFFIX, "-prod")]
MountPath = Annotated[str, AfterValidator(check_mount_path), ForEditors("^/[^?&#%= \t\n:]+$", ("/etc/pgrender/hippo",))]


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


__all__ = ["ConnectivitySpec", "DNSSpec", "Naming", "ReplicationSSLMode"]
