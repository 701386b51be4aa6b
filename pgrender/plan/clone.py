"""spec.bootstrap.fromCluster, a direct clone: the first member copies another cluster's primary with
pg_basebackup instead of running initdb (Zalando's clone without a timestamp, CloudNativePG's
bootstrap.pg_basebackup), then runs as a cluster of its own.

The copy is taken through the source's primary Service as its replication user, whom the source
admits by a client certificate from its CA (``hostssl replication ... cert``). So the clone gets, in
Secret <c>-clone-source, the source's CA certificate (to verify the source) and a replication
certificate signed by the source's CA, both derived for the source from the same root key, as a
streaming standby's are; fromCluster.tls repeats the source's CA settings. Everything else is the
clone's own: its CA, its certificates, and its roles' passwords, which its reconcile Job sets.
"""

from __future__ import annotations

import datetime as dt
import shlex

from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.plan import defaults, secret_keys
from pgrender.plan.names import Names, source_host
from pgrender.plan.tls import TLSSecret, ca_common_name
from pgrender.spec import SourcedCluster

# Patroni's name of the custom bootstrap method (bootstrap.method).
BOOTSTRAP_METHOD = "pg_basebackup"
DIRECTORY = f"{defaults.TLS_DIR}/{defaults.CLONE_SOURCE_TLS_SUBDIR}"


@frozen
class CloneSourcePlan:
    """The running cluster a new one is copied from, and how the copy reaches it."""

    cluster: str
    namespace: str
    host: str  # the source's primary Service, or fromCluster.host
    port: int
    secret: TLSSecret  # <c>-clone-source, mounted by the members at DIRECTORY
    ca_common_name: str
    ca_not_before: dt.datetime
    ca_validity_days: int
    ca_rotation: int
    # The common name of the certificate: the source's pg_hba admits it as its replication role, by
    # name (_pgrender_repl) or, with the source's spec.tls.replicationCommonName, through its pg_ident
    # map; this cluster's own replicationCommonName stands for the source's, as a streaming standby's
    # does (plan/standby_sources.py compares them where both are rendered).
    common_name: str
    command: str  # Patroni's bootstrap command (run once, by the member that creates the cluster)

    @property
    def owner(self) -> tuple[str, str]:
        """(namespace, cluster) the source's values are derived for."""
        return (self.namespace, self.cluster)


def resolve_clone_source(
    sourced: SourcedCluster,
    names: Names,
    data_dir: str,
    wal_dir: str | None,
    bin_dir: str,
    sslmode: str,
    problems: list[Problem],
) -> CloneSourcePlan | None:
    spec = sourced.cluster.spec
    source = spec.bootstrap.from_cluster
    if source is None:
        return None
    meta = sourced.cluster.metadata
    field = ("spec", "bootstrap", "fromCluster")
    namespace = source.namespace or meta.namespace
    if (namespace, source.cluster) == (meta.namespace, meta.name):
        problems.append(sourced.problem((*field, "cluster"), "a cluster cannot be copied from itself"))
    if spec.standby is not None:
        problems.append(
            sourced.problem(field, "a standby cluster starts from spec.standby (fromCluster copies its source too)")
        )
    host = source_host(source.cluster, namespace, spec.naming, source.host)
    user = defaults.REPLICATION_USER  # the role; the certificate's common name may differ (pg_ident)
    files = {key: f"{DIRECTORY}/{key}" for key in (secret_keys.CA_CERT, secret_keys.TLS_CERT, secret_keys.TLS_KEY)}
    conninfo = (
        f"host={host} port={source.port} user={user} sslmode={sslmode} "
        f"sslrootcert={files[secret_keys.CA_CERT]} sslcert={files[secret_keys.TLS_CERT]} "
        f"sslkey={files[secret_keys.TLS_KEY]} application_name={meta.name}"
    )
    # --wal-method=stream: the copy holds the WAL it needs to be consistent, so the first member starts
    # it as a primary (no recovery target, no archive to read), on the source's timeline.
    words = [f"{bin_dir}/pg_basebackup", f"--pgdata={data_dir}", "--wal-method=stream", "--checkpoint=fast"]
    if wal_dir:
        words.append(f"--waldir={wal_dir}")
    words += ["--no-password", f"--dbname={conninfo}"]
    return CloneSourcePlan(
        cluster=source.cluster,
        namespace=namespace,
        host=host,
        port=source.port,
        secret=TLSSecret(names.clone_source_secret, ca=secret_keys.SOURCE_CA_CERT),
        ca_common_name=ca_common_name(namespace, source.cluster),
        ca_not_before=source.tls.not_before,
        ca_validity_days=source.tls.ca_validity_days,
        ca_rotation=source.tls.ca_rotation,
        common_name=spec.tls.replication_common_name or user,
        command=shlex.join(words),
    )


__all__ = ["BOOTSTRAP_METHOD", "DIRECTORY", "CloneSourcePlan", "resolve_clone_source"]
