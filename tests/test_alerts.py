"""The PrometheusRule's alerts, held to Prometheus' own tool (promtool, Debian package prometheus):
``check rules`` on the rendered rules' ``.spec.groups`` (promtool refuses the PrometheusRule object
itself), and ``test rules`` with series that must make each alert fire, and healthy ones that must
not. The rules are rendered from examples/backups.yaml with ``monitoring: {}`` (two members, two
repositories with scheduled backups, WAL archiving).

``test rules`` compares the alerts' annotations too; those are left out of the file it tests (they
are templates for people, checked by ``check rules``): what is tested is each alert's expression,
``for`` and labels, as rendered.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.components.alerts import alerts
from pgrender.plan import ClusterPlan
from tests.conftest import EXAMPLES, base_spec
from tests.test_tls_providers import CERT_MANAGER, ROOT

PROMTOOL = shutil.which("promtool")
NS = "postgres-dr"
LEADER, REPLICA = "hippo-instance1-0-0", "hippo-instance1-1-0"
RULE_LABELS = {"namespace": NS, "cluster": "hippo"}
EXISTING_TLS = {
    "provider": "existing",
    "caCertificate": ROOT,
    "existing": {"serverSecretName": "server", "replicationSecretName": "repl", "superuserSecretName": "su"},
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package prometheus; scripts/setup-system.sh --runtime)")
        pytest.skip("needs promtool (Debian package prometheus)")
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def monitored(example: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    spec["spec"]["monitoring"] = {}
    return spec


@pytest.fixture
def backups_plan(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> ClusterPlan:
    return plan_of(monitored("backups"))


def groups_file(plan: ClusterPlan, directory: Path, annotations: bool = True) -> Path:
    """The rendered PrometheusRule's .spec.groups, as a Prometheus rules file."""
    (rule,) = alerts(plan)
    groups = copy.deepcopy(rule["spec"]["groups"])
    if not annotations:
        for group in groups:
            for r in group["rules"]:
                del r["annotations"]
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def spec_with_monitoring(**changes: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["monitoring"] = {}
    spec["spec"].update(changes)
    return spec


@pytest.mark.parametrize(
    ("spec", "alert_count"),
    [
        (monitored("hippo"), 9),  # no backups: no archiving or backup alerts
        (monitored("backups"), 13),  # + archiving, a backup age alert per repository, the logical one
        (spec_with_monitoring(tls=EXISTING_TLS), 8),  # no certificate end known
        (spec_with_monitoring(tls=CERT_MANAGER), 9),  # cert-manager's expiry metric
    ],
    ids=["hippo", "backups", "tls-existing", "tls-cert-manager"],
)
def test_promtool_checks_the_rendered_rules(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], tmp_path: Path, spec: dict[str, Any], alert_count: int
) -> None:
    result = promtool("check", "rules", str(groups_file(plan_of(spec), tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {alert_count} rules found" in result.stdout


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    label_text = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{label_text}}}", "values": values}


def member(pod: str) -> dict[str, str]:
    return {"namespace": NS, "pod": pod}


DAY = 24 * 3600
# (alert, input series, minutes after the first sample, labels of each alert expected; none: quiet)
CASES: list[tuple[str, str, list[dict[str, str]], int, list[dict[str, str]]]] = [
    (
        "lag",
        "PostgresReplicationLag",
        [series("pgrender_replication_lag_bytes", "200000000x10", **member(LEADER), member=REPLICA)],
        7,
        [{**member(LEADER), "member": REPLICA, "severity": "warning"}],
    ),
    (
        "lag-healthy",
        "PostgresReplicationLag",
        [series("pgrender_replication_lag_bytes", "16384x10", **member(LEADER), member=REPLICA)],
        7,
        [],
    ),
    (
        "lag-short",
        "PostgresReplicationLag",
        [series("pgrender_replication_lag_bytes", "200000000x3 0x7", **member(LEADER), member=REPLICA)],
        7,
        [],
    ),
    (
        "archiving",
        "PostgresWALArchivingFailing",
        [
            series("pgrender_archiver_failing", "1x10", **member(LEADER)),
            series("pgrender_member_is_primary", "1x10", **member(LEADER)),
        ],
        7,
        [{**member(LEADER), "severity": "critical"}],
    ),
    (
        "archiving-healthy",
        "PostgresWALArchivingFailing",
        [
            series("pgrender_archiver_failing", "0x10", **member(LEADER)),
            series("pgrender_member_is_primary", "1x10", **member(LEADER)),
        ],
        7,
        [],
    ),
    (
        "archiving-on-replica",
        "PostgresWALArchivingFailing",
        [
            series("pgrender_archiver_failing", "1x10", **member(REPLICA)),
            series("pgrender_member_is_primary", "0x10", **member(REPLICA)),
        ],
        7,
        [],
    ),
    (
        "backup-too-old",
        "PostgresBackupTooOld",
        [
            series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="hippo-repo2-full"),
            series(
                "kube_cronjob_status_last_successful_time", f"{-3 * DAY}x20", namespace=NS, cronjob="hippo-repo2-full"
            ),
        ],
        15,
        [{"repo": "repo2", "severity": "critical"}],
    ),
    (
        "backup-never-succeeded",
        "PostgresBackupTooOld",
        [series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="hippo-repo2-full")],
        15,
        [{"repo": "repo2", "severity": "critical"}],
    ),
    (
        "backup-recent",
        "PostgresBackupTooOld",
        [
            series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="hippo-repo2-full"),
            series(
                "kube_cronjob_status_last_successful_time", f"{-DAY // 2}x20", namespace=NS, cronjob="hippo-repo2-full"
            ),
        ],
        15,
        [],
    ),
    (
        "backup-new-cronjob",
        "PostgresBackupTooOld",
        [series("kube_cronjob_created", "0x20", namespace=NS, cronjob="hippo-repo2-full")],
        15,
        [],
    ),
    (
        "backup-other-cluster",
        "PostgresBackupTooOld",
        [series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="other-repo2-full")],
        15,
        [],
    ),
    (
        "logical-backup-too-old",
        "PostgresLogicalBackupTooOld",
        [
            series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="hippo-logical-backup"),
            series(
                "kube_cronjob_status_last_successful_time",
                f"{-3 * DAY}x20",
                namespace=NS,
                cronjob="hippo-logical-backup",
            ),
        ],
        15,
        [{"repo": "repo1", "severity": "critical"}],
    ),
    (
        "logical-backup-recent",
        "PostgresLogicalBackupTooOld",
        [
            series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="hippo-logical-backup"),
            series(
                "kube_cronjob_status_last_successful_time",
                f"{-DAY // 2}x20",
                namespace=NS,
                cronjob="hippo-logical-backup",
            ),
        ],
        15,
        [],
    ),
    (
        "logical-backup-is-not-pgbackrests",  # its dumps say nothing of repo1's pgBackRest backups
        "PostgresBackupTooOld",
        [series("kube_cronjob_created", f"{-30 * DAY}x20", namespace=NS, cronjob="hippo-logical-backup")],
        15,
        [],
    ),
    (
        "no-primary",
        "PostgresNoPrimary",
        [
            series("pgrender_member_is_primary", "0x5", **member(LEADER)),
            series("pgrender_member_is_primary", "0x5", **member(REPLICA)),
        ],
        3,
        [{"severity": "critical"}],
    ),
    (
        "one-primary",
        "PostgresNoPrimary",
        [
            series("pgrender_member_is_primary", "1x5", **member(LEADER)),
            series("pgrender_member_is_primary", "0x5", **member(REPLICA)),
        ],
        3,
        [],
    ),
    (
        "member-down",
        "PostgresMemberDown",
        [series("pg_up", "1x5", **member(LEADER)), series("pg_up", "0x5", **member(REPLICA))],
        4,
        [{"severity": "warning"}],
    ),
    (
        "members-up",
        "PostgresMemberDown",
        [series("pg_up", "1x5", **member(LEADER)), series("pg_up", "1x5", **member(REPLICA))],
        4,
        [],
    ),
    (
        "connections",
        "PostgresConnectionsNearMax",
        [
            series("pgrender_connections_client_backends", "95x10", **member(LEADER)),
            series("pgrender_connections_max_connections", "100x10", **member(LEADER)),
        ],
        7,
        [{**member(LEADER), "severity": "warning"}],
    ),
    (
        "volume-full",
        "PostgresVolumeFull",
        [
            series(
                "kubelet_volume_stats_available_bytes",
                "5x10",
                namespace=NS,
                persistentvolumeclaim="hippo-instance1-0-pgdata",
            ),
            series(
                "kubelet_volume_stats_capacity_bytes",
                "100x10",
                namespace=NS,
                persistentvolumeclaim="hippo-instance1-0-pgdata",
            ),
        ],
        7,
        [{"namespace": NS, "persistentvolumeclaim": "hippo-instance1-0-pgdata", "severity": "critical"}],
    ),
]


