"""The pgBackRest plan: repositories and their options, schedules, retention, the commands Patroni
runs (archive, restore, replica creation, bootstrap from another cluster's backups), and the names
of every object backups add. Everything a builder writes about backups is decided here.

pgBackRest reads one configuration file per pod, always at CONFIG (PGBACKREST_CONFIG in the
environment, so that archive_command and restore_command need no --config): database pods get
INSTANCE_CONFIG there, a backup Job the configuration of its one repository, the repository host
its own. Secure options (passphrases, storage keys) never go into a file: they reach pgBackRest as
PGBACKREST_REPO<n>_* variables from Secrets.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import shlex
from typing import TYPE_CHECKING, cast

from pgrender.errors import Problem
from pgrender.frozen import frozen, replace
from pgrender.plan import defaults, hosts, labels
from pgrender.plan.instances import InstanceSetPlan
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.scheduling import PlacementPlan, resolve_placement
from pgrender.spec import SourcedCluster, cron, default
from pgrender.spec.presets import PresetValues
from pgrender.spec.rules.backups import Cipher, UriStyle

if TYPE_CHECKING:
    from pgrender.spec.backups import (
        BackupSourceSpec,
        LogicalBackupSpec,
        RecoveryTargetSpec,
        RepoLocationSpec,
        RestoreSourceSpec,
        RetentionSpec,
    )

FieldPath = tuple[str | int, ...]

STANZA = "db"  # PGO's stanza name; one stanza per repository path
CONFIG_DIR = "/etc/pgbackrest"
CONFIG = f"{CONFIG_DIR}/pgbackrest.conf"
SOURCE_CONFIG = f"{CONFIG_DIR}/source.conf"
# Keys of the ConfigMaps <c>-pgbackrest-config (instance, source, repository host) and
# <c>-pgbackrest-jobs (a backup Job's configuration, the scripts)
INSTANCE_CONFIG_KEY = "instance.conf"
SOURCE_CONFIG_KEY = "source.conf"
REPO_HOST_CONFIG_KEY = "repo-host.conf"
BACKUP_SCRIPT_KEY = "backup.sh"
REPO_MOUNT = "/pgbackrest"
TLS_SUBDIR = "pgbackrest"  # the pgBackRest client certificate, inside TLS_DIR
TLS_DIR = f"{defaults.TLS_DIR}/{TLS_SUBDIR}"
SERVER_PORT = 8432  # pgBackRest's own default for its TLS server
# The source repository of a restore or standby reads its secure options from PGBACKREST_REPO9_*:
# an index no repository of this cluster has (they are 1 to 4), so the variables of one never
# reach the other; variables of secure options alone do not make pgBackRest see a repository.
SOURCE_INDEX = 9
BACKUP_TYPES = {"full": "full", "differential": "diff", "incremental": "incr"}
# Presets: one full backup a day starting inside 00:00-06:00 CET, leaving an hour to finish by 06:00.
PRESET_TIME_ZONE = "CET"
PRESET_WINDOW_MINUTES = (0, 5 * 60)
PRESET_RETENTION_DAYS = 30
PRESET_POINT_IN_TIME_DAYS = 7


@frozen
class SecretEnv:
    """An environment variable a container takes from a Secret key."""

    name: str
    secret: str
    key: str


@frozen
class SecretFile:
    """A file a pgBackRest container reads from a Secret key, inside CONFIG_DIR."""

    secret: str
    key: str
    path: str  # file name inside CONFIG_DIR


@frozen
class RepoVolumePlan:
    claim: str
    size: str
    storage_class: str | None
    mount_path: str


@frozen
class RepoPlan:
    """One repository and how every pod reaches it."""

    name: str
    index: int
    kind: str  # s3, gcs, azure or volume
    path: str
    store_options: tuple[tuple[str, str], ...]  # repo<n>-* options of the store, path and cipher included
    retention_options: tuple[tuple[str, str], ...]
    env: tuple[SecretEnv, ...]  # storage credentials and the passphrase
    files: tuple[SecretFile, ...]  # storage CA, GCS key file
    volume: RepoVolumePlan | None
    cipher_key: str | None  # key of the passphrase in the pgBackRest Secret
    cipher_subject: str | None  # SecretInput subject of the passphrase
    cipher_owner: tuple[str, str] | None = None  # (namespace, cluster) it is derived for, when not this one
    # Reached with the pod's own cloud identity (keyType web-id, auto): the ServiceAccount the backup
    # Jobs of this repository run as, the database pods' (a role is granted to it, not to a Secret).
    service_account: str | None = None

    def option(self, name: str) -> str:
        return f"repo{self.index}-{name}"


@frozen
class BackupJobPlan:
    """A scheduled (CronJob), manual or initial backup (Job) of one repository."""

    name: str
    repo: str
    type: str  # full, diff, incr, or init (stanza-create and a first full backup when none exists)
    schedule: str | None = None


@frozen
class LogicalPlan:
    """pg_dumpall on a schedule into an S3 repository's bucket, with the AWS CLI."""

    name: str  # the CronJob
    repo: str
    schedule: str
    image: str
    target: str  # s3://<bucket><repo path>/logical
    endpoint_url: str
    region: str
    path_style: bool
    env: tuple[SecretEnv, ...]  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; none with the pod's identity
    ca_file: SecretFile | None
    service_account: str | None  # the repository's (RepoPlan.service_account)
    retention_days: int | None = None  # dumps older than this are deleted after each dump
    script_key: str = "logical-backup.sh"
    aws_config_key: str = "aws.conf"


