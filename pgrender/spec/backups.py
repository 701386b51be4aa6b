"""Spec of disaster recovery: spec.backups (pgBackRest repositories, schedules, retention),
spec.bootstrap.fromBackup (restore and clone) and spec.standby (a cluster that follows another)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from pgrender.spec.base import DNSLabel, DNSSubdomain, ForEditors, Image, Quantity, StrictModel
from pgrender.spec.instances import ResourcesSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.rules.backups import (
    REPO_PATH,
    Cipher,
    RepoLocation,
    UriStyle,
    check_a_source,
    check_azure_container,
    check_backup_label,
    check_distinct_repos,
    check_gcs_bucket,
    check_lsn,
    check_object_store,
    check_one_bootstrap,
    check_one_repo_kind,
    check_one_target,
    check_region,
    check_repo_path,
    check_restore_point,
    check_s3_bucket,
    check_schedule,
    check_source_host,
    check_time_zone,
    parse_target,
)
from pgrender.spec.rules.tls import DEFAULT_NOT_BEFORE, to_utc
from pgrender.spec.scheduling import PlacementSpec

CronSchedule = Annotated[str, AfterValidator(check_schedule), ForEditors(examples=("30 1 * * 0", "@daily"))]
TimeZone = Annotated[
    str,
    AfterValidator(check_time_zone),
    ForEditors("^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", ("Europe/Stockholm", "UTC")),
]
RepoPath = Annotated[str, AfterValidator(check_repo_path), ForEditors.matching(REPO_PATH, "/pgbackrest/hippo")]
# pgBackRest numbers repositories; PGO's names are repo1 to repo4.
RepoName = Literal["repo1", "repo2", "repo3", "repo4"]


class S3RepoSpec(StrictModel):
    """An S3 (or S3-compatible) bucket. pgBackRest always speaks HTTPS to it."""

    bucket: str = Field(description="Bucket name; path-style URIs are needed when it contains dots.")
    endpoint: DNSSubdomain = Field(description="Host name of the S3 endpoint, e.g. s3.eu-north-1.amazonaws.com.")
    region: str = Field(description="Region the bucket is in, e.g. eu-north-1 (us-east-1 for most emulators).")
    port: int | None = Field(default=None, ge=1, le=65535, description="HTTPS port of the endpoint; default 443.")
    uri_style: UriStyle = Field(
        default=UriStyle.HOST, description="host: bucket.endpoint (AWS); path: endpoint/bucket (MinIO, Ceph)."
    )
    key_type: Literal["shared", "auto", "web-id"] = Field(
        default="shared",
        description="shared: access key and secret from credentials.secretName; auto: the node's instance role; "
        "web-id: the pod's web identity token (IRSA).",
    )

    _bucket = field_validator("bucket")(check_s3_bucket)
    _region = field_validator("region")(check_region)


class GCSRepoSpec(StrictModel):
    """A Google Cloud Storage bucket."""

    bucket: str = Field(description="Bucket name.")
    endpoint: DNSSubdomain | None = Field(default=None, description="Endpoint host; default storage.googleapis.com.")
    port: int | None = Field(default=None, ge=1, le=65535, description="HTTPS port of the endpoint; default 443.")
    key_type: Literal["service", "token", "auto"] = Field(
        default="service",
        description="service: a service account key (JSON) from credentials.secretName; token: an access token "
        "from it; auto: the pod's workload identity.",
    )

    _bucket = field_validator("bucket")(check_gcs_bucket)


class AzureRepoSpec(StrictModel):
    """An Azure Blob Storage container."""

    container: str = Field(description="Blob container name.")
    endpoint: DNSSubdomain | None = Field(default=None, description="Endpoint host; default blob.core.windows.net.")
    port: int | None = Field(default=None, ge=1, le=65535, description="HTTPS port of the endpoint; default 443.")
    uri_style: UriStyle = Field(default=UriStyle.HOST, description="host: account.endpoint; path: endpoint/account.")
    key_type: Literal["shared", "sas"] = Field(
        default="shared", description="shared: the account key; sas: a shared access signature."
    )

    _container = field_validator("container")(check_azure_container)


class VolumeRepoSpec(StrictModel):
    """A PersistentVolumeClaim on a dedicated repository host (StatefulSet <cluster>-repo-host)."""

    size: Quantity = Field(description="Size of the repository volume, e.g. 100Gi.")
    storage_class_name: DNSSubdomain | None = Field(
        default=None, description="A StorageClass name; leave it out for the cluster's default class."
    )


class CredentialsSpec(StrictModel):
    """A Secret in the cluster's namespace that the user provides (pgrender never writes it).

    Keys: s3 `key` and `key-secret`; azure `account` and `key`; gcs `key` (the JSON key file or token).
    """

    secret_name: DNSSubdomain = Field(description="Name of the Secret holding the storage credentials.")


class StorageCASpec(StrictModel):
    """A CA certificate to trust for the object store, for endpoints with a private CA."""

    secret_name: DNSSubdomain = Field(description="Name of a Secret in the cluster's namespace.")
    key: str = Field(default="ca.crt", pattern=r"^[-._a-zA-Z0-9]+$", description="Key of the CA file in that Secret.")


class RepoLocationSpec(RepoLocation, StrictModel):
    """Where a pgBackRest repository is and how to read it: exactly one of s3, gcs, azure, volume."""

    name: RepoName = Field(
        description="pgBackRest's repository name: repo1, repo2, repo3 or repo4 (its number is pgBackRest's repo<n>)."
    )
    s3: S3RepoSpec | None = Field(default=None, description="An S3 or S3-compatible bucket.")
    gcs: GCSRepoSpec | None = Field(default=None, description="A Google Cloud Storage bucket.")
    azure: AzureRepoSpec | None = Field(default=None, description="An Azure Blob Storage container.")
    volume: VolumeRepoSpec | None = Field(default=None, description="A volume on a dedicated repository host.")
    path: RepoPath | None = Field(
        default=None,
        description="Path inside the bucket; default /pgbackrest/<namespace>/<cluster>/<repo>, so that clusters "
        "sharing a bucket never share a repository.",
    )
    credentials: CredentialsSpec | None = Field(default=None, description="Storage credentials (object stores).")
    storage_ca: StorageCASpec | None = Field(default=None, alias="storageCA", description="A private CA to trust.")
    cipher: Cipher = Field(
        default=Cipher.AES_256_CBC,
        description="Repository encryption; the passphrase is derived from the root key, like every secret. "
        "Changing it on a repository that holds backups makes them unreadable: start a new repository instead.",
    )

    _one_kind = model_validator(mode="after")(check_one_repo_kind)


class SchedulesSpec(StrictModel):
    """CronJob schedules (five fields, in backups.timeZone) for each backup type."""

    full: CronSchedule | None = Field(default=None, description="Full backups, e.g. '30 1 * * *'.")
    differential: CronSchedule | None = Field(default=None, description="Differential backups (since the last full).")
    incremental: CronSchedule | None = Field(default=None, description="Incremental backups (since the last backup).")


class RetentionSpec(StrictModel):
    """What `expire` keeps (it runs after every backup)."""

    full: int | None = Field(
        default=None, ge=1, le=9999999, description="Full backups to keep (or days, see fullType)."
    )
    full_type: Literal["count", "time"] = Field(
        default="count", description="count: keep `full` full backups; time: keep them for `full` days."
    )
    differential: int | None = Field(default=None, ge=1, le=9999999, description="Differential backups to keep.")
    archive: int | None = Field(
        default=None,
        ge=1,
        le=9999999,
        description="Backups (of archiveType) whose WAL is kept for point-in-time recovery.",
    )
    archive_type: Literal["full", "diff", "incr"] = Field(
        default="full", description="What `archive` counts: full, diff (differential) or incr (incremental) backups."
    )
    point_in_time_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days back that point-in-time recovery must reach; pgrender computes `archive` from the full "
        "schedule, and refuses retention that would keep less.",
    )


class RepoSpec(RepoLocationSpec):
    """A repository of this cluster: where it is, when it is backed up, what it keeps."""

    schedules: SchedulesSpec = Field(default_factory=SchedulesSpec, description="When backups run.")
    retention: RetentionSpec = Field(default_factory=RetentionSpec, description="What expire keeps.")


class ManualBackupSpec(StrictModel):
    """A one-off backup: bump `run` to render a new Job <cluster>-<repo>-manual-<run>."""

    repo: RepoName = Field(
        description="The repository to back up to: repo1, repo2, repo3 or repo4, one of spec.backups.repos."
    )
    type: Literal["full", "diff", "incr"] = Field(
        default="full",
        description="pgBackRest backup type: full (everything), diff (changes since the last full) or incr "
        "(changes since the last backup of any type).",
    )
    run: int = Field(ge=1, le=999999, description="Bump to take another backup; the Job name carries it.")


class LogicalBackupSpec(StrictModel):
    """pg_dumpall on a schedule, written next to the physical backups in an object-store repository."""

    repo: RepoName = Field(
        description="repo1, repo2, repo3 or repo4: an s3 repository of spec.backups.repos; the dumps go below "
        "its path, in logical/."
    )
    schedule: CronSchedule = Field(description="When to dump, e.g. '30 0 * * *'.")
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="After each dump, delete the dumps older than this many days (Zalando's "
        "logical_backup_s3_retention_time); the newest is always kept. Default: keep every dump.",
    )
    image: Image | None = Field(
        default=None,
        description="An image with pg_dumpall (at imageContract.binDir), gzip and the AWS CLI (aws); default "
        "Zalando's logical-backup image.",
    )
    resources: ResourcesSpec | None = Field(
        default=None,
        description="The logical-backup container's requests and limits; what is left out comes from the "
        "preset's defaults (README, Resources).",
    )


class BackupPodsSpec(StrictModel):
    """Where one kind of pgBackRest's pods runs."""

    scheduling: PlacementSpec = Field(
        default_factory=PlacementSpec,
        description="Node affinity, tolerations, node selector and priority class of these pods (a Job pod "
        "waits for a node it may run on).",
    )


