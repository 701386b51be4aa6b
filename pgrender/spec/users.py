"""Spec of roles and databases: spec.users[] and spec.databases[]."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from pgrender.spec.base import DNSLabel, ForEditors, StrictModel
from pgrender.spec.limits import MAX_DATABASES_PER_USER, MAX_PARAMETERS, MAX_ROLE_MEMBERSHIPS
from pgrender.spec.patroni import ParameterValue
from pgrender.spec.rules.users import (
    RESERVED_DATABASES,
    RESERVED_ROLES,
    ROLE_NAME,
    InfrastructureRole,
    check_database_name,
    check_member_of,
    check_role_name,
)

__all__ = [
    "RESERVED_DATABASES",
    "RESERVED_ROLES",
    "DatabaseSpec",
    "InfrastructureRole",
    "InfrastructureRoleSpec",
    "RoleOptions",
    "UserSpec",
]

# For editors: the name pattern, without pg_ and the reserved names (which the checks name).
_RESERVED_LOOKAHEAD = "(?!pg_)(?!(" + "|".join(sorted(RESERVED_ROLES)) + ")$)"
_DATABASE_LOOKAHEAD = "(?!(" + "|".join(sorted(RESERVED_DATABASES)) + ")$)"
RoleName = Annotated[
    str,
    AfterValidator(check_role_name),
    ForEditors("^" + _RESERVED_LOOKAHEAD + ROLE_NAME.pattern[1:].replace("\\Z", "$"), ("app", "reporting")),
]
DatabaseName = Annotated[
    str,
    AfterValidator(check_database_name),
    ForEditors("^" + _DATABASE_LOOKAHEAD + ROLE_NAME.pattern[1:].replace("\\Z", "$"), ("app",)),
]
MembershipTarget = Annotated[str, AfterValidator(check_member_of)]


class RoleOptions(StrictModel):
    """Role attributes of CREATE ROLE; pgrender states every one, so removing an option revokes it."""

    superuser: bool = False
    """SUPERUSER: bypasses every permission check."""
    createdb: bool = False
    """CREATEDB: may create databases."""
    createrole: bool = False
    """CREATEROLE: may create, alter and drop other roles."""
    login: bool = True
    """LOGIN: may connect; with it a user gets its Secret. false makes a group role."""
    replication: bool = False
    """REPLICATION: may start streaming replication and make base backups."""
    bypassrls: bool = False
    """BYPASSRLS: row-level security policies do not apply to it."""
    inherit: bool = True
    """INHERIT: uses the privileges of the roles it is a member of without SET ROLE."""


class RoleSpec(StrictModel):
    """What a role is, wherever it is declared (spec.users, pgrender.yaml's infrastructureRoles)."""

    name: RoleName
    """The role's name: lower-case letters, digits, '_' and '-'; not pg_*, postgres or _pgrender*."""
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
    """Databases this user may use (GRANT CONNECT, CREATE, TEMPORARY); one not in spec.databases is created,
    owned by the first user that lists it. The first is the database of the user's connection URIs."""
    password_rotation: int = Field(default=0, ge=0, description="Bump to derive a new password.")
    secret_namespaces: list[DNSLabel] = Field(
        default=[],
        max_length=20,
        description="Namespaces of the applications that log in as this user: its Secret (and access Secret) "
        "is written into each as well, the same keys and values (Zalando's {namespace}.{user} Secrets; PGO "
        "issue 2831), and the cluster's NetworkPolicies let those namespaces' pods reach PostgreSQL and "
        "pgBouncer. The cluster's own namespace keeps its Secret.",
    )
    access_secret: bool = Field(
        default=False,
        description="Also write <cluster>-pgaccess-<name>: the libpq environment (PGHOST, PGPORT, PGUSER, "
        "PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT) and USER_ACCESS, the Service to port-forward "
        "to, for envFrom or a shell.",
    )


class DatabaseSpec(StrictModel):
    """A database and its owner; the owner must be one of spec.users."""

    name: DatabaseName
    """The database's name; not postgres, template0 or template1."""
    owner: RoleName
    """The owning role, one of spec.users."""


class InfrastructureRoleSpec(RoleSpec):
    """pgrender.yaml's infrastructureRoles[]: a role made in every cluster rendered with that file,
    with the same password everywhere (derived without the cluster's name), so one tool (monitoring,
    backups, an admin) logs into all of them; its Secret is <c>-pguser-<name> in each cluster."""

    password_rotation: int = Field(default=0, ge=0, description="Bump to derive a new password (every cluster).")