@frozen
class MemberHost:
    """A database pod as a backup Job reaches its pgBackRest server."""

    host: str  # the pod's DNS name, which its server certificate carries
    port: int  # PostgreSQL's port in the pod


@frozen
class SourcePlan:
    """The other cluster's repository a restore or a standby reads."""

    cluster: str
    namespace: str
    repo: RepoPlan
    # pgbackrest restore's options for where recovery ends (--type, --target, --set, the action);
    # none: the newest backup, then every archived segment (a standby's source has none).
    recovery: tuple[str, ...]
    standby: bool
    restore_command: str  # PostgreSQL's restore_command for the standby's archive replay


@frozen
class RepoHostPlan:
    name: str  # StatefulSet and its headless Service
    pod: str
    host: str
    dns_names: tuple[str, ...]
    labels: dict[str, str]
    selector: dict[str, str]
    placement: PlacementPlan


# Where pgBackRest's pods run without spec.backups (a restore that keeps no backups: no Job, no host).
ANYWHERE = PlacementPlan(None, (), {}, None)


@frozen
class BackupsPlan:
    """pgBackRest for one cluster: its own repositories (maybe none: a restore may keep no backups)
    and the source it restores from or follows (maybe none)."""

    stanza: str
    program: str  # the pgbackrest executable (image contract), shell-quoted
    server_port: int
    config_map: str  # what database pods and the repository host read
    jobs_config_map: str  # what only Jobs read
    secret: str
    cert_secret: str
    labels: dict[str, str]
    metadata: ComponentMeta  # of the backup Jobs and CronJobs, the repository host, and their pods
    job_placement: PlacementPlan
    repos: tuple[RepoPlan, ...]
    members: tuple[MemberHost, ...]
    time_zone: str
    archive_timeout: int
    job_deadline_seconds: int
    cron_jobs: tuple[BackupJobPlan, ...]
    manual: BackupJobPlan | None
    logical: LogicalPlan | None
    # A standby cluster cannot take backups (every member is in recovery), nor a shut-down one (none runs).
    suspended: bool
    repo_host: RepoHostPlan | None
    source: SourcePlan | None
    archive_command: str
    restore_command: str
    replica_command: str | None  # Patroni's pgbackrest replica method, None without a repository to read
    restore_options: tuple[str, ...]  # of every restore into a member (the WAL volume's link)
    backup_from_standby: bool = False  # backups copy a streaming replica's files, else the primary's
    process_max: int | None = None  # pgBackRest processes of a backup and of a restore; None: its default (1)
    compress_type: str | None = None  # of backups and archived WAL; None: pgBackRest's default (gz)

    @property
    def init_repo(self) -> RepoPlan | None:
        """The repository the initial Job creates the stanza in and takes the first full backup to."""
        return self.repos[0] if self.repos and not self.suspended else None

    def repo(self, name: str) -> RepoPlan:
        return next(r for r in self.repos if r.name == name)


