"""spec.upgrade: an in-place major version upgrade, made by the members' upgrade guard when they start
(pgrender/member_scripts/upgrade.py); what it needs of the old version is decided here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.frozen import frozen
from pgrender.plan import defaults

if TYPE_CHECKING:
    from pgrender.errors import Problem
    from pgrender.spec import SourcedCluster

PATH = ("spec", "upgrade")
SCRIPT = "upgrade.py"  # the guard's file in ConfigMap <c>-config, beside patroni.yaml
# Where the reconcile Job records that it analyzed the upgraded cluster: in database postgres, beside
# pgrender.switchovers. One row per upgrade (from, to), so a later Job analyzes once.
RECORD_TABLE = "pgrender.upgrades"


@frozen
class UpgradePlan:
    from_version: int
    old_bin_dir: str
    old_data_dir: str
    old_wal_dir: str | None  # the WAL volume's directory of the old version, when members have one


def data_dir(version: int) -> str:
    """A version's data directory on the data volume: versions never share one."""
    return f"{defaults.PGDATA_MOUNT}/pg{version}"


def wal_dir(version: int) -> str:
    return f"{defaults.PGWAL_MOUNT}/pg{version}_wal"


def resolve_upgrade(
    sourced: SourcedCluster, bin_dir_of: dict[int, str], wal_volume: bool, problems: list[Problem]
) -> UpgradePlan | None:
    """``bin_dir_of``: the image contract's binaries directory of each version asked for."""
    spec = sourced.cluster.spec
    upgrade = spec.upgrade
    if upgrade is None:
        return None
    old = upgrade.from_version
    if old >= spec.postgres_version:
        problems.append(
            sourced.problem(
                (*PATH, "fromVersion"),
                f"expected a major version below postgresVersion ({spec.postgres_version}): pg_upgrade only "
                "moves data to a later version",
            )
        )
    if spec.standby is not None and spec.standby.enabled:
        problems.append(
            sourced.problem(
                PATH,
                "a standby cluster's data is a copy of its source's and follows its version: upgrade the "
                "source, then make the standby anew at the new version",
            )
        )
    bootstrap = spec.bootstrap
    if bootstrap.from_backup is not None or bootstrap.from_cluster is not None:
        problems.append(
            sourced.problem(
                PATH,
                "spec.bootstrap makes a new cluster's data at postgresVersion, which an upgrade would not find: "
                "remove spec.bootstrap first (it is read only when the cluster is created)",
            )
        )
    return UpgradePlan(
        from_version=old,
        old_bin_dir=bin_dir_of[old],
        old_data_dir=data_dir(old),
        old_wal_dir=wal_dir(old) if wal_volume else None,
    )
