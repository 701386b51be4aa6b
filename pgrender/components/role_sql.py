"""The reconcile SQL's role memberships (inRoles) and per-role settings (parameters); reconcile.py
places them. Each SELECT yields a statement only where the catalog differs from the plan.

Which settings are pgrender's: all of a role's own settings (pg_db_role_setting with database 0)
for every role the spec declares. They are stated whole, like its options, so a setting removed
from the spec is reset; settings for one database (ALTER ROLE ... IN DATABASE) are left alone.

Which memberships are pgrender's: those of a role the spec declares, in a role the spec declares or
a predefined pg_* role, granted by the superuser the Job runs as (PostgreSQL records the grantor;
from 16 on a superuser's grants are recorded as the bootstrap superuser's, which is that superuser).
A membership such a role holds in any other role, or one another role granted (a CREATEROLE role's
own grants, the ADMIN membership PostgreSQL 16 gives a role's creator), is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from pgrender.plan.roles import RoleSetting

MEMBERSHIPS_MARKER = "-- memberships"


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _setting_name(name: str) -> str:
    """An extension's prefix.name as two identifiers (PostgreSQL joins them with the dot)."""
    return ".".join(identifier(part) for part in name.split("."))


def _stored(setting: RoleSetting) -> str:
    """SQL for the text pg_db_role_setting holds once the setting is made: name=value, a list
    setting's elements each quoted as an identifier (quote_ident, as ALTER ROLE stores them)."""
    if setting.elements is None:
        return literal(f"{setting.name}={setting.value}")
    elements = ", ".join(literal(e) for e in setting.elements)
    return (
        f"{literal(setting.name + '=')} || pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(e) "
        f"FROM unnest(ARRAY[{elements}]::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n), ', ')"
    )


def _value(setting: RoleSetting) -> str:
    if setting.elements is None:
        return literal(setting.value)
    # An empty list is one empty name, as PostgreSQL itself writes it ("").
    return ", ".join(literal(e) for e in setting.elements) or "''"


def role_settings_sql(role: str, settings: Sequence[RoleSetting]) -> list[str]:
    """Reset the role's settings the plan does not list, then set those that differ."""
    name = literal(role)
    names = ", ".join(literal(s.name) for s in settings)
    own = (
        "pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole"
        f" WHERE s.setdatabase = 0 AND r.rolname = {name}"
    )
    out = [
        "SELECT format('ALTER ROLE %I RESET %I', r.rolname, pg_catalog.split_part(c, '=', 1))",
        f"  FROM {own.replace(' WHERE ', ', unnest(s.setconfig) AS c WHERE ')}",
        f"   AND pg_catalog.split_part(c, '=', 1) <> ALL (ARRAY[{names}]::text[])",
        "\\gexec",
    ]
    for setting in settings:
        statement = f"ALTER ROLE {identifier(role)} SET {_setting_name(setting.name)} TO {_value(setting)}"
        out += [
            f"SELECT {literal(statement)}",
            f" WHERE NOT EXISTS (SELECT FROM {own} AND {_stored(setting)} = ANY (s.setconfig))",
            "\\gexec",
        ]
    return out


def memberships_sql(roles: Sequence[tuple[str, Sequence[str]]]) -> list[list[str]]:
    """Revoke pgrender's memberships the plan no longer lists, then grant the missing ones.

    ``roles`` is (role, inRoles) for every role the spec declares. The revocations come first, so
    that turning a membership around (a in b, then b in a) never makes a cycle on the way.
    """
    if not roles:
        return []
    rows = ",\n       ".join(
        f"({literal(role)}, ARRAY[{', '.join(literal(t) for t in targets)}]::text[])" for role, targets in roles
    )
    revoke = [
        MEMBERSHIPS_MARKER,
        f"WITH managed(role, in_roles) AS (VALUES {rows})",
        "SELECT format('REVOKE %I FROM %I', g.rolname, m.rolname)",
        "  FROM managed",
        "  JOIN pg_catalog.pg_roles m ON m.rolname = managed.role",
        "  JOIN pg_catalog.pg_auth_members a ON a.member = m.oid",
        "  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid",
        " WHERE a.grantor = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)",
        "   AND (g.rolname LIKE 'pg\\_%' OR g.rolname IN (SELECT role FROM managed))",
        "   AND g.rolname <> ALL (managed.in_roles)",
        " ORDER BY m.rolname, g.rolname",
        "\\gexec",
        "",
    ]
    sections = [revoke]
    for role, targets in roles:
        if not targets:
            continue
        lines = []
        for target in targets:
            lines += [
                f"SELECT format('GRANT %I TO %I', {literal(target)}, {literal(role)})",
                " WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members a",
                "   JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN pg_catalog.pg_roles m ON m.oid = a.member",
                f"  WHERE g.rolname = {literal(target)} AND m.rolname = {literal(role)})",
                "\\gexec",
            ]
        sections.append([*lines, ""])
    return sections