def resolve_backups(
    sourced: SourcedCluster,
    names: Names,
    sets: list[InstanceSetPlan],
    preset: PresetValues | None,
    wal_dir: str | None,
    problems: list[Problem],
) -> BackupsPlan | None:
    """``wal_dir``: the members' WAL directory on their WAL volume, None without one."""
    spec = sourced.cluster.spec
    meta = sourced.cluster.metadata
    backups = spec.backups
    restore = spec.bootstrap.from_backup
    standby = spec.standby if spec.standby and spec.standby.enabled else None
    if backups is None and restore is None and (standby is None or standby.from_backup is None):
        return None
    ns, domain = meta.namespace, spec.cluster_domain
    repo_host = None
    if backups and any(r.volume for r in backups.repos):
        repo_host = _repo_host(names, ns, domain, resolve_placement(backups.repo_host.scheduling))
    secret = names.pgbackrest_secret
    repos: list[RepoPlan] = []
    cron_jobs: list[BackupJobPlan] = []
    time_zone = "UTC"
    if backups:
        time_zone = backups.time_zone
        if preset and "time_zone" not in backups.model_fields_set:
            time_zone = PRESET_TIME_ZONE
        for i, repo_spec in enumerate(backups.repos):
            path: FieldPath = ("spec", "backups", "repos", i)
            repo = _repo(repo_spec, ns, meta.name, names, secret)
            schedules = dict(repo_spec.schedules)
            if preset and schedules["full"] is None:
                schedules["full"] = preset_full_schedule(ns, meta.name, repo_spec.name, time_zone)
            manual_full = bool(
                backups.manual and backups.manual.repo == repo_spec.name and backups.manual.type == "full"
            )
            retention = _retention(sourced, path, repo_spec.retention, schedules["full"], preset, problems, manual_full)
            repos.append(_with_retention(repo, retention))
            for field, kind in BACKUP_TYPES.items():
                if schedules[field]:
                    cron_jobs.append(
                        BackupJobPlan(
                            names.backup_cron_job(repo_spec.name, kind), repo_spec.name, kind, schedules[field]
                        )
                    )
    source_spec = restore or (standby.from_backup if standby else None)
    source = _source(sourced, source_spec, standby is not None, secret, problems)

    members = tuple(
        MemberHost(hosts.pod_dns_forms(i.pod, names.pods_service, ns, domain)[0], spec.port)
        for s in sets
        for i in s.instances
    )
    manual = logical = None
    if backups and backups.manual:
        m = backups.manual
        if m.repo not in {r.name for r in repos}:
            problems.append(sourced.problem(("spec", "backups", "manual", "repo"), no_repo(m.repo, repos)))
        manual = BackupJobPlan(names.manual_backup_job(m.repo, m.run), m.repo, m.type)
    if backups and backups.logical:
        logical = _logical(sourced, names, backups.logical, repos, problems)
    # Replicas are restored from this cluster's first repository (or, for a standby, the source's),
    # then stream; when that fails (no backup yet), Patroni falls back to pg_basebackup.
    program = shlex.quote(spec.image_contract.pgbackrest)
    own = f"{program} --stanza={STANZA}"
    from_source = f"{program} --config={SOURCE_CONFIG} --stanza={STANZA}"
    replica_command = None
    # Restored in place (from its own repository), the repository's latest backup may come from the
    # history the restore left (after the target): a replica restored from it cannot follow the new
    # timeline ("requested timeline is not a child of this server's history"), and its start fails
    # where pgBackRest did not. Replicas copy the leader until bootstrap.fromBackup is removed, after
    # a first backup of the new timeline (README, the restore in place).
    # spec.restore is the same: its restore is the leader's bootstrap (plan/restore.py).
    in_place = spec.restore is not None or (
        source is not None and not standby and (source.namespace, source.cluster) == (meta.namespace, meta.name)
    )
    # pgBackRest restores a pg_wal link as a directory in the data directory unless it is mapped: the
    # WAL would fill the data volume beside an empty WAL volume (PGO maps it alike).
    restore_options = (f"--link-map=pg_wal={wal_dir}",) if wal_dir else ()
    link = "".join(f" {shlex.quote(o)}" for o in restore_options)
    if standby and source:
        replica_command = f"{from_source} --delta{link} --type=standby restore"
    elif repos and not in_place:
        replica_command = f"{own} --repo={repos[0].index} --delta{link} --type=standby restore"
    return BackupsPlan(
        stanza=STANZA,
        program=program,
        server_port=SERVER_PORT,
        config_map=names.pgbackrest_config,
        jobs_config_map=names.pgbackrest_jobs,
        secret=secret,
        cert_secret=names.pgbackrest_cert,
        labels=labels.common(meta.name, labels.COMPONENT_BACKUP),
        metadata=resolve_metadata(sourced, ("spec", "backups", "metadata"), backups.metadata, problems)
        if backups
        else ComponentMeta(),
        job_placement=resolve_placement(backups.jobs.scheduling) if backups else ANYWHERE,
        repos=tuple(repos),
        members=members,
        time_zone=time_zone,
        # Without spec.backups (a restore that keeps no backups) neither is used: the fields' defaults.
        archive_timeout=backups.archive_timeout if backups else default("BackupsSpec", "archive_timeout"),
        job_deadline_seconds=backups.job_deadline_seconds
        if backups
        else default("BackupsSpec", "job_deadline_seconds"),
        cron_jobs=tuple(cron_jobs),
        manual=manual,
        logical=logical,
        suspended=standby is not None or spec.shutdown,
        repo_host=repo_host,
        source=source,
        archive_command=f'{own} archive-push "%p"',
        restore_command=f'{own} archive-get %f "%p"',
        replica_command=replica_command,
        restore_options=restore_options,
        backup_from_standby=bool(backups and backups.backup_from == "prefer-standby"),
        process_max=backups.process_max if backups else None,
        compress_type=backups.compress_type if backups else None,
    )


