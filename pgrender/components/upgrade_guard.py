"""The upgrade guard's command line (spec.upgrade): the members' container runs
pgrender/member_scripts/upgrade.py, shipped in ConfigMap <c>-config, before the copy guard and Patroni."""

from __future__ import annotations

from pgrender.components.copy_guard import member_command
from pgrender.plan import ClusterPlan, defaults
from pgrender.plan.upgrade import SCRIPT


def upgrade_command(plan: ClusterPlan) -> list[str]:
    """python3 upgrade.py with what it needs to know, then the command of a member that is not upgrading
    (the copy guard, then Patroni)."""
    upgrade = plan.upgrade
    assert upgrade is not None
    wal = []
    if plan.wal_dir and upgrade.old_wal_dir:
        wal = [f"--old-wal={upgrade.old_wal_dir}", f"--new-wal={plan.wal_dir}"]
    return [
        "python3",
        f"{defaults.PATRONI_CONFIG_DIR}/{SCRIPT}",
        f"--old-bin={upgrade.old_bin_dir}",
        f"--new-bin={plan.bin_dir}",
        f"--old-data={upgrade.old_data_dir}",
        f"--new-data={plan.data_dir}",
        *wal,
        f"--new-version={plan.postgres_version}",
        f"--superuser={plan.superuser}",
        f"--members={','.join(i.pod for i in plan.instances)}",
        "--",
        *member_command(plan),
    ]
