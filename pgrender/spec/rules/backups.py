"""Checks and enums of disaster recovery: spec.backups, spec.bootstrap, spec.standby; and
the repository mixin."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from pgrender.patterns import Pattern
from pgrender.spec import cron
from pgrender.spec.rules.tls import check_san

if TYPE_CHECKING:
    from pgrender.spec.backups import BootstrapSpec, RecoveryTargetSpec, RepoLocationSpec, RepoSpec, StandbySpec

REPO_KINDS = ("s3", "gcs", "azure", "volume")


class RepoLocation:
    """What code outside the spec asks of a repository, for the model and its compiled twin alike."""

    @property
    def kind(self) -> str:
        return next(k for k in REPO_KINDS if getattr(self, k) is not None)


_BUCKET = Pattern(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_AZURE_CONTAINER = Pattern(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]\Z")
_REGION = Pattern(r"^[a-z0-9][a-z0-9-]{0,62}\Z")
REPO_PATH = Pattern(r"^(/[A-Za-z0-9._-]+)+\Z")
LSN = Pattern(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}\Z")  # PostgreSQL's pg_lsn: 16/B374D848
# pgBackRest's backup labels: a full backup's, or a differential's or incremental's on top of it.
BACKUP_LABEL = Pattern(r"^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?\Z")
# A restore point's name (pg_create_restore_point), on one line (its length: check_restore_point).
RESTORE_POINT = Pattern(r"^[^\x00-\x1f\x7f]+\Z")


def check_schedule(value: str) -> str:
    cron.parse(value)
    return value


def check_time_zone(value: str) -> str:
    if value.startswith(("/", ".")) or ".." in value:
        raise ValueError(f"{value!r} is not a time zone name")
    import zoneinfo  # here: specs without a backup time zone start faster (its import reads sysconfig)

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone of the IANA database; expected a name such as Europe/Stockholm, CET or UTC"
        ) from None
    return value


def check_repo_path(value: str) -> str:
    if not REPO_PATH.match(value) or ".." in value.split("/"):
        raise ValueError(
            f"{value!r} is not a repository path; expected an absolute path of letters, digits, '.', '_' and '-'"
        )
    return value


class UriStyle(StrEnum):
    """How the bucket is addressed: host (the bucket or account in the host name, bucket.endpoint) or path
    (in the path, endpoint/bucket, as MinIO and Ceph need)."""

    HOST = "host"
    PATH = "path"


class Cipher(StrEnum):
    """pgBackRest's repository encryption: aes-256-cbc (encrypted with a passphrase derived from the root
    key) or none (stored in the clear)."""

    AES_256_CBC = "aes-256-cbc"
    NONE = "none"


def check_s3_bucket(value: str) -> str:
    if not _BUCKET.match(value):
        raise ValueError(f"{value!r} is not an S3 bucket name; expected 3-63 lower-case letters, digits, '.', '-'")
    return value


def check_region(value: str) -> str:
    if not _REGION.match(value):
        raise ValueError(f"{value!r} is not a region name; expected lower-case letters, digits and '-'")
    return value


def check_lsn(value: str) -> str:
    if not LSN.match(value):
        raise ValueError(f"{value!r} is not a WAL location; expected one such as 16/B374D848 (pg_current_wal_lsn())")
    return value


def check_backup_label(value: str) -> str:
    if not BACKUP_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a backup's label; expected one such as 20261129-011500F or "
            "20261129-011500F_20261130-011500I (pgbackrest info)"
        )
    return value


def check_restore_point(value: str) -> str:
    # PostgreSQL refuses a longer name (more than 63 bytes) in pg_create_restore_point(): no point has it.
    if not RESTORE_POINT.match(value) or len(value.encode()) > 63:
        raise ValueError(f"{value!r} is not a restore point's name; expected 1-63 bytes on one line")
    return value


def check_gcs_bucket(value: str) -> str:
    if not _BUCKET.match(value):
        raise ValueError(f"{value!r} is not a bucket name; expected 3-63 lower-case letters, digits, '.', '-'")
    return value


def check_azure_container(value: str) -> str:
    if not _AZURE_CONTAINER.match(value):
        raise ValueError(f"{value!r} is not a container name; expected 3-63 lower-case letters, digits and '-'")
    return value


def check_one_repo_kind(repo: RepoLocationSpec) -> RepoLocationSpec:
    given = [k for k in REPO_KINDS if getattr(repo, k) is not None]
    if len(given) != 1:
        raise ValueError(f"a repository is exactly one of s3, gcs, azure or volume; found {', '.join(given) or 'none'}")
    needs_credentials = {
        "s3": repo.s3 is not None and repo.s3.key_type == "shared",
        "azure": True,
        "gcs": repo.gcs is not None and repo.gcs.key_type != "auto",
        "volume": False,
    }[given[0]]
    if needs_credentials and repo.credentials is None:
        raise ValueError(f"a {given[0]} repository needs credentials.secretName (or a keyType that needs none)")
    if given[0] == "volume" and (repo.credentials or repo.storage_ca or repo.path):
        raise ValueError("a volume repository takes no credentials, storageCA or path")
    return repo


def check_distinct_repos(repos: list[RepoSpec]) -> list[RepoSpec]:
    names = [r.name for r in repos]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"repository names must differ; {', '.join(repeated)} appears more than once")
    return repos


def check_object_store(repo: RepoLocationSpec) -> RepoLocationSpec:
    if repo.volume is not None:
        raise ValueError(
            "a volume repository lives on its cluster's repository host; restore, clone and standby read "
            "object stores (s3, gcs, azure)"
        )
    return repo


def parse_target(value: object) -> object:
    """latest, or a timestamp (UTC unless it says otherwise), with one message for anything else."""
    if isinstance(value, str) and value != "latest":
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r}: expected latest or a timestamp such as 2026-11-29T10:15:00Z") from None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value


# The fields of a restore's target (RecoveryTargetSpec), as the spec spells them: at most one is given.
TARGET_FIELDS = ("target", "targetName", "targetLsn", "targetXid", "targetImmediate")


def check_one_target(source: RecoveryTargetSpec) -> RecoveryTargetSpec:
    given = [
        name
        for name, value in zip(
            TARGET_FIELDS,
            (
                source.target != "latest",
                source.target_name is not None,
                source.target_lsn is not None,
                source.target_xid is not None,
                source.target_immediate,
            ),
            strict=True,
        )
        if value
    ]
    if len(given) > 1:
        raise ValueError(f"a restore recovers to one target ({', '.join(TARGET_FIELDS)}); found {', '.join(given)}")
    return source


def check_a_source(standby: StandbySpec) -> StandbySpec:
    if standby.from_backup is None and standby.from_cluster is None:
        raise ValueError("a standby follows fromBackup, fromCluster or both; found neither")
    return standby


def check_one_bootstrap(bootstrap: BootstrapSpec) -> BootstrapSpec:
    if bootstrap.from_backup is not None and bootstrap.from_cluster is not None:
        raise ValueError("a cluster starts from fromBackup or from fromCluster; found both")
    return bootstrap


def check_source_host(value: str) -> str:
    """A host name or an address a connection can name (no wildcard)."""
    if "*" in value:
        raise ValueError(f"{value!r}: a host to connect to has no wildcard")
    return check_san(value)
