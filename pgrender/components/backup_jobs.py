"""Backups as Kubernetes runs them: CronJob <c>-<repo>-<full|diff|incr> per schedule, Job
<c>-<repo>-init-<hash> (stanza-create and a first full backup), Job <c>-<repo>-manual-<run>.

Each pod runs pgBackRest with the configuration of its one repository, that repository's
credentials and passphrase, and pgBackRest's client certificate: nothing else (no service account
token, no database password). pgBackRest reaches every member's TLS server and finds the primary.
"""

from __future__ import annotations

from pgrender.components.pgbackrest import backup_script, job_config, upgraded_to
from pgrender.digest import digest
from pgrender.plan import ClusterPlan, ContainerKind, PlacementPlan, labels
from pgrender.plan.backups import (
    BACKUP_SCRIPT_KEY,
    CONFIG,
    CONFIG_DIR,
    BackupJobPlan,
    BackupsPlan,
    LogicalPlan,
    RepoPlan,
    job_config_key,
)
from pgrender.pod import (
    SYNC_WAVE,
    Manifest,
    container_resources,
    container_security_context,
    empty_dir,
    job_pod_fields,
    object_meta,
    placement_fields,
)
from pgrender.pod_parts.client_tls import client_tls, superuser_libpq_env
from pgrender.pod_parts.pgbackrest import (
    client_certificate,
    config_mount,
    config_volume,
    environment,
    secret_env,
)

CONTAINER = "pgbackrest"
# A missed start (controller down at the scheduled minute) still runs within the hour.
STARTING_DEADLINE_SECONDS = 3600
HISTORY_LIMIT = 3
# Retries after a failed pod: the first backup after a failover, an object store's bad minute.
BACKOFF_LIMIT = 2


def backup_jobs(plan: ClusterPlan) -> list[Manifest]:
    """Return every backup CronJob and Job of the cluster."""
    backups = plan.backups
    if backups is None:
        return []
    out = [_cron_job(plan, backups, job) for job in backups.cron_jobs]
    if backups.init_repo:
        out.append(_initial_job(plan, backups, backups.init_repo))
    if backups.manual and not backups.suspended:
        out.append(_job(plan, backups, backups.manual, {SYNC_WAVE: str(plan.reconcile_wave)}))
    if backups.logical:
        out.append(_logical_cron_job(plan, backups, backups.logical))
    return out


def _cron_job_spec(backups: BackupsPlan, schedule: str, job_labels: dict[str, str], job: Manifest) -> Manifest:
    """``job_labels``: the Jobs' (with the cluster's and backups.metadata's)."""
    return {
        "schedule": schedule,
        "timeZone": backups.time_zone,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
        "successfulJobsHistoryLimit": HISTORY_LIMIT,
        "failedJobsHistoryLimit": HISTORY_LIMIT,
        # A standby cluster cannot back up: every member is in recovery. Promoting it resumes them.
        "suspend": backups.suspended,
        "jobTemplate": {"metadata": {"labels": job_labels}, "spec": job},
    }