def _logical(
    sourced: SourcedCluster, names: Names, spec: LogicalBackupSpec, repos: list[RepoPlan], problems: list[Problem]
) -> LogicalPlan | None:
    backups = sourced.cluster.spec.backups
    assert backups is not None
    repo_spec = next((r for r in backups.repos if r.name == spec.repo), None)
    repo = next((r for r in repos if r.name == spec.repo), None)
    if repo_spec is None or repo is None:
        problems.append(sourced.problem(("spec", "backups", "logical", "repo"), no_repo(spec.repo, repos)))
        return None
    s3 = repo_spec.s3
    if s3 is None:
        problems.append(
            sourced.problem(
                ("spec", "backups", "logical", "repo"),
                f"logical backups are written with the AWS CLI: {spec.repo} must be an s3 repository",
            )
        )
        return None
    keys: tuple[SecretEnv, ...] = ()
    if repo.service_account is None:  # keyType shared: the keys from the Secret (the CLI reads its identity else)
        assert repo_spec.credentials is not None  # shared keys need them (RepoLocationSpec)
        secret = repo_spec.credentials.secret_name
        keys = (SecretEnv("AWS_ACCESS_KEY_ID", secret, "key"), SecretEnv("AWS_SECRET_ACCESS_KEY", secret, "key-secret"))
    ca = next((f for f in repo.files if f.path == storage_ca_file(repo.name)), None)
    return LogicalPlan(
        name=names.logical_backup,
        repo=spec.repo,
        schedule=spec.schedule,
        image=spec.image or defaults.LOGICAL_BACKUP_IMAGE,
        target=f"s3://{s3.bucket}{repo.path}/logical",
        endpoint_url=f"https://{s3.endpoint}" + (f":{s3.port}" if s3.port else ""),
        region=s3.region,
        path_style=s3.uri_style is UriStyle.PATH,
        env=keys,
        ca_file=ca,
        service_account=repo.service_account,
        retention_days=spec.retention_days,
    )


def no_repo(name: str, repos: list[RepoPlan]) -> str:
    have = ", ".join(r.name for r in repos) or "none"
    return f"{name!r} is not a repository of spec.backups.repos (have {have})"


def _repo_host(names: Names, ns: str, domain: str, placement: PlacementPlan) -> RepoHostPlan:
    pod = names.pod(names.repo_host)
    dns = hosts.pod_dns_forms(pod, names.repo_host, ns, domain)
    cluster = names.cluster
    selector = {labels.CLUSTER_LABEL: cluster, labels.COMPONENT_LABEL: labels.COMPONENT_REPO_HOST}
    own = labels.common(cluster, labels.COMPONENT_REPO_HOST)
    return RepoHostPlan(names.repo_host, pod, dns[0], dns, own, selector, placement)


