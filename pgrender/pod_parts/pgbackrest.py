"""pgBackRest in the database pod: its configuration and secrets for archive-push, archive-get and
restores (run by PostgreSQL and Patroni in the database container), and the TLS server sidecar
that backup Jobs reach this member's data through."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, ContainerKind, InstancePlan, TLSPlan, defaults, secret_keys
from pgrender.plan.backups import (
    CONFIG,
    CONFIG_DIR,
    INSTANCE_CONFIG_KEY,
    SOURCE_CONFIG,
    SOURCE_CONFIG_KEY,
    TLS_SUBDIR,
    BackupsPlan,
    RepoPlan,
    SecretEnv,
    SecretFile,
)
from pgrender.pod import (
    Manifest,
    PodPart,
    container_resources,
    container_security_context,
    empty_dir,
    secret_volume,
)
from pgrender.pod_parts.data_volumes import data_volumes
from pgrender.pod_parts.scratch import database_scratch
from pgrender.pod_parts.server_tls import server_tls

VOLUME = "pgbackrest-config"
SIDECAR = "pgbackrest"


def config_volume(config_map: str, files: list[tuple[str, str]], repos: list[RepoPlan]) -> Manifest:
    """/etc/pgbackrest: keys of ``config_map`` at their file names, and the repositories' secret
    files (storage CA, GCS key), in one projected volume."""
    sources: list[Manifest] = [{"configMap": {"name": config_map, "items": [{"key": k, "path": p} for k, p in files]}}]
    by_secret: dict[str, list[SecretFile]] = {}
    for repo in repos:
        for f in repo.files:
            by_secret.setdefault(f.secret, []).append(f)
    for secret, items in by_secret.items():
        sources.append({"secret": {"name": secret, "items": [{"key": f.key, "path": f.path} for f in items]}})
    return {"name": VOLUME, "projected": {"defaultMode": defaults.SECRET_FILE_MODE, "sources": sources}}


def config_mount() -> Manifest:
    return {"name": VOLUME, "mountPath": CONFIG_DIR, "readOnly": True}


def environment(repos: list[RepoPlan]) -> list[Manifest]:
    """PGBACKREST_CONFIG, then each repository's secure options from their Secrets."""
    env: list[Manifest] = [{"name": "PGBACKREST_CONFIG", "value": CONFIG}]
    return env + [secret_env(e) for repo in repos for e in repo.env]


def secret_env(e: SecretEnv) -> Manifest:
    return {"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secret, "key": e.key}}}


def database_pgbackrest(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    backups = plan.backups
    if backups is None:
        return PodPart()
    files = [(INSTANCE_CONFIG_KEY, CONFIG.rpartition("/")[2])]
    repos = list(backups.repos)
    if backups.source:
        files.append((SOURCE_CONFIG_KEY, SOURCE_CONFIG.rpartition("/")[2]))
        repos.append(backups.source.repo)
    env = environment(repos)
    sidecars: tuple[Manifest, ...] = ()
    if backups.repos:
        # The sidecar serves backups of this member's data: the data volumes, the server certificate
        # (which names this pod) and the configuration. pgBackRest checks a command's options on the
        # remote side too, so it needs the repositories' passphrases and keys like the database.
        scratch = [m for m in database_scratch(plan, instance).mounts if m["mountPath"] == "/tmp"]
        mounts = [*data_volumes(plan, instance).mounts, *server_tls(plan, instance).mounts, config_mount(), *scratch]
        probe = {"exec": {"command": [backups.program, "server-ping"]}}
        sidecars = (
            {
                "name": SIDECAR,
                "image": plan.image,
                "command": [backups.program, "server"],
                "env": environment(list(backups.repos)),
                "ports": [
                    {"name": defaults.PGBACKREST_PORT_NAME, "containerPort": backups.server_port, "protocol": "TCP"}
                ],
                "livenessProbe": {**probe, "periodSeconds": 30, "timeoutSeconds": 10},
                "resources": container_resources(plan.resources[ContainerKind.PGBACKREST]),
                "securityContext": container_security_context(),
                "volumeMounts": mounts,
            },
        )
    return PodPart(
        volumes=(config_volume(backups.config_map, files, repos),),
        mounts=(config_mount(),),
        env=tuple(env),
        containers=sidecars,
    )


def client_certificate(backups: BackupsPlan, tls: TLSPlan) -> PodPart:
    """pgBackRest's certificate under /pgconf/tls/pgbackrest/ with the CA at /pgconf/tls/ca.crt
    (the paths the database pods use too, so every configuration names the same files), and a
    writable /tmp for its locks: what a backup Job and the repository host run with."""
    secret = tls.pgbackrest.secret if tls.pgbackrest else None
    assert secret is not None  # resolve_tls names every certificate's Secret
    items = [*secret.items(TLS_SUBDIR, ca=False), (secret.ca, secret_keys.CA_CERT)]
    return PodPart(
        volumes=(secret_volume("tls", [(secret.name, items)]), empty_dir("tmp", size_limit="64Mi")),
        mounts=(
            {"name": "tls", "mountPath": defaults.TLS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ),
    )