def _logical_cron_job(plan: ClusterPlan, backups: BackupsPlan, logical: LogicalPlan) -> Manifest:
    """pg_dumpall as the superuser (its client certificate, verify-full to the primary Service),
    with the bucket's keys or the pod's cloud identity; no pgBackRest material."""
    own = {**backups.labels, labels.REPO_LABEL: logical.repo, labels.BACKUP_TYPE_LABEL: "logical"}
    files = [(logical.script_key, logical.script_key), (logical.aws_config_key, logical.aws_config_key)]
    volume = config_volume(backups.jobs_config_map, files, [])
    if logical.ca_file:
        ca = logical.ca_file
        volume["projected"]["sources"].append(
            {"secret": {"name": ca.secret, "items": [{"key": ca.key, "path": ca.path}]}}
        )
    env: list[Manifest] = [
        *superuser_libpq_env(plan),
        {"name": "HOME", "value": "/tmp"},
        {"name": "AWS_CONFIG_FILE", "value": f"{CONFIG_DIR}/{logical.aws_config_key}"},
        {"name": "PGRENDER_LOGICAL_TARGET", "value": logical.target},
        {"name": "PGRENDER_S3_ENDPOINT", "value": logical.endpoint_url},
        *(secret_env(e) for e in logical.env),
    ]
    if logical.ca_file:
        env.append({"name": "AWS_CA_BUNDLE", "value": f"{CONFIG_DIR}/{logical.ca_file.path}"})
    client = client_tls(plan)
    container = {
        "name": "logical-backup",
        "image": logical.image,
        "command": ["sh", f"{CONFIG_DIR}/{logical.script_key}"],
        "env": env,
        "resources": container_resources(plan.resources[ContainerKind.LOGICAL_BACKUP]),
        "securityContext": container_security_context(),
        "volumeMounts": [config_mount(), *client.mounts, {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {"containers": [container], "volumes": [volume, *client.volumes, empty_dir("tmp", size_limit="64Mi")]}
    job = _job_body(plan, backups, own, pod, backups.job_placement, logical.service_account)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(plan, logical.name, own, component=backups.metadata),
        "spec": _cron_job_spec(backups, logical.schedule, plan.labels_for(own, backups.metadata), job),
    }


def _job_body(
    plan: ClusterPlan,
    backups: BackupsPlan,
    own: dict[str, str],
    pod: Manifest,
    placement: PlacementPlan,
    service_account: str | None,
    pod_affinity: Manifest | None = None,
) -> Manifest:
    """A backup Job's spec around its pod's containers and volumes: where the pod runs
    (``placement`` and ``pod_affinity``), what it is labelled with (backups.metadata's annotations
    too: the cluster's are not on Job pods), as whom it reaches its repository (``service_account``,
    with no API token still), how long and how often it is tried."""
    metadata: Manifest = {"labels": plan.labels_for(own, backups.metadata)}
    if backups.metadata.annotations:
        metadata["annotations"] = dict(backups.metadata.annotations)
    fields = {**job_pod_fields(plan), **placement_fields(placement)}
    if service_account:
        fields["serviceAccountName"] = service_account
    if pod_affinity:
        fields["affinity"] = {**fields.get("affinity", {}), "podAffinity": pod_affinity}
    return {
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": backups.job_deadline_seconds,
        "template": {"metadata": metadata, "spec": {**fields, **pod}},
    }


def _labels(backups: BackupsPlan, job: BackupJobPlan) -> dict[str, str]:
    return {**backups.labels, labels.REPO_LABEL: job.repo, labels.BACKUP_TYPE_LABEL: job.type}


def _cron_job(plan: ClusterPlan, backups: BackupsPlan, job: BackupJobPlan) -> Manifest:
    assert job.schedule is not None
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(plan, job.name, _labels(backups, job), component=backups.metadata),
        "spec": _cron_job_spec(
            backups,
            job.schedule,
            plan.labels_for(_labels(backups, job), backups.metadata),
            _job_spec(plan, backups, job),
        ),
    }


def _job(plan: ClusterPlan, backups: BackupsPlan, job: BackupJobPlan, annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(plan, job.name, _labels(backups, job), annotations, backups.metadata),
        "spec": _job_spec(plan, backups, job),
    }


def _initial_job(plan: ClusterPlan, backups: BackupsPlan, repo: RepoPlan) -> Manifest:
    """Named by what it runs, like the reconcile Job: a changed configuration runs it again, which
    creates the stanza in a new repository and backs up a repository that has no backup."""
    template = _job_spec(plan, backups, BackupJobPlan("", repo.name, "init"))
    content = digest(
        {
            "config": job_config(plan, backups, repo),
            "script": backup_script(backups, upgraded_to(plan)),
            "job": template,
        }
    )
    job = BackupJobPlan(plan.names.initial_backup_job(repo.name, content.hex()), repo.name, "init")
    return _job(plan, backups, job, {SYNC_WAVE: str(plan.reconcile_wave)})


def _job_spec(plan: ClusterPlan, backups: BackupsPlan, job: BackupJobPlan) -> Manifest:
    repo = backups.repo(job.repo)
    files = [(job_config_key(repo.name), CONFIG.rpartition("/")[2]), (BACKUP_SCRIPT_KEY, BACKUP_SCRIPT_KEY)]
    client = client_certificate(backups, plan.tls)
    volumes = [config_volume(backups.jobs_config_map, files, [repo]), *client.volumes]
    mounts = [config_mount(), *client.mounts]
    placement, pod_affinity = backups.job_placement, None
    if repo.volume:
        # The repository's volume is ReadWriteOnce: the Job runs beside the repository host, on the
        # nodes the host may run on (tolerating what it tolerates), at its priority.
        assert backups.repo_host is not None
        placement = backups.repo_host.placement
        volumes.append({"name": "repo", "persistentVolumeClaim": {"claimName": repo.volume.claim}})
        mounts.append({"name": "repo", "mountPath": repo.volume.mount_path})
        term = {
            "labelSelector": {"matchLabels": dict(backups.repo_host.selector)},
            "topologyKey": "kubernetes.io/hostname",
        }
        pod_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    container = {
        "name": CONTAINER,
        "image": plan.image,
        # Scheduled backups wait for the next regular checkpoint; one someone waits for does not.
        "command": ["sh", f"{CONFIG_DIR}/{BACKUP_SCRIPT_KEY}", job.type, *(["fast"] if job.schedule is None else [])],
        "env": environment([repo]),
        "resources": container_resources(plan.resources[ContainerKind.BACKUP]),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    pod = {"containers": [container], "volumes": volumes}
    return _job_body(plan, backups, _labels(backups, job), pod, placement, repo.service_account, pod_affinity)
