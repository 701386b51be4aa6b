"""Every Kubernetes object, Secret and volume name a cluster uses (PGO naming profile)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Names:
    """Object names of one cluster; builders read these and never format names themselves."""

    cluster: str

    @property
    def instance_rbac(self) -> str:
        """ServiceAccount, Role and RoleBinding Patroni runs with."""
        return f"{self.cluster}-instance"

    @property
    def config_map(self) -> str:
        """ConfigMap holding patroni.yaml."""
        return f"{self.cluster}-config"

    @property
    def patroni_secret(self) -> str:
        """Secret with the credentials of Patroni's REST API."""
        return f"{self.cluster}-patroni"

    @property
    def patroni_scope(self) -> str:
        """Patroni's scope; also the prefix of the ConfigMaps Patroni writes at runtime."""
        return f"{self.cluster}-ha"

    @property
    def primary_service(self) -> str:
        return f"{self.cluster}-primary"

    @property
    def replicas_service(self) -> str:
        return f"{self.cluster}-replicas"

    @property
    def pods_service(self) -> str:
        """Headless Service giving each pod a stable DNS name for Patroni."""
        return f"{self.cluster}-pods"

    @property
    def pgbouncer(self) -> str:
        """Deployment, Service, ConfigMap, Secret and PodDisruptionBudget of pgBouncer."""
        return f"{self.cluster}-pgbouncer"

    @property
    def cluster_cert(self) -> str:
        return f"{self.cluster}-cluster-cert"

    @property
    def replication_cert(self) -> str:
        return f"{self.cluster}-replication-cert"

    @property
    def superuser_cert(self) -> str:
        return f"{self.cluster}-superuser-cert"

    @property
    def reconcile_config_map(self) -> str:
        return f"{self.cluster}-reconcile"

    def reconcile_job(self, content_hash: str) -> str:
        """The Job carries a content hash: a changed Job is a new Job, as Jobs are immutable."""
        return f"{self.cluster}-reconcile-{content_hash}"

    def pguser_secret(self, user: str) -> str:
        return f"{self.cluster}-pguser-{user}"

    def instance_set(self, set_name: str) -> str:
        """PodDisruptionBudget of an instance set."""
        return f"{self.cluster}-{set_name}"

    def instance(self, set_name: str, ordinal: int) -> str:
        """StatefulSet of one instance."""
        return f"{self.cluster}-{set_name}-{ordinal}"

    @staticmethod
    def pod(instance: str) -> str:
        """The single pod of an instance's StatefulSet."""
        return f"{instance}-0"

    @staticmethod
    def data_volume(instance: str) -> str:
        return f"{instance}-pgdata"

    @staticmethod
    def wal_volume(instance: str) -> str:
        return f"{instance}-pgwal"
