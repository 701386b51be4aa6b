"""Spec of roles and databases: spec.users[] and spec.databases[]."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from pgrender.spec.base import StrictModel

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,62}\Z")


def _check_role_name(value: str) -> str:
    if not _ROLE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid role name; expected 1-63 lower-case letters, digits, '_' or '-', "
            "starting with a letter or '_'"
        )
    if value.startswith("pg_"):
        raise ValueError(f"{value!r} starts with 'pg_', which PostgreSQL reserves for its own roles")
    return value


def _check_database_name(value: str) -> str:
    if not _ROLE_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid database name; expected 1-63 lower-case letters, digits, '_' or '-'"
        )
    if value in ("template0", "template1"):
        raise ValueError(f"{value!r} is a template database and cannot be managed")
    return value


RoleName = Annotated[str, AfterValidator(_check_role_name)]
DatabaseName = Annotated[str, AfterValidator(_check_database_name)]


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
    databases: list[DatabaseName] = Field(default=[])
    options: RoleOptions = Field(default_factory=RoleOptions)
    password_rotation: int = Field(default=0, ge=0, description="Bump to derive a new password.")


class DatabaseSpec(StrictModel):
    """A database and its owner; the owner must be one of spec.users."""

    name: DatabaseName
    owner: RoleName