@pytest.mark.parametrize(
    ("alert", "input_series", "minutes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_promtool_fires_the_alert_on_its_series(
    backups_plan: ClusterPlan,
    tmp_path: Path,
    alert: str,
    input_series: list[dict[str, str]],
    minutes: int,
    expected: list[dict[str, str]],
) -> None:
    run_rule_test(
        groups_file(backups_plan, tmp_path, annotations=False), tmp_path, alert, input_series, minutes, expected
    )


def run_rule_test(
    rules: Path,
    tmp_path: Path,
    alert: str,
    input_series: list[dict[str, str]],
    minutes: int,
    expected: list[dict[str, str]],
    rule_labels: dict[str, str] = RULE_LABELS,
) -> None:
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {
                        "eval_time": f"{minutes}m",
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": {**rule_labels, **labels}} for labels in expected],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("secret", "ends_in", "fires"),
    [("hippo-cluster-cert", DAY, True), ("hippo-cluster-cert", 60 * DAY, False), ("other-cert", DAY, False)],
    ids=["server-ends-tomorrow", "server-renewed", "another-certificate"],
)
def test_promtool_fires_cert_managers_expiry_alert(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], tmp_path: Path, secret: str, ends_in: int, fires: bool
) -> None:
    plan = plan_of(spec_with_monitoring(tls=CERT_MANAGER))
    labels = {"namespace": "db", "name": secret}
    expected = [{**labels, "cluster": "hippo", "severity": "warning"}] if fires else []
    run_rule_test(
        groups_file(plan, tmp_path, annotations=False),
        tmp_path,
        "PostgresCertificateExpiring",
        [series("certmanager_certificate_expiration_timestamp_seconds", f"{ends_in}x70", **labels)],
        65,
        expected,
        rule_labels={},
    )


