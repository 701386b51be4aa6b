"""Spec of the pgBouncer pooler: spec.proxy.pgBouncer."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from pgrender.spec.base import UID_MAX, Image, StrictModel
from pgrender.spec.containers import MAX_CONTAINERS, ContainerSpec, InitContainerSpec, unique_names
from pgrender.spec.instances import ResourcesSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.scheduling import SchedulingSpec
from pgrender.spec.services import ServiceSpec

# pgbouncer.ini [pgbouncer] settings a user may set through config.global (PgBouncer 1.18+); none of
# them is one pgrender writes itself (components/pgbouncer.py), nor one with its own field.
PASSTHROUGH_SETTINGS = frozenset(
    {
        "application_name_add_host", "autodb_idle_timeout", "client_idle_timeout", "client_login_timeout",
        "client_tls_ciphers", "client_tls_protocols", "disable_pqexec", "dns_max_ttl",
        "dns_nxdomain_ttl", "idle_transaction_timeout", "log_connections",
        "log_disconnections", "log_pooler_errors", "log_stats", "max_db_connections", "max_packet_size",
        "max_user_connections", "min_pool_size", "query_timeout", "query_wait_timeout",
        "reserve_pool_size", "reserve_pool_timeout", "server_check_delay", "server_check_query",
        "server_connect_timeout", "server_fast_close", "server_idle_timeout", "server_lifetime",
        "server_login_retry", "server_reset_query", "server_reset_query_always", "server_round_robin",
        "server_tls_ciphers", "server_tls_protocols", "stats_period", "tcp_keepalive", "tcp_keepcnt",
        "tcp_keepidle", "tcp_keepintvl", "track_extra_parameters", "verbose",
    }
)  # fmt: skip
# pgbouncer.ini settings with a field of their own (numbers): setting -> field of spec.proxy.pgBouncer.
FIELD_SETTINGS = {
    "max_client_conn": "maxClientConnections",
    "default_pool_size": "defaultPoolSize",
    "max_prepared_statements": "maxPreparedStatements",
}
# Zalando's default; pgBouncer 1.24 made 200 its own default too.
DEFAULT_MAX_PREPARED_STATEMENTS = 200
_VALUE = re.compile(r"^[^\n\r;#]*\Z")


class PoolMode(StrEnum):
    SESSION = "session"
    TRANSACTION = "transaction"
    STATEMENT = "statement"


class PgBouncerConfigSpec(StrictModel):
    """Other pgbouncer.ini settings, checked against the settings pgBouncer has."""

    global_: dict[str, str | int | bool] = Field(default={}, alias="global")
    databases: dict[str, str] = Field(
        default={},
        max_length=1000,
        description="pgbouncer.ini [databases] entries before pgrender's wildcard, as in PGO: name -> "
        "'dbname=shop pool_size=10 pool_mode=session'; each reaches this cluster's primary (pgrender writes "
        "host and port).",
    )
    users: dict[str, str] = Field(
        default={},
        max_length=1000,
        description="pgbouncer.ini [users] entries: role -> 'pool_mode=transaction max_user_connections=50'.",
    )

    @field_validator("global_")
    @classmethod
    def _known(cls, value: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
        unknown = [key for key in value if key not in PASSTHROUGH_SETTINGS]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: not pgBouncer settings pgrender passes through "
                "(listen, auth, TLS, pool mode and connection limits have their own fields or are managed)"
            )
        for key, setting in value.items():
            if isinstance(setting, str) and not _VALUE.match(setting):
                raise ValueError(f"the value of {key!r} cannot hold line breaks, ';' or '#'")
        return value


class PgBouncerSpec(StrictModel):
    """A pgBouncer Deployment in front of the primary, with TLS on both sides.

    poolMode defaults to session, which every application works with; transaction pooling serves
    many more clients per server connection but breaks session state (SET, advisory locks, LISTEN).
    """

    replicas: int = Field(default=1, ge=1, le=100)
    image: Image | None = None
    pool_mode: PoolMode = PoolMode.SESSION
    max_client_connections: int = Field(default=1000, ge=1, le=1_000_000)
    default_pool_size: int = Field(default=20, ge=1, le=10_000)
    port: int = Field(default=5432, ge=1024, le=65535)
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
    resources: ResourcesSpec | None = None
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    config: PgBouncerConfigSpec = Field(default_factory=PgBouncerConfigSpec)
    run_as_user: int = Field(default=998, ge=1, le=UID_MAX)
    run_as_group: int = Field(default=996, ge=1, le=UID_MAX)
    sidecars: list[ContainerSpec] = Field(
        default=[],
        max_length=MAX_CONTAINERS,
        description="Containers of your own in each pgBouncer pod, after pgrender's.",
    )
    init_containers: list[InitContainerSpec] = Field(
        default=[], max_length=MAX_CONTAINERS, description="Init containers of your own in each pgBouncer pod."
    )

    @model_validator(mode="after")
    def _unique_containers(self) -> PgBouncerSpec:
        unique_names(self.sidecars, self.init_containers)
        return self

    @model_validator(mode="after")
    def _pool_fits(self) -> PgBouncerSpec:
        if self.max_client_connections < self.default_pool_size:
            raise ValueError(
                f"maxClientConnections {self.max_client_connections} is below defaultPoolSize "
                f"{self.default_pool_size}: the pool could never fill"
            )
        return self


class ProxySpec(StrictModel):
    pg_bouncer: PgBouncerSpec | None = Field(default=None, alias="pgBouncer")
