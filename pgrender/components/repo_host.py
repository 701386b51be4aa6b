"""The repository host of volume repositories: StatefulSet and headless Service <c>-repo-host, and a
PersistentVolumeClaim <c>-<repo> per volume repository. It runs pgBackRest's TLS server, which the
members archive WAL to; backup Jobs of these repositories mount the claim beside it."""

from __future__ import annotations

from pgrender.components.volumes import PRUNE_PROTECTION
from pgrender.plan import ClusterPlan, ContainerKind, defaults, labels
from pgrender.plan.backups import CONFIG, REPO_HOST_CONFIG_KEY, BackupsPlan, RepoHostPlan
from pgrender.pod import (
    DEFAULT_CONTAINER,
    SYNC_WAVE,
    Manifest,
    container_resources,
    container_security_context,
    object_meta,
    placement_fields,
    pod_security_context,
    pull_secrets,
)
from pgrender.pod_parts.pgbackrest import client_certificate, config_mount, config_volume, environment
from pgrender.pod_parts.tls_reload import program_name, reloader

CONTAINER = "pgbackrest"
PORT_NAME = defaults.PGBACKREST_PORT_NAME


def repo_host(plan: ClusterPlan) -> list[Manifest]:
    backups = plan.backups
    if backups is None or backups.repo_host is None:
        return []
    host = backups.repo_host
    # In wave 0 with the Secrets and ConfigMaps it mounts (an earlier wave would wait for its pod,
    # which waits for them), before the instances (waves 1 and on), which archive to it from their
    # first WAL segment.
    wave = {SYNC_WAVE: "0"}
    claims = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": object_meta(
                plan,
                repo.volume.claim,
                {**host.labels, labels.REPO_LABEL: repo.name},
                {**PRUNE_PROTECTION, **wave},
                backups.metadata,
            ),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": repo.volume.size}},
                **({"storageClassName": repo.volume.storage_class} if repo.volume.storage_class else {}),
            },
        }
        for repo in backups.repos
        if repo.volume
    ]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(plan, host.name, host.labels, component=backups.metadata),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": dict(host.selector),
            "ports": [
                {"name": PORT_NAME, "port": backups.server_port, "targetPort": PORT_NAME},
            ],
        },
    }
    return [*claims, service, _statefulset(plan, backups, host, wave)]


def _statefulset(plan: ClusterPlan, backups: BackupsPlan, host: RepoHostPlan, wave: dict[str, str]) -> Manifest:
    repos = [r for r in backups.repos if r.volume]
    client = client_certificate(backups, plan.tls)  # its server certificate too: it carries the host's names
    volumes = [
        config_volume(backups.config_map, [(REPO_HOST_CONFIG_KEY, CONFIG.rpartition("/")[2])], repos),
        *client.volumes,
        *({"name": r.name, "persistentVolumeClaim": {"claimName": r.volume.claim}} for r in repos if r.volume),
    ]
    mounts = [
        config_mount(),
        *client.mounts,
        *({"name": r.name, "mountPath": r.volume.mount_path} for r in repos if r.volume),
    ]
    probe = {"exec": {"command": [backups.program, "server-ping"]}, "periodSeconds": 30, "timeoutSeconds": 10}
    container = {
        "name": CONTAINER,
        "image": plan.image,
        "command": [backups.program, "server"],
        "env": environment(repos),
        "ports": [{"name": PORT_NAME, "containerPort": backups.server_port, "protocol": "TCP"}],
        "livenessProbe": probe,
        "readinessProbe": probe,
        "resources": container_resources(plan.resources[ContainerKind.REPO_HOST]),
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    pod: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(plan),
        **pull_secrets(plan),
        **placement_fields(host.placement),
        "containers": [container],
        "volumes": volumes,
    }
    if plan.tls.reload:
        # Its certificate is renewed in the cluster: pgBackRest's server reloads it on SIGHUP.
        target = [program_name(backups.program), "server"]
        pod["containers"] = [container, reloader(plan, list(client.mounts[:1]), [defaults.TLS_DIR], [target])]
        pod["shareProcessNamespace"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(plan, host.name, host.labels, wave, backups.metadata),
        "spec": {
            "replicas": 1,
            "serviceName": host.name,
            "selector": {"matchLabels": dict(host.selector)},
            "template": {
                "metadata": {
                    "labels": plan.labels_for(host.labels, backups.metadata),
                    "annotations": plan.annotations_for({DEFAULT_CONTAINER: CONTAINER}, backups.metadata),
                },
                "spec": pod,
            },
        },
    }