def _repo(
    spec: RepoLocationSpec,
    ns: str,
    cluster: str,
    names: Names | None,
    secret: str,
    index: int | None = None,
    owner: tuple[str, str] | None = None,
) -> RepoPlan:
    """The options of one repository. ``names`` is None for another cluster's (the source's)."""
    index = index or int(spec.name.removeprefix("repo"))
    env_prefix = f"PGBACKREST_REPO{index}_"
    options: list[tuple[str, str]] = []
    env: list[SecretEnv] = []
    files: list[SecretFile] = []
    credentials = spec.credentials.secret_name if spec.credentials else None
    volume = None

    def opt(name: str, value: str) -> None:
        options.append((f"repo{index}-{name}", value))

    if spec.s3:
        s3 = spec.s3
        opt("type", "s3")
        opt("s3-bucket", s3.bucket)
        opt("s3-endpoint", s3.endpoint)
        opt("s3-region", s3.region)
        if s3.uri_style is UriStyle.PATH:
            opt("s3-uri-style", "path")
        if s3.key_type != "shared":
            opt("s3-key-type", s3.key_type)
        elif credentials:
            env += [
                SecretEnv(f"{env_prefix}S3_KEY", credentials, "key"),
                SecretEnv(f"{env_prefix}S3_KEY_SECRET", credentials, "key-secret"),
            ]
        if s3.port:
            opt("storage-port", str(s3.port))
    elif spec.gcs:
        gcs = spec.gcs
        opt("type", "gcs")
        opt("gcs-bucket", gcs.bucket)
        if gcs.endpoint:
            opt("gcs-endpoint", f"{gcs.endpoint}:{gcs.port}" if gcs.port else gcs.endpoint)
        opt("gcs-key-type", gcs.key_type)
        if gcs.key_type == "service" and credentials:
            key_file = f"{spec.name}-gcs-key.json" if owner is None else "source-gcs-key.json"
            files.append(SecretFile(credentials, "key", key_file))
            opt("gcs-key", f"{CONFIG_DIR}/{key_file}")
        elif gcs.key_type == "token" and credentials:
            env.append(SecretEnv(f"{env_prefix}GCS_KEY", credentials, "key"))
    elif spec.azure:
        az = spec.azure
        opt("type", "azure")
        opt("azure-container", az.container)
        if az.key_type != "shared":
            opt("azure-key-type", az.key_type)
        if az.uri_style is UriStyle.PATH:
            opt("azure-uri-style", "path")
        if az.endpoint:
            opt("storage-host", az.endpoint)
        if az.port:
            opt("storage-port", str(az.port))
        if credentials:
            env += [
                SecretEnv(f"{env_prefix}AZURE_ACCOUNT", credentials, "account"),
                SecretEnv(f"{env_prefix}AZURE_KEY", credentials, "key"),
            ]
    if spec.storage_ca:
        ca_file = storage_ca_file(spec.name) if owner is None else "source-storage-ca.crt"
        files.append(SecretFile(spec.storage_ca.secret_name, spec.storage_ca.key, ca_file))
        opt("storage-ca-file", f"{CONFIG_DIR}/{ca_file}")
    if spec.volume:
        assert names is not None
        path = f"{REPO_MOUNT}/{spec.name}"
        volume = RepoVolumePlan(
            names.repo_volume(spec.name), spec.volume.size, spec.volume.storage_class_name, f"{REPO_MOUNT}/{spec.name}"
        )
    else:
        path = spec.path or f"{REPO_MOUNT}/{ns}/{cluster}/{spec.name}"
    opt("path", path)
    cipher_key = cipher_subject = None
    if spec.cipher is Cipher.AES_256_CBC:
        opt("cipher-type", spec.cipher.value)
        cipher_key = f"{spec.name}-cipher-pass" if owner is None else "source-cipher-pass"
        cipher_subject = f"pgbackrest-cipher:{spec.name}"
        env.append(SecretEnv(f"{env_prefix}CIPHER_PASS", secret, cipher_key))
    return RepoPlan(
        name=spec.name,
        index=index,
        kind=spec.kind,
        path=path,
        store_options=tuple(options),
        retention_options=(),
        env=tuple(env),
        files=tuple(files),
        volume=volume,
        cipher_key=cipher_key,
        cipher_subject=cipher_subject,
        cipher_owner=owner,
        service_account=names.instance_rbac if names and pod_identity(spec) is not None else None,
    )


