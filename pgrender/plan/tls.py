"""TLS plans: the cluster CA and its leaf certificates, with the exact names each must carry."""

from __future__ import annotations

import datetime as dt
import ipaddress

from pgrender import tls as tls_providers
from pgrender.frozen import frozen
from pgrender.plan import defaults, hosts, secret_keys
from pgrender.plan.instances import InstanceSetPlan
from pgrender.plan.names import Names
from pgrender.plan.pgbouncer import PgBouncerPlan
from pgrender.plan.services import ServicePlan
from pgrender.spec import SourcedCluster

# RFC 5280 ub-common-name. Clients check the SANs, so a shorter form of the name serves as well.
COMMON_NAME_LIMIT = 64
# pgBackRest's TLS servers (members, repository host) admit clients by this common name.
PGBACKREST_COMMON_NAME = "pgbackrest"


def common_name(*candidates: str) -> str:
    """The first candidate that fits in a certificate's common name."""
    return next(c for c in candidates if len(c.encode()) <= COMMON_NAME_LIMIT)


def ca_common_name(namespace: str, cluster: str) -> str:
    """The common name of the CA pgrender derives for a cluster (its subject and its leaves' issuer)."""
    return common_name(f"{cluster}.{namespace} pgrender CA", f"{cluster} pgrender CA", cluster)


@frozen
class TLSFiles:
    """Where a pod finds a certificate, its key and the CA that signed it."""

    directory: str
    ca: str

    @property
    def cert(self) -> str:
        return f"{self.directory}/{secret_keys.TLS_CERT}"

    @property
    def key(self) -> str:
        return f"{self.directory}/{secret_keys.TLS_KEY}"


# The database pod mounts the server certificate and CA at TLS_DIR, the replication client
# certificate below it; Job pods mount the superuser's client certificate at TLS_DIR.
SERVER_FILES = TLSFiles(defaults.TLS_DIR, f"{defaults.TLS_DIR}/{secret_keys.CA_CERT}")
REPLICATION_FILES = TLSFiles(defaults.REPLICATION_TLS_DIR, SERVER_FILES.ca)
CLIENT_FILES = SERVER_FILES
PGBOUNCER_FILES = TLSFiles(defaults.PGBOUNCER_SECRET_DIR, f"{defaults.PGBOUNCER_SECRET_DIR}/{secret_keys.CA_CERT}")


@frozen
class TLSSecret:
    """The Secret a pod mounts a certificate from, and the keys that hold the certificate, its key
    and the CA there (pods see them as tls.crt, tls.key and ca.crt whatever the keys)."""

    name: str
    cert: str = secret_keys.TLS_CERT
    key: str = secret_keys.TLS_KEY
    ca: str = secret_keys.CA_CERT

    def items(self, directory: str = "", ca: bool = True) -> list[tuple[str, str]]:
        """(key, path) of the certificate and its key in ``directory`` of the mount, and of the CA
        beside them when ``ca``."""
        below = f"{directory}/" if directory else ""
        items = [(self.cert, f"{below}{secret_keys.TLS_CERT}"), (self.key, f"{below}{secret_keys.TLS_KEY}")]
        return [*items, (self.ca, f"{below}{secret_keys.CA_CERT}")] if ca else items


@frozen
class CertificatePlan:
    """A leaf certificate signed by the cluster CA."""

    subject: str  # the SecretInput subject naming this certificate (and its key)
    common_name: str
    dns_names: tuple[str, ...]
    server: bool
    client: bool
    ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    secret: TLSSecret | None = None  # where pods find it (resolve_tls decides it for every certificate)


@frozen
class IssuerRefPlan:
    name: str
    kind: str
    group: str


@frozen
class CertManagerPlan:
    """What cert-manager's Certificates say beside the names: who signs, for how long."""

    issuer: IssuerRefPlan
    ca_issuer_secret: str | None  # a CA Issuer pgrender writes (issuer.name), signing with this Secret
    duration: str | None
    renew_before: str | None


