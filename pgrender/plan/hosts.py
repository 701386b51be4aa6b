"""Service DNS names, certificate SAN lists, and the connections (host, port, URIs) users get."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.frozen import frozen

if TYPE_CHECKING:
    from pgrender.spec.connectivity import DNSSpec

# How every client connection pgrender hands out checks the server: the CA signed it, and it names the host.
CLIENT_SSLMODE = "verify-full"


def dns_forms(service: str, namespace: str, domain: str) -> tuple[str, ...]:
    """The four names a Service answers to, longest first (PGO's order)."""
    return (
        f"{service}.{namespace}.svc.{domain}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}",
        service,
    )


def pod_dns_forms(pod: str, headless: str, namespace: str, domain: str) -> tuple[str, ...]:
    """The names of a pod under its headless Service."""
    return dns_forms(f"{pod}.{headless}", namespace, domain)


def service_host(service: str, namespace: str) -> str:
    """The host written into credentials: <svc>.<ns>.svc, without the cluster domain (as PGO)."""
    return f"{service}.{namespace}.svc"


def client_host(service: str, namespace: str, dns: DNSSpec | None) -> str:
    """The host an application is given: <svc>.<domain> with spec.connectivity.dns, else service_host."""
    return f"{service}.{dns.domain}" if dns else service_host(service, namespace)


def member_address(headless: str, port: int) -> str:
    """A Patroni member's own address: its pod name under the headless Service.

    $(PATRONI_NAME) is expanded by the kubelet from the pod's environment.
    """
    return f"$(PATRONI_NAME).{headless}:{port}"


@frozen
class Connection:
    """How a user reaches its default database through one endpoint. A URI is the text around
    the password (the provider fills the password in, percent-encoded)."""

    host: str
    port: int
    dbname: str | None
    uri: tuple[str, str]
    jdbc_uri: tuple[str, str]


def connection(
    user: str,
    host: str,
    port: int,
    dbname: str | None,
    ca_file: str,
    jdbc_parameters: tuple[str, ...] = (),
    uri_host: str | None = None,
) -> Connection:
    """The connection of ``user``; verify-full: every name in host is in the server certificate.

    ``ca_file`` is where the application finds ca.crt (spec.connectivity.secretMountPath): libpq,
    pgJDBC and node-postgres all read sslrootcert from the URI, and without it each looks elsewhere
    (~/.postgresql/root.crt, the JVM's trust store, Node's CA bundle) and refuses our CA.
    ``uri_host``: the URIs' host where it differs from the host key (CloudNativePG's <c>-app).
    """
    database = dbname or ""
    extra = "".join(f"&{p}" for p in jdbc_parameters)
    tls = f"sslmode={CLIENT_SSLMODE}&sslrootcert={ca_file}"
    at = uri_host or host
    return Connection(
        host=host,
        port=port,
        dbname=dbname,
        uri=(f"postgresql://{user}:", f"@{at}:{port}/{database}?{tls}"),
        jdbc_uri=(f"jdbc:postgresql://{at}:{port}/{database}?password=", f"{extra}&{tls}&user={user}"),
    )
