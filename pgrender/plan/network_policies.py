"""The network policy plan: one NetworkPolicy per kind of pod the cluster runs, each allowing exactly
the connections that pod makes and receives (reference: backups-and-operations.md §9).

Every policy isolates its pods both ways (policyTypes Ingress and Egress); what is not listed here
is refused. Selectors are the ones the workloads are written with, read from the plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.frozen import frozen
from pgrender.plan import defaults, labels
from pgrender.plan.backups import BackupsPlan, pod_identity
from pgrender.plan.names import Names
from pgrender.plan.pgbouncer import PgBouncerPlan
from pgrender.spec import SourcedCluster
from pgrender.spec.rules.network_policy import NAMESPACE_NAME_LABEL, OPENSHIFT_DNS_PORTS, openshift_dns_peers

if TYPE_CHECKING:
    from pgrender.spec.backups import RepoLocationSpec
    from pgrender.spec.network_policy import PeerSpec

Manifest = dict[str, Any]
TCP, UDP = "TCP", "UDP"
HTTPS_PORT = 443  # an object store's port unless its repository names one
STS_PORT = 443  # AWS STS, where pgBackRest and the AWS CLI trade the pod's web identity token for keys
METADATA_SERVICE_PORT = 80  # the cloud's instance metadata service, which keyType auto asks for keys
LOGICAL_BACKUP_TYPE = "logical"  # BACKUP_TYPE_LABEL of the pg_dumpall CronJob's pods
COMPONENT_LOGICAL_BACKUP = "logical-backup"  # names its policy; its pods are component backup
PGADMIN_PORT_NAME = "pgadmin"  # pgAdmin's container port (plan/pgadmin.py)


@frozen
class RulePlan:
    """One ingress or egress rule: any of ``peers`` on any of ``ports`` ((protocol, port))."""

    peers: tuple[Manifest, ...]  # NetworkPolicyPeer objects
    ports: tuple[tuple[str, int | str], ...]  # a number, or a container port's name (the pod's own number)


FieldPath = tuple[str | int, ...]


@frozen
class PolicyPlan:
    name: str
    path: FieldPath  # the spec field its pods come from, where a clash of its name is reported
    labels: dict[str, str]  # the object's own labels (its component's)
    pod_selector: Manifest  # a LabelSelector
    ingress: tuple[RulePlan, ...]  # empty: nothing may connect to these pods
    egress: tuple[RulePlan, ...]  # empty: these pods connect nowhere


def _tcp(*ports: int | str) -> tuple[tuple[str, int | str], ...]:
    return tuple((TCP, p) for p in ports)


def _pods(selector: dict[str, str]) -> Manifest:
    """Pods of the policy's own namespace."""
    return {"podSelector": {"matchLabels": dict(selector)}}


def peer(spec: PeerSpec) -> Manifest:
    """A NetworkPolicyPeer as Kubernetes spells it (empty selectors stay ``{}``: everything)."""
    out: Manifest = spec.model_dump(by_alias=True, exclude_defaults=True)
    return out


def store_ports(repo: RepoLocationSpec) -> set[int]:
    """The ports an object-store repository is reached on (none for a volume repository): its store's,
    and where a pod gets its credentials without keys (pod_identity): AWS STS for keyType web-id, the
    instance metadata service (169.254.169.254, port 80) for auto."""
    store = repo.s3 or repo.gcs or repo.azure
    if store is None:
        return set()
    identity = {"web-id": {STS_PORT}, "auto": {METADATA_SERVICE_PORT}, None: set()}[pod_identity(repo)]
    return {store.port or HTTPS_PORT, *identity}


