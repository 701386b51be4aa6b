"""The restore guard's command line (spec.restore): the members' container runs
pgrender/member_scripts/restore.py, shipped in ConfigMap <c>-config with upgrade.py (whose DCS,
control-file and probe helpers it uses), before the copy guard and Patroni."""

from __future__ import annotations

from pgrender.components.copy_guard import member_command
from pgrender.plan import ClusterPlan, defaults
from pgrender.plan.restore import RESTORED_FILE, SCRIPT, SET_ASIDE


def restore_command(plan: ClusterPlan) -> list[str]:
    """python3 restore.py with what it needs to know, then the command of a member that does not
    restore (the copy guard, then Patroni)."""
    restore = plan.restore
    assert restore is not None
    return [
        "python3",
        f"{defaults.PATRONI_CONFIG_DIR}/{SCRIPT}",
        f"--run={restore.run}",
        f"--bin={plan.bin_dir}",
        f"--data={plan.data_dir}",
        *([f"--wal={plan.wal_dir}"] if plan.wal_dir else []),
        f"--set-aside={SET_ASIDE}",
        f"--restored-file={RESTORED_FILE}",
        f"--members={','.join(i.pod for i in plan.instances)}",
        "--",
        *member_command(plan),
    ]