class BackupsSpec(StrictModel):
    """pgBackRest backups: WAL archiving from the primary to every repository, scheduled backups as CronJobs."""

    repos: list[RepoSpec] = Field(min_length=1, max_length=4, description="One to four repositories.")
    time_zone: TimeZone = Field(
        default="UTC", description="Time zone of the schedules (the CronJobs' timeZone), e.g. Europe/Stockholm."
    )
    archive_timeout: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Seconds after which PostgreSQL switches to a new WAL segment when there was activity, so it "
        "is archived: the recovery point objective is this plus the time to upload a segment.",
    )
    job_deadline_seconds: int = Field(
        default=21600, ge=60, le=604800, description="activeDeadlineSeconds of every backup Job."
    )
    resources: ResourcesSpec | None = Field(
        default=None,
        description="Requests and limits of every pgBackRest container: the backup Jobs, the repository host "
        "and the sidecar beside each member (a change restarts the members); what is left out comes from "
        "the preset's defaults (README, Resources).",
    )
    backup_from: Literal["primary", "prefer-standby"] = Field(
        default="primary",
        description="prefer-standby: a backup copies the files from a streaming replica, and the primary only "
        "starts and stops it (CloudNativePG's backup.target); with no replica streaming it runs from the primary.",
    )
    process_max: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="pgBackRest processes that copy and compress files in a backup (its Job) and a restore (a new "
        "replica, a restore's bootstrap); default 1. Each is a core's work: raise the Jobs' and members' CPU to match.",
    )
    compress_type: Literal["gz", "lz4", "zst", "bz2", "none"] | None = Field(
        default=None,
        description="How backups and archived WAL are compressed: gz (the default), lz4, zst, bz2 or none. zst and "
        "lz4 are much faster and need a pgBackRest built with them (Debian's is). Changing it keeps what is in "
        "the repositories readable.",
    )
    manual: ManualBackupSpec | None = Field(default=None, description="A one-off backup Job.")
    logical: LogicalBackupSpec | None = Field(default=None, description="Scheduled pg_dumpall to object storage.")
    jobs: BackupPodsSpec = Field(
        default_factory=BackupPodsSpec,
        description="The pods of every backup Job: scheduled, manual, initial and logical.",
    )
    repo_host: BackupPodsSpec = Field(
        default_factory=BackupPodsSpec,
        description="The pod of the repository host, which volume repositories have (a change restarts it).",
    )
    metadata: MetadataSpec = Field(
        default_factory=MetadataSpec,
        description="Labels and annotations of the backup CronJobs and Jobs, the repository host's objects, "
        "and their pods (PGO's backups.pgbackrest.metadata).",
    )

    _distinct = field_validator("repos")(check_distinct_repos)


