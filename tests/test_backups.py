"""Backups: schedules, retention for PITR, repository options, restore and standby, what each pod gets."""

from __future__ import annotations

import base64
import configparser
import copy
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender import trusted_sources, write
from pgrender.components.copy_guard import MARK
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.plan.backups import dst_minutes, preset_full_schedule
from pgrender.plans import validate
from pgrender.render import Request, render
from pgrender.spec import cron
from tests.conftest import EXAMPLES, GOLDEN_KEY, base_spec, find

S3 = {"bucket": "hippo-backups", "endpoint": "s3.eu-north-1.amazonaws.com", "region": "eu-north-1"}
CREDENTIALS = {"secretName": "hippo-s3"}


def s3_repo(name: str = "repo1", **more: Any) -> dict[str, Any]:
    return {"name": name, "s3": dict(S3), "credentials": dict(CREDENTIALS), **more}


def with_backups(*repos: dict[str, Any], **more: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["backups"] = {"repos": list(repos or [s3_repo()]), **more}
    return spec


def messages(plan_of: Callable[[dict[str, Any]], ClusterPlan], spec: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        plan_of(spec)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def conf(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


# --- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "minutes", "hours", "weekdays"),
    [
        ("30 1 * * *", {30}, {1}, set(range(7))),
        ("*/15 0-2 * * 1-5", {0, 15, 30, 45}, {0, 1, 2}, {1, 2, 3, 4, 5}),
        ("0 3 * * sun,wed", {0}, {3}, {0, 3}),
        ("5/20 4 ? * *", {5, 25, 45}, {4}, set(range(7))),
        ("@daily", {0}, {0}, set(range(7))),
        ("@weekly", {0}, {0}, {0}),
    ],
)
def test_schedule_parses(schedule: str, minutes: set[int], hours: set[int], weekdays: set[int]) -> None:
    parsed = cron.parse(schedule)
    assert (parsed.minutes, parsed.hours, parsed.days_of_week) == (minutes, hours, weekdays)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("30 1 * *", "has 4 fields"),
        ("0 30 1 * * *", "has 6 fields"),
        ("61 1 * * *", "61 in the minute field is outside 0-59"),
        ("0 1 * * 7", "7 in the day of week field is outside 0-6"),
        ("0 1 L * *", "'L' in the day of month field is not a number"),
        ("0 5-1 * * *", "runs backwards"),
        ("*/0 1 * * *", "step after '/' must be a positive number"),
        ("@every 1h", "is not a schedule Kubernetes accepts"),
        ("CRON_TZ=UTC 0 1 * * *", "use timeZone instead"),
    ],
)
def test_schedule_refused(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron.parse(schedule)


@pytest.mark.parametrize(
    ("schedule", "days", "most"),
    [
        ("0 1 * * *", 7, 7),  # daily: a 7-day stretch holds 7 fulls
        ("0 1 * * 0", 14, 2),  # weekly
        ("0 */12 * * *", 1, 2),
        ("0 1 * * 1,2", 7, 2),
        ("0 1 * * 1,2", 2, 2),
    ],
)
def test_most_in_window(schedule: str, days: int, most: int) -> None:
    assert cron.parse(schedule).most_in(days * 24 * 60) == most


def test_schedule_refused_in_spec_with_position(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = with_backups(s3_repo(schedules={"full": "0 25 * * *"}))
    assert messages(plan_of, spec) == ["spec.backups.repos[0].schedules.full: 25 in the hour field is outside 0-23"]


def test_time_zone_checked(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    (message,) = messages(plan_of, with_backups(timeZone="Europe/Stockholmm"))
    assert message.startswith("spec.backups.timeZone: 'Europe/Stockholmm' is not a time zone of the IANA database")


# --- retention and point-in-time recovery ----------------------------------------------------


def retention_of(plan: ClusterPlan, repo: int = 0) -> dict[str, str]:
    assert plan.backups is not None
    return {k.split("-", 1)[1]: v for k, v in plan.backups.repos[repo].retention_options}


@pytest.mark.parametrize(
    ("schedules", "retention", "expected"),
    [
        ({"full": "0 1 * * *"}, {"pointInTimeDays": 7}, {"retention-archive": "8", "retention-archive-type": "full"}),
        ({"full": "0 1 * * 0"}, {"pointInTimeDays": 14}, {"retention-archive": "3", "retention-archive-type": "full"}),
        (
            {"full": "0 1 * * *"},
            {"full": 30, "fullType": "time"},
            {"retention-full": "30", "retention-full-type": "time"},
        ),
        ({}, {"differential": 3}, {"retention-diff": "3"}),
        ({}, {}, {}),
    ],
)
def test_retention_options(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
    schedules: dict[str, str],
    retention: dict[str, Any],
    expected: dict[str, str],
) -> None:
    assert retention_of(plan_of(with_backups(s3_repo(schedules=schedules, retention=retention)))) == expected


@pytest.mark.parametrize(
    ("schedules", "retention", "message"),
    [
        (
            {"full": "0 1 * * *"},
            {"pointInTimeDays": 7, "archive": 7},
            "retention.archive: archive 7 keeps WAL from the 7th newest full backup, which with schedule "
            "'0 1 * * *' reaches less than the 7 days pointInTimeDays asks; at least 8 is needed",
        ),
        (
            {"full": "0 1 * * *"},
            {"pointInTimeDays": 7, "full": 5},
            "retention.full: keeping 5 full backups expires the WAL point-in-time recovery needs for 7 days; "
            "keep at least 8",
        ),
        (
            {"full": "0 1 * * *"},
            {"pointInTimeDays": 7, "full": 7, "fullType": "time"},
            "retention.full: keeping full backups for 7 days cannot give 7 days of point-in-time recovery; "
            "keep them at least 8 days",
        ),
        ({}, {"pointInTimeDays": 7}, "retention.pointInTimeDays: needs schedules.full"),
        (
            {"full": "0 1 1 * *"},
            {"pointInTimeDays": 7},
            "retention.pointInTimeDays: the full schedule '0 1 1 * *' does not repeat weekly",
        ),
        (
            {"full": "0 1 * * *"},
            {"pointInTimeDays": 7, "archiveType": "incr"},
            "retention.archiveType: pointInTimeDays counts full backups",
        ),
    ],
)
def test_retention_refused_when_pitr_would_be_shorter(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
    schedules: dict[str, str],
    retention: dict[str, Any],
    message: str,
) -> None:
    (problem,) = messages(plan_of, with_backups(s3_repo(schedules=schedules, retention=retention)))
    assert problem.startswith(f"spec.backups.repos[0].{message}")


@pytest.mark.parametrize(
    ("manual", "archive"),
    [
        ({"repo": "repo1", "type": "full", "run": 1}, "4"),  # one full more in the window: one more kept
        ({"repo": "repo1", "type": "incr", "run": 1}, "3"),
        ({"repo": "repo1", "run": 1}, "4"),  # full is the default
    ],
)
def test_a_manual_full_backup_keeps_the_pitr_window(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], manual: dict[str, Any], archive: str
) -> None:
    """Weekly fulls and 14 days: the WAL of 3 full backups; a manual full counts as one of them."""
    spec = with_backups(s3_repo(schedules={"full": "0 1 * * 0"}, retention={"pointInTimeDays": 14}), manual=manual)
    assert retention_of(plan_of(spec))["retention-archive"] == archive
    spec["spec"]["backups"]["repos"][0]["retention"]["full"] = 3
    if archive == "3":
        assert retention_of(plan_of(spec))["retention-full"] == "3"
        return
    (refused,) = messages(plan_of, spec)
    assert refused.endswith(
        "keeping 3 full backups expires the WAL point-in-time recovery needs for 14 days; keep at least 4 "
        "(backups.manual's full backup counts as one)"
    )


@pytest.mark.parametrize(
    ("repos", "more", "warned"),
    [
        ([s3_repo(schedules={})], {}, ["spec.backups.repos[0].schedules"]),
        (
            [s3_repo(schedules={"full": "0 1 * * 0"}), s3_repo(name="repo2", schedules={})],
            {},
            ["spec.backups.repos[1].schedules"],
        ),
        ([s3_repo(schedules={})], {"preset": "standard"}, []),  # the preset's daily full
        ([s3_repo(schedules={})], {"standby": {"fromBackup": {"cluster": "source", "repo": s3_repo()}}}, []),
        (
            [s3_repo(schedules={})],
            {"standby": {"enabled": False, "fromBackup": {"cluster": "source", "repo": s3_repo()}}},
            ["spec.backups.repos[0].schedules"],  # promoted: it archives, and nothing backs it up
        ),
    ],
    ids=["none", "the-second", "preset", "standby", "promoted"],
)
def test_a_repository_no_schedule_backs_up_is_warned_about(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
    repos: list[dict[str, Any]],
    more: dict[str, Any],
    warned: list[str],
) -> None:
    spec = with_backups(*repos)
    spec["spec"].update(more)
    plan = plan_of(spec)
    assert [w.path for w in plan.warnings] == warned
    assert all("has no schedule" in w.message and "grows without end" in w.message for w in plan.warnings)


@pytest.mark.parametrize(("replicas", "warned"), [(1, ["spec.backups.backupFrom"]), (2, [])])
def test_backups_from_a_standby_of_one_member_are_warned_about(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], replicas: int, warned: list[str]
) -> None:
    spec = with_backups(s3_repo(schedules={"full": "0 1 * * *"}), backupFrom="prefer-standby")
    spec["spec"]["instances"][0]["replicas"] = replicas
    warnings = plan_of(spec).warnings
    assert [w.path for w in warnings] == warned
    assert all("every backup runs from the primary" in w.message for w in warnings)


# --- presets: the managed offering's promises ------------------------------------------------


def test_preset_promises(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = with_backups()
    spec["spec"]["preset"] = "standard"
    backups = plan_of(spec).backups
    assert backups is not None
    (job,) = backups.cron_jobs
    assert (backups.time_zone, job.type, backups.archive_timeout) == ("CET", "full", 60)
    assert job.schedule == preset_full_schedule("db", "hippo", "repo1", "CET")
    assert retention_of(plan_of(spec)) == {
        "retention-full": "30",
        "retention-full-type": "time",
        "retention-archive": "8",
        "retention-archive-type": "full",
    }


def test_preset_start_spread_inside_the_window_outside_dst_hours() -> None:
    starts = [cron.parse(preset_full_schedule("db", f"cluster{i}", "repo1", "CET")) for i in range(300)]
    minutes = [min(s.hours) * 60 + min(s.minutes) for s in starts]
    assert all(0 <= m < 5 * 60 and not 2 * 60 <= m < 3 * 60 for m in minutes)
    assert len(set(minutes)) > 150  # a fleet does not start together
    assert preset_full_schedule("db", "cluster1", "repo1", "CET") == preset_full_schedule(
        "db", "cluster1", "repo1", "CET"
    )


@pytest.mark.parametrize(
    ("zone", "hours"),
    [("CET", {2}), ("Europe/Stockholm", {2}), ("America/New_York", {1, 2}), ("UTC", set()), ("Asia/Tokyo", set())],
)
def test_dst_hours(zone: str, hours: set[int]) -> None:
    assert {m // 60 for m in dst_minutes(zone)} == hours


def test_explicit_values_beat_the_preset(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = with_backups(s3_repo(schedules={"full": "0 22 * * *"}, retention={"full": 10}), timeZone="UTC")
    spec["spec"]["preset"] = "standard"
    plan = plan_of(spec)
    assert plan.backups is not None
    assert [(j.schedule, plan.backups.time_zone) for j in plan.backups.cron_jobs] == [("0 22 * * *", "UTC")]
    assert retention_of(plan)["retention-full"] == "10"
    # The preset's 7 days of point-in-time recovery still hold: fewer full backups are refused.
    spec["spec"]["backups"]["repos"][0]["retention"]["full"] = 3
    assert messages(plan_of, spec) == [
        "spec.backups.repos[0].retention.full: keeping 3 full backups expires the WAL point-in-time recovery "
        "needs for 7 days; keep at least 8"
    ]


# --- repositories ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "options"),
    [
        (
            s3_repo(),
            {
                "repo1-type": "s3",
                "repo1-s3-bucket": "hippo-backups",
                "repo1-s3-endpoint": "s3.eu-north-1.amazonaws.com",
                "repo1-s3-region": "eu-north-1",
                "repo1-path": "/pgbackrest/db/hippo/repo1",
                "repo1-cipher-type": "aes-256-cbc",
            },
        ),
        (
            {
                "name": "repo2",
                "s3": {**S3, "uriStyle": "path", "port": 9000, "keyType": "web-id"},
                "path": "/backups/hippo",
                "cipher": "none",
                "storageCA": {"secretName": "minio-ca"},
            },
            {
                "repo2-type": "s3",
                "repo2-s3-bucket": "hippo-backups",
                "repo2-s3-endpoint": "s3.eu-north-1.amazonaws.com",
                "repo2-s3-region": "eu-north-1",
                "repo2-s3-uri-style": "path",
                "repo2-s3-key-type": "web-id",
                "repo2-storage-port": "9000",
                "repo2-storage-ca-file": "/etc/pgbackrest/repo2-storage-ca.crt",
                "repo2-path": "/backups/hippo",
            },
        ),
        (
            {"name": "repo3", "gcs": {"bucket": "hippo-gcs"}, "credentials": CREDENTIALS},
            {
                "repo3-type": "gcs",
                "repo3-gcs-bucket": "hippo-gcs",
                "repo3-gcs-key-type": "service",
                "repo3-gcs-key": "/etc/pgbackrest/repo3-gcs-key.json",
                "repo3-path": "/pgbackrest/db/hippo/repo3",
                "repo3-cipher-type": "aes-256-cbc",
            },
        ),
        (
            {
                "name": "repo4",
                "azure": {"container": "hippo", "endpoint": "localhost", "port": 10000, "uriStyle": "path"},
                "credentials": CREDENTIALS,
            },
            {
                "repo4-type": "azure",
                "repo4-azure-container": "hippo",
                "repo4-azure-uri-style": "path",
                "repo4-storage-host": "localhost",
                "repo4-storage-port": "10000",
                "repo4-path": "/pgbackrest/db/hippo/repo4",
                "repo4-cipher-type": "aes-256-cbc",
            },
        ),
        (
            {"name": "repo1", "volume": {"size": "10Gi"}},
            {"repo1-path": "/pgbackrest/repo1", "repo1-cipher-type": "aes-256-cbc"},
        ),
    ],
)
def test_repository_options(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], repo: dict[str, Any], options: dict[str, str]
) -> None:
    backups = plan_of(with_backups(repo)).backups
    assert backups is not None
    assert dict(backups.repos[0].store_options) == options


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ({"name": "repo1"}, "a repository is exactly one of s3, gcs, azure or volume; found none"),
        (
            {"name": "repo1", "s3": S3, "volume": {"size": "1Gi"}},
            "a repository is exactly one of s3, gcs, azure or volume; found s3, volume",
        ),
        ({"name": "repo1", "s3": S3}, "a s3 repository needs credentials.secretName"),
        ({"name": "repo1", "volume": {}}, "volume.size: required field is missing"),
        ({"name": "repo5", "volume": {"size": "1Gi"}}, "name: expected one of 'repo1', 'repo2', 'repo3' or 'repo4'"),
        ({"name": "repo1", "s3": {**S3, "bucket": "Hippo_Backups"}, "credentials": CREDENTIALS}, "not an S3 bucket"),
        ({"name": "repo1", "volume": {"size": "1Gi"}, "path": "/x"}, "a volume repository takes no credentials"),
    ],
)
def test_repository_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], repo: dict[str, Any], message: str
) -> None:
    assert any(message in m for m in messages(plan_of, with_backups(repo))), messages(plan_of, with_backups(repo))


