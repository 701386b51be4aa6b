"""The copy guard's command line and the bootstrap command's marker: every member's container runs
pgrender/member_scripts/copy_guard.py, shipped in ConfigMap <c>-config, before it becomes Patroni, so
that a member killed while data is copied into its data directory (a bootstrap from a copy, a new
replica) copies again when its container starts again (the script's docstring says how)."""

from __future__ import annotations

import shlex

from pgrender.plan import ClusterPlan, defaults

SCRIPT = "copy_guard.py"  # the guard's file in ConfigMap <c>-config, beside patroni.yaml
# With a WAL volume, what moves pg_wal onto it (a member made before it had one) before the copy guard runs.
WAL_MOVER = "wal_volume.py"
WAL_MOVER_BACK = "wal_volume_back.py"  # walVolume.retire: pg_wal back onto the data volume
# The liveness probe's answer while a script works before Patroni (member_scripts/liveness.py), beside
# them: the upgrade and restore guards', the WAL mover's.
LIVENESS = "liveness.py"

# sh -c MARK MARKER COMMAND...: the marker while the copy runs, removed only when it succeeded.
MARK = 'touch -- "$0" && "$@" && rm -f -- "$0"'


def bootstrap_marker(plan: ClusterPlan) -> str:
    """The file that says a bootstrap's copy into the data directory is under way: beside it, on the
    data volume."""
    return f"{plan.data_dir}.bootstrapping"


def copy_marker(plan: ClusterPlan) -> str:
    """The file that says the data directory was empty when the guard last ran, so that what it holds
    now, Patroni put there: beside it, on the data volume."""
    return f"{plan.data_dir}.copying"


def marked(plan: ClusterPlan, command: str) -> str:
    """The bootstrap command ``command`` (a shell-quoted line) with the marker around it."""
    return shlex.join(["sh", "-c", MARK, bootstrap_marker(plan), *shlex.split(command)])


def member_command(plan: ClusterPlan) -> list[str]:
    """The database container's command: with a WAL volume the WAL mover (either way), then the guard, then
    Patroni."""
    directories = [plan.data_dir, *([plan.wal_dir] if plan.wal_dir else [])]
    guard = [
        "python3",
        f"{defaults.PATRONI_CONFIG_DIR}/{SCRIPT}",
        bootstrap_marker(plan),
        copy_marker(plan),
        *directories,
        "--",
        plan.patroni_command,
        defaults.PATRONI_CONFIG_DIR,
    ]
    if plan.retired_wal_dir:
        mover = ["python3", f"{defaults.PATRONI_CONFIG_DIR}/{WAL_MOVER_BACK}", plan.data_dir, plan.retired_wal_dir]
        return [*mover, "--", *guard]
    if not plan.wal_dir:
        return guard
    return ["python3", f"{defaults.PATRONI_CONFIG_DIR}/{WAL_MOVER}", plan.data_dir, plan.wal_dir, "--", *guard]
