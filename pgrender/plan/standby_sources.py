"""What a standby cluster must share with its source, compared where both are in one run.

Settings a hot standby needs at least its primary's value of. PostgreSQL ("Hot Standby",
Administrator's Overview): max_connections, max_prepared_transactions, max_locks_per_transaction,
max_wal_senders and max_worker_processes must be at least as large on a standby as on its primary; a
primary that raises one writes it to its WAL, and a standby with less pauses its replay there ("hot
standby is not possible because of insufficient parameter settings") until it restarts with more,
and cannot be promoted meanwhile. Within a cluster the reconcile Job restarts in the right order
(changes.PRIMARY_FIRST_WHEN_LOWERED); a standby cluster follows another cluster that nothing
restarts with it, so a standby and its source rendered together are compared:
the standby must have at least the source's values (raise a standby's first).

The CA of a streaming standby: its certificates come from its source's CA, which fromCluster.tls
describes (notBefore, caValidityDays, caRotation), and must describe as the source's spec.tls does:
otherwise they come from a CA the source does not trust, and streaming fails. A direct clone's
certificate for its source (bootstrap.fromCluster.tls, plan/clone.py) alike. A source that is itself
a streaming standby runs its own source's CA, which fromCluster cannot name: refused where told.

How the connection reaches the source and is let in, where both are rendered: the host (the source's
primary Service, named by this cluster's naming profile without a host suffix), the port
(fromCluster.port, the source's spec.port), the common name of the replication certificate (the
source's pg_hba admits _pgrender_repl by name, or with its spec.tls.replicationCommonName through a
pg_ident map from that name only), and (a direct clone's) a CA pgrender derives only for a source
whose TLS provider is derived. Each, told otherwise, fails the connection at run time (Patroni
retries it forever).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from pgrender import tls as tls_providers
from pgrender.frozen import replace
from pgrender.plan import hosts
from pgrender.plan.parameters import parse_number
from pgrender.plan.patroni import parameter_path
from pgrender.providers import DEFAULT_TLS_PROVIDER

if TYPE_CHECKING:
    from pgrender.errors import Problem
    from pgrender.plan import ClusterPlan
    from pgrender.spec import SourcedCluster

# Each setting with its value where the spec leaves it out (PostgreSQL's default, which Patroni keeps).
AT_LEAST_THE_PRIMARYS: dict[str, int] = {
    "max_connections": 100,
    "max_locks_per_transaction": 64,
    "max_prepared_transactions": 0,
    "max_wal_senders": 10,
    "max_worker_processes": 8,
}

Values = tuple[int, ...]  # in AT_LEAST_THE_PRIMARYS's order


def values(plan: ClusterPlan) -> Values:
    """The settings as PostgreSQL reads them (0x64, 0144, 1e2 and 100.4 are 100: guc.c's parse_int);
    the plan holds only values its check let through, which have no unit."""
    given = dict(plan.patroni.parameters)
    out = []
    for name, default in AT_LEAST_THE_PRIMARYS.items():
        number = parse_number(given[name], None, integer=True) if name in given else default
        out.append(int(default if number is None else number))
    return tuple(out)


# fromCluster.tls's fields (their spec names) and the source's spec.tls fields they repeat.
CA_FIELDS = (("notBefore", "not_before"), ("caValidityDays", "ca_validity_days"), ("caRotation", "ca_rotation"))


class Reached(NamedTuple):
    """How a cluster is reached as a source: its primary Service's host, its port, the common name
    its pg_hba admits for replication, its TLS provider, and the major version its data is of."""

    host: str
    port: int
    common_name: str
    provider: str
    version: int


class Link(NamedTuple):
    """How a standby (while it streams) or a direct clone reaches its source, and where each part is
    told (each place's message: the relation to the source, until told)."""

    source: str  # namespace/name
    host: str | None  # None: fromCluster.host, outside this Kubernetes cluster (neither it nor the port compared)
    port: int
    version: int  # this cluster's postgresVersion: a physical copy starts only under its own major
    common_name: str | None  # its replication certificate's; None where the user makes it
    # A direct clone whose certificate for the source pgrender derives (TLS provider derived): useless
    # for a source whose CA is not pgrender's. (A streaming standby's source that moves to another
    # provider is pgrender diff's to tell: new-ca, "the CA does not change here".)
    derives: bool
    named: Problem  # fromCluster.cluster
    port_place: Problem  # fromCluster.port
    version_place: Problem  # spec.postgresVersion
    common_name_place: Problem  # spec.tls.replicationCommonName


class StandbySources:
    """Every cluster's values, and each standby cluster's source and where it would be told; the
    standbys below a source of the same run, or describing another CA, are problems at the end."""

    def __init__(self) -> None:
        self._values: dict[str, Values] = {}  # namespace/name: a few ints a cluster
        self._cas: dict[str, tuple[str, ...]] = {}  # namespace/name: its CA's settings (provider derived)
        self._standbys: list[tuple[str, Values, tuple[Problem, ...]]] = []  # source, values, places
        # source, its CA, places (each with its relation to the source as its message, until told),
        # and the place of its name
        self._streaming: list[tuple[str, tuple[str, ...], tuple[Problem, ...], Problem]] = []
        # namespace/name of a streaming standby: the source whose CA it uses (plan.tls.ca_owner)
        self._borrowed: dict[str, str] = {}
        self._reached: dict[str, Reached] = {}  # namespace/name: how it is reached as a source
        self._links: list[Link] = []

    def add(self, sourced: SourcedCluster, plan: ClusterPlan) -> None:
        own = values(plan)
        key = f"{plan.namespace}/{plan.name}"
        self._values[key] = own
        spec = sourced.cluster.spec
        self._reached[key] = Reached(
            hosts.service_host(plan.primary_service.name, plan.namespace),
            plan.port,
            plan.tls.replication.common_name,
            plan.tls.provider,
            plan.postgres_version,
        )
        if plan.tls.provider == DEFAULT_TLS_PROVIDER:
            self._cas[key] = tuple(str(getattr(spec.tls, field)) for _, field in CA_FIELDS)
            if plan.tls.ca_owner is not None:
                self._borrowed[key] = "/".join(plan.tls.ca_owner)
        standby = spec.standby
        source = standby and standby.enabled and (standby.from_cluster or standby.from_backup)
        if source:
            where = tuple(sourced.problem(_where(sourced, name), "") for name in AT_LEAST_THE_PRIMARYS)
            self._standbys.append((f"{source.namespace or plan.namespace}/{source.cluster}", own, where))
        streams = (
            (
                ("spec", "standby", "fromCluster"),
                standby.from_cluster if standby else None,
                "this standby streams from",
            ),
            (("spec", "bootstrap", "fromCluster"), spec.bootstrap.from_cluster, "this cluster is copied from"),
        )
        for path, stream, relation in streams:
            if stream is not None:
                ca = tuple(str(getattr(stream.tls, field)) for _, field in CA_FIELDS)
                places = tuple(sourced.problem((*path, "tls", name), relation) for name, _ in CA_FIELDS)
                named = sourced.problem((*path, "cluster"), relation)
                self._streaming.append((f"{stream.namespace or plan.namespace}/{stream.cluster}", ca, places, named))
        link = _link(sourced, plan)
        if link is not None:
            self._links.append(link)

    def problems(self) -> list[Problem]:
        """Each setting of a standby below its source's, where that is in the run."""
        out = []
        for source, own, where in self._standbys:
            theirs = self._values.get(source)
            if theirs is None:  # not in this run: README says to raise the standby's first
                continue
            for setting, mine, primary, place in zip(AT_LEAST_THE_PRIMARYS, own, theirs, where, strict=True):
                if mine < primary:
                    message = (
                        f"{setting} is {mine} here and {primary} in {source}, which this standby follows: a hot "
                        f"standby stops replaying its primary's WAL while it has less (PostgreSQL's rule), and "
                        f"cannot be promoted then; set at least {primary} here (raise a standby's before its "
                        "source's)"
                    )
                    out.append(replace(place, message=message))
        for source, ca, places, named in self._streaming:
            theirs_ca = self._cas.get(source)
            if theirs_ca is None:  # not in this run, or its CA is not pgrender's
                continue
            root = self._borrowed.get(source)
            if root is not None:
                message = (
                    f"{source}, the cluster {named.message}, is itself a streaming standby of {root} and runs "
                    f"certificates of {root}'s CA, not of a CA of its own: a certificate pgrender derives for "
                    f"{source} would not be trusted there, and the connection would fail; name {root} here"
                )
                out.append(replace(named, message=message))
                continue
            for (name, _), mine_ca, primary_ca, place in zip(CA_FIELDS, ca, theirs_ca, places, strict=True):
                if mine_ca != primary_ca:
                    message = (
                        f"{name} is {mine_ca} here and {primary_ca} in {source}'s spec.tls, the cluster "
                        f"{place.message}: its certificates would come from a CA the source does not trust, and "
                        "the connection would fail; give the source's value"
                    )
                    out.append(replace(place, message=message))
        for link in self._links:
            reached = self._reached.get(link.source)
            if reached is None or link.source in self._borrowed:  # not in this run, or refused above
                continue
            out += _unreachable(link, reached)
        return out


def _link(sourced: SourcedCluster, plan: ClusterPlan) -> Link | None:
    """How this cluster reaches its source: a streaming standby's (while it streams), a direct clone's."""
    spec = sourced.cluster.spec
    standby, clone = plan.patroni.standby_cluster, plan.clone_source
    derives = bool(clone) and tls_providers.own_ca(plan.tls.provider)
    common_name_place = ("spec", "tls", "replicationCommonName")
    if standby and "host" in standby and spec.standby and spec.standby.from_cluster:
        stream, path, relation = (
            spec.standby.from_cluster,
            ("spec", "standby", "fromCluster"),
            "this standby streams from",
        )
        host, port = str(standby["host"]), int(standby["port"])
        # Its members' own replication certificate (whichever provider makes it) is the one it streams with.
        common_name: str | None = plan.tls.replication.common_name
    elif clone and spec.bootstrap.from_cluster:
        stream, path, relation = (
            spec.bootstrap.from_cluster,
            ("spec", "bootstrap", "fromCluster"),
            "this cluster is copied from",
        )
        host, port = clone.host, clone.port
        common_name = clone.common_name if derives else None  # else the user makes <c>-clone-source
    else:
        return None
    return Link(
        f"{stream.namespace or plan.namespace}/{stream.cluster}",
        None if stream.host else host,
        port,
        plan.postgres_version,
        common_name,
        derives,
        sourced.problem((*path, "cluster"), relation),
        sourced.problem((*path, "port"), relation),
        sourced.problem(("spec", "postgresVersion"), relation),
        sourced.problem(common_name_place, relation),
    )


def _unreachable(link: Link, theirs: Reached) -> list[Problem]:
    """What of ``link`` does not reach or is not let into its source, as ``theirs`` is rendered."""
    out = []
    source, relation = link.source, link.named.message
    # The certificate checks hold where the source's CA is pgrender's, as the CA check above; a
    # streaming standby's source moving to another provider is pgrender diff's to tell (new-ca).
    derived_source = tls_providers.own_ca(theirs.provider)
    if link.host is not None and link.host != theirs.host:
        message = (
            f"{source}, the cluster {relation}, is reached at {link.host} (its primary Service by this cluster's "
            f"spec.naming, without a host suffix), but its primary Service is {theirs.host} (its spec.naming and "
            "connectivity.dns.hostSuffix): the connection would not reach it; give both the same spec.naming and "
            "the source no hostSuffix, or name where it is reached in fromCluster.host"
        )
        out.append(replace(link.named, message=message))
    if link.host is not None and link.port != theirs.port:
        message = (
            f"port is {link.port} here and {theirs.port} in {source}'s spec.port, the cluster {relation}: the "
            "connection would go where it does not listen; give the source's value"
        )
        out.append(replace(link.port_place, message=message))
    if link.derives and not derived_source:
        message = (
            f"{source}, the cluster {relation}, has TLS provider {theirs.provider}: its CA is not pgrender's, so "
            "the certificate derived here for it would not be trusted there, and the copy would fail; with "
            "spec.tls.provider cert-manager or existing here, create <c>-clone-source from the source's CA "
            '(README, "Copy a running cluster")'
        )
        out.append(replace(link.named, message=message))
    if link.version != theirs.version:
        message = (
            f"postgresVersion is {link.version} here and {theirs.version} in {source}, the cluster {relation}: "
            "a physical copy of its data starts only under its own major version (PostgreSQL refuses the data "
            "directory), so the member would fail to start, over and over; give the source's version (a major "
            'version upgrade moves the data logically: README, "Major version upgrades")'
        )
        out.append(replace(link.version_place, message=message))
    if link.common_name is not None and derived_source and link.common_name != theirs.common_name:
        message = (
            f"the replication certificate's common name is {link.common_name} here and {theirs.common_name} in "
            f"{source}, the cluster {relation}: its pg_hba admits replication under that name only "
            "(spec.tls.replicationCommonName, mapped by pg_ident), so the connection would be refused; give "
            "the source's replicationCommonName here"
        )
        out.append(replace(link.common_name_place, message=message))
    return out


def _where(sourced: SourcedCluster, name: str) -> tuple[str | int, ...]:
    """Where the spec sets ``name``, else where it would: spec.patroni.parameters."""
    path = parameter_path(sourced, name)
    dynamic = sourced.cluster.spec.patroni.dynamic_configuration.get("postgresql")
    given = dynamic.get("parameters") if isinstance(dynamic, dict) else None
    if path[2] == "parameters" or (isinstance(given, dict) and path[-1] in given):
        return path
    return ("spec", "patroni", "parameters", name)
