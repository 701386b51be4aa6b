"""Settings and checks of spec.userInterface.pgAdmin."""

from __future__ import annotations

from pgrender.patterns import Pattern

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


def check_settings(value: dict[str, str | int | bool]) -> dict[str, str | int | bool]:
    wrong = [key for key in value if not _SETTING.match(key)]
    if wrong:
        raise ValueError(
            f"{', '.join(map(repr, wrong))}: not a pgAdmin setting name (config.py's: upper case, digits, '_')"
        )
    owned = [key for key in value if key in OWNED_SETTINGS]
    if owned:
        raise ValueError("; ".join(f"{key} is pgrender's ({OWNED_SETTINGS[key]})" for key in owned))
    return value