class BackupSourceSpec(StrictModel):
    """Another cluster's pgBackRest repository (an object store), as that cluster's spec describes it."""

    cluster: DNSLabel = Field(description="Name of the cluster whose backups are read.")
    namespace: DNSLabel | None = Field(default=None, description="Its namespace; default this cluster's.")
    repo: RepoLocationSpec = Field(
        description="The repository as in that cluster's spec.backups.repos (name, store, path, cipher); its "
        "passphrase is derived for that cluster, so both must be rendered with the same root key."
    )

    _object_store = field_validator("repo")(check_object_store)


class RecoveryTargetSpec(StrictModel):
    """Where a restore's recovery ends (at most one target), and from which backup."""

    target: Annotated[dt.datetime | Literal["latest"], BeforeValidator(parse_target)] = Field(
        default="latest",
        description="latest: replay every archived WAL segment; a timestamp: recover to that point in time "
        "(it must be after the end of a backup in the repository).",
    )
    target_name: Annotated[str, AfterValidator(check_restore_point)] | None = Field(
        default=None,
        examples=["before-the-migration"],
        description="Recover to a restore point made with pg_create_restore_point() (instead of target).",
    )
    target_lsn: Annotated[str, AfterValidator(check_lsn)] | None = Field(
        default=None,
        examples=["16/B374D848"],
        description="Recover to a WAL location, as pg_current_wal_lsn() gives them (instead of target).",
    )
    target_xid: int | None = Field(
        default=None,
        ge=3,
        description="Recover to the commit of this transaction, included (instead of target).",
    )
    target_immediate: bool = Field(
        default=False,
        description="true: recover only until the backup is consistent, and replay no more (instead of target).",
    )
    backup_set: Annotated[str, AfterValidator(check_backup_label)] | None = Field(
        default=None,
        examples=["20261129-011500F"],
        description="The backup to restore, by its label (pgbackrest info; pgBackRest's --set); default: the "
        "newest one that reaches the target.",
    )

    _one_target = model_validator(mode="after")(check_one_target)


