"""StatefulSet <c>-<set>-<n> per instance: replicas 1, no volumeClaimTemplates, Patroni inside.

updateStrategy OnDelete: applying a changed pod template replaces no pod by itself (with one
replica per StatefulSet, RollingUpdate would replace every member at the same moment). The
reconcile Job replaces them, replicas first, then a switchover, then the old primary.
"""

from __future__ import annotations

from pgrender.components.copy_guard import member_command
from pgrender.components.restore_guard import restore_command
from pgrender.components.upgrade_guard import upgrade_command
from pgrender.plan import ClusterPlan, InstancePlan, defaults, labels, secret_keys
from pgrender.pod import (
    DEFAULT_CONTAINER,
    SYNC_WAVE,
    Manifest,
    apply,
    container_resources,
    container_security_context,
    object_meta,
    pod_security_context,
    scheduling_fields,
)
from pgrender.pod_parts import database_pod

CONTAINER = "database"


def statefulsets(plan: ClusterPlan) -> list[Manifest]:
    """Return one StatefulSet per instance, each in its own Argo CD sync wave; shut down or upgrading,
    all in the first member's wave."""
    # Argo CD syncs a wave once the waves before it are Healthy, and a StatefulSet scaled to 0 is
    # Healthy at once: in their own waves the members would stop seconds apart, member 0 (the
    # primary after a bootstrap) first, and its Patroni would hand the leader key to a replica on
    # the way. In one wave they stop together, as with Flux or kubectl apply. Only the StatefulSets'
    # own annotation changes (no pod template); started again, each member is in its own wave.
    # Upgrading (spec.upgrade) or restoring (spec.restore), the members start together for the same
    # reason: each one's guard waits until every member has reported its data, which a later wave never would.
    first = min((i.sync_wave for i in plan.instances), default=0)
    together = plan.shutdown or plan.upgrade is not None or plan.restore is not None
    return [_statefulset(plan, i, first if together else i.sync_wave) for i in plan.instances]


def _statefulset(plan: ClusterPlan, instance: InstancePlan, wave: int) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(plan, instance.name, instance.labels, _annotations(plan, wave), instance.metadata),
        "spec": {
            "replicas": plan.scaled(1),
            "serviceName": plan.names.pods_service,
            "selector": {"matchLabels": dict(instance.selector)},
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {
                    "labels": plan.labels_for({**plan.pod_labels, **instance.labels}, instance.metadata),
                    "annotations": plan.annotations_for(_pod_annotations(plan), instance.metadata),
                },
                "spec": _pod(plan, instance),
            },
        },
    }


def _pod_annotations(plan: ClusterPlan) -> dict[str, str]:
    own = {DEFAULT_CONTAINER: CONTAINER}
    if plan.service_account_digest:
        own[labels.ACCOUNT_DIGEST_ANNOTATION] = plan.service_account_digest
    return own


def _annotations(plan: ClusterPlan, wave: int) -> dict[str, str]:
    """The sync wave, and what `pgrender diff` tells an upgrade, a restore in place or a WAL volume on its
    way out by."""
    own = {SYNC_WAVE: str(wave)}
    if plan.upgrade is not None:
        own[labels.UPGRADE_FROM_ANNOTATION] = str(plan.upgrade.from_version)
    if plan.restore is not None:
        own[labels.RESTORE_RUN_ANNOTATION] = str(plan.restore.run)
    if plan.retired_wal_dir is not None:
        own[labels.WAL_VOLUME_RETIRED_ANNOTATION] = "true"
    return own


def _command(plan: ClusterPlan) -> list[str]:
    if plan.upgrade:
        return upgrade_command(plan)
    if plan.restore:
        return restore_command(plan)
    return member_command(plan)


def _pod(plan: ClusterPlan, instance: InstancePlan) -> Manifest:
    """Patroni's container; volumes, mounts and sidecars come from the registered pod parts."""
    probe = plan.patroni.probe
    probe_timing = {
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }
    container = {
        "name": CONTAINER,
        "image": plan.image,
        # The directory: Patroni merges the YAML files in it (patroni.yaml, bootstrap.yaml). With an
        # upgrade the upgrade guard runs first, with a restore in place the restore guard (the spec
        # allows one of them), then the copy guard, which becomes Patroni.
        "command": _command(plan),
        "env": _env(plan),
        "ports": [
            {"name": defaults.POSTGRES_PORT_NAME, "containerPort": plan.port, "protocol": "TCP"},
            {"name": defaults.PATRONI_PORT_NAME, "containerPort": plan.patroni_port, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/readiness", "port": defaults.PATRONI_PORT_NAME, "scheme": "HTTPS"},
            **probe_timing,
        },
        "livenessProbe": {
            "httpGet": {"path": "/liveness", "port": defaults.PATRONI_PORT_NAME, "scheme": "HTTPS"},
            "initialDelaySeconds": 3,
            **probe_timing,
        },
        "resources": container_resources(instance.resources),
        "securityContext": container_security_context(),
    }
    pod = {
        "serviceAccountName": plan.names.instance_rbac,
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(plan),
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        **scheduling_fields(instance.scheduling),
    }
    return apply(pod, database_pod(plan, instance))


def _env(plan: ClusterPlan) -> list[Manifest]:
    """Pod-specific Patroni settings; $(PATRONI_NAME) is expanded by the kubelet."""
    return [
        {"name": "PATRONI_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "PATRONI_KUBERNETES_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "PATRONI_POSTGRESQL_DATA_DIR", "value": plan.data_dir},
        {"name": "PATRONI_POSTGRESQL_PGPASS", "value": defaults.PGPASS_FILE},
        {"name": "PATRONI_POSTGRESQL_LISTEN", "value": f"*:{plan.port}"},
        {"name": "PATRONI_POSTGRESQL_CONNECT_ADDRESS", "value": plan.postgres_address},
        {"name": "PATRONI_RESTAPI_LISTEN", "value": f"*:{plan.patroni_port}"},
        {"name": "PATRONI_RESTAPI_CONNECT_ADDRESS", "value": plan.api_address},
        _secret_env("PATRONI_RESTAPI_USERNAME", plan.names.patroni_secret, secret_keys.USERNAME),
        _secret_env("PATRONI_RESTAPI_PASSWORD", plan.names.patroni_secret, secret_keys.PASSWORD),
        {"name": "PATRONICTL_CONFIG_FILE", "value": defaults.PATRONI_CONFIG_DIR},
    ]


def _secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