@frozen
class TLSPlan:
    provider: str  # a name in providers.TLS_PROVIDERS
    ca_common_name: str
    not_before: dt.datetime
    ca_validity_days: int
    validity_days: int
    rotation: int
    ca_subject: str  # the SecretInput subject naming the CA certificate
    ca_not_before: dt.datetime
    ca_rotation: int
    ca_owner: tuple[str, str] | None  # (namespace, cluster) the CA is derived for, when not this one
    server_files: TLSFiles
    replication_files: TLSFiles
    client_files: TLSFiles
    pgbouncer_files: TLSFiles
    server: CertificatePlan
    replication: CertificatePlan
    superuser: CertificatePlan
    pgbouncer: CertificatePlan | None
    pgbackrest: CertificatePlan | None = None
    pgbouncer_replicas: CertificatePlan | None = None  # the replicas' pgBouncer's, for its Service
    # The CA's certificate (PEM) when the CA is not pgrender's: ca.crt of what pgrender writes.
    ca_pem: str | None = None
    # Certificates change in the cluster (cert-manager renews, a person replaces a Secret): the pods
    # that mount them run a watcher that reloads them (pod_parts/tls_reload.py).
    reload: bool = False
    cert_manager: CertManagerPlan | None = None

    @property
    def leaves(self) -> tuple[CertificatePlan, ...]:
        """Every leaf certificate the CA signs."""
        optional = tuple(c for c in (self.pgbouncer, self.pgbackrest, self.pgbouncer_replicas) if c)
        return (self.server, self.replication, self.superuser, *optional)

    def pooler_certificate(self, pooler: PgBouncerPlan) -> CertificatePlan:
        """The server certificate of one pgBouncer (the primary's or the replicas')."""
        cert = self.pgbouncer_replicas if pooler.certificate == "pgbouncer-replicas" else self.pgbouncer
        assert cert is not None, pooler.certificate  # the plan makes a pooler's certificate with it
        return cert


def resolve_tls(
    sourced: SourcedCluster,
    names: Names,
    sets: list[InstanceSetPlan],
    poolers: tuple[PgBouncerPlan, ...],
    extra_services: tuple[ServicePlan, ...] = (),
    pgbackrest_dns: tuple[str, ...] | None = None,
) -> TLSPlan:
    """``pgbackrest_dns``: None without backups, else the names the pgBackRest certificate serves
    (the repository host's, when there is one; none when it is only a client certificate)."""
    spec = sourced.cluster.spec
    ns, domain = sourced.cluster.metadata.namespace, spec.cluster_domain
    client_services = [names.primary_service]
    if spec.replica_service.enabled:
        client_services.append(names.replicas_service)
    client_services += [s.name for s in extra_services]
    dns: list[str] = [name for service in client_services for name in hosts.dns_forms(service, ns, domain)]
    for s in sets:
        for inst in s.instances:
            dns += hosts.pod_dns_forms(inst.pod, names.pods_service, ns, domain)
    # spec.connectivity.dns: every Service is also <service>.<domain> (EDB PGD: $node$hostSuffix.$domain
    # and $group$hostSuffix.$domain are the member and proxy Services' names).
    fqdn = spec.connectivity.dns
    dns += [f"{service}.{fqdn.domain}" for service in client_services] if fqdn else []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for san in spec.tls.extra_sans:
        address = _ip_address(san)
        if address is None and san not in dns:
            dns.append(san)
        elif address is not None and address not in ips:  # compared as addresses: "::1" is "0::1"
            ips.append(address)

    def pooler_certificate(subject: str) -> CertificatePlan | None:
        """A pgBouncer's server certificate: its Service's names (the pooler's, when the cluster has it)."""
        pooler = next((p for p in poolers if p.certificate == subject), None)
        if pooler is None:
            return None
        service = pooler.service.name
        forms = hosts.dns_forms(service, ns, domain)
        dns = (*forms, f"{service}.{fqdn.domain}") if fqdn else forms
        return CertificatePlan(subject, common_name(*dns), dns, server=True, client=False, secret=secrets[subject])

    t = spec.tls
    secrets = _secrets(sourced, names)
    # A streaming standby's certificates come from its source's CA (derived for the source).
    stream = spec.standby.from_cluster if spec.standby else None
    ca_ns, ca_cluster = (stream.namespace or ns, stream.cluster) if stream else (ns, names.cluster)
    ca_tls = stream.tls if stream else t
    return TLSPlan(
        provider=t.provider,
        ca_common_name=ca_common_name(ca_ns, ca_cluster),
        not_before=t.not_before,
        ca_validity_days=ca_tls.ca_validity_days,
        validity_days=t.validity_days,
        rotation=t.rotation,
        ca_subject="ca",
        ca_not_before=ca_tls.not_before,
        ca_rotation=ca_tls.ca_rotation,
        ca_owner=(ca_ns, ca_cluster) if stream else None,
        server_files=SERVER_FILES,
        replication_files=REPLICATION_FILES,
        client_files=CLIENT_FILES,
        pgbouncer_files=PGBOUNCER_FILES,
        server=CertificatePlan(
            "server",
            common_name(*dns[:4]),
            tuple(dns),
            server=True,
            client=True,
            ip_addresses=tuple(ips),
            secret=secrets["server"],
        ),
        replication=CertificatePlan(
            "replication",
            t.replication_common_name or defaults.REPLICATION_USER,
            (),
            server=False,
            client=True,
            secret=secrets["replication"],
        ),
        superuser=CertificatePlan(
            "superuser", defaults.SUPERUSER, (), server=False, client=True, secret=secrets["superuser"]
        ),
        pgbouncer=pooler_certificate("pgbouncer"),
        pgbouncer_replicas=pooler_certificate("pgbouncer-replicas"),
        pgbackrest=(
            CertificatePlan(
                "pgbackrest",
                PGBACKREST_COMMON_NAME,
                pgbackrest_dns,
                server=bool(pgbackrest_dns),
                client=True,
                secret=secrets["pgbackrest"],
            )
            if pgbackrest_dns is not None
            else None
        ),
        ca_pem=t.ca_certificate,
        reload=tls_providers.in_cluster(t.provider),
        cert_manager=_cert_manager(sourced, names),
    )