class RestoreSourceSpec(RecoveryTargetSpec, BackupSourceSpec):
    """Restore (clone) from another cluster's backups."""


class InPlaceRestoreSpec(RecoveryTargetSpec):
    """The cluster's own data restored from its own repository, in place (PGO's
    spec.backups.pgbackrest.restore): made by the members when they start after a shutdown. README,
    "Restore in place"."""

    repo: RepoName = Field(
        description="The repository to restore from: repo1, repo2, repo3 or repo4, one of spec.backups.repos."
    )
    run: int = Field(
        ge=1,
        le=999999,
        description="Which restore: the members restore once for each value (bump it to restore again, to "
        "another target).",
    )


SourceHost = Annotated[
    str, AfterValidator(check_source_host), ForEditors("^[^\\s*]+$", ("db.eu-west.example.com", "10.0.0.5"))
]


class SourceTLSSpec(StrictModel):
    """The source cluster's spec.tls values its CA is made from (leave out what it leaves out)."""

    not_before: dt.datetime = Field(default=DEFAULT_NOT_BEFORE, description="The source's spec.tls.notBefore.")
    ca_validity_days: int = Field(default=7300, ge=1, le=36500, description="The source's spec.tls.caValidityDays.")
    ca_rotation: int = Field(default=0, ge=0, description="The source's spec.tls.caRotation.")

    _utc = field_validator("not_before")(to_utc)


class StreamSourceSpec(StrictModel):
    """Another cluster's primary to stream from, through its primary Service.

    Streaming needs trust both ways, so the standby's certificates are signed by the source's CA
    (derived for the source from the same root key, as PGO requires the same certificates): the
    two clusters then trust each other's certificates, as the one database they are.
    """

    cluster: DNSLabel = Field(description="Name of the cluster to follow.")
    namespace: DNSLabel | None = Field(default=None, description="Its namespace; default this cluster's.")
    port: int = Field(
        default=5432,
        ge=1,
        le=65535,
        description="Its spec.port, or the port host listens on (a load balancer may listen below 1024).",
    )
    host: SourceHost | None = Field(
        default=None,
        description="Where its primary is reached when not through its primary Service in this Kubernetes "
        "cluster: another cluster's load balancer or DNS name (a standby in another region). Its server "
        "certificate must name it for replicationSSLMode verify-full (the source's spec.tls.extraSANs); "
        "spec.networkPolicy.sources says where it may be.",
    )
    tls: SourceTLSSpec = Field(default_factory=SourceTLSSpec, description="Its CA's settings, from its spec.tls.")


class BootstrapSpec(StrictModel):
    """How a new cluster's data begins; read once, when the cluster is created."""

    from_backup: RestoreSourceSpec | None = Field(
        default=None, description="Start from another cluster's backups instead of an empty database."
    )
    from_cluster: StreamSourceSpec | None = Field(
        default=None,
        description="Start as a copy of another running cluster, taken with pg_basebackup from its primary "
        "Service (a direct clone); the copy then runs on its own.",
    )

    _one_source = model_validator(mode="after")(check_one_bootstrap)


class StandbySpec(StrictModel):
    """Follow another cluster through its repository, by streaming from its primary, or both (the
    archive fills what streaming missed); set enabled: false (or remove it) to promote."""

    enabled: bool = Field(default=True, description="false promotes the standby cluster to a primary cluster.")
    from_backup: BackupSourceSpec | None = Field(
        default=None, description="The repository the standby restores from and replays WAL from."
    )
    from_cluster: StreamSourceSpec | None = Field(default=None, description="The primary the standby streams from.")

    _a_source = model_validator(mode="after")(check_a_source)


__all__ = [
    "BackupSourceSpec",
    "BackupsSpec",
    "BootstrapSpec",
    "Cipher",
    "InPlaceRestoreSpec",
    "ManualBackupSpec",
    "RecoveryTargetSpec",
    "RepoLocationSpec",
    "RepoSpec",
    "RestoreSourceSpec",
    "StandbySpec",
    "StreamSourceSpec",
    "UriStyle",
]
