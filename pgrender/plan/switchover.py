"""spec.patroni.switchover: a planned switchover the reconcile Job makes once for each run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.frozen import frozen

if TYPE_CHECKING:
    from pgrender.errors import Problem
    from pgrender.plan.instances import InstanceSetPlan
    from pgrender.spec import SourcedCluster

PATH = ("spec", "patroni", "switchover")
# Where the reconcile Job records each run it made: in database postgres, beside pgrender.init_sql.
RECORD_TABLE = "pgrender.switchovers"


@frozen
class SwitchoverPlan:
    run: int
    target: str | None  # a member's pod name (its Patroni name); None: an up-to-date replica


def resolve_switchover(
    sourced: SourcedCluster, sets: list[InstanceSetPlan], problems: list[Problem]
) -> SwitchoverPlan | None:
    spec = sourced.cluster.spec
    switchover = spec.patroni.switchover
    if switchover is None:
        return None
    pods = [i.pod for s in sets for i in s.instances]
    if spec.standby is not None and spec.standby.enabled:
        message = (
            "a standby cluster's leader follows its source, and its reconcile Job runs no SQL to record the "
            "switchover in: switch over once it is promoted"
        )
        problems.append(sourced.problem(PATH, message))
    elif len(pods) == 1:
        problems.append(sourced.problem(PATH, "the cluster has one member: there is no replica to switch over to"))
    elif switchover.target is not None and switchover.target not in pods:
        message = (
            f"{switchover.target} is not a member of this cluster: the members (their pods' names, which are "
            f"their Patroni names) are {', '.join(pods)}"
        )
        problems.append(sourced.problem((*PATH, "target"), message))
    return SwitchoverPlan(switchover.run, switchover.target)