def _secrets(sourced: SourcedCluster, names: Names) -> dict[str, TLSSecret]:
    """Where the pods find each certificate: Secrets pgrender (or cert-manager) writes under pgrender's
    names, or with provider existing the Secrets the spec names, at the keys it names."""
    t = sourced.cluster.spec.tls
    if t.existing is not None:
        e, items = t.existing, t.existing.items

        def named(secret: str) -> TLSSecret:
            return TLSSecret(secret, items.certificate, items.private_key, items.ca)

        server = named(e.server_secret_name)
        return {
            "server": server,
            "replication": named(e.replication_secret_name),
            "superuser": named(e.superuser_secret_name),
            "pgbouncer": named(e.pg_bouncer_secret_name) if e.pg_bouncer_secret_name else server,
            # The replicas' pgBouncer mounts the same Secret, whose certificate then names its Service too.
            "pgbouncer-replicas": named(e.pg_bouncer_secret_name) if e.pg_bouncer_secret_name else server,
            # resolve() refuses backups without pgBackRestSecretName; the name is then never mounted.
            "pgbackrest": named(e.pg_back_rest_secret_name or e.server_secret_name),
        }
    return {
        "server": TLSSecret(names.cluster_cert),
        "replication": TLSSecret(names.replication_cert),
        "superuser": TLSSecret(names.superuser_cert),
        # pgrender's own certificate lives in pgBouncer's Secret; one issued in the cluster has a
        # Secret of its own (cert-manager writes kubernetes.io/tls Secrets, and would own the keys).
        "pgbouncer": TLSSecret(names.pgbouncer_cert if tls_providers.in_cluster(t.provider) else names.pgbouncer),
        "pgbouncer-replicas": TLSSecret(
            names.pgbouncer_replicas_cert if tls_providers.in_cluster(t.provider) else names.pgbouncer_replicas
        ),
        "pgbackrest": TLSSecret(names.pgbackrest_cert),
    }


def _cert_manager(sourced: SourcedCluster, names: Names) -> CertManagerPlan | None:
    settings = sourced.cluster.spec.tls.cert_manager
    if settings is None:
        return None
    ref = settings.issuer_ref
    issuer = (
        IssuerRefPlan(ref.name, ref.kind, ref.group)
        if ref is not None
        else IssuerRefPlan(names.ca_issuer, "Issuer", "cert-manager.io")
    )
    return CertManagerPlan(issuer, settings.ca_secret_name, settings.duration, settings.renew_before)


def _ip_address(san: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an extra SAN names, or None for a DNS name (the spec accepted it as one or the other)."""
    try:
        return ipaddress.ip_address(san)
    except ValueError:
        return None
