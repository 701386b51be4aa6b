"""Label keys and values, selectors, and which labels go on which objects."""

from __future__ import annotations

PREFIX = "pgrender.io/"
CLUSTER_LABEL = "pgrender.io/cluster"
INSTANCE_SET_LABEL = "pgrender.io/instance-set"
INSTANCE_LABEL = "pgrender.io/instance"
# Patroni writes ROLE_LABEL on each database pod and SCOPE_LABEL selects its members.
ROLE_LABEL = "pgrender.io/role"
SCOPE_LABEL = "pgrender.io/patroni"
DATA_LABEL = "pgrender.io/data"
PGUSER_LABEL = "pgrender.io/pguser"
# On <c>-config: spec.acknowledgedChanges, sorted and space-separated, for `pgrender diff`.
ACKNOWLEDGED_CHANGES_ANNOTATION = "pgrender.io/acknowledged-changes"
# On a Secret holding pgrender's CA (ca.crt): the CA key's identifier (SHA-1 of its public key, as
# every certificate it signs names it), so `pgrender diff` tells a new CA from a renewed certificate
# also where the values are sealed. Public: every TLS client of the cluster is shown it.
CA_ANNOTATION = "pgrender.io/ca"
# On each member StatefulSet while spec.upgrade is set: the major version its data comes from, so
# `pgrender diff` tells an in-place upgrade from a version change that cannot work.
UPGRADE_FROM_ANNOTATION = "pgrender.io/upgrade-from"
RESTORE_RUN_ANNOTATION = "pgrender.io/restore-run"  # spec.restore.run, on the member StatefulSets
# On each member StatefulSet while walVolume.retire is set: its members move their WAL back onto the data
# volume, so `pgrender diff` lets the WAL volume go from the next output.
WAL_VOLUME_RETIRED_ANNOTATION = "pgrender.io/wal-volume-retired"
# On the members' pod template: a digest of spec.serviceAccountTemplate's labels and annotations, so
# a change replaces the pods (a cloud identity, IRSA's, is given to a pod when it is created).
ACCOUNT_DIGEST_ANNOTATION = "pgrender.io/account-digest"
# On a copy of a cluster's Secret in another namespace (users[].secretNamespaces): the cluster's own
# namespace, which with CLUSTER_LABEL names the cluster it belongs to.
CLUSTER_NAMESPACE_ANNOTATION = "pgrender.io/cluster-namespace"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"

# Patroni 3.0 writes "master"; later versions honour leader_label_value, so pinning "master"
# keeps the Services' selectors right across Patroni versions (PGO does the same).
ROLE_PRIMARY = "master"
ROLE_REPLICA = "replica"

COMPONENT_DATABASE = "database"
COMPONENT_RECONCILE = "reconcile"
COMPONENT_PGBOUNCER = "pgbouncer"
COMPONENT_PGBOUNCER_REPLICAS = "pgbouncer-replicas"
COMPONENT_BACKUP = "backup"
COMPONENT_REPO_HOST = "repo-host"
COMPONENT_MONITORING = "monitoring"
COMPONENT_PGADMIN = "pgadmin"
BACKUP_TYPE_LABEL = "pgrender.io/backup-type"
REPO_LABEL = "pgrender.io/repo"

# Keys users may not set through metadata.labels: selectors and Patroni depend on them.
RESERVED_KEYS = (PREFIX, NAME_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL)


def is_reserved(key: str) -> bool:
    """Return whether a user-supplied label key would collide with labels pgrender relies on."""
    return key.startswith(PREFIX) or key in RESERVED_KEYS


def common(cluster: str, component: str) -> dict[str, str]:
    """Labels every object of a component carries."""
    return {
        CLUSTER_LABEL: cluster,
        NAME_LABEL: "postgresql",
        COMPONENT_LABEL: component,
        MANAGED_BY_LABEL: "pgrender",
    }


def cluster_namespace(metadata: dict[str, object]) -> str:
    """The namespace of the cluster an object belongs to: its own, or a copy's cluster's."""
    annotations = metadata.get("annotations") or {}
    assert isinstance(annotations, dict)
    return str(annotations.get(CLUSTER_NAMESPACE_ANNOTATION) or metadata.get("namespace", ""))
