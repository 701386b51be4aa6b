"""The PostgresCluster model: the document, its metadata and spec (the parts are in the modules beside it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator

from pgrender.spec import limits
from pgrender.spec.backups import BackupsSpec, BootstrapSpec, InPlaceRestoreSpec, StandbySpec
from pgrender.spec.base import UID_MAX, DNSLabel, DNSSubdomain, Image, StrictModel
from pgrender.spec.connectivity import ConnectivitySpec, Naming
from pgrender.spec.init_sql import InitSQLSpec
from pgrender.spec.instances import InstanceSetSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.monitoring import MonitoringSpec
from pgrender.spec.network_policy import NetworkPolicySpec
from pgrender.spec.patroni import PatroniSpec
from pgrender.spec.pgbouncer import ProxySpec
from pgrender.spec.presets import Preset
from pgrender.spec.rules.cluster import check_bin_dir, check_change_id, check_program, check_pull_secrets_once
from pgrender.spec.services import ReplicaServiceSpec, ServiceSpec
from pgrender.spec.tls import TLSSpec
from pgrender.spec.user_interface import UserInterfaceSpec
from pgrender.spec.users import DatabaseSpec, UserSpec


def _namespace_optional_for_editors(schema: dict[str, Any]) -> None:
    # The namespace may come from a default (pgrender.yaml, --namespace, Argo CD's destination),
    # which an editor cannot see; pgrender itself reports it missing when no default applies.
    schema["required"] = [field for field in schema.get("required", []) if field != "namespace"]


class ServiceAccountTemplateSpec(StrictModel):
    """What ServiceAccount <c>-instance carries besides pgrender's own metadata (CloudNativePG's
    spec.serviceAccountTemplate)."""

    metadata: MetadataSpec = Field(
        default_factory=MetadataSpec,
        description="Labels and annotations of ServiceAccount <c>-instance: the identity every pod that "
        "reaches a repository with keyType web-id or auto runs as (the database pods, and the backup Jobs of "
        "such a repository), e.g. eks.amazonaws.com/role-arn (IRSA) or iam.gke.io/gcp-service-account "
        "(GKE Workload Identity).",
    )


class ObjectMeta(MetadataSpec, json_schema_extra=_namespace_optional_for_editors):
    """Identity of the cluster; labels and annotations go on every object pgrender writes."""

    name: DNSLabel
    """The cluster's name; every object pgrender writes is named after it (<name>-pguser-<user>, ...)."""
    namespace: DNSLabel = Field(
        description="Defaults to `namespace` in pgrender.yaml, `--namespace`, or Argo CD's destination namespace."
    )


class ImageContractSpec(StrictModel):
    """Where the image keeps its programs and which user runs them (see README, "Image contract")."""

    bin_dir: Annotated[str, AfterValidator(check_bin_dir)] | None = Field(
        default=None, description="PostgreSQL binaries; {version} is substituted."
    )
    patroni: Annotated[str, AfterValidator(check_program)] = Field(
        default="patroni", description="The patroni executable, on PATH or absolute."
    )
    pgbackrest: Annotated[str, AfterValidator(check_program)] = Field(
        default="pgbackrest", description="The pgbackrest executable (backups), on PATH or absolute."
    )
    run_as_user: int = Field(default=101, ge=1, le=UID_MAX)
    """User id the database pod's containers run as (securityContext.runAsUser); Spilo's postgres is 101."""
    run_as_group: int = Field(default=103, ge=1, le=UID_MAX)
    """Group id the database pod's containers run as (securityContext.runAsGroup); Spilo's postgres is 103."""
    fs_group: int = Field(default=103, ge=1, le=UID_MAX)
    """Group that owns the pod's volumes and mounted Secret files (securityContext.fsGroup), so PostgreSQL
    can read its keys (mode 0640)."""


ChangeId = Annotated[str, AfterValidator(check_change_id)]


