"""The pgAdmin plan (spec.userInterface.pgAdmin): names, logins, their servers, and pgAdmin's settings.

Every database user that logs in gets a pgAdmin login ``<user>@pgo`` (PGO's form) with its own database
password, read from its Secret, and finds the cluster in its server group ``<cluster>``: the host, port
and database of its Secret, verify-full against the cluster's CA. The Administrator login
``admin@pgrender`` has a password of its own (Secret <c>-pgadmin) and no server: it manages pgAdmin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.plan import defaults, labels, secret_keys
from pgrender.plan.instances import VolumePlan
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.network_policies import PGADMIN_PORT_NAME
from pgrender.plan.resources import ContainerKind, ResourcesPlan, decide
from pgrender.plan.scheduling import SchedulingPlan, resolve_scheduling
from pgrender.plan.services import ServicePlan, resolve_service
from pgrender.plan.users import INFRASTRUCTURE_OWNER, UserPlan
from pgrender.spec import SourcedCluster

if TYPE_CHECKING:
    from pgrender.spec.user_interface import PgAdminSpec

PATH = ("spec", "userInterface", "pgAdmin")
PORT = 5050  # pgAdmin's port in PGO and in the official image
PORT_NAME = PGADMIN_PORT_NAME
DEFAULT_IMAGE = "dpage/pgadmin4:9.18"
# The official image's layout: pgAdmin's web directory and the Python that runs it (with gunicorn).
PGADMIN_DIR = "/pgadmin4"
PYTHON = "/venv/bin/python3"
# Mount points: pgAdmin reads /etc/pgadmin/config_system.py (a path pgAdmin itself fixes).
CONFIG_DIR = "/etc/pgadmin"
CA_DIR = "/etc/pgadmin-ca"  # shared storage of every login: only the CA's certificate is there
USERS_DIR = "/etc/pgadmin-users"  # each database user's password, a file named after the user
SECRETS_DIR = "/etc/pgadmin-secrets"  # each secret setting's value (secretSettings), a file named after it
DATA_DIR = "/var/lib/pgadmin"
CONFIG_FILE = "config_system.py"
START_FILE = "start.py"
LOGINS_FILE = "pgadmin.json"
ADMIN_EMAIL = "admin@pgrender"
LOGIN_DOMAIN = "pgo"  # <user>@pgo, as PGO names the logins of database users
SHARED_STORAGE = "pgrender"  # the shared storage's name (CA_DIR)
CA_FILE = f"{SHARED_STORAGE}:/{secret_keys.CA_CERT}"  # the servers' root certificate, as pgAdmin names it there
# Environment variables of the pgAdmin container; setup.py reads the two PGADMIN_SETUP_ ones.
SETUP_EMAIL_ENV = "PGADMIN_SETUP_EMAIL"
SETUP_PASSWORD_ENV = "PGADMIN_SETUP_PASSWORD"
# Settings a user may change (spec.userInterface.pgAdmin.settings): no log file (the container's output
# is its log), no check for new versions (pgrender renders offline and images are pinned).
DEFAULT_SETTINGS: dict[str, str | int | bool] = {
    "LOG_FILE": "/dev/null",
    "UPGRADE_CHECK_ENABLED": False,
    "AUTO_DISCOVER_SERVERS": False,
}


@frozen
class PgAdminServer:
    """A server of a login, in the form of pgAdmin's servers.json."""

    name: str
    group: str
    host: str
    port: int
    database: str
    username: str


@frozen
class PgAdminLogin:
    email: str
    role: str  # pgAdmin's role: Administrator or User
    user: str | None  # the database user whose password it is; None: the Administrator's (environment)
    secret: str | None  # the database user's Secret, whose password key is mounted at USERS_DIR/<user>
    server: PgAdminServer | None


@frozen
class PgAdminPlan:
    name: str  # StatefulSet, ConfigMap, Secret and claim
    image: str
    run_as_user: int | None  # None (spec.openshift): the SCC assigns them
    run_as_group: int | None
    labels: dict[str, str]
    selector: dict[str, str]
    metadata: ComponentMeta
    service: ServicePlan
    scheduling: SchedulingPlan
    resources: ResourcesPlan
    volume: VolumePlan
    # config_system.py's settings: pgrender's, then the spec's, as Python literals (repr)
    settings: tuple[tuple[str, str], ...]
    # (setting, Secret, key) of secretSettings: read from SECRETS_DIR/<setting> when pgAdmin starts
    secret_settings: tuple[tuple[str, str, str], ...]
    logins: tuple[PgAdminLogin, ...]
    admin_password_subject: str  # the SecretInput subject of admin@pgrender's password
    admin_password_rotation: int
    sync_wave: int


