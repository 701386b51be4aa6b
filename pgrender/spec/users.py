"""Spec of roles and databases: spec.users[] and spec.databases[]."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field

from pgrender.errors import Problem
from pgrender.load import format_path
from pgrender.spec.base import ForEditors, StrictModel
from pgrender.spec.limits import MAX_DATABASES_PER_USER, MAX_PARAMETERS, MAX_ROLE_MEMBERSHIPS
from pgrender.spec.patroni import ParameterValue

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


def _check_member_of(value: str) -> str:
    """A role of the spec, or one of PostgreSQL's predefined pg_* roles (resolve() checks which exist)."""
    if value.startswith("pg_") and _ROLE_NAME.match(value):
        return value
    return _check_role_name(value)


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
MembershipTarget = Annotated[str, AfterValidator(_check_member_of)]


class RoleOptions(StrictModel):
    """Role attributes of CREATE ROLE; pgrender states every one, so removing an option revokes it."""

    superuser: bool = False
    createdb: bool = False
    createrole: bool = False
    login: bool = True
    replication: bool = False
    bypassrls: bool = False
    inherit: bool = True


class RoleSpec(StrictModel):
    """What a role is, wherever it is declared (spec.users, pgrender.yaml's infrastructureRoles)."""

    name: RoleName
    options: RoleOptions = Field(default_factory=RoleOptions)
    in_roles: list[MembershipTarget] = Field(
        default=[],
        max_length=MAX_ROLE_MEMBERSHIPS,
        description="Roles this role is a member of (GRANT role TO this): other roles of the spec (a role "
        "without login works as a group) or PostgreSQL's predefined roles (pg_read_all_data, pg_monitor, ...). "
        "Exactly these: a membership pgrender granted earlier and no longer listed is revoked.",
    )
    parameters: dict[str, ParameterValue] = Field(
        default={},
        max_length=MAX_PARAMETERS,
        description="Settings applied when this role logs in (ALTER ROLE ... SET), checked like "
        "spec.patroni.parameters; exactly these: a setting no longer listed is reset.",
    )


class UserSpec(RoleSpec):
    """A role; with login, it gets a <c>-pguser-<name> Secret and access to its databases."""

    databases: list[DatabaseName] = Field(default=[], max_length=MAX_DATABASES_PER_USER)
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


class InfrastructureRoleSpec(RoleSpec):
    """pgrender.yaml's infrastructureRoles[]: a role made in every cluster rendered with that file,
    with the same password everywhere (derived without the cluster's name), so one tool (monitoring,
    backups, an admin) logs into all of them; its Secret is <c>-pguser-<name> in each cluster."""

    password_rotation: int = Field(default=0, ge=0, description="Bump to derive a new password (every cluster).")


@dataclass(frozen=True)
class InfrastructureRole:
    """An infrastructure role and where pgrender.yaml states it, for problems found per cluster."""

    spec: InfrastructureRoleSpec
    index: int
    file: str
    positions: tuple[tuple[tuple[str | int, ...], tuple[int, int]], ...]  # (path, (line, column))

    @property
    def path(self) -> tuple[str | int, ...]:
        return ("infrastructureRoles", self.index)

    @property
    def where(self) -> str:
        """file:line:col and field path, for messages that point at both places."""
        line, col = self.position(self.path)
        return f"{self.file}:{line}:{col} ({format_path(self.path)})"

    def position(self, path: tuple[str | int, ...]) -> tuple[int, int]:
        known = dict(self.positions)
        for end in range(len(path), -1, -1):
            if path[:end] in known:
                return known[path[:end]]
        return (1, 1)

    def problem(self, rest: tuple[str | int, ...], message: str) -> Problem:
        path = (*self.path, *rest)
        line, col = self.position(path)
        return Problem(self.file, line, col, format_path(path), message)
