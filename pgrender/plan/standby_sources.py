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
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.frozen import replace
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

    def add(self, sourced: SourcedCluster, plan: ClusterPlan) -> None:
        own = values(plan)
        key = f"{plan.namespace}/{plan.name}"
        self._values[key] = own
        spec = sourced.cluster.spec
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
        return out


def _where(sourced: SourcedCluster, name: str) -> tuple[str | int, ...]:
    """Where the spec sets ``name``, else where it would: spec.patroni.parameters."""
    path = parameter_path(sourced, name)
    dynamic = sourced.cluster.spec.patroni.dynamic_configuration.get("postgresql")
    given = dynamic.get("parameters") if isinstance(dynamic, dict) else None
    if path[2] == "parameters" or (isinstance(given, dict) and path[-1] in given):
        return path
    return ("spec", "patroni", "parameters", name)