def test_repository_names_differ(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    (message,) = messages(plan_of, with_backups(s3_repo(), s3_repo()))
    assert message == "spec.backups.repos: repository names must differ; repo1 appears more than once"


def test_archiving_is_managed(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = with_backups()
    spec["spec"]["patroni"] = {"parameters": {"archive_command": "/bin/true"}}
    assert messages(plan_of, spec) == [
        "spec.patroni.parameters.archive_command: 'archive_command' is managed by pgrender: set spec.backups "
        "(archiveTimeout for archive_timeout)"
    ]


def test_archiving_parameters(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    parameters = dict(plan_of(with_backups(archiveTimeout=120)).patroni.parameters)
    assert {k: v for k, v in parameters.items() if k.startswith(("archive", "restore"))} == {
        "archive_mode": "on",
        "archive_command": 'pgbackrest --stanza=db archive-push "%p"',
        "archive_timeout": "120s",
        "restore_command": 'pgbackrest --stanza=db archive-get %f "%p"',
    }
    assert "archive_mode" not in dict(plan_of(base_spec()).patroni.parameters)


# --- objects ---------------------------------------------------------------------------------


def kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((o["kind"], o["metadata"]["name"]) for o in objects)


BACKUP_KINDS = ("CronJob", "Job", "ConfigMap", "Secret", "StatefulSet", "Service", "PersistentVolumeClaim")


def test_objects(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    repos = (
        s3_repo(schedules={"full": "0 1 * * 0", "incremental": "0 1 * * 1-6"}),
        {"name": "repo2", "volume": {"size": "10Gi"}, "schedules": {"differential": "0 3 * * *"}},
    )
    objects = objects_of(with_backups(*repos, manual={"repo": "repo2", "run": 3}))
    made = [
        (kind, name)
        for kind, name in kinds(objects)
        if "pgbackrest" in name or "repo" in name or kind in ("CronJob",) or (kind == "Job" and "reconcile" not in name)
    ]
    init = next(name for kind, name in made if kind == "Job" and "-init-" in name)
    assert made == [
        ("ConfigMap", "hippo-pgbackrest-config"),
        ("ConfigMap", "hippo-pgbackrest-jobs"),
        ("CronJob", "hippo-repo1-full"),
        ("CronJob", "hippo-repo1-incr"),
        ("CronJob", "hippo-repo2-diff"),
        ("Job", init),
        ("Job", "hippo-repo2-manual-3"),
        ("NetworkPolicy", "hippo-repo-host"),
        ("PersistentVolumeClaim", "hippo-repo2"),
        ("Secret", "hippo-pgbackrest"),
        ("Secret", "hippo-pgbackrest-cert"),
        ("Service", "hippo-repo-host"),
        ("StatefulSet", "hippo-repo-host"),
    ]
    assert init.startswith("hippo-repo1-init-")


def test_no_backup_objects_without_backups(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    assert not [n for _, n in kinds(objects_of(base_spec())) if "pgbackrest" in n or "repo" in n]


def test_cron_job(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    spec = with_backups(s3_repo(schedules={"full": "30 1 * * *"}), timeZone="Europe/Stockholm")
    cron_job = find(objects_of(spec), "CronJob", "hippo-repo1-full")["spec"]
    assert {k: v for k, v in cron_job.items() if k != "jobTemplate"} == {
        "schedule": "30 1 * * *",
        "timeZone": "Europe/Stockholm",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "suspend": False,
    }
    job = cron_job["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (2, 21600)
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["sh", "/etc/pgbackrest/backup.sh", "full"]
    # Only what a backup needs: its repository's credentials and passphrase, pgBackRest's certificate.
    assert [(e["name"], e.get("valueFrom", {}).get("secretKeyRef", {}).get("name")) for e in container["env"]] == [
        ("PGBACKREST_CONFIG", None),
        ("PGBACKREST_REPO1_S3_KEY", "hippo-s3"),
        ("PGBACKREST_REPO1_S3_KEY_SECRET", "hippo-s3"),
        ("PGBACKREST_REPO1_CIPHER_PASS", "hippo-pgbackrest"),
    ]
    secrets = {
        s["secret"]["name"]
        for v in pod["volumes"]
        if "projected" in v
        for s in v["projected"]["sources"]
        if "secret" in s
    }
    assert secrets == {"hippo-pgbackrest-cert"}
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_job_configuration_lists_every_member(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    objects = objects_of(with_backups(s3_repo(retention={"full": 3})))
    data = find(objects, "ConfigMap", "hippo-pgbackrest-config")["data"]
    jobs = find(objects, "ConfigMap", "hippo-pgbackrest-jobs")["data"]
    job = conf(jobs["job-repo1.conf"])
    assert job["global"]["repo1-retention-full"] == "3"
    assert [job["db"][f"pg{n}-host"] for n in (1, 2)] == [
        "hippo-instance1-0-0.hippo-pods.db.svc.cluster.local",
        "hippo-instance1-1-0.hippo-pods.db.svc.cluster.local",
    ]
    assert job["db"]["pg1-host-type"] == "tls"
    assert job["db"]["pg1-host-cert-file"] == "/pgconf/tls/pgbackrest/tls.crt"
    instance = conf(data["instance.conf"])
    assert instance["global"]["tls-server-auth"] == "pgbackrest=db"
    assert instance["global"]["archive-async"] == "y"
    assert instance["db"]["pg1-path"] == "/pgdata/pg16"
    assert not [k for k in instance["global"] if "cipher-pass" in k or "s3-key" in k]  # secure options: env only
    assert not [k for k in instance["global"] if "retention" in k]  # only expire reads it: no restart for it


def sections(text: str) -> dict[str, dict[str, str]]:
    """An INI text's options, by section (pgBackRest's own and the command sections)."""
    parsed = conf(text)
    return {name: dict(parsed[name]) for name in parsed.sections()}


# backups.{processMax, compressType}: (spec fields, options of instance.conf, of job-repo1.conf), beyond the
# options every configuration has; processMax is a backup's in the Jobs and a restore's in the members.
TUNING = [
    ({}, {}, {}),
    ({"processMax": 4}, {"global:restore": {"process-max": "4"}}, {"global:backup": {"process-max": "4"}}),
    ({"compressType": "zst"}, {"global": {"compress-type": "zst"}}, {"global": {"compress-type": "zst"}}),
    ({"compressType": "none"}, {"global": {"compress-type": "none"}}, {"global": {"compress-type": "none"}}),
]


@pytest.mark.parametrize(("fields", "instance", "job"), TUNING)
def test_processes_and_compression(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    fields: dict[str, Any],
    instance: dict[str, dict[str, str]],
    job: dict[str, dict[str, str]],
) -> None:
    def configs(spec: dict[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        objects = objects_of(spec)
        data = find(objects, "ConfigMap", "hippo-pgbackrest-config")["data"]
        jobs = find(objects, "ConfigMap", "hippo-pgbackrest-jobs")["data"]
        return sections(data["instance.conf"]), sections(jobs["job-repo1.conf"])

    plain_instance, plain_job = configs(with_backups())
    tuned_instance, tuned_job = configs(with_backups(**fields))
    for plain, tuned, expected in ((plain_instance, tuned_instance, instance), (plain_job, tuned_job, job)):
        added = {
            name: {k: v for k, v in options.items() if plain.get(name, {}).get(k) != v}
            for name, options in tuned.items()
        }
        assert {name: options for name, options in added.items() if options} == expected


def test_a_restore_from_another_cluster_uses_the_processes_too(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spec = restore_spec()
    spec["spec"]["backups"] = {"repos": [s3_repo()], "processMax": 3}
    data = find(objects_of(spec), "ConfigMap", "hippo-clone-pgbackrest-config")["data"]
    assert sections(data["source.conf"])["global:restore"] == {"process-max": "3"}


@pytest.mark.parametrize(("backup_from", "standby"), [(None, False), ("primary", False), ("prefer-standby", True)])
def test_backups_from_a_standby_fall_back_to_the_primary(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], backup_from: str | None, standby: bool
) -> None:
    """prefer-standby: pgBackRest's backup-standby first; it refuses with no replica streaming, and the
    backup runs from the primary then (with the retry of the first backup after a failover)."""
    spec = with_backups(**({"backupFrom": backup_from} if backup_from else {}))
    script = find(objects_of(spec), "ConfigMap", "hippo-pgbackrest-jobs")["data"]["backup.sh"]
    lines = [line.strip() for line in script.splitlines()]
    from_standby = 'run backup --type="$type" $start --backup-standby || {'
    assert (from_standby in lines) is standby
    if standby:
        after = lines[lines.index(from_standby) + 1 :]
        assert after[:2] == [
            'echo "no backup from a standby; backing up from the primary" >&2',
            "# The first backup after a failover can fail once on the new timeline (pgBackRest error 058), and",
        ]
    assert lines.count('run backup --type="$type" $start || {') == 1
    assert "backup-standby" not in "".join(
        find(objects_of(spec), "ConfigMap", "hippo-pgbackrest-jobs")["data"]["job-repo1.conf"]
    )


def test_database_pod(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    pod = find(objects_of(with_backups()), "StatefulSet", "hippo-instance1-0")["spec"]["template"]["spec"]
    database, sidecar = pod["containers"]
    assert sidecar["name"] == "pgbackrest"
    assert sidecar["command"] == ["pgbackrest", "server"]
    assert sidecar["ports"] == [{"name": "pgbackrest", "containerPort": 8432, "protocol": "TCP"}]
    assert {m["mountPath"] for m in sidecar["volumeMounts"]} == {"/pgdata", "/pgconf/tls", "/etc/pgbackrest", "/tmp"}
    assert [e["name"] for e in sidecar["env"]] == [e["name"] for e in database["env"] if "PGBACKREST" in e["name"]]
    assert {"PGBACKREST_CONFIG", "PGBACKREST_REPO1_CIPHER_PASS", "PGBACKREST_REPO1_S3_KEY"} <= {
        e["name"] for e in database["env"]
    }


def test_passphrase_is_derived_and_stable(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    first = find(objects_of(with_backups()), "Secret", "hippo-pgbackrest")["data"]["repo1-cipher-pass"]
    again = find(objects_of(with_backups()), "Secret", "hippo-pgbackrest")["data"]["repo1-cipher-pass"]
    assert first == again and len(base64.b64decode(first)) == 32


def test_manual_backup_names_a_repository(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    assert messages(plan_of, with_backups(manual={"repo": "repo2", "run": 1})) == [
        "spec.backups.manual.repo: 'repo2' is not a repository of spec.backups.repos (have repo1)"
    ]


def test_cron_job_names_fit(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = with_backups(s3_repo(schedules={"full": "0 1 * * *"}))
    spec["metadata"]["name"] = "h" * 42  # fits the reconcile Job's 63, not the CronJob's 52
    spec["spec"]["instances"][0]["name"] = "a"
    assert messages(plan_of, spec) == [
        f"metadata.name: CronJob name '{'h' * 42}-repo1-full' is 53 characters; Kubernetes allows 52 for a "
        "CronJob (its Jobs' names add 11); shorten metadata.name to at most 41 characters"
    ]


# --- restore, clone and standby --------------------------------------------------------------


def restore_spec(target: str | None = "2026-11-28T10:15:00Z", **more: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["metadata"]["name"] = "hippo-clone"
    source: dict[str, Any] = {"cluster": "hippo", "repo": s3_repo(), **more}
    if target:
        source["target"] = target
    spec["spec"]["bootstrap"] = {"fromBackup": source}
    return spec


def patroni_yaml(objects: list[dict[str, Any]], cluster: str) -> dict[str, Any]:
    """Patroni's configuration directory (patroni.yaml, bootstrap.yaml) as Patroni merges it."""
    import yaml

    data = find(objects, "ConfigMap", f"{cluster}-config")["data"]
    loaded: dict[str, Any] = {}
    for name in sorted(data):
        if name.endswith((".yaml", ".yml")):  # the guards' scripts beside them are not read
            loaded |= yaml.safe_load(data[name])
    return loaded


@pytest.mark.parametrize(
    ("target", "command"),
    [
        (
            "2026-11-28T10:15:00Z",
            "pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db --delta --type=time "
            "'--target=2026-11-28 10:15:00.000000+00' --target-action=promote restore",
        ),
        (
            "2026-11-28T11:15:00.5+01:00",
            "pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db --delta --type=time "
            "'--target=2026-11-28 10:15:00.500000+00' --target-action=promote restore",
        ),
        (None, "pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db --delta restore"),
    ],
)
def test_restore_bootstrap(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], target: str | None, command: str
) -> None:
    objects = objects_of(restore_spec(target))
    bootstrap = patroni_yaml(objects, "hippo-clone")["bootstrap"]
    assert bootstrap["method"] == "pgbackrest"
    restore = bootstrap["pgbackrest"]
    assert (restore["keep_existing_recovery_conf"], restore["no_params"]) == (True, True)
    # Marked while it runs (components/copy_guard.py, tests/test_copy_guard.py).
    assert shlex.split(restore["command"]) == ["sh", "-c", MARK, "/pgdata/pg16.bootstrapping", *shlex.split(command)]
    source = conf(find(objects, "ConfigMap", "hippo-clone-pgbackrest-config")["data"]["source.conf"])
    assert source["global"]["repo9-path"] == "/pgbackrest/db/hippo/repo1"  # the source's repository
    assert source["db"]["pg1-path"] == "/pgdata/pg16"


# bootstrap.fromBackup's other targets, and the backup to start from: (fields, pgbackrest restore's options).
RECOVERY = [
    ({"targetName": "before-the-migration"}, "--type=name --target=before-the-migration --target-action=promote"),
    ({"targetName": "it's 5 o'clock"}, "--type=name \"--target=it's 5 o'clock\" --target-action=promote"),
    ({"targetLsn": "16/B374D848"}, "--type=lsn --target=16/B374D848 --target-action=promote"),
    ({"targetXid": 8123}, "--type=xid --target=8123 --target-action=promote"),
    ({"targetImmediate": True}, "--type=immediate --target-action=promote"),
    ({"backupSet": "20261128-011500F"}, "--set=20261128-011500F"),
    (
        {"backupSet": "20261128-011500F_20261129-011500I", "targetImmediate": True},
        "--type=immediate --target-action=promote --set=20261128-011500F_20261129-011500I",
    ),
    ({"targetImmediate": False}, ""),
]


@pytest.mark.parametrize(("fields", "options"), RECOVERY)
def test_restore_targets(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], fields: dict[str, Any], options: str
) -> None:
    objects = objects_of(restore_spec(None, **fields))
    command = patroni_yaml(objects, "hippo-clone")["bootstrap"]["pgbackrest"]["command"]
    restore = shlex.split(command)[4:]
    assert restore == [
        "pgbackrest",
        "--config=/etc/pgbackrest/source.conf",
        "--stanza=db",
        "--delta",
        *shlex.split(options),
        "restore",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"target": "2026-11-28T10:15:00Z", "targetName": "x"},
            "a restore recovers to one target (target, targetName, targetLsn, targetXid, targetImmediate); "
            "found target, targetName",
        ),
        ({"targetLsn": "16/B374D848", "targetImmediate": True}, "found targetLsn, targetImmediate"),
        ({"targetLsn": "16-B374D848"}, "'16-B374D848' is not a WAL location"),
        ({"backupSet": "latest"}, "'latest' is not a backup's label"),
        ({"targetName": "two\nlines"}, "is not a restore point's name"),
        ({"targetName": "x" * 64}, "is not a restore point's name"),
        ({"targetName": "ä" * 32}, "expected 1-63 bytes on one line"),
        ({"targetXid": 2}, "expected a number of at least 3; found 2"),
    ],
)
def test_restore_targets_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], fields: dict[str, Any], message: str
) -> None:
    fields = dict(fields)
    spec = restore_spec(fields.pop("target", None), **fields)
    found = [m for m in messages(plan_of, spec) if m.startswith("spec.bootstrap.fromBackup")]
    assert found and message in found[0], found


def test_clone_reads_the_sources_passphrase(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """The clone's copy of the source passphrase is the source cluster's own, derived for it."""
    source = find(objects_of(with_backups()), "Secret", "hippo-pgbackrest")["data"]["repo1-cipher-pass"]
    clone = objects_of(restore_spec())
    assert find(clone, "Secret", "hippo-clone-pgbackrest")["data"] == {"source-cipher-pass": source}
    env = find(clone, "StatefulSet", "hippo-clone-instance1-0")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "PGBACKREST_REPO9_CIPHER_PASS",
        "valueFrom": {"secretKeyRef": {"name": "hippo-clone-pgbackrest", "key": "source-cipher-pass"}},
    } in env


def test_clone_archives_to_its_own_repository(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    spec = restore_spec()
    spec["spec"]["backups"] = {"repos": [s3_repo()]}
    data = find(objects_of(spec), "ConfigMap", "hippo-clone-pgbackrest-config")["data"]
    assert conf(data["instance.conf"])["global"]["repo1-path"] == "/pgbackrest/db/hippo-clone/repo1"
    assert "repo9-path" not in conf(data["instance.conf"])["global"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["spec"]["bootstrap"]["fromBackup"].update(repo={"name": "repo1", "volume": {"size": "1Gi"}}),
            "spec.bootstrap.fromBackup.repo: a volume repository lives on its cluster's repository host",
        ),
        (
            lambda s: s["spec"]["bootstrap"]["fromBackup"].update(target="yesterday"),
            "spec.bootstrap.fromBackup.target",
        ),
    ],
)
def test_restore_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], change: Callable[[dict[str, Any]], None], message: str
) -> None:
    spec = restore_spec()
    change(spec)
    assert any(m.startswith(message) for m in messages(plan_of, spec)), messages(plan_of, spec)


def test_restore_in_place_reads_its_own_repository(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """bootstrap.fromBackup naming the cluster itself (README, the restore in place): the source is
    its own repository, which it goes on archiving into once restored."""
    spec = restore_spec()
    spec["metadata"]["name"] = "hippo"
    spec["spec"]["backups"] = {"repos": [s3_repo()]}
    objects = objects_of(spec)
    data = find(objects, "ConfigMap", "hippo-pgbackrest-config")["data"]
    own = conf(data["instance.conf"])["global"]["repo1-path"]
    assert own == conf(data["source.conf"])["global"]["repo9-path"] == "/pgbackrest/db/hippo/repo1"
    # Its replicas copy the leader: the repository's latest backup may be from the history it left.
    assert "create_replica_methods" not in patroni_yaml(objects, "hippo")["postgresql"]
    spec["spec"].pop("bootstrap")
    assert patroni_yaml(objects_of(spec), "hippo")["postgresql"]["create_replica_methods"] == [
        "pgbackrest",
        "basebackup",
    ]


def test_a_standby_cannot_follow_itself(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = standby_spec()
    spec["metadata"]["name"] = "hippo"
    assert "spec.standby.fromBackup.cluster: a cluster cannot follow itself" in messages(plan_of, spec)


def standby_spec(enabled: bool = True) -> dict[str, Any]:
    spec = with_backups(s3_repo(schedules={"full": "0 1 * * *"}))
    spec["metadata"]["name"] = "hippo-standby"
    spec["spec"]["standby"] = {"enabled": enabled, "fromBackup": {"cluster": "hippo", "repo": s3_repo()}}
    return spec


def test_standby(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    objects = objects_of(standby_spec())
    config = patroni_yaml(objects, "hippo-standby")
    assert config["bootstrap"]["dcs"]["standby_cluster"] == {
        "create_replica_methods": ["pgbackrest"],
        "restore_command": 'pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db archive-get %f "%p"',
    }
    assert "method" not in config["bootstrap"]
    assert config["postgresql"]["pgbackrest"]["command"] == (
        "pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db --delta --type=standby restore"
    )
    assert find(objects, "CronJob", "hippo-standby-repo1-full")["spec"]["suspend"] is True
    assert not [o for o in objects if o["kind"] == "Job" and "-init-" in o["metadata"]["name"]]
    script = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "hippo-standby-reconcile")
    assert "roles and databases come with the source cluster's data" in script["data"]["reconcile.sh"]


def wal_volume(spec: dict[str, Any]) -> dict[str, Any]:
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    return spec


LINK = "--link-map=pg_wal=/pgwal/pg16_wal"


# Every restore into a member with a WAL volume maps pg_wal's link onto it (pgBackRest restores the link
# as a directory in the data directory otherwise): (spec, cluster, where Patroni's command is, the restore's words).
@pytest.mark.parametrize(
    ("spec", "cluster", "path", "restore"),
    [
        (wal_volume(with_backups()), "hippo", ("postgresql", "pgbackrest", "command"),
         f"pgbackrest --stanza=db --repo=1 --delta {LINK} --type=standby restore"),
        (wal_volume(standby_spec()), "hippo-standby", ("postgresql", "pgbackrest", "command"),
         f"pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db --delta {LINK} --type=standby restore"),
        (wal_volume(restore_spec()), "hippo-clone", ("bootstrap", "pgbackrest", "command"),
         f"pgbackrest --config=/etc/pgbackrest/source.conf --stanza=db --delta {LINK} --type=time "
         "'--target=2026-11-28 10:15:00.000000+00' --target-action=promote restore"),
        (with_backups(), "hippo", ("postgresql", "pgbackrest", "command"),
         "pgbackrest --stanza=db --repo=1 --delta --type=standby restore"),
    ],
)  # fmt: skip
def test_a_restore_puts_the_wal_on_the_wal_volume(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    spec: dict[str, Any],
    cluster: str,
    path: tuple[str, ...],
    restore: str,
) -> None:
    command: Any = patroni_yaml(objects_of(spec), cluster)
    for key in path:
        command = command[key]
    assert shlex.join(shlex.split(command)[-len(shlex.split(restore)) :]) == restore


def test_promoting_a_standby_is_a_spec_change(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    objects = objects_of(standby_spec(enabled=False))
    config = patroni_yaml(objects, "hippo-standby")
    assert "standby_cluster" not in config["bootstrap"]["dcs"]
    reconcile = find(objects, "ConfigMap", "hippo-standby-reconcile")["data"]
    assert "standby_cluster" not in reconcile["patroni-dynamic.json"]
    assert find(objects, "CronJob", "hippo-standby-repo1-full")["spec"]["suspend"] is False
    assert [o for o in objects if o["kind"] == "Job" and "-init-" in o["metadata"]["name"]]


def test_standby_and_restore_exclude_each_other(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = standby_spec()
    spec["spec"]["bootstrap"] = copy.deepcopy(restore_spec()["spec"]["bootstrap"])
    assert "spec.bootstrap.fromBackup: a standby cluster starts from standby.fromBackup; remove one" in messages(
        plan_of, spec
    )


# --- logical backups -------------------------------------------------------------------------


# --- where the backup pods run, what they carry --------------------------------------------

TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "backups", "effect": "NoSchedule"}
ON_SSD = {
    "requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
    }
}
JOBS = {"tolerations": [TOLERATION], "nodeSelector": {"pool": "batch"}, "priorityClassName": "backups"}
HOST = {"nodeAffinity": ON_SSD, "tolerations": [TOLERATION], "priorityClassName": "repo-host"}
PLACED = ("affinity", "tolerations", "nodeSelector", "priorityClassName")


def pod_templates(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each backup workload's pod template, by the workload's name."""
    templates = {}
    for obj in objects:
        if obj["kind"] not in ("CronJob", "Job", "StatefulSet"):
            continue
        if obj["metadata"]["labels"].get("app.kubernetes.io/component") in ("backup", "repo-host"):
            spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
            templates[obj["metadata"]["name"]] = spec["template"]
    return templates


def test_backup_pods_run_where_they_are_placed(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    repos = (
        s3_repo(schedules={"full": "0 1 * * 0"}),
        {"name": "repo2", "volume": {"size": "10Gi"}, "schedules": {"full": "0 3 * * *"}},
    )
    spec = with_backups(
        *repos,
        manual={"repo": "repo1", "run": 1},
        logical={"repo": "repo1", "schedule": "0 23 * * *"},
        jobs={"scheduling": JOBS},
        repoHost={"scheduling": HOST},
    )
    placed = {
        name: {k: v for k, v in template["spec"].items() if k in PLACED}
        for name, template in pod_templates(objects_of(spec)).items()
    }
    init = next(name for name in placed if "-init-" in name)
    beside_host = {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {
                    "matchLabels": {"pgrender.io/cluster": "hippo", "app.kubernetes.io/component": "repo-host"}
                },
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
    assert placed == {
        "hippo-repo1-full": JOBS,  # object store: backups.jobs
        init: JOBS,
        "hippo-repo1-manual-1": JOBS,
        "hippo-logical-backup": JOBS,
        # a volume repository's Jobs run beside the repository host: on its nodes, at its priority
        "hippo-repo2-full": {
            "affinity": {"nodeAffinity": ON_SSD, "podAffinity": beside_host},
            "tolerations": [TOLERATION],
            "priorityClassName": "repo-host",
        },
        "hippo-repo-host": {
            "affinity": {"nodeAffinity": ON_SSD},
            "tolerations": [TOLERATION],
            "priorityClassName": "repo-host",
        },
    }


def test_backup_pods_unplaced_by_default(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    spec = with_backups(s3_repo(schedules={"full": "0 1 * * 0"}), {"name": "repo2", "volume": {"size": "1Gi"}})
    templates = pod_templates(objects_of(spec))
    assert sorted(n for n in templates if "-init-" not in n) == ["hippo-repo-host", "hippo-repo1-full"]
    assert {n: [k for k in PLACED if k in t["spec"]] for n, t in templates.items()} == {name: [] for name in templates}


def test_backup_metadata(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    metadata = {"labels": {"team": "dba"}, "annotations": {"backup.example.com/owner": "dba"}}
    repos = (s3_repo(schedules={"full": "0 1 * * 0"}), {"name": "repo2", "volume": {"size": "1Gi"}})
    spec = with_backups(*repos, manual={"repo": "repo1", "run": 1}, metadata=metadata)
    spec["metadata"]["labels"] = {"tier": "db"}
    objects = objects_of(spec)
    templates = pod_templates(objects)
    for name, template in templates.items():
        assert template["metadata"]["labels"].items() >= {"team": "dba", "tier": "db"}.items(), name
        assert template["metadata"]["annotations"].items() >= metadata["annotations"].items(), name
    init = next(name for name in templates if "-init-" in name)
    owned = [
        find(objects, kind, name)
        for kind, name in [
            ("CronJob", "hippo-repo1-full"),
            ("Job", init),
            ("Job", "hippo-repo1-manual-1"),
            ("PersistentVolumeClaim", "hippo-repo2"),
            ("Service", "hippo-repo-host"),
            ("StatefulSet", "hippo-repo-host"),
        ]
    ]
    for obj in owned:
        meta = obj["metadata"]
        assert meta["labels"]["team"] == "dba" and meta["annotations"]["backup.example.com/owner"] == "dba", meta
    cron_job = find(objects, "CronJob", "hippo-repo1-full")
    assert cron_job["spec"]["jobTemplate"]["metadata"]["labels"]["team"] == "dba"
    # the database pods and other objects are not the backups'
    assert "team" not in find(objects, "StatefulSet", "hippo-instance1-0")["metadata"]["labels"]


@pytest.mark.parametrize(
    ("more", "problem"),
    [
        (
            {"metadata": {"labels": {"pgrender.io/cluster": "x"}}},
            "spec.backups.metadata.labels.pgrender.io/cluster: 'pgrender.io/cluster' is set by pgrender",
        ),
        (
            {"jobs": {"scheduling": {"podAntiAffinity": {"type": "required"}}}},
            "spec.backups.jobs.scheduling.podAntiAffinity",
        ),
    ],
    ids=["reserved-label", "no-anti-affinity"],
)
def test_backup_pods_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], more: dict[str, Any], problem: str
) -> None:
    (message,) = messages(plan_of, with_backups(s3_repo(schedules={"full": "0 1 * * 0"}), **more))
    assert message.startswith(problem), message


def test_repo_host_placement_without_a_repository_host_is_warned_about(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
) -> None:
    spec = with_backups(s3_repo(schedules={"full": "0 1 * * 0"}), repoHost={"scheduling": HOST})
    (warning,) = plan_of(spec).warnings
    assert (warning.path, warning.message) == (
        "spec.backups.repoHost.scheduling",
        "repoHost.scheduling places the repository host, which only volume repositories have: none here",
    )


def test_logical_backup(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    spec = with_backups(
        s3_repo(s3={**S3, "uriStyle": "path", "port": 9000}, storageCA={"secretName": "minio-ca"}),
        logical={"repo": "repo1", "schedule": "0 23 * * *"},
    )
    objects = objects_of(spec)
    cron_job = find(objects, "CronJob", "hippo-logical-backup")["spec"]
    assert cron_job["schedule"] == "0 23 * * *"
    pod = cron_job["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/zalando/postgres-operator/logical-backup:v2.0.1"
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["PGRENDER_LOGICAL_TARGET"] == "s3://hippo-backups/pgbackrest/db/hippo/repo1/logical"
    assert env["PGRENDER_S3_ENDPOINT"] == "https://s3.eu-north-1.amazonaws.com:9000"
    assert env["AWS_CA_BUNDLE"] == "/etc/pgbackrest/repo1-storage-ca.crt"
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "hippo-s3", "key": "key"}}
    assert env["PGSSLMODE"] == "verify-full"
    assert not [name for name in env if name.startswith("PGBACKREST")]  # no repository passphrase
    data = find(objects, "ConfigMap", "hippo-pgbackrest-jobs")["data"]
    assert "--no-role-passwords" in data["logical-backup.sh"]
    assert data["aws.conf"] == "[default]\nregion = eu-north-1\ns3 =\n    addressing_style = path\n"


@pytest.mark.parametrize(
    ("retention", "expires"),
    [({}, None), ({"retentionDays": 30}, 30 * 86400), ({"retentionDays": 1}, 86400)],
)
def test_logical_backup_retention(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], retention: dict[str, int], expires: int | None
) -> None:
    """retentionDays: after the dump, the dumps named for a time before that many days ago are deleted
    (the runtime suite runs it against the object store)."""
    spec = with_backups(s3_repo(), logical={"repo": "repo1", "schedule": "0 23 * * *", **retention})
    script = find(objects_of(spec), "ConfigMap", "hippo-pgbackrest-jobs")["data"]["logical-backup.sh"]
    assert ("aws s3 rm" in script.split('echo "wrote $name"')[1]) is (expires is not None)
    if expires is not None:
        assert f'cutoff=$(date -u -d "@$(( $(date -u +%s) - {expires} ))" +%Y%m%dT%H%M%SZ)' in script


# --- repositories reached with the pod's own cloud identity --------------------------------

WEB_ID = {"name": "repo1", "s3": {**S3, "keyType": "web-id"}}
INSTANCE = "hippo-instance"  # the database pods' ServiceAccount, which serviceAccountTemplate annotates


def backup_pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod spec of every backup Job and CronJob, by the object's name."""
    out = {}
    for obj in objects:
        if obj["kind"] in ("Job", "CronJob") and "reconcile" not in obj["metadata"]["name"]:
            job = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
            out[obj["metadata"]["name"].rsplit("-init-", 1)[0]] = job["template"]["spec"]
    return out


@pytest.mark.parametrize(
    ("repos", "accounts"),
    [
        ([s3_repo()], {"hippo-repo1": None}),  # keys from a Secret
        ([WEB_ID], {"hippo-repo1": INSTANCE}),
        ([{"name": "repo1", "s3": {**S3, "keyType": "auto"}}], {"hippo-repo1": INSTANCE}),
        ([{"name": "repo1", "gcs": {"bucket": "hippo-gcs", "keyType": "auto"}}], {"hippo-repo1": INSTANCE}),
        ([{"name": "repo1", "gcs": {"bucket": "hippo-gcs"}, "credentials": CREDENTIALS}], {"hippo-repo1": None}),
        (
            [{"name": "repo1", "azure": {"container": "hippo", "keyType": "sas"}, "credentials": CREDENTIALS}],
            {"hippo-repo1": None},
        ),
        ([WEB_ID, {"name": "repo2", "volume": {"size": "1Gi"}}], {"hippo-repo1": INSTANCE, "hippo-repo2": None}),
    ],
)
def test_a_repository_reached_with_the_pods_identity_is_backed_up_as_the_instance_account(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    repos: list[dict[str, Any]],
    accounts: dict[str, str | None],
) -> None:
    """keyType web-id or auto: every backup Job of the repository (initial, scheduled, manual) runs as
    <c>-instance, which the role is granted to, still without an API token; keys: the namespace's
    default, as before."""
    schedules = {"full": "0 1 * * *", "incremental": "0 2 * * *"}
    spec = with_backups(*({**r, "schedules": schedules} for r in repos), manual={"repo": "repo1", "run": 1})
    pods = backup_pods(objects_of(spec))
    for name, pod in pods.items():
        repo = next(prefix for prefix in accounts if name.startswith(prefix + "-") or name == prefix)
        assert pod.get("serviceAccountName") == accounts[repo], name
        assert pod["automountServiceAccountToken"] is False, name
    kinds = {name.removeprefix("hippo-repo1-") for name in pods if name.startswith("hippo-repo1")}
    assert kinds == {"hippo-repo1", "full", "incr", "manual-1"}


@pytest.mark.parametrize("key_type", ["web-id", "auto"])
def test_logical_backup_with_the_pods_identity(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], key_type: str
) -> None:
    """The AWS CLI finds the pod's identity itself (the web identity token the platform mounts, or the
    instance metadata service): no keys in the environment, the instance account."""
    spec = with_backups(
        {"name": "repo1", "s3": {**S3, "keyType": key_type}}, logical={"repo": "repo1", "schedule": "0 23 * * *"}
    )
    pod = backup_pods(objects_of(spec))["hippo-logical-backup"]
    assert pod["serviceAccountName"] == INSTANCE
    (container,) = pod["containers"]
    names = {e["name"] for e in container["env"]}
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & names
    assert "PGRENDER_LOGICAL_TARGET" in names


@pytest.mark.parametrize(
    ("repo", "message"),
    [
        ({"name": "repo1", "volume": {"size": "1Gi"}}, "logical backups are written with the AWS CLI: repo1 must be"),
        (s3_repo(name="repo2"), "'repo1' is not a repository of spec.backups.repos (have repo2)"),
    ],
)
def test_logical_backup_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], repo: dict[str, Any], message: str
) -> None:
    (problem,) = messages(plan_of, with_backups(repo, logical={"repo": "repo1", "schedule": "0 23 * * *"}))
    assert problem.startswith(f"spec.backups.logical.repo: {message}")


@pytest.mark.parametrize(
    ("repo", "path"),
    [
        (s3_repo(credentials={"secretName": "hippo-pgbackrest"}), "spec.backups.repos[0].credentials.secretName"),
        (s3_repo(storageCA={"secretName": "hippo-cluster-cert"}), "spec.backups.repos[0].storageCA.secretName"),
        (s3_repo(credentials={"secretName": "hippo-pguser-hippo"}), "spec.backups.repos[0].credentials.secretName"),
    ],
)
def test_user_secrets_are_not_ones_pgrender_writes(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], repo: dict[str, Any], path: str
) -> None:
    (message,) = messages(plan_of, with_backups(repo))
    assert message.startswith(f"{path}: pgrender writes the Secret ")


# --- streaming standby -----------------------------------------------------------------------


def stream_spec(**stream: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["metadata"]["name"] = "hippo-stream"
    spec["spec"]["standby"] = {"fromCluster": {"cluster": "hippo", **stream}}
    return spec


def test_streaming_standby(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGRENDER_TRUSTED_SOURCES", "prod/hippo")  # another namespace's: trusted_sources.py
    objects = objects_of(stream_spec(namespace="prod", port=5433))
    config = patroni_yaml(objects, "hippo-stream")
    assert config["bootstrap"]["dcs"]["standby_cluster"] == {
        "create_replica_methods": ["basebackup"],
        "host": "hippo-primary.prod.svc",
        "port": 5433,
    }
    assert not [o for o in objects if "pgbackrest" in o["metadata"]["name"]]


CLONE_OF_PROD = {"cluster": "hippo", "namespace": "prod", "repo": s3_repo()}


@pytest.mark.parametrize(
    ("source", "trusted", "refused"),
    [
        ({"standby": {"fromCluster": {"cluster": "hippo", "namespace": "prod"}}}, "", "standby.fromCluster"),
        ({"standby": {"fromBackup": CLONE_OF_PROD}}, "", "standby.fromBackup"),
        ({"bootstrap": {"fromBackup": CLONE_OF_PROD}}, "", "bootstrap.fromBackup"),
        ({"bootstrap": {"fromBackup": CLONE_OF_PROD}}, "prod/other other/hippo", "bootstrap.fromBackup"),
        ({"bootstrap": {"fromBackup": CLONE_OF_PROD}}, "prod/hippo", None),
        ({"bootstrap": {"fromBackup": CLONE_OF_PROD}}, "staging/x, prod/*", None),
        (
            {"standby": {"enabled": False, "fromCluster": {"cluster": "hippo", "namespace": "prod"}}},
            "",
            "standby.fromCluster",
        ),
        ({"bootstrap": {"fromBackup": {**CLONE_OF_PROD, "namespace": "db"}}}, "", None),  # its own namespace
        ({"bootstrap": {"fromCluster": {"cluster": "hippo", "namespace": "prod"}}}, "", "bootstrap.fromCluster"),
        ({"bootstrap": {"fromCluster": {"cluster": "hippo", "namespace": "prod"}}}, "prod/hippo", None),
    ],
)
def test_a_source_in_another_namespace_must_be_trusted_by_the_keys_holder(
    write_spec: Callable[..., Path], source: dict[str, Any], trusted: str, refused: str | None
) -> None:
    """Its passwords, CA and passphrase are derived into this namespace: only the holder of the root key
    may allow that, in the render's environment (trusted_sources.py)."""
    spec = base_spec()
    spec["spec"]["users"] = [{"name": "app", "databases": ["app"]}]
    spec["spec"].update(source)
    path = (str(write_spec(spec)),)
    allowed = trusted_sources.trusted({"PGRENDER_TRUSTED_SOURCES": trusted})
    if refused is None:
        assert len(validate(path, trusted=allowed)) == 1
        return
    with pytest.raises(SpecError) as info:
        validate(path, trusted=allowed)
    (message,) = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert message.startswith(f"spec.{refused}.namespace: prod/hippo is another namespace's cluster"), message
    assert "PGRENDER_TRUSTED_SOURCES" in message


@pytest.mark.parametrize(
    ("stream", "source_tls", "same"),
    [
        ({}, {}, True),
        ({"tls": {"caRotation": 2}}, {"caRotation": 2}, True),
        ({"tls": {"notBefore": "2026-06-01T00:00:00Z"}}, {"notBefore": "2026-06-01T00:00:00Z"}, True),
        ({}, {"caRotation": 1}, False),  # the standby must state the source's CA settings
        ({}, {"rotation": 1}, True),  # the source's new certificates come from the same CA
    ],
)
def test_streaming_standby_shares_the_sources_ca(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    stream: dict[str, Any],
    source_tls: dict[str, Any],
    same: bool,
) -> None:
    source = base_spec()
    source["spec"]["tls"] = source_tls
    source_ca = find(objects_of(source), "Secret", "hippo-cluster-cert")["data"]["ca.crt"]
    standby = objects_of(stream_spec(**stream))
    assert (find(standby, "Secret", "hippo-stream-cluster-cert")["data"]["ca.crt"] == source_ca) is same


def test_standby_needs_a_source(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["standby"] = {"enabled": True}
    assert messages(plan_of, spec) == ["spec.standby: a standby follows fromBackup, fromCluster or both; found neither"]
    assert messages(plan_of, stream_spec(cluster="hippo-stream")) == [
        "spec.standby.fromCluster.cluster: a cluster cannot follow itself"
    ]


def test_argo_cd_waves(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """The repository host comes up with its Secrets (wave 0), before the instances that archive to
    it; the backup Jobs after the instances, with the reconcile Job."""
    repos = (s3_repo(), {"name": "repo2", "volume": {"size": "1Gi"}})
    objects = objects_of(with_backups(*repos, manual={"repo": "repo1", "run": 1}))

    def wave(kind: str, name: str) -> str:
        obj = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name))
        return str(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))

    assert [wave("StatefulSet", "hippo-repo-host"), wave("PersistentVolumeClaim", "hippo-repo2")] == ["0", "0"]
    assert [wave("Secret", "hippo-pgbackrest-cert"), wave("ConfigMap", "hippo-pgbackrest-config")] == ["0", "0"]
    assert wave("StatefulSet", "hippo-instance1-0") == "1"
    reconcile = wave("Job", "hippo-reconcile-")
    assert [wave("Job", "hippo-repo1-init-"), wave("Job", "hippo-repo1-manual-1")] == [reconcile, reconcile]


def test_what_only_jobs_read_restarts_nothing(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """A new retention or backup script changes the Jobs' ConfigMap, not the members' pod template."""

    def template(spec: dict[str, Any]) -> dict[str, Any]:
        return dict(find(objects_of(spec), "StatefulSet", "hippo-instance1-0")["spec"]["template"])

    kept = template(with_backups(s3_repo(retention={"full": 3})))
    assert template(with_backups(s3_repo(retention={"full": 5}, schedules={"full": "0 2 * * *"}))) == kept
    assert template(with_backups(s3_repo(cipher="none"))) != kept  # the repository itself: members read it


def test_a_standby_holds_its_sources_passwords(tmp_path: Path) -> None:
    """Its roles are the source's, with their passwords (its data is the source's): its Secrets
    carry them, so applications log in to it (read-only) and keep their credentials through
    promotion; pgBouncer's and the exporter's roles likewise. Its own cluster's passwords otherwise."""
    source = yaml.safe_load((EXAMPLES / "backups.yaml").read_text())
    standby = yaml.safe_load((EXAMPLES / "standby.yaml").read_text())
    for spec in (source, standby):
        spec["spec"]["users"] = [{"name": "hippo"}]
        spec["spec"]["proxy"] = {"pgBouncer": {}}
        spec["spec"]["monitoring"] = {}
    alone = copy.deepcopy(standby)
    alone["spec"].pop("standby")

    def passwords(spec: dict[str, Any], name: str) -> dict[str, bytes]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec))
        files = write.files(render(Request((str(path),), key_file=str(GOLDEN_KEY))))
        secrets = [yaml.safe_load(t) for t in files.values() if "\nkind: Secret\n" in t]
        return {
            s["metadata"]["name"].replace(spec["metadata"]["name"], "<c>", 1): base64.b64decode(s["data"]["password"])
            for s in secrets
            if "password" in s.get("data", {})
        }

    roles = ("<c>-pguser-hippo", "<c>-pgbouncer", "<c>-monitoring")  # not Patroni's REST API's: its own
    from_source = {k: v for k, v in passwords(source, "source").items() if k in roles}
    assert sorted(from_source) == sorted(roles)
    assert {k: v for k, v in passwords(standby, "standby").items() if k in roles} == from_source
    assert not set(passwords(alone, "alone").values()) & set(from_source.values())


@pytest.mark.parametrize(
    ("source", "standby", "told"),
    [
        ({}, {}, []),
        (
            {"max_connections": 300},
            {},
            ["spec.patroni.parameters.max_connections: max_connections is 100 here and 300"],
        ),
        ({"max_connections": 300}, {"max_connections": 300}, []),
        ({"max_connections": 300}, {"max_connections": 400}, []),  # more is fine
        ({}, {"max_connections": 50}, ["spec.patroni.parameters.max_connections: max_connections is 50 here and 100"]),
        (
            {"max_worker_processes": 16, "max_locks_per_transaction": 128},
            {"max_worker_processes": 8},
            [
                "spec.patroni.parameters.max_locks_per_transaction: max_locks_per_transaction is 64 here and 128",
                "spec.patroni.parameters.max_worker_processes: max_worker_processes is 8 here and 16",
            ],
        ),
        ({"work_mem": "64MB"}, {}, []),  # not one of PostgreSQL's five
        # As PostgreSQL reads integers: hexadecimal, octal (0200 is 128), an exponent, a fraction.
        (
            {"max_connections": 150},
            {"max_connections": "0200"},
            ["spec.patroni.parameters.max_connections: max_connections is 128"],
        ),
        ({"max_connections": "1e2"}, {"max_connections": "0x64"}, []),
        ({"max_connections": 100}, {"max_connections": "99.6"}, []),
    ],
)
def test_a_standby_has_at_least_its_sources_hot_standby_settings(
    write_spec: Callable[..., Path], source: dict[str, Any], standby: dict[str, Any], told: list[str]
) -> None:
    """Rendered together, a standby below its source would pause its replay at the source's next restart."""
    found = _standby_with_source(
        write_spec,
        lambda hippo: hippo["spec"].__setitem__("patroni", {"parameters": source}),
        lambda follower: follower["spec"].__setitem__("patroni", {"parameters": standby}),
    )
    assert [m[: len(t)] for m, t in zip(found, told, strict=True)] == told
    assert all("in postgres-dr/hippo, which this standby follows" in m for m in found)


def _standby_with_source(
    write_spec: Callable[..., Path],
    source: Callable[[Any], None],
    standby: Callable[[Any], None],
    example: str = "standby",
) -> list[str]:
    """examples/backups.yaml and examples/<example>.yaml (standby.yaml follows it, clone.yaml copies it)
    edited and validated in one run: the problems (path: message, sorted), none when both are valid."""
    hippo = yaml.safe_load((EXAMPLES / "backups.yaml").read_text())
    follower = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    source(hippo)
    standby(follower)
    path = write_spec(yaml.safe_dump(hippo) + "---\n" + yaml.safe_dump(follower))
    try:
        assert len(validate((str(path),))) == 2
    except SpecError as exc:
        return sorted(f"{p.path}: {p.message}" for p in exc.problems)
    return []


@pytest.mark.parametrize(
    ("source_tls", "stream_tls", "told"),
    [
        ({}, {}, []),
        ({"caRotation": 1}, {}, ["spec.standby.fromCluster.tls.caRotation: caRotation is 0 here and 1"]),
        ({"caRotation": 1}, {"caRotation": 1}, []),
        ({"rotation": 3}, {}, []),  # the source's certificates renewed under the same CA
        ({"caValidityDays": 900}, {}, ["spec.standby.fromCluster.tls.caValidityDays: caValidityDays is 7300 here"]),
        (
            {"notBefore": "2026-06-01T00:00:00Z"},
            {"notBefore": "2026-06-01T02:00:00+02:00"},  # the same moment
            [],
        ),
    ],
)
def test_a_streaming_standby_describes_its_sources_ca(
    write_spec: Callable[..., Path], source_tls: dict[str, Any], stream_tls: dict[str, Any], told: list[str]
) -> None:
    """Rendered together, a streaming standby's fromCluster.tls must make the CA its source's spec.tls makes."""
    found = _standby_with_source(
        write_spec,
        lambda hippo: hippo["spec"].__setitem__("tls", source_tls),
        lambda follower: follower["spec"]["standby"]["fromCluster"].__setitem__("tls", stream_tls),
    )
    assert [m[: len(t)] for m, t in zip(found, told, strict=True)] == told
    assert all("in postgres-dr/hippo's spec.tls, the cluster this standby streams from" in m for m in found)


@pytest.mark.parametrize(
    ("source_tls", "clone_tls", "told"),
    [
        ({}, {}, []),
        ({"caRotation": 1}, {}, ["spec.bootstrap.fromCluster.tls.caRotation: caRotation is 0 here and 1"]),
        ({"caRotation": 1}, {"caRotation": 1}, []),
        ({"notBefore": "2026-06-01T00:00:00Z"}, {}, ["spec.bootstrap.fromCluster.tls.notBefore: notBefore is 20"]),
    ],
)
def test_a_direct_clone_describes_its_sources_ca(
    write_spec: Callable[..., Path], source_tls: dict[str, Any], clone_tls: dict[str, Any], told: list[str]
) -> None:
    """Rendered together, bootstrap.fromCluster.tls must make the CA its source's spec.tls makes: the
    certificate pg_basebackup presents comes from it."""
    found = _standby_with_source(
        write_spec,
        lambda hippo: hippo["spec"].__setitem__("tls", source_tls),
        lambda clone: clone["spec"]["bootstrap"]["fromCluster"].__setitem__("tls", clone_tls),
        "clone",
    )
    assert [m[: len(t)] for m, t in zip(found, told, strict=True)] == told
    assert all("in postgres-dr/hippo's spec.tls, the cluster this cluster is copied from" in m for m in found)


# --- direct clone ---------------------------------------------------------------------------------


def clone_spec(**source: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["metadata"]["name"] = "hippo-copy"
    spec["spec"]["bootstrap"] = {"fromCluster": {"cluster": "hippo", **source}}
    return spec


def test_direct_clone(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """bootstrap.fromCluster: pg_basebackup from the source's primary Service instead of initdb, with
    the source's CA and a replication certificate from it, mounted where the command reads them."""
    from cryptography import x509

    objects = objects_of(clone_spec(port=5433))
    bootstrap = patroni_yaml(objects, "hippo-copy")["bootstrap"]
    assert (bootstrap["method"], "initdb" in bootstrap) == ("pg_basebackup", False)
    clone = bootstrap["pg_basebackup"]
    assert (clone["no_params"], clone["keep_existing_recovery_conf"]) == (True, False)
    words = shlex.split(clone["command"])
    # Marked while it runs (components/copy_guard.py, tests/test_copy_guard.py).
    assert words[:9] == [
        "sh",
        "-c",
        MARK,
        "/pgdata/pg16.bootstrapping",
        "/usr/lib/postgresql/16/bin/pg_basebackup",
        "--pgdata=/pgdata/pg16",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-password",
    ]
    (dbname,) = words[9:]
    assert dbname.startswith("--dbname=host=hippo-primary.db.svc port=5433 user=_pgrender_repl ")
    assert "sslrootcert=/pgconf/tls/clone-source/ca.crt sslcert=/pgconf/tls/clone-source/tls.crt" in dbname

    secret = find(objects, "Secret", "hippo-copy-clone-source")
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    source_ca = find(objects_of(base_spec()), "Secret", "hippo-cluster-cert")["data"]["ca.crt"]
    assert base64.b64encode(data["source-ca.crt"]).decode() == source_ca
    own_ca = find(objects, "Secret", "hippo-copy-cluster-cert")["data"]["ca.crt"]
    assert own_ca != source_ca  # the copy has a CA of its own
    leaf = x509.load_pem_x509_certificate(data["tls.crt"])
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(data["source-ca.crt"]))
    assert leaf.subject.rfc4514_string() == "CN=_pgrender_repl"  # the source's pg_hba admits it by name
    assert "pgrender.io/ca" not in secret["metadata"].get("annotations", {})  # not the cluster's CA

    pod = find(objects, "StatefulSet", "hippo-copy-instance1-0")["spec"]["template"]["spec"]
    (tls,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    (mounted,) = [s["secret"] for s in tls["projected"]["sources"] if s["secret"]["name"] == "hippo-copy-clone-source"]
    assert {i["key"]: i["path"] for i in mounted["items"]} == {
        "source-ca.crt": "clone-source/ca.crt",
        "tls.crt": "clone-source/tls.crt",
        "tls.key": "clone-source/tls.key",
    }
    policy = find(objects, "NetworkPolicy", "hippo-copy-database")["spec"]
    assert {"podSelector": {"matchLabels": {"pgrender.io/cluster": "hippo"}}, **NAMESPACE_DB} in [
        peer for rule in policy["egress"] for peer in rule.get("to", [])
    ]
    assert not [o for o in objects_of(base_spec()) if o["metadata"]["name"].endswith("-clone-source")]


NAMESPACE_DB = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "db"}}}


@pytest.mark.parametrize(
    ("change", "told"),
    [
        (
            lambda s: s["spec"]["bootstrap"]["fromCluster"].update(cluster="hippo-copy"),
            "spec.bootstrap.fromCluster.cluster: a cluster cannot be copied from itself",
        ),
        (
            lambda s: s["spec"].update(standby={"fromCluster": {"cluster": "hippo"}}),
            "spec.bootstrap.fromCluster: a standby cluster starts from spec.standby",
        ),
        (
            lambda s: s["spec"]["bootstrap"].update(fromBackup={"cluster": "hippo", "repo": s3_repo()}),
            "spec.bootstrap: a cluster starts from fromBackup or from fromCluster; found both",
        ),
    ],
)
def test_direct_clone_refused(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], change: Callable[[dict[str, Any]], None], told: str
) -> None:
    spec = clone_spec()
    change(spec)
    assert [m for m in messages(plan_of, spec) if m.startswith(told)]


@pytest.mark.parametrize(
    ("example", "path"),
    [("standby", "spec.standby.fromCluster.cluster"), ("clone", "spec.bootstrap.fromCluster.cluster")],
)
def test_a_streaming_standby_is_no_source_of_its_own_ca(
    write_spec: Callable[..., Path], example: str, path: str
) -> None:
    """A cluster streaming from (or copied from) a streaming standby of the same run: the standby runs its
    source's CA, and what pgrender would derive for the standby is not trusted there."""
    hippo = yaml.safe_load((EXAMPLES / "backups.yaml").read_text())
    middle = yaml.safe_load((EXAMPLES / "standby.yaml").read_text())
    last = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    last["metadata"]["name"] = "hippo-last"
    (last["spec"]["standby"] if example == "standby" else last["spec"]["bootstrap"])["fromCluster"]["cluster"] = (
        "hippo-standby"
    )
    last["spec"].get("standby", {}).pop("fromBackup", None)
    spec = write_spec("---\n".join(yaml.safe_dump(d) for d in (hippo, middle, last)))
    with pytest.raises(SpecError) as info:
        validate((str(spec),))
    (message,) = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert message.startswith(f"{path}: postgres-dr/hippo-standby, the cluster this "), message
    assert "is itself a streaming standby of postgres-dr/hippo and runs certificates of" in message, message
    assert message.endswith("; name postgres-dr/hippo here"), message


@pytest.mark.parametrize(
    ("source", "host", "egress"),
    [
        (
            {},
            "hippo-primary.db.svc",
            {"podSelector": {"matchLabels": {"pgrender.io/cluster": "hippo"}}, **NAMESPACE_DB},
        ),
        (
            {"host": "db.eu-west.example.com", "port": 6432},
            "db.eu-west.example.com",
            {"ipBlock": {"cidr": "0.0.0.0/0"}},
        ),
        (
            {"host": "10.1.2.3"},
            "10.1.2.3",
            {"ipBlock": {"cidr": "10.1.2.0/24"}},  # spec.networkPolicy.sources narrows it
        ),
    ],
)
@pytest.mark.parametrize("kind", ["standby", "bootstrap"])
def test_a_source_outside_this_kubernetes_cluster(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
    source: dict[str, Any],
    host: str,
    egress: dict[str, Any],
    kind: str,
) -> None:
    """fromCluster.host: a standby streams from, and a copy copies, the source's primary where another
    Kubernetes cluster exposes it; the members may reach it as spec.networkPolicy.sources says."""
    spec = stream_spec(**source) if kind == "standby" else clone_spec(**source)
    if source.get("host") == "10.1.2.3":
        spec["spec"]["networkPolicy"] = {"sources": {"to": [{"ipBlock": {"cidr": "10.1.2.0/24"}}]}}
    name = spec["metadata"]["name"]
    objects = objects_of(spec)
    config = patroni_yaml(objects, name)
    port = source.get("port", 5432)
    if kind == "standby":
        assert (
            config["bootstrap"]["dcs"]["standby_cluster"]["host"],
            config["bootstrap"]["dcs"]["standby_cluster"]["port"],
        ) == (host, port)
    else:
        assert f"--dbname=host={host} port={port} " in config["bootstrap"]["pg_basebackup"]["command"]
    rules = find(objects, "NetworkPolicy", f"{name}-database")["spec"]["egress"]
    ports = [{"protocol": "TCP", "port": "postgres" if "host" not in source else port}]
    assert [r for r in rules if egress in r.get("to", []) and r["ports"] == ports]


@pytest.mark.parametrize("host", ["*.example.com", "db example", "fe80::1%eth0"])
def test_a_source_host_is_one_to_connect_to(plan_of: Callable[[dict[str, Any]], ClusterPlan], host: str) -> None:
    (message,) = messages(plan_of, clone_spec(host=host))
    assert message.startswith("spec.bootstrap.fromCluster.host: "), message


def test_direct_clone_certificate_has_the_replication_common_name(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """A source with spec.tls.replicationCommonName (EDB PGD's streaming_replica) admits replication only
    under that name, through its pg_ident map: the copy's certificate for it carries the copy's own
    replicationCommonName (as a streaming standby's does), while pg_basebackup logs in as the role."""
    from cryptography import x509

    spec = clone_spec()
    spec["spec"]["tls"] = {"replicationCommonName": "streaming_replica"}
    objects = objects_of(spec)
    data = find(objects, "Secret", "hippo-copy-clone-source")["data"]
    leaf = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    assert leaf.subject.rfc4514_string() == "CN=streaming_replica"
    command = patroni_yaml(objects, "hippo-copy")["bootstrap"]["pg_basebackup"]["command"]
    assert " user=_pgrender_repl " in command


CERT_MANAGER_TLS = {
    "provider": "cert-manager",
    "certManager": {"issuerRef": {"name": "corp-pki", "kind": "ClusterIssuer"}},
    "caCertificate": yaml.safe_load((Path(__file__).parent.parent / "golden/tls-cert-manager/spec.yaml").read_text())[
        "spec"
    ]["tls"]["caCertificate"],
}


@pytest.mark.parametrize("example", ["standby", "clone"])
@pytest.mark.parametrize(
    ("source", "follower", "told"),
    [
        ({}, {}, []),
        ({"naming": "zalando"}, {}, ["fromCluster.cluster: postgres-dr/hippo, the cluster this "]),
        ({"naming": "zalando"}, {"naming": "zalando"}, []),
        (
            {"connectivity": {"dns": {"domain": "db.example.com", "hostSuffix": "-east"}}},
            {},
            ["fromCluster.cluster: postgres-dr/hippo, the cluster this "],
        ),
        ({"port": 5433}, {}, ["fromCluster.port: port is 5432 here and 5433 in postgres-dr/hippo's spec.port"]),
        ({"postgresVersion": 17}, {}, ["spec.postgresVersion: postgresVersion is 16 here and 17 in postgres-dr/hippo"]),
        (
            {"tls": {"replicationCommonName": "streaming_replica"}},
            {},
            ["spec.tls.replicationCommonName: the replication certificate's common name is _pgrender_repl here"],
        ),
        (
            {"tls": {"replicationCommonName": "streaming_replica"}},
            {"tls": {"replicationCommonName": "streaming_replica"}},
            [],
        ),
        # A streaming standby's source moving to another provider is pgrender diff's to tell (new-ca).
        ({"tls": CERT_MANAGER_TLS}, {}, {"clone": ["fromCluster.cluster: postgres-dr/hippo, the cluster this "]}),
    ],
)
def test_a_stream_reaches_its_source_as_rendered(
    write_spec: Callable[..., Path],
    example: str,
    source: dict[str, Any],
    follower: dict[str, Any],
    told: list[str] | dict[str, list[str]],
) -> None:
    """Rendered together, a streaming standby or a direct clone must reach its source's primary Service
    (the source's naming and host suffix), at its port, be of its major version, and have a replication
    certificate whose common name the source's pg_hba admits, from a CA pgrender derives only for a
    derived source (a clone's): each, otherwise, fails at run time, over and over."""
    base = "spec.standby" if example == "standby" else "spec.bootstrap"

    def edit(spec: dict[str, Any], given: dict[str, Any]) -> None:
        spec["spec"].update(copy.deepcopy(given))

    found = _standby_with_source(write_spec, lambda s: edit(s, source), lambda s: edit(s, follower), example)
    told = told.get(example, []) if isinstance(told, dict) else told
    wanted = [t if t.startswith("spec.") else f"{base}.{t}" for t in told]
    assert [m[: len(t)] for m, t in zip(found, wanted, strict=True)] == wanted, found


@pytest.mark.parametrize("example", ["standby", "clone"])
def test_a_source_reached_at_fromcluster_host_is_not_held_to_its_service(
    write_spec: Callable[..., Path], example: str
) -> None:
    """fromCluster.host (another Kubernetes cluster's address for the source): the host and port are
    that address's, not the source's Service and spec.port, so neither is compared."""

    def follower(spec: dict[str, Any]) -> None:
        section = spec["spec"]["standby"] if example == "standby" else spec["spec"]["bootstrap"]
        section["fromCluster"].update(host="hippo.us-east.example.com", port=443)

    found = _standby_with_source(write_spec, lambda s: s["spec"].update(naming="zalando", port=5433), follower, example)
    assert found == []
