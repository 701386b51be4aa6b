"""Settings and checks of spec.userInterface.pgAdmin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.patterns import Pattern

if TYPE_CHECKING:
    from pgrender.spec.user_interface import PgAdminSpec

# pgAdmin's configuration names (config.py): upper case, digits and '_'.
_SETTING = Pattern(r"^[A-Z][A-Z0-9_]{0,63}\Z")
# Settings pgrender writes into config_system.py and a user may not change: pgAdmin runs as a web
# server keeping its data on the claim, the logins are email addresses at pgrender's own domains, the
# CA is shared storage, and server passwords are never fetched by commands.
OWNED_SETTINGS = {
    "SERVER_MODE": "pgAdmin runs as a web server for several logins",
    "DATA_DIR": "pgAdmin keeps its data on the claim <cluster>-pgadmin",
    "SQLITE_PATH": "pgAdmin keeps its data on the claim <cluster>-pgadmin",
    "SESSION_DB_PATH": "pgAdmin keeps its data on the claim <cluster>-pgadmin",
    "STORAGE_DIR": "pgAdmin keeps its data on the claim <cluster>-pgadmin",
    "CONFIG_DATABASE_URI": "pgAdmin keeps its data on the claim <cluster>-pgadmin",
    "DEFAULT_SERVER": "gunicorn listens where the container's port is",
    "DEFAULT_SERVER_PORT": "gunicorn listens where the container's port is",
    "SHARED_STORAGE": "the cluster's CA is shared with every login from it",
    "GLOBALLY_DELIVERABLE": "the logins <user>@pgo are addresses no mail reaches",
    "ENABLE_SERVER_PASS_EXEC_CMD": "a server's password is never fetched by a command in pgAdmin's pod",
}


NOT_A_NAME = "not a pgAdmin setting name (config.py's: upper case, digits, '_')"


def setting_problem(key: str) -> str | None:
    """Why ``key`` cannot be set through settings or secretSettings, or None."""
    if not _SETTING.match(key):
        return f"{key!r}: {NOT_A_NAME}"
    if key in OWNED_SETTINGS:
        return f"{key} is pgrender's ({OWNED_SETTINGS[key]})"
    return None


def check_settings(value: dict[str, Any]) -> dict[str, Any]:
    problems = [problem for key in value if (problem := setting_problem(key))]
    if problems:
        raise ValueError("; ".join(problems))
    return value


def check_settings_once(pgadmin: PgAdminSpec) -> PgAdminSpec:
    both = sorted(set(pgadmin.settings) & set(pgadmin.secret_settings))
    if both:
        raise ValueError(f"{', '.join(both)}: given in settings and in secretSettings; one value each")
    return pgadmin