def resolve_pgadmin(
    sourced: SourcedCluster,
    spec: PgAdminSpec,
    names: Names,
    users: tuple[UserPlan, ...],
    *,
    sync_wave: int,
    guaranteed_memory: bool,
    problems: list[Problem],
) -> PgAdminPlan:
    """pgAdmin's plan; ``users`` are the cluster's, connected (resolve() decided their endpoints)."""
    cluster = sourced.cluster
    name, openshift = cluster.metadata.name, cluster.spec.openshift
    own_labels = labels.common(name, labels.COMPONENT_PGADMIN)
    selector = {labels.CLUSTER_LABEL: name, labels.COMPONENT_LABEL: labels.COMPONENT_PGADMIN}
    logins = [PgAdminLogin(ADMIN_EMAIL, "Administrator", None, None, None)]
    for user in users:
        if user.secret is None or user.primary is None or user.password_owner == INFRASTRUCTURE_OWNER:
            continue  # no login role, or an infrastructure role (not a person's)
        server = PgAdminServer(
            name=name,
            group=name,
            host=user.primary.host,
            port=user.primary.port,
            database=user.default_database or defaults.MAINTENANCE_DATABASE,
            username=user.name,
        )
        logins.append(PgAdminLogin(f"{user.name}@{LOGIN_DOMAIN}", "User", user.name, user.secret, server))
    settings = {**DEFAULT_SETTINGS, **spec.settings}
    owned: dict[str, object] = {
        "SERVER_MODE": True,
        "DATA_DIR": DATA_DIR,
        "DEFAULT_SERVER": "0.0.0.0",
        "GLOBALLY_DELIVERABLE": False,
        "SHARED_STORAGE": [{"name": SHARED_STORAGE, "path": CA_DIR, "restricted_access": True}],
        # The official image's pg_dump and pg_restore of the cluster's version (its Dockerfile's layout).
        "DEFAULT_BINARY_PATHS": {"pg": f"/usr/local/pgsql-{cluster.spec.postgres_version}"},
    }
    return PgAdminPlan(
        name=names.pgadmin,
        image=spec.image or DEFAULT_IMAGE,
        run_as_user=None if openshift else spec.run_as_user,
        run_as_group=None if openshift else spec.run_as_group,
        labels=own_labels,
        selector=selector,
        metadata=resolve_metadata(sourced, (*PATH, "metadata"), spec.metadata, problems),
        service=resolve_service(
            sourced,
            (*PATH, "service"),
            spec.service,
            name=names.pgadmin_service,
            port_name=PORT_NAME,
            port=PORT,
            selector=selector,
            labels=own_labels,
            problems=problems,
        ),
        scheduling=resolve_scheduling(
            spec.scheduling,
            anti_affinity=spec.scheduling.pod_anti_affinity.type,
            anti_affinity_selector=selector,
            spread_selector=selector,
        ),
        resources=decide(ContainerKind.PGADMIN, guaranteed_memory, spec.resources),
        volume=VolumePlan(names.pgadmin, spec.data_volume.size, spec.data_volume.storage_class_name),
        settings=tuple((key, repr(value)) for key, value in sorted({**settings, **owned}.items())),
        secret_settings=tuple((key, ref.secret_name, ref.key) for key, ref in sorted(spec.secret_settings.items())),
        logins=tuple(logins),
        admin_password_subject="pgadmin-admin",
        admin_password_rotation=spec.password_rotation,
        sync_wave=sync_wave,
    )


def password_file(login: PgAdminLogin) -> str:
    """Where the pod reads a database user's password (USERS_DIR/<user>)."""
    assert login.user is not None
    return f"{USERS_DIR}/{login.user}"


def password_items(pgadmin: PgAdminPlan) -> list[tuple[str, str, str]]:
    """(Secret, key, path in USERS_DIR) of every database user's password the pod mounts."""
    return [(login.secret, secret_keys.PASSWORD, login.user) for login in pgadmin.logins if login.secret and login.user]
