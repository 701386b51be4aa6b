"""spec.shutdown: the members and pgBouncer scaled to zero, the CronJobs suspended, no Jobs, the
alerts that expect running members or backups left out; everything else (the pod templates, the claims, the
repository host) as it was, so that starting again rolls nothing. The runtime test (shutdown of a
running cluster and its start) is tests/runtime/test_shutdown.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.changes import leaves
from pgrender.pod import SYNC_WAVE
from pgrender.render import Request, render
from tests.conftest import GOLDEN_KEY

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def spec(shutdown: bool) -> dict[str, Any]:
    """examples/backups.yaml (two repositories, a repository host, manual and logical backups) with
    both poolers and monitoring."""
    out: dict[str, Any] = yaml.safe_load((EXAMPLES / "backups.yaml").read_text())
    out["spec"]["proxy"] = {"pgBouncer": {"replicas": 2}, "pgBouncerReplicas": {"replicas": 3}}
    out["spec"]["monitoring"] = {}
    if shutdown:
        out["spec"]["shutdown"] = True
    return out


def objects(tmp_path: Path, shutdown: bool, provider: str = "derived") -> dict[tuple[str, str], dict[str, Any]]:
    path = tmp_path / f"shutdown-{shutdown}.yaml"
    path.write_text(yaml.safe_dump(spec(shutdown)))
    rendering = render(Request((str(path),), key_file=str(GOLDEN_KEY), provider=provider))
    return {(m["kind"], m["metadata"]["name"]): m for c in rendering.clusters for m in c.manifests}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    return objects(tmp_path_factory.mktemp("running"), False)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    return objects(tmp_path_factory.mktemp("stopped"), True)


# (kind, name, field) → running, shut down
SCALED = [
    ("StatefulSet", "hippo-instance1-0", "replicas", 1, 0),
    ("StatefulSet", "hippo-instance1-1", "replicas", 1, 0),
    ("Deployment", "hippo-pgbouncer", "replicas", 2, 0),
    ("Deployment", "hippo-pgbouncer-replicas", "replicas", 3, 0),
    ("StatefulSet", "hippo-repo-host", "replicas", 1, 1),  # the backups stay readable
    ("CronJob", "hippo-repo1-full", "suspend", False, True),
    ("CronJob", "hippo-repo1-incr", "suspend", False, True),
    ("CronJob", "hippo-repo2-full", "suspend", False, True),
    ("CronJob", "hippo-logical-backup", "suspend", False, True),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "name", "field", "before", "after"), SCALED)
def test_scaled_and_suspended(
    running: dict[tuple[str, str], Any],
    stopped: dict[tuple[str, str], Any],
    kind: str,
    name: str,
    field: str,
    before: object,
    after: object,
) -> None:
    assert (running[kind, name]["spec"][field], stopped[kind, name]["spec"][field]) == (before, after)


def test_every_member_stops_in_one_argo_cd_sync_wave(
    running: dict[tuple[str, str], Any], stopped: dict[tuple[str, str], Any]
) -> None:
    """Argo CD syncs a wave once the waves before it are Healthy, and a StatefulSet scaled to 0 is
    Healthy as soon as its controller has seen it. In the members' own waves, member 0 (the primary
    after a bootstrap) would stop seconds before the others, and one of them be promoted on the way
    (tests/runtime/test_shutdown.py). Shut down, every member is in the first member's wave, so they
    stop together, as with Flux or kubectl; started, each is in its own wave again."""

    def waves(objects: dict[tuple[str, str], Any]) -> dict[str, str]:
        return {
            name: obj["metadata"]["annotations"][SYNC_WAVE]
            for (kind, name), obj in objects.items()
            if kind == "StatefulSet" and name != "hippo-repo-host"
        }

    assert waves(running) == {"hippo-instance1-0": "1", "hippo-instance1-1": "2"}
    assert waves(stopped) == {"hippo-instance1-0": "1", "hippo-instance1-1": "1"}


def test_no_job_runs_while_shut_down(running: dict[tuple[str, str], Any], stopped: dict[tuple[str, str], Any]) -> None:
    """The reconcile Job, the initial backup and the manual one: rendered again (and so run) on start."""
    gone = sorted(name for kind, name in running.keys() - stopped.keys() if kind == "Job")
    assert [name.rsplit("-", 1)[0] for name in gone] == ["hippo-reconcile", "hippo-repo1-init", "hippo-repo1-manual"]
    assert not stopped.keys() - running.keys()


def test_no_disruption_budget_while_shut_down(
    running: dict[tuple[str, str], Any], stopped: dict[tuple[str, str], Any]
) -> None:
    """A budget of minAvailable 1 over no pod has desiredHealthy 1 and currentHealthy 0 for as long as
    the cluster is shut down: kube-prometheus' KubePdbNotEnoughHealthyPods (desired_healthy -
    current_healthy > 0 for 15m) fires for each, the whole time. There is nothing to protect from a
    drain; started again, the budgets are rendered again. Nothing else is left out but the Jobs."""
    budgets = {name for kind, name in running if kind == "PodDisruptionBudget"}
    assert budgets == {"hippo-instance1", "hippo-pgbouncer", "hippo-pgbouncer-replicas"}
    assert not {name for kind, name in stopped if kind == "PodDisruptionBudget"}
    assert {kind for kind, _ in running.keys() - stopped.keys()} == {"Job", "PodDisruptionBudget"}


def test_alerts_that_expect_running_members_are_left_out(
    running: dict[tuple[str, str], Any], stopped: dict[tuple[str, str], Any]
) -> None:
    def alerts(objects: dict[tuple[str, str], Any]) -> set[str]:
        (rule,) = [m for (kind, _), m in objects.items() if kind == "PrometheusRule"]
        return {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}

    # and the backups' age, pgBackRest's and the logical dumps': the CronJobs are suspended
    assert alerts(running) - alerts(stopped) == {
        "PostgresMemberDown",
        "PostgresNoPrimary",
        "PostgresBackupTooOld",
        "PostgresLogicalBackupTooOld",
    }
    assert alerts(stopped) < alerts(running)


def test_nothing_else_changes(running: dict[tuple[str, str], Any], stopped: dict[tuple[str, str], Any]) -> None:
    """Pod templates, ConfigMaps, Secrets, claims, Services: byte for byte the same, so the members
    start from the templates they stopped with and no pod is rolled when the cluster starts."""
    changed = {
        (kind, name, ".".join(map(str, path)))
        for (kind, name), obj in stopped.items()
        for path, _, _ in leaves(running[kind, name], obj)
    }
    scaled = {(kind, name, f"spec.{field}") for kind, name, field, before, after in SCALED if before != after}
    # and member 1's sync wave (the StatefulSet's own annotation, not its pod template's)
    wave = ("StatefulSet", "hippo-instance1-1", f"metadata.annotations.{SYNC_WAVE}")
    assert {c for c in changed if c[0] != "PrometheusRule"} == {*scaled, wave}


def test_the_password_cron_job_is_suspended(tmp_path: Path) -> None:
    """Provider external: the passwords are set from the store by a CronJob, which has no member to reach."""
    before, after = (objects(tmp_path, down, "external")["CronJob", "hippo-passwords"] for down in (False, True))
    assert (before["spec"].get("suspend"), after["spec"]["suspend"]) == (None, True)
