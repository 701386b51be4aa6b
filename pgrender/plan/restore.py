"""spec.restore: the cluster's data restored in place from one of its own repositories, made when the
members start after a shutdown: each one's restore guard (pgrender/member_scripts/restore.py) picks
the member that holds the latest data, which sets its data directory aside and becomes Patroni, whose
bootstrap puts the directory back and restores into it with pgBackRest's --delta (the files that
match the backup stay: on a large database most of them). What both need is decided here."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from pgrender.frozen import frozen
from pgrender.plan.backups import STANZA, no_repo, recovery_options

if TYPE_CHECKING:
    from pgrender.errors import Problem
    from pgrender.plan.backups import BackupsPlan
    from pgrender.spec import SourcedCluster

PATH = ("spec", "restore")
SCRIPT = "restore.py"  # the guard's file in ConfigMap <c>-config, beside patroni.yaml
# The restoring member's data and WAL directories, set aside by its guard (a rename: instant, on the
# same volume) so that Patroni, which bootstraps only into an empty data directory, runs the bootstrap.
SET_ASIDE = ".delta"
# In the data directory once the restore has put it there: the run it was restored for. Copies of
# the directory (pg_basebackup's, pgBackRest's) carry it, so a member whose data holds this run's
# starts as it is, and the same run never restores twice.
RESTORED_FILE = "pgrender_restored"
# sh -c PUT_BACK NAME DATA WAL RUN COMMAND...: the directories back (when set aside), the restore, the
# run recorded only when it succeeded. Without them (the copy guard emptied a bootstrap killed half-way)
# the restore is a whole one, into empty directories.
PUT_BACK = (
    "data=$1 wal=$2 run=$3 && shift 3 && aside=$0 && "
    'if [ -d "$data$aside" ]; then rm -rf -- "$data" && mv -- "$data$aside" "$data"; fi && '
    'if [ -n "$wal" ] && [ -d "$wal$aside" ]; then rm -rf -- "$wal" && mv -- "$wal$aside" "$wal"; fi && '
    '"$@" && printf "%s\\n" "$run" > "$data/' + RESTORED_FILE + '"'
)


@frozen
class RestorePlan:
    run: int
    repo: str
    # Patroni's bootstrap command (put back, pgbackrest restore --delta to the target, the run recorded).
    command: str


def resolve_restore(
    sourced: SourcedCluster, backups: BackupsPlan | None, data_dir: str, wal_dir: str | None, problems: list[Problem]
) -> RestorePlan | None:
    spec = sourced.cluster.spec
    restore = spec.restore
    if restore is None:
        return None
    repo = next((r for r in backups.repos if r.name == restore.repo), None) if backups else None
    if repo is None or backups is None:
        problems.append(sourced.problem((*PATH, "repo"), no_repo(restore.repo, list(backups.repos) if backups else [])))
    if spec.standby is not None and spec.standby.enabled:
        problems.append(
            sourced.problem(
                PATH, "a standby cluster's data is its source's: restore the source, then make the standby anew"
            )
        )
    if spec.upgrade is not None:
        problems.append(
            sourced.problem(PATH, "an upgrade and a restore are made one at a time: remove spec.upgrade or this")
        )
    bootstrap = spec.bootstrap
    if bootstrap.from_backup is not None or bootstrap.from_cluster is not None:
        problems.append(
            sourced.problem(
                PATH,
                "spec.bootstrap makes a new cluster's data, and a restore in place replaces it: remove "
                "spec.bootstrap first (it is read only when the cluster is created)",
            )
        )
    if repo is None or backups is None:
        return None
    words = [
        spec.image_contract.pgbackrest,
        f"--stanza={STANZA}",
        f"--repo={repo.index}",
        "--delta",
        *backups.restore_options,
        *recovery_options(restore),
        "restore",
    ]
    command = ["sh", "-c", PUT_BACK, SET_ASIDE, data_dir, wal_dir or "", str(restore.run), *words]
    return RestorePlan(restore.run, restore.repo, shlex.join(command))
