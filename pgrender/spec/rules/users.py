"""Checks of role and database names (spec.users[], spec.databases[], infrastructureRoles[]), and
an infrastructure role with where pgrender.yaml states it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.load import format_path
from pgrender.patterns import Pattern

if TYPE_CHECKING:
    from pgrender.spec.users import InfrastructureRoleSpec

ROLE_NAME = Pattern(r"^[a-z_][a-z0-9_-]{0,62}\Z")
# CREATE ROLE refuses "public" and "none"; the others name the current role in GRANT, ALTER ROLE
# and pg_hba, so a role spelt that way would be a trap even where the server takes it quoted.
RESERVED_ROLES = frozenset({"public", "none", "current_user", "session_user", "current_role", "user", "all"})
# The maintenance database the Jobs connect to, owned by the superuser, and the templates.
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})


def check_role_name(value: str) -> str:
    if not ROLE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid role name; expected 1-63 lower-case letters, digits, '_' or '-', "
            "starting with a letter or '_'"
        )
    if value.startswith("pg_"):
        raise ValueError(f"{value!r} starts with 'pg_', which PostgreSQL reserves for its own roles")
    if value in RESERVED_ROLES:
        raise ValueError(f"{value!r} is a reserved role name in PostgreSQL; choose another name")
    return value


def check_database_name(value: str) -> str:
    if not ROLE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid database name; expected 1-63 lower-case letters, digits, '_' or '-'"
        )
    if value in RESERVED_DATABASES:
        raise ValueError(
            f"{value!r} is PostgreSQL's own database (the maintenance database or a template), owned by the "
            "superuser; pgrender does not hand it to an application role"
        )
    return value


def check_member_of(value: str) -> str:
    """A role of the spec, or one of PostgreSQL's predefined pg_* roles (resolve() checks which exist)."""
    if value.startswith("pg_") and ROLE_NAME.match(value):
        return value
    return check_role_name(value)


@frozen
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
