"""Settings, enums and checks of spec.proxy.pgBouncer."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from pgrender.patterns import Pattern

if TYPE_CHECKING:
    from pgrender.spec.pgbouncer import PgBouncerSpec

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
_VALUE = Pattern(r"^[^\n\r;#]*\Z")


class PoolMode(StrEnum):
    """pgbouncer.ini pool_mode, when pgBouncer hands a server connection back to the pool: session
    (when the client disconnects; everything works), transaction (after each transaction; SET, advisory
    locks, LISTEN and SQL PREPARE break), statement (after each statement; multi-statement transactions
    are refused)."""

    SESSION = "session"
    TRANSACTION = "transaction"
    STATEMENT = "statement"


def check_known_settings(value: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
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


def check_pool_fits(bouncer: PgBouncerSpec) -> PgBouncerSpec:
    if bouncer.max_client_connections < bouncer.default_pool_size:
        raise ValueError(
            f"maxClientConnections {bouncer.max_client_connections} is below defaultPoolSize "
            f"{bouncer.default_pool_size}: the pool could never fill"
        )
    return bouncer
