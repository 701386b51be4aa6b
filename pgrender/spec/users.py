"""Spec of roles and databases: spec.users[] and spec.databases[]."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from pgrender.spec.base import ForEditors, StrictModel
from pgrender.spec.limits import MAX_DATABASES_PER_USER

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,62}\Z")
# CREATE ROLE refuses "public" and "none"; the others name the current role in GRANT, ALTER ROLE
# and pg_hba, so a role spelt that way would be a trap even where the server takes it quoted.
RESERVED_ROLES = frozenset({"public", "none", "current_user", "session_user", "current_role", "user", "all"})
# The maintenance database the Jobs connect to, owned by the superuser, and the templates.
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})


def _check_role_name(value: str) -> str:
    if not _ROLE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid role name; expected 1-63 lower-case letters, digits, '_' or '-', "
            "starting with a letter or '_'"
        )
    if value.startswith("pg_"):
        raise ValueError(f"{value!r} starts with 'pg_', which PostgreSQL reserves for its own roles")
    if value in RESERVED_ROLES:
        raise ValueError(f"{value!r} is a reserved role name in PostgreSQL; choose another name")
    return value


def _check_database_name(value: str) -> str:
    if not _ROLE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid database name; expected 1-63 lower-case letters, digits, '_' or '-'"
        )
    if value in RESERVED_DATABASES:
        raise ValueError(
            f"{value!r} is PostgreSQL's own database (the maintenance database or a template), owned by the "
            "superuser; pgrender does not hand it to an application role"
        )
    return value


# For editors: the name pattern, without pg_ and the reserved names (which the checks name).
_RESERVED_LOOKAHEAD = "(?!pg_)(?!(" + "|".join(sorted(RESERVED_ROLES)) + ")$)"
_DATABASE_LOOKAHEAD = "(?!(" + "|".join(sorted(RESERVED_DATABASES)) + ")$)"
RoleName = Annotated[
    str,
    AfterValidator(_check_role_name),
    ForEditors("^" + _RESERVED_LOOKAHEAD + _ROLE_NAME.pattern[1:].replace("\\Z", "$"), ("app", "reporting")),
]
DatabaseName = Annotated[
    str,
    AfterValidator(_check_database_name),
    ForEditors("^" + _DATABASE_LOOKAHEAD + _ROLE_NAME.pattern[1:].replace("\\Z", "$"), ("app",)),
]


class RoleOptions(StrictModel):
    """Role attributes of CREATE ROLE; pgrender states every one, so removing an option revokes it."""

    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    login: bool = True
    replication: bool = False
    bypassrls: bool = False
    inherit: bool = True


class UserSpec(StrictModel):
    """A role; with login, it gets a <c>-pguser-<name> Secret and access to its databases."""

    name: RoleName
    databases: list[DatabaseName] = Field(default=[], max_length=MAX_DATABASES_PER_USER)
    options: RoleOptions = Field(default_factory=RoleOptions)
    password_rotation: int = Field(default=0, ge=0, description="Bump to derive a new password.")
    access_secret: bool = Field(
        default=False,
        description="Also write <cluster>-pgaccess-<name>: the libpq environment (PGHOST, PGPORT, PGUSER, "
        "PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT) and USER_ACCESS, the Service to port-forward "
        "to, for envFrom or a shell.",
    )


class DatabaseSpec(StrictModel):
    """A database and its owner; the owner must be one of spec.users."""

    name: DatabaseName
    owner: RoleName