def resolve_network_policies(
    sourced: SourcedCluster,
    names: Names,
    *,
    members: dict[str, str],
    poolers: tuple[PgBouncerPlan, ...],
    backups: BackupsPlan | None,
) -> tuple[PolicyPlan, ...]:
    """Every policy of the cluster, or none when spec.networkPolicy.enabled is false."""
    spec = sourced.cluster.spec
    np = spec.network_policy
    if not np.enabled:
        return ()
    cluster = sourced.cluster.metadata.name
    member_peer = _pods(members)
    reconcile_selector = {labels.CLUSTER_LABEL: cluster, labels.COMPONENT_LABEL: labels.COMPONENT_RECONCILE}
    backup_selector = {labels.CLUSTER_LABEL: cluster, labels.COMPONENT_LABEL: labels.COMPONENT_BACKUP}
    apps = tuple(peer(p) for p in np.applications)
    # The namespaces users' Secrets are written into (users[].secretNamespaces): their applications.
    elsewhere = sorted({ns for u in spec.users if u.options.login for ns in u.secret_namespaces})
    apps += tuple({"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: ns}}} for ns in elsewhere)
    if spec.openshift and "dns" not in np.model_fields_set:
        dns_peers, dns_ports = openshift_dns_peers(), OPENSHIFT_DNS_PORTS
    else:
        dns_peers, dns_ports = tuple(peer(p) for p in np.dns.to), tuple(np.dns.ports)
    dns = RulePlan(dns_peers, tuple((proto, p) for p in dns_ports for proto in (UDP, TCP)))
    api = RulePlan(tuple(peer(p) for p in np.kubernetes_api.to), _tcp(*np.kubernetes_api.ports))
    stores = tuple(peer(p) for p in np.object_stores.to)

    own_repos = spec.backups.repos if spec.backups else []
    own_store_ports = sorted({p for r in own_repos for p in store_ports(r)})
    standby = spec.standby if spec.standby and spec.standby.enabled else None
    source = spec.bootstrap.from_backup or (standby.from_backup if standby else None)
    member_store_ports = sorted({*own_store_ports, *(store_ports(source.repo) if source else ())})
    pgbackrest_jobs = bool(backups and backups.repos)
    logical = backups.logical if backups else None
    repo_host = backups.repo_host if backups else None

    # Pods are reached on their ports' names, which each pod resolves to its own number: when
    # spec.port changes, members that still listen on the old port stay reachable until they restart
    # (a number would cut every member off at once, the reconcile Job that restarts them too).
    port, patroni, server_port = defaults.POSTGRES_PORT_NAME, defaults.PATRONI_PORT_NAME, defaults.PGBACKREST_PORT_NAME
    # Members: each other (replication, pg_rewind, Patroni's leader race), the cluster's own
    # clients, the applications; out to DNS, the API (Patroni's DCS), the repositories.
    ingress = [
        RulePlan((member_peer, _pods(reconcile_selector)), _tcp(port, patroni)),
    ]
    if poolers:
        ingress.append(RulePlan(tuple(_pods(p.selector) for p in poolers), _tcp(port)))
    pgadmin = spec.user_interface.pg_admin
    pgadmin_selector = {labels.CLUSTER_LABEL: cluster, labels.COMPONENT_LABEL: labels.COMPONENT_PGADMIN}
    if pgadmin:
        ingress.append(RulePlan((_pods(pgadmin_selector),), _tcp(port)))
    if logical:
        ingress.append(RulePlan((_pods(_logical_selector(backup_selector)),), _tcp(port)))
    if pgbackrest_jobs:
        ingress.append(RulePlan((_pods_expression(backup_selector),), _tcp(server_port)))
    if apps:
        ingress.append(RulePlan(apps, _tcp(port)))
    if spec.monitoring:  # the exporter sidecar's port, for Prometheus
        ingress.append(RulePlan(tuple(peer(p) for p in np.monitoring), _tcp(defaults.EXPORTER_PORT_NAME)))
    egress = [dns, api, RulePlan((member_peer,), _tcp(port, patroni))]
    if repo_host:
        egress.append(RulePlan((_pods(repo_host.selector),), _tcp(server_port)))
    if member_store_ports:
        egress.append(RulePlan(stores, _tcp(*member_store_ports)))
    # The primary a streaming standby follows, or a direct clone copies (its first member, once).
    stream = (standby.from_cluster if standby else None) or spec.bootstrap.from_cluster
    if stream and stream.host:  # outside this Kubernetes cluster: its address, on its port
        egress.append(RulePlan(tuple(peer(p) for p in np.sources.to), _tcp(stream.port)))
    elif stream:
        namespace = stream.namespace or sourced.cluster.metadata.namespace
        source_members = {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
            "podSelector": {"matchLabels": {labels.CLUSTER_LABEL: stream.cluster}},
        }
        egress.append(RulePlan((source_members,), _tcp(port)))  # the source's members name it alike
    cluster_path: FieldPath = ("metadata", "name")
    out = [
        _policy(
            names, labels.COMPONENT_DATABASE, cluster_path, cluster, {"matchLabels": dict(members)}, ingress, egress
        )
    ]

    # Each pgBouncer: the applications in; out to every member (the primary's and the replicas'
    # Services select among them, and the roles move).
    for pooler in poolers:
        out.append(
            _policy(
                names,
                pooler.component,
                pooler.path,
                cluster,
                {"matchLabels": dict(pooler.selector)},
                [RulePlan(apps, _tcp(defaults.PGBOUNCER_PORT_NAME))] if apps else [],
                [dns, RulePlan((member_peer,), _tcp(port))],
            )
        )
    # pgAdmin: whom spec.userInterface.pgAdmin.allowFrom names in (kubectl port-forward needs no rule);
    # out to every member (its servers are the primary Service's, which selects among them).
    if pgadmin:
        allowed = tuple(peer(p) for p in pgadmin.allow_from)
        out.append(
            _policy(
                names,
                labels.COMPONENT_PGADMIN,
                ("spec", "userInterface", "pgAdmin"),
                cluster,
                {"matchLabels": pgadmin_selector},
                [RulePlan(allowed, _tcp(PGADMIN_PORT_NAME))] if allowed else [],
                [dns, RulePlan((member_peer,), _tcp(port))],
            )
        )
    # The reconcile Job (roles, Patroni's configuration, the rollout) and the password CronJob.
    out.append(
        _policy(
            names,
            labels.COMPONENT_RECONCILE,
            cluster_path,
            cluster,
            {"matchLabels": reconcile_selector},
            [],
            [dns, api, RulePlan((member_peer,), _tcp(port, patroni))],
        )
    )
    if pgbackrest_jobs:
        # pgBackRest in the Job reaches every member's TLS server and finds the primary itself.
        jobs_egress = [dns, RulePlan((member_peer,), _tcp(server_port))]
        if own_store_ports:
            jobs_egress.append(RulePlan(stores, _tcp(*own_store_ports)))
        out.append(
            _policy(
                names,
                labels.COMPONENT_BACKUP,
                ("spec", "backups"),
                cluster,
                _pods_expression(backup_selector)["podSelector"],
                [],
                jobs_egress,
            )
        )
    if logical and spec.backups:
        repo = next(r for r in spec.backups.repos if r.name == logical.repo)
        out.append(
            _policy(
                names,
                COMPONENT_LOGICAL_BACKUP,
                ("spec", "backups", "logical"),
                cluster,
                {"matchLabels": _logical_selector(backup_selector)},
                [],
                [dns, RulePlan((member_peer,), _tcp(port)), RulePlan(stores, _tcp(*sorted(store_ports(repo))))],
            )
        )
    if repo_host:
        # Members archive to it and fetch from it; it connects nowhere.
        out.append(
            _policy(
                names,
                labels.COMPONENT_REPO_HOST,
                ("spec", "backups"),
                cluster,
                {"matchLabels": dict(repo_host.selector)},
                [RulePlan((member_peer,), _tcp(server_port))],
                [],
            )
        )
    return tuple(out)


def _logical_selector(backup_selector: dict[str, str]) -> dict[str, str]:
    return {**backup_selector, labels.BACKUP_TYPE_LABEL: LOGICAL_BACKUP_TYPE}


def _pods_expression(backup_selector: dict[str, str]) -> Manifest:
    """pgBackRest's backup Jobs: the cluster's backup pods that are not the pg_dumpall CronJob's."""
    not_logical = {"key": labels.BACKUP_TYPE_LABEL, "operator": "NotIn", "values": [LOGICAL_BACKUP_TYPE]}
    return {"podSelector": {"matchLabels": dict(backup_selector), "matchExpressions": [not_logical]}}


def _policy(
    names: Names,
    component: str,
    path: FieldPath,
    cluster: str,
    selector: Manifest,
    ingress: list[RulePlan],
    egress: list[RulePlan],
) -> PolicyPlan:
    return PolicyPlan(
        names.network_policy(component),
        path,
        labels.common(cluster, component),
        selector,
        tuple(ingress),
        tuple(egress),
    )