def pod_identity(spec: RepoLocationSpec) -> str | None:
    """How a repository's pods get their credentials when not as keys from a Secret: "web-id" (S3: a
    token of the pod's ServiceAccount, IRSA, traded for keys at AWS STS) or "auto" (S3 and GCS: the
    instance metadata service, which answers with the node's identity, or on GKE with Workload Identity
    the pod's ServiceAccount's); None with keys."""
    if spec.s3 and spec.s3.key_type != "shared":
        return spec.s3.key_type
    if spec.gcs and spec.gcs.key_type == "auto":
        return "auto"
    return None


def storage_ca_file(repo: str) -> str:
    """The file name, in CONFIG_DIR, of the CA a repository's object store is verified with."""
    return f"{repo}-storage-ca.crt"


def job_config_key(repo: str) -> str:
    """The ConfigMap key of the configuration a backup Job of ``repo`` reads."""
    return f"job-{repo}.conf"


def repo_host_options(repo: RepoPlan, repo_host: RepoHostPlan) -> tuple[tuple[str, str], ...]:
    """How a database pod reaches a volume repository: the repository host's TLS server."""
    return (
        (repo.option("host"), repo_host.host),
        (repo.option("host-type"), "tls"),
        (repo.option("host-port"), str(SERVER_PORT)),
        (repo.option("host-cert-file"), f"{TLS_DIR}/tls.crt"),
        (repo.option("host-key-file"), f"{TLS_DIR}/tls.key"),
        (repo.option("host-ca-file"), f"{defaults.TLS_DIR}/ca.crt"),
    )


def backup_warnings(sourced: SourcedCluster, plan: BackupsPlan | None) -> tuple[Problem, ...]:
    """Settings that do not do what they seem: repoHost's without a repository host, backups from a
    standby with no member to be one, and repositories without a schedule."""
    backups = sourced.cluster.spec.backups
    unused: tuple[Problem, ...] = ()
    if plan is not None and plan.repo_host is None and backups and "scheduling" in backups.repo_host.model_fields_set:
        message = "repoHost.scheduling places the repository host, which only volume repositories have: none here"
        unused = (sourced.problem(("spec", "backups", "repoHost", "scheduling"), message),)
    if plan is not None and plan.backup_from_standby and len(plan.members) < 2:
        message = (
            "backupFrom prefer-standby copies a replica's files, and this cluster has one member: every "
            "backup runs from the primary"
        )
        unused = (*unused, sourced.problem(("spec", "backups", "backupFrom"), message))
    return (*unused, *_unscheduled(sourced, plan))


def _unscheduled(sourced: SourcedCluster, plan: BackupsPlan | None) -> tuple[Problem, ...]:
    """A warning for each repository no schedule backs up: after its init Job's first full backup
    (and a manual one), no backup runs, nor expire after it, so its retention is never applied and
    the WAL every primary archives into it (archive-push writes to every repository) grows without
    end. None for a standby, which archives nothing (its schedules wait for its promotion)."""
    standby = sourced.cluster.spec.standby
    if plan is None or (standby and standby.enabled):
        return ()
    scheduled = {job.repo for job in plan.cron_jobs}
    return tuple(
        sourced.problem(
            ("spec", "backups", "repos", i, "schedules"),
            f"repository {repo.name} has no schedule: after its init Job's first full backup nothing backs it "
            "up, nor runs expire (which follows each backup), so its retention is never applied and the WAL "
            "archived into it grows without end; set schedules.full (or a preset)",
        )
        for i, repo in enumerate(plan.repos)
        if repo.name not in scheduled
    )


def _with_retention(repo: RepoPlan, retention: tuple[tuple[str, str], ...]) -> RepoPlan:
    return replace(repo, retention_options=tuple((repo.option(k), v) for k, v in retention))