def test_backup_age_limits_follow_the_schedules(backups_plan: ClusterPlan) -> None:
    """repo1: weekly full plus incremental on the other days; repo2: daily full. Each may be a day
    old, plus the Job deadline and an hour."""
    assert backups_plan.monitoring is not None and backups_plan.backups is not None
    deadline = backups_plan.backups.job_deadline_seconds
    assert {(b.repo, b.cron_jobs, b.max_age_seconds) for b in backups_plan.monitoring.backup_ages} == {
        ("repo1", ("hippo-repo1-full", "hippo-repo1-incr"), DAY + deadline + 3600),
        ("repo2", ("hippo-repo2-full",), DAY + deadline + 3600),
        ("repo1", ("hippo-logical-backup",), DAY + deadline + 3600),  # a dump every night
    }
    assert [b.logical for b in backups_plan.monitoring.backup_ages] == [False, False, True]


HOUR_MINUTES = 60


@pytest.mark.parametrize(
    ("suspended_hours", "running_hours", "fires"),
    [(13, 1, False), (13, 40, True), (0, 33, True)],
    ids=["started-after-a-night", "failing-long-after-the-start", "never-suspended"],
)
def test_backup_age_counts_from_the_end_of_a_shutdown(
    backups_plan: ClusterPlan, tmp_path: Path, suspended_hours: int, running_hours: int, fires: bool
) -> None:
    """spec.shutdown suspends the backup CronJobs. Started again, a run missed meanwhile is not made
    up (startingDeadlineSeconds is an hour), so the last success stays older than the limit until
    the next scheduled run: after a night shut down (a daily backup missed), PostgresBackupTooOld
    would fire for most of the next day. It waits the repository's limit from the last time a
    CronJob of it was suspended (kube_cronjob_spec_suspend), and fires as before after that."""
    cronjob = {"namespace": NS, "cronjob": "hippo-repo2-full"}
    before = 19 * HOUR_MINUTES  # the last success at 0, the shutdown 19 hours later
    samples = before + (suspended_hours + running_hours) * HOUR_MINUTES
    suspend = f"0x{before - 1}" + (f" 1x{suspended_hours * HOUR_MINUTES - 1}" if suspended_hours else "")
    suspend += f" 0x{running_hours * HOUR_MINUTES}"
    run_rule_test(
        groups_file(backups_plan, tmp_path, annotations=False),
        tmp_path,
        "PostgresBackupTooOld",
        [
            series("kube_cronjob_created", f"{-30 * DAY}x{samples}", **cronjob),
            series("kube_cronjob_status_last_successful_time", f"0x{samples}", **cronjob),
            series("kube_cronjob_spec_suspend", suspend, **cronjob),
        ],
        samples,
        [{"repo": "repo2", "severity": "critical"}] if fires else [],
    )
