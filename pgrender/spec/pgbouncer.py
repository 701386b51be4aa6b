"""Spec of the pgBouncer poolers: spec.proxy.pgBouncer (the primary) and pgBouncerReplicas (the replicas)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pgrender.spec.base import UID_MAX, Image, StrictModel
from pgrender.spec.containers import MAX_CONTAINERS, ContainerSpec, InitContainerSpec
from pgrender.spec.instances import ResourcesSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.rules.instances import check_unique_containers
from pgrender.spec.rules.pgbouncer import (
    DEFAULT_MAX_PREPARED_STATEMENTS,
    FIELD_SETTINGS,
    PASSTHROUGH_SETTINGS,
    PoolMode,
    check_known_settings,
    check_pool_fits,
)
from pgrender.spec.scheduling import SchedulingSpec
from pgrender.spec.services import ServiceSpec

__all__ = ["FIELD_SETTINGS", "PASSTHROUGH_SETTINGS", "PgBouncerSpec", "PoolMode", "ProxySpec"]


class PgBouncerConfigSpec(StrictModel):
    """Other pgbouncer.ini settings, checked against the settings pgBouncer has."""

    global_: dict[str, str | int | bool] = Field(
        default={}, alias="global", examples=[{"server_idle_timeout": 300, "log_connections": 0}]
    )
    """More [pgbouncer] settings of pgbouncer.ini, such as server_idle_timeout; only the ones pgrender
    neither writes nor gives a field of their own (listen, auth, TLS, pool mode and limits are refused)."""
    databases: dict[str, str] = Field(
        default={},
        max_length=1000,
        description="pgbouncer.ini [databases] entries before pgrender's wildcard, as in PGO: name -> "
        "'dbname=shop pool_size=10 pool_mode=session'; each reaches this cluster's primary (under "
        "pgBouncerReplicas its replicas; pgrender writes host and port).",
    )
    users: dict[str, str] = Field(
        default={},
        max_length=1000,
        description="pgbouncer.ini [users] entries: role -> 'pool_mode=transaction max_user_connections=50'.",
    )

    _known = field_validator("global_")(check_known_settings)


class PgBouncerSpec(StrictModel):
    """A pgBouncer Deployment in front of the primary, with TLS on both sides.

    poolMode defaults to session, which every application works with; transaction pooling serves
    many more clients per server connection but breaks session state (SET, advisory locks, LISTEN).
    """

    replicas: int = Field(default=1, ge=1, le=100)
    """pgBouncer pods of the Deployment; more than one also gets a PodDisruptionBudget."""
    image: Image | None = Field(default=None, examples=["ghcr.io/cloudnative-pg/pgbouncer:1.24.1"])
    """The pgBouncer image (pgbouncer on PATH); default CloudNativePG's, ghcr.io/cloudnative-pg/pgbouncer:1.24.1."""
    pool_mode: PoolMode = PoolMode.SESSION
    max_client_connections: int = Field(default=1000, ge=1, le=1_000_000)
    """pgbouncer.ini max_client_conn: client connections each pgBouncer pod accepts."""
    default_pool_size: int = Field(default=20, ge=1, le=10_000)
    """pgbouncer.ini default_pool_size: server connections per database and user, per pgBouncer pod."""
    port: int = Field(default=5432, ge=1024, le=65535)
    """The port pgBouncer listens on and its Service's port; not 8008."""
    max_prepared_statements: int = Field(
        default=DEFAULT_MAX_PREPARED_STATEMENTS,
        ge=0,
        le=1_000_000,
        description="pgBouncer's max_prepared_statements for transaction and statement pools: how many "
        "protocol-level prepared statements of clients pgBouncer keeps per server connection, so that "
        "psycopg's automatic prepares, pgJDBC's server-side statements and node-postgres' named queries "
        "work through the pool. Needs pgBouncer 1.21 or later (the default image has it); 0 leaves the "
        "setting out, as pgBouncer before 1.21 requires (it refuses the setting; 1.24 and later then "
        "use their own default, 200), and pgbouncer-jdbc-uri carries prepareThreshold=0 (other clients "
        "must turn prepares off themselves: README).",
    )
    resources: ResourcesSpec | None = Field(
        default=None,
        description="pgBouncer's requests and limits; what is left out comes from the preset's defaults "
        "(README, Resources).",
    )
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    config: PgBouncerConfigSpec = Field(default_factory=PgBouncerConfigSpec)
    """Other pgbouncer.ini settings and [databases] and [users] entries."""
    run_as_user: int = Field(default=998, ge=1, le=UID_MAX)
    """User id the pgBouncer containers run as; 998 is the default image's pgbouncer user."""
    run_as_group: int = Field(default=996, ge=1, le=UID_MAX)
    """Group id the pgBouncer containers run as; 996 is the default image's group."""
    sidecars: list[ContainerSpec] = Field(
        default=[],
        max_length=MAX_CONTAINERS,
        description="Containers of your own in each pgBouncer pod, after pgrender's.",
    )
    init_containers: list[InitContainerSpec] = Field(
        default=[], max_length=MAX_CONTAINERS, description="Init containers of your own in each pgBouncer pod."
    )

    _unique_containers = model_validator(mode="after")(check_unique_containers)
    _pool_fits = model_validator(mode="after")(check_pool_fits)


class ProxySpec(StrictModel):
    """Connection poolers: one in front of the primary, one in front of the replicas."""

    pg_bouncer: PgBouncerSpec | None = Field(default=None, alias="pgBouncer")
    """A pgBouncer Deployment and its Service (<cluster>-pgbouncer under naming pgo); none unless set."""
    pg_bouncer_replicas: PgBouncerSpec | None = Field(
        default=None,
        alias="pgBouncerReplicas",
        description="A second pgBouncer, for read-only clients: it pools connections to the replicas "
        "through the replicas Service (so spec.replicaService must stay enabled), as Zalando's "
        "enableReplicaConnectionPooler and CloudNativePG's Pooler of type ro do. The same settings as "
        "pgBouncer, its own Deployment and Service: <cluster>-pgbouncer-replicas (naming pgo and pgd), "
        "<cluster>-pooler-repl (zalando), <cluster>-pooler-ro (cnpg); none unless set.",
    )