def _retention(
    sourced: SourcedCluster,
    path: FieldPath,
    spec: RetentionSpec,
    full_schedule: str | None,
    preset: PresetValues | None,
    problems: list[Problem],
    manual_full: bool = False,
) -> tuple[tuple[str, str], ...]:
    """pgBackRest's retention options; refuses retention that keeps less PITR than pointInTimeDays.
    ``manual_full``: backups.manual takes a full backup of this repository, one more within the
    window: pgBackRest counts it with the scheduled ones, so one more is kept (with its WAL), or
    the window would lose a full backup's interval."""
    given = spec.model_fields_set
    full, full_type = spec.full, spec.full_type
    days = spec.point_in_time_days
    if preset:
        if "full" not in given:
            full, full_type = PRESET_RETENTION_DAYS, "time"
        if "point_in_time_days" not in given:
            days = PRESET_POINT_IN_TIME_DAYS
    archive = spec.archive
    here = (*path, "retention")
    if days is not None:
        needed = _fulls_for(sourced, here, days, full_schedule, problems)
        if needed is not None:
            needed += manual_full
            if spec.archive_type != "full":
                problems.append(
                    sourced.problem(
                        (*here, "archiveType"), "pointInTimeDays counts full backups; leave archiveType as full"
                    )
                )
            elif archive is None:
                archive = needed
            elif archive < needed:
                problems.append(
                    sourced.problem(
                        (*here, "archive"),
                        f"archive {archive} keeps WAL from the {archive}th newest full backup, which with "
                        f"schedule {full_schedule!r} reaches less than the {days} days pointInTimeDays asks; "
                        f"at least {needed} is needed"
                        + (" (backups.manual's full backup counts as one)" if manual_full else ""),
                    )
                )
            if full is not None and full_type == "count" and full < needed:
                problems.append(
                    sourced.problem(
                        (*here, "full"),
                        f"keeping {full} full backups expires the WAL point-in-time recovery needs for "
                        f"{days} days; keep at least {needed}"
                        + (" (backups.manual's full backup counts as one)" if manual_full else ""),
                    )
                )
            if full is not None and full_type == "time" and full <= days:
                problems.append(
                    sourced.problem(
                        (*here, "full"),
                        f"keeping full backups for {full} days cannot give {days} days of point-in-time "
                        f"recovery; keep them at least {days + 1} days",
                    )
                )
    out: list[tuple[str, str]] = []
    if full is not None:
        out += [("retention-full", str(full)), ("retention-full-type", full_type)]
    if spec.differential is not None:
        out.append(("retention-diff", str(spec.differential)))
    if archive is not None:
        out += [("retention-archive", str(archive)), ("retention-archive-type", spec.archive_type)]
    return tuple(out)


def _fulls_for(
    sourced: SourcedCluster, path: FieldPath, days: int, schedule: str | None, problems: list[Problem]
) -> int | None:
    """How many full backups' WAL keeps ``days`` of point-in-time recovery at every moment: the
    most full backups any ``days``-long stretch can hold, plus the one before it."""
    if schedule is None:
        problems.append(
            sourced.problem((*path, "pointInTimeDays"), "needs schedules.full: PITR reaches back to a full backup")
        )
        return None
    parsed = cron.parse(schedule)
    if not parsed.weekly:
        problems.append(
            sourced.problem(
                (*path, "pointInTimeDays"),
                f"the full schedule {schedule!r} does not repeat weekly (day of month or month is set), so "
                "pgrender cannot count its backups; set retention.archive yourself",
            )
        )
        return None
    return parsed.most_in(days * 24 * 60) + 1


def _source(
    sourced: SourcedCluster, spec: BackupSourceSpec | None, standby: bool, secret: str, problems: list[Problem]
) -> SourcePlan | None:
    if spec is None:
        return None
    meta = sourced.cluster.metadata
    namespace = spec.namespace or meta.namespace
    field = ("spec", "standby", "fromBackup") if standby else ("spec", "bootstrap", "fromBackup")
    # A restore from its own repository is the restore in place (README): Patroni bootstraps only a
    # cluster with no data and no DCS state, so a running cluster ignores it. A standby cannot follow
    # itself.
    if standby and (namespace, spec.cluster) == (meta.namespace, meta.name):
        problems.append(sourced.problem((*field, "cluster"), "a cluster cannot follow itself"))
    if standby and sourced.cluster.spec.bootstrap.from_backup is not None:
        problems.append(
            sourced.problem(
                ("spec", "bootstrap", "fromBackup"), "a standby cluster starts from standby.fromBackup; remove one"
            )
        )
    program = shlex.quote(sourced.cluster.spec.image_contract.pgbackrest)
    repo = _repo(spec.repo, namespace, spec.cluster, None, secret, index=SOURCE_INDEX, owner=(namespace, spec.cluster))
    return SourcePlan(
        cluster=spec.cluster,
        namespace=namespace,
        repo=repo,
        # A standby's source has no target: it follows the archive to its end, and on.
        recovery=() if standby else recovery_options(cast("RestoreSourceSpec", spec)),
        standby=standby,
        restore_command=f'{program} --config={SOURCE_CONFIG} --stanza={STANZA} archive-get %f "%p"',
    )


