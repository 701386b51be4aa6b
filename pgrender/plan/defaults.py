"""Data tables: images per PostgreSQL version, paths, ports, parameters pgrender owns."""

from __future__ import annotations

from typing import Any

# Spilo images carry Patroni and Debian's PostgreSQL layout (/usr/lib/postgresql/<v>/bin) and run
# as the "postgres" user (uid 101, gid 103), which is what ImageContractSpec defaults to.
# spilo-18:4.1-p2 is Zalando's postgres-operator v2 default (Ubuntu 22.04, PGDG's 14 to 18,
# Patroni 4.1). It carries 17 as well; 17 stays on spilo-17 here, since a new default image
# rolls every running member of a version.
IMAGES: dict[int, str] = {
    14: "ghcr.io/zalando/spilo-16:3.3-p3",
    15: "ghcr.io/zalando/spilo-16:3.3-p3",
    16: "ghcr.io/zalando/spilo-16:3.3-p3",
    17: "ghcr.io/zalando/spilo-17:4.0-p2",
    18: "ghcr.io/zalando/spilo-18:4.1-p2",
}
BIN_DIR = "/usr/lib/postgresql/{version}/bin"
# CloudNativePG's pgBouncer image: pgbouncer on PATH, user 998, group 996.
PGBOUNCER_IMAGE = "ghcr.io/cloudnative-pg/pgbouncer:1.24.1"
# Zalando's logical backup image (postgres-operator's logical_backup_docker_image default): PGDG
# clients under /usr/lib/postgresql/<v>/bin, gzip and the AWS CLI.
LOGICAL_BACKUP_IMAGE = "ghcr.io/zalando/postgres-operator/logical-backup:v2.0.1"
PGBOUNCER_CONFIG_DIR = "/etc/pgbouncer"
PGBOUNCER_SECRET_DIR = "/etc/pgbouncer/secret"

PATRONI_PORT = 8008
# Container port names: Services target them, and NetworkPolicies allow them, so that each pod's own
# number counts (a changed spec.port reaches every member as it restarts, not all at once).
POSTGRES_PORT_NAME = "postgres"
PATRONI_PORT_NAME = "patroni"
PGBOUNCER_PORT_NAME = "pgbouncer"
PGBACKREST_PORT_NAME = "pgbackrest"
# postgres_exporter's port on every member (CloudNativePG and pgMonitor use 9187 too), container port "metrics".
EXPORTER_PORT = 9187
EXPORTER_PORT_NAME = "metrics"
PATRONI_RESTAPI_USER = "patroni"
SUPERUSER = "postgres"
MAINTENANCE_DATABASE = "postgres"  # what the Jobs and infrastructure roles connect to
REPLICATION_USER = "_pgrender_repl"
PGBOUNCER_USER = "_pgrender_pgbouncer"
RESERVED_ROLE_PREFIX = "_pgrender"

# The database pod's data volumes, which a user's sidecars and init containers may mount by name.
DATA_VOLUME = "pgdata"
WAL_VOLUME = "pgwal"
# pgrender's container names in each pod a user's containers go into (their names must differ).
DATABASE_CONTAINERS = frozenset({"database", "pgbackrest", "tls-reload", "exporter"})
PGBOUNCER_CONTAINERS = frozenset({"pgbouncer", "tls-reload"})

# Mount points inside the pods.
PGDATA_MOUNT = "/pgdata"
PGWAL_MOUNT = "/pgwal"
PATRONI_CONFIG_DIR = "/etc/patroni"
PATRONI_CONFIG_FILE = "patroni.yaml"
# Read by Patroni only when it creates the cluster; the reconcile Job keeps the running one equal.
PATRONI_BOOTSTRAP_FILE = "bootstrap.yaml"
TLS_DIR = "/pgconf/tls"
# Applications mount a user Secret at <SECRET_MOUNT_ROOT>/<cluster> unless spec.connectivity says where.
SECRET_MOUNT_ROOT = "/etc/pgrender"
REPLICATION_TLS_SUBDIR = "replication"  # the replication client certificate, inside TLS_DIR
REPLICATION_TLS_DIR = f"{TLS_DIR}/{REPLICATION_TLS_SUBDIR}"
CLONE_SOURCE_TLS_SUBDIR = "clone-source"  # a direct clone's certificate for its source, inside TLS_DIR
RECONCILE_DIR = "/etc/pgrender"
INIT_SQL_DIR = "/etc/pgrender-init"  # the reconcile Job mounts spec.databaseInitSQL's ConfigMap here
SOCKET_DIR = "/tmp"
PGPASS_FILE = "/tmp/pgpass"
# Secret files are owned by root, group fsGroup; 0640 is what PostgreSQL (server) and libpq 14+
# (client) accept for a root-owned key, and what kubelet produces with an fsGroup anyway.
SECRET_FILE_MODE = 0o640

# Restricted Pod Security Standard, on every container (kept as data, not branches).
RESTRICTED_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}

# WAL archiving and recovery go through pgBackRest (spec.backups), in every member alike.
BACKUP_PARAMETERS: frozenset[str] = frozenset({"archive_mode", "archive_command", "archive_timeout", "restore_command"})
# Parameters pgrender sets itself; a user value would break TLS, Patroni or the probes.
MANAGED_PARAMETERS: frozenset[str] = BACKUP_PARAMETERS | frozenset(
    {
        "config_file",
        "data_directory",
        "hba_file",
        "hot_standby",
        "ident_file",
        "listen_addresses",
        "port",
        # Patroni writes the replication connection (a password there would sit in a ConfigMap).
        "primary_conninfo",
        "primary_slot_name",
        "ssl",
        "ssl_ca_file",
        "ssl_cert_file",
        "ssl_crl_file",
        "ssl_key_file",
        # pgrender's keys have no passphrase; a command here would hold or fetch a secret.
        "ssl_passphrase_command",
        "ssl_passphrase_command_supports_reload",
        "unix_socket_directories",
        "wal_level",
        "password_encryption",
    }
)

# Defaults a user may override.
DEFAULT_PARAMETERS: dict[str, str] = {
    "jit": "off",
    "log_min_duration_statement": "-1",
    "ssl_min_protocol_version": "TLSv1.2",
}

# postgres_exporter (spec.monitoring): the Prometheus community's image, whose entrypoint is
# /bin/postgres_exporter. 0.20.1 still reads --extend.query-path (deprecated since 0.13, as are
# DATA_SOURCE_*), which Debian 12's 0.11.1 reads too, so both run the same arguments.
EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.20.1"
EXPORTER_PROGRAM = "/bin/postgres_exporter"
MONITORING_USER = "_pgrender_monitor"
# The exporter's projected volume: the CA, its password and the queries file.
EXPORTER_DIR = "/etc/postgres-exporter"