class RolloutSpec(StrictModel):
    """How the reconcile Job restarts or replaces members, one at a time (README, "Changing a running cluster")."""

    step_timeout_seconds: int = Field(
        default=900,
        ge=10,
        le=86400,
        description="How long one step (a member back and streaming, a switchover) may take before the "
        "rollout stops and the Job fails; a new pod may wait for a node, its image and crash recovery.",
    )
    max_lag_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        le=2**40,
        description="A restarted replica counts as caught up when it is at most this far behind the leader "
        "(Patroni's maximum_lag_on_failover default); the next member waits until then.",
    )


class UpgradeSpec(StrictModel):
    """An in-place major version upgrade (pg_upgrade --link) when the members start at postgresVersion
    (PGO's PGUpgrade; CloudNativePG's and Zalando's in-place upgrades). README, "Major version upgrades"."""

    from_version: Literal[14, 15, 16, 17]
    """The major version the cluster's data is at, below postgresVersion: 14, 15, 16 or 17. Shut the
    cluster down (spec.shutdown: true), then raise postgresVersion with this set to the old one, and
    start it. The image must carry this version's binaries too, at imageContract.binDir (Spilo's do)."""


class ClusterSpec(StrictModel):
    """What the user asks for; everything not given is decided in plan.resolve()."""

    postgres_version: Literal[14, 15, 16, 17, 18]
    """PostgreSQL major version: 14, 15, 16, 17 or 18. It picks the default image and the binaries'
    directory, and parameters are checked against that version's settings. Changing it is a major
    upgrade, which `pgrender diff` holds back until acknowledged."""
    preset: Preset | None = None
    node_count: int | None = Field(
        default=None, ge=1, description="Nodes the cluster may run on; checked against required anti-affinity."
    )
    image: Image | None = Field(default=None, examples=["ghcr.io/zalando/spilo-17:4.0-p2"])
    """The database image (PostgreSQL, Patroni, pgBackRest); default: Zalando's Spilo image for
    postgresVersion. Another image must meet imageContract."""
    image_contract: ImageContractSpec = Field(default_factory=ImageContractSpec)
    port: int = Field(default=5432, ge=1024, le=65535)
    """The port PostgreSQL listens on, and the port of the primary and replica Services; not 8008
    (Patroni's REST API)."""
    image_pull_secrets: list[DNSSubdomain] = Field(
        default=[],
        max_length=20,
        description="Names of Secrets (kubernetes.io/dockerconfigjson) that every pod pgrender writes "
        "pulls its images with.",
    )
    cluster_domain: DNSSubdomain = "cluster.local"
    """The Kubernetes cluster's DNS domain; Service and pod host names (<service>.<namespace>.svc.<domain>)
    in certificates, URIs and Patroni's member addresses end with it."""
    instances: list[InstanceSetSpec] = Field(min_length=1, max_length=limits.MAX_INSTANCE_SETS)
    """Sets of PostgreSQL instances (members of one Patroni cluster); at least one."""
    users: list[UserSpec] = Field(default=[], max_length=limits.MAX_USERS)
    """Roles the reconcile Job creates and keeps as stated; default: one user and one database named
    after the cluster (app under naming cnpg or pgd)."""
    databases: list[DatabaseSpec] = Field(default=[], max_length=limits.MAX_DATABASES)
    """Databases with a chosen owner; a database listed only in users[].databases is created too, owned by
    the first user that lists it."""
    database_init_sql: InitSQLSpec | None = Field(
        default=None,
        alias="databaseInitSQL",
        description="SQL the reconcile Job runs once, as the superuser in database postgres, after the roles "
        "and databases exist; recorded so it never runs again (changing it later does not rerun it).",
    )
    patroni: PatroniSpec = Field(default_factory=PatroniSpec)
    """Patroni's replication settings, PostgreSQL parameters and pg_hba rules."""
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    replica_service: ReplicaServiceSpec = Field(default_factory=ReplicaServiceSpec)
    group_service: ServiceSpec | None = Field(
        default=None,
        description="The Service over every member, under a naming profile that writes one (cnpg: <c>-r; pgd: "
        "the group service, PGD's groupServiceTemplate). Default: ClusterIP with spec.service's metadata.",
    )
    member_services: ServiceSpec | None = Field(
        default=None,
        description="Each member's own Service, under a naming profile that writes them (pgd: the node "
        "services, PGD's nodeServiceTemplate), e.g. a LoadBalancer per node for members in other Kubernetes "
        "clusters. Default: ClusterIP with spec.service's metadata.",
    )
    tls: TLSSpec = Field(default_factory=TLSSpec)
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    """Connection poolers (pgBouncer) in front of the primary and of the replicas; none by default."""
    backups: BackupsSpec | None = Field(default=None, description="pgBackRest backups and WAL archiving.")
    bootstrap: BootstrapSpec = Field(
        default_factory=BootstrapSpec, description="Where a new cluster's data comes from (default: initdb)."
    )
    standby: StandbySpec | None = Field(
        default=None, description="Follow another cluster's repository as a standby cluster."
    )
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    shutdown: bool = Field(
        default=False,
        description="true: the cluster stops and keeps its data (PGO's spec.shutdown, CloudNativePG's "
        "hibernation): every member and pgBouncer scaled to zero, the claims kept, the CronJobs suspended, "
        "no reconcile Job; a repository host keeps running, so the backups stay readable. false again: the "
        "members start, Patroni elects the member with the most WAL, and the reconcile Job runs.",
    )
    upgrade: UpgradeSpec | None = Field(
        default=None,
        description="An in-place major version upgrade from fromVersion to postgresVersion, made by the "
        "members when they start after a shutdown; remove it once the cluster runs and has a backup at the "
        "new version (a rolling restart).",
    )
    restore: InPlaceRestoreSpec | None = Field(
        default=None,
        description="The cluster's data restored in place from one of its repositories, to a target, made by "
        "the members when they start after a shutdown: the member that holds the latest data restores with "
        "pgBackRest's --delta and leads, the others are copied anew from it. Every write after the target is "
        "lost. Remove it once the cluster runs and has a full backup of the new timeline (a rolling restart).",
    )
    monitoring: MonitoringSpec | None = Field(
        default=None,
        description="postgres_exporter on every member, a PodMonitor and a PrometheusRule (off unless set; "
        "the two need the Prometheus Operator's CRDs).",
    )
    user_interface: UserInterfaceSpec = Field(
        default_factory=UserInterfaceSpec,
        description="pgAdmin 4 for the cluster (PGO's spec.userInterface); none unless set.",
    )
    naming: Naming = Field(
        default=Naming.PGO,
        description="Whose Secret names and keys, Service names and labels the output uses: pgo "
        "(Crunchy PGO v5), zalando (Zalando postgres-operator), cnpg (CloudNativePG) or pgd (EDB PGD), "
        "so applications written against that operator keep working unchanged.",
    )
    connectivity: ConnectivitySpec = Field(default_factory=ConnectivitySpec)
    service_account_template: ServiceAccountTemplateSpec = Field(default_factory=ServiceAccountTemplateSpec)
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec,
        description="NetworkPolicies around every pod of the cluster (on by default; needs a CNI that enforces them).",
    )
    openshift: bool = Field(
        default=False,
        description="true: no runAsUser, runAsGroup or fsGroup in any pod, so that OpenShift's restricted-v2 "
        "SCC assigns them from the namespace's ranges (PGO's spec.openshift).",
    )

    _pull_secrets_once = field_validator("image_pull_secrets")(check_pull_secrets_once)

    acknowledged_changes: list[ChangeId] = Field(
        default=[],
        max_length=100,
        description="Ids of risky or refused changes `pgrender diff` reported and you mean to make "
        "(remove-instance:hippo-a-0, remove-user:alice, ...); written as the annotation "
        "pgrender.io/acknowledged-changes of the <cluster>-config ConfigMap. Remove them once applied.",
    )


class PostgresCluster(StrictModel):
    """One cluster document."""

    api_version: Literal["pgrender.io/v1alpha1"]
    """pgrender.io/v1alpha1, the version of this spec format."""
    kind: Literal["PostgresCluster"]
    """PostgresCluster."""
    metadata: ObjectMeta
    spec: ClusterSpec