def recovery_options(spec: RecoveryTargetSpec) -> tuple[str, ...]:
    """Where a restore's recovery ends (RecoveryTargetSpec's target fields, at most one given), and
    from which backup.

    --target-action=promote: with keep_existing_recovery_conf Patroni turns hot_standby off, and
    pgBackRest's default action (pause) would then shut the server down.
    """
    words: list[str] = []
    if isinstance(spec.target, dt.datetime):
        words = ["--type=time", f"--target={spec.target.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M:%S.%f+00')}"]
    elif spec.target_name is not None:
        words = ["--type=name", f"--target={spec.target_name}"]
    elif spec.target_lsn is not None:
        words = ["--type=lsn", f"--target={spec.target_lsn}"]
    elif spec.target_xid is not None:
        words = ["--type=xid", f"--target={spec.target_xid}"]
    elif spec.target_immediate:
        words = ["--type=immediate"]
    if words:
        words.append("--target-action=promote")
    if spec.backup_set is not None:
        words.append(f"--set={spec.backup_set}")
    return tuple(words)


def restore_command_line(backups: BackupsPlan) -> str:
    """pgbackrest restore into an empty data directory, as Patroni's custom bootstrap runs it."""
    source = backups.source
    assert source is not None
    program = backups.program
    words = [program, f"--config={SOURCE_CONFIG}", f"--stanza={STANZA}", "--delta", *backups.restore_options]
    return shlex.join([*words, *source.recovery, "restore"])


def preset_full_schedule(namespace: str, cluster: str, repo: str, time_zone: str) -> str:
    """A daily full backup at a minute inside the preset's window, spread by the cluster's identity
    (SHA-256, never Python's hash) so that a fleet does not start together, and outside every local
    hour a daylight-saving change skips or repeats in ``time_zone``."""
    start, end = PRESET_WINDOW_MINUTES
    unsafe = dst_minutes(time_zone)
    slots = [m for m in range(start, end) if m not in unsafe]
    digest = hashlib.sha256(f"{namespace}/{cluster}/{repo}/full".encode()).digest()
    minute = slots[int.from_bytes(digest[:8], "big") % len(slots)]
    return f"{minute % 60} {minute // 60} * * *"


@functools.lru_cache(maxsize=64)
def dst_minutes(time_zone: str) -> frozenset[int]:
    """Minutes of the local day that a UTC-offset change in ``time_zone`` skips or repeats in
    2026-2045, each widened to its whole hour (a CronJob started in them runs never or twice)."""
    import zoneinfo  # here: only a backup schedule's time zone needs it, and its import reads sysconfig

    zone = zoneinfo.ZoneInfo(time_zone)
    out: set[int] = set()
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2046, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(days=1)
    while day < end:
        before, after = day.astimezone(zone).utcoffset(), (day + step).astimezone(zone).utcoffset()
        if before != after:
            assert before is not None and after is not None
            low, high = day, day + step
            while high - low > dt.timedelta(minutes=1):  # the instant of the change
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == before:
                    low = mid
                else:
                    high = mid
            local = (high + min(before, after)).replace(tzinfo=None)
            first = local.hour * 60 + local.minute
            last = first + math.ceil(abs((after - before).total_seconds()) / 60)
            out.update(range(first // 60 * 60, math.ceil(last / 60) * 60))
        day += step
    return frozenset(m % (24 * 60) for m in out)


__all__ = [
    "BACKUP_TYPES",
    "CONFIG",
    "SOURCE_CONFIG",
    "STANZA",
    "BackupJobPlan",
    "BackupsPlan",
    "RepoPlan",
    "SourcePlan",
]
