"""spec.patroni.switchover: what the reconcile Job is told, and what is refused. The switchover itself
runs in tests/test_members_script.py (every case of members.py's) and tests/runtime/test_reconcile.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pgrender.components.reconcile import reconcile
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.plans import validate
from tests.conftest import base_spec, find

S = "spec.patroni.switchover"


def with_switchover(replicas: int = 2, **switchover: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["instances"][0]["replicas"] = replicas
    spec["spec"]["patroni"] = {"switchover": switchover}
    return spec


def script(plan: ClusterPlan) -> str:
    return str(find(reconcile(plan), "ConfigMap", "hippo-reconcile")["data"]["reconcile.sh"])


# switchover's fields -> the line the reconcile Job's script ends with (after the rollout)
TOLD = [
    ({"run": 1}, "switchover --loop-wait=10 --max-lag-bytes=1048576 --step-timeout=900 --run=1 --psql=/usr/lib/"),
    ({"run": 7, "target": "hippo-instance1-1-0"}, "--run=7 --target=hippo-instance1-1-0 --psql="),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "says"), TOLD)
def test_the_job_is_told(plan_of: Callable[[dict[str, Any]], ClusterPlan], fields: dict[str, Any], says: str) -> None:
    lines = script(plan_of(with_switchover(**fields))).splitlines()
    assert 'members.py" roll ' in lines[-2] and says in lines[-1]


def test_without_it_the_job_switches_nothing_over(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    assert " switchover " not in script(plan_of(base_spec()))


# (members, switchover's fields, standby) -> the problem's path, what it says
REFUSED = [
    (2, {"run": 1, "target": "hippo-instance1-2-0"}, False, f"{S}.target", "members (their pods' names"),
    (1, {"run": 1}, False, S, "one member: there is no replica"),
    (2, {"run": 1}, True, S, "switch over once it is promoted"),
    (2, {"run": 0}, False, f"{S}.run", "at least 1; found 0"),
    (2, {"target": "hippo-instance1-1-0"}, False, f"{S}.run", "required"),
]  # fmt: skip


@pytest.mark.parametrize(("replicas", "fields", "standby", "path", "says"), REFUSED)
def test_refused(
    write_spec: Callable[..., Any], replicas: int, fields: dict[str, Any], standby: bool, path: str, says: str
) -> None:
    spec = with_switchover(replicas, **fields)
    if standby:
        spec["spec"]["standby"] = {"fromCluster": {"cluster": "source"}}
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    assert [(p.path, says in p.message) for p in exc.value.problems] == [(path, True)], exc.value.problems
