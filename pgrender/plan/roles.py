"""Role memberships (inRoles) and per-role settings (parameters), checked against the PostgreSQL version.

Both are stated whole: a role's settings are exactly the ones listed, and its memberships in the
roles pgrender manages or PostgreSQL predefines are exactly the ones listed (the reconcile SQL
resets and revokes the rest; components/role_sql.py says how it knows which).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pgrender.frozen import frozen
from pgrender.plan.parameters import catalogue, check_value, parameter_name

# PostgreSQL's predefined roles a role may be granted, by the release that added them
# (https://www.postgresql.org/docs/current/predefined-roles.html and each release's notes).
# pg_database_owner is left out: PostgreSQL refuses it members ("cannot have explicit members").
PREDEFINED_ROLES: tuple[tuple[int, str], ...] = (
    (14, "pg_execute_server_program"),
    (14, "pg_monitor"),
    (14, "pg_read_all_data"),
    (14, "pg_read_all_settings"),
    (14, "pg_read_all_stats"),
    (14, "pg_read_server_files"),
    (14, "pg_signal_backend"),
    (14, "pg_stat_scan_tables"),
    (14, "pg_write_all_data"),
    (14, "pg_write_server_files"),
    (15, "pg_checkpoint"),
    (16, "pg_create_subscription"),
    (16, "pg_use_reserved_connections"),
    (17, "pg_maintain"),
    (18, "pg_signal_autovacuum_worker"),
)
# Contexts whose settings a role may carry: PostgreSQL applies a role's settings when a session
# starts, at the superuser level (pg_db_role_setting.c's ApplySetting), so user and superuser
# settings take effect; the others are fixed before a session (postmaster, sighup) or at its
# start (backend, superuser-backend), and the server ignores them there with a warning.
ROLE_SETTING_CONTEXTS = frozenset({"user", "superuser"})
# Settings PostgreSQL stores as a list of quoted names (GUC_LIST_QUOTE) that a role may carry:
# ALTER ROLE stores each element quoted as an identifier, so the SQL compares in that form.
LIST_SETTINGS = frozenset({"search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries"})


MAX_LISTED = 20  # roles named in a message; a spec may have a thousand


def predefined_roles(version: int) -> tuple[str, ...]:
    return tuple(name for since, name in PREDEFINED_ROLES if since <= version)


@frozen
class RoleSetting:
    """One ALTER ROLE ... SET: the name as PostgreSQL spells it, and the value's text, or (a list
    setting) its elements, each an identifier."""

    name: str
    value: str
    elements: tuple[str, ...] | None = None


Report = Callable[[tuple[str | int, ...], str], None]  # (path below the role, message)


def setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def role_settings(version: int, parameters: Mapping[str, object], report: Report) -> tuple[RoleSetting, ...]:
    """The settings of ``parameters`` for PostgreSQL ``version``, sorted by name; problems reported."""
    out: dict[str, RoleSetting] = {}
    written: dict[str, str] = {}
    for key, raw in parameters.items():
        path = ("parameters", key)
        name, message = parameter_name(version, key)
        if "." in name:
            name = name.lower()  # an extension's setting: PostgreSQL folds an unquoted name
        setting = catalogue(version).get(name.lower())
        if message is None and setting is not None and setting.context not in ROLE_SETTING_CONTEXTS:
            message = (
                f"{key!r} cannot be set per role: PostgreSQL fixes it {_WHEN[setting.context]}; "
                "set it in spec.patroni.parameters"
            )
        if message is None and name.lower() in written:
            message = f"{key!r} and {written[name.lower()]!r} name one parameter (names are case-insensitive)"
        text = setting_text(raw)
        message = message or check_value(version, name, text)
        elements = None
        if message is None and name.lower() in LIST_SETTINGS:
            elements, message = _identifiers(text)
        written.setdefault(name.lower(), key)
        if message:
            report(path, message)
        else:
            out[name] = RoleSetting(name, text, elements)
    return tuple(out[name] for name in sorted(out))


_WHEN = {
    "internal": "when it is built or initialized",
    "postmaster": "when the server starts",
    "sighup": "for the whole server (its configuration file)",
    "backend": "when a session starts, before role settings apply",
    "superuser-backend": "when a session starts, before role settings apply",
}


def _identifiers(text: str) -> tuple[tuple[str, ...] | None, str | None]:
    """The elements of a list setting as PostgreSQL's SplitIdentifierString reads them: separated
    by commas, each "quoted" (kept as written, "" for a quote) or bare (folded to lower case)."""
    out: list[str] = []
    rest = text.strip()
    if not rest:
        return (), None
    while True:
        if rest.startswith('"'):
            end = 1
            element = ""
            while True:
                close = rest.find('"', end)
                if close < 0:
                    return None, 'a quoted name is not closed; expected names separated by commas, "quoted" or bare'
                element += rest[end:close]
                if rest[close + 1 : close + 2] == '"':
                    element += '"'
                    end = close + 2
                    continue
                rest = rest[close + 1 :].lstrip()
                break
        else:
            cut = rest.find(",")
            element = (rest if cut < 0 else rest[:cut]).strip()
            if not element or '"' in element:
                return None, 'expected names separated by commas, each "quoted" or bare'
            element = element.lower()
            rest = "" if cut < 0 else rest[cut:]
        out.append(element)
        if not rest:
            return tuple(out), None
        if not rest.startswith(","):
            return None, 'expected a comma after a "quoted" name'
        rest = rest[1:].strip()
        if not rest:
            return None, "a list does not end with a comma"


def memberships(
    version: int,
    roles: Sequence[tuple[str, Sequence[str]]],
    report: Callable[[int, int | None, str], None],
) -> None:
    """Check every role's inRoles: known targets, no role in itself, no cycle.

    ``roles`` is (name, inRoles) per role pgrender manages, in spec order; ``report`` takes the
    role's index, the index in its inRoles (None: the list as a whole) and the message.
    """
    known = {name for name, _ in roles}
    predefined = predefined_roles(version)
    edges: dict[str, list[str]] = {}
    for i, (name, targets) in enumerate(roles):
        seen: set[str] = set()
        for j, target in enumerate(targets):
            if target in seen:
                report(i, j, f"{target!r} is listed twice")
            elif target == name:
                report(i, j, f"a role cannot be a member of itself ({name!r})")
            elif target.startswith("pg_") and target not in predefined:
                report(
                    i,
                    j,
                    f"{target!r} is not a predefined role of PostgreSQL {version} that a role may be granted; "
                    f"expected one of {', '.join(predefined)}",
                )
            elif not target.startswith("pg_") and target not in known:
                listed = ", ".join(sorted(known)[:MAX_LISTED]) + (", ..." if len(known) > MAX_LISTED else "")
                report(
                    i, j, f"unknown role {target!r}; expected a role of the spec ({listed}) or a predefined pg_* role"
                )
            else:
                edges.setdefault(name, []).append(target)
            seen.add(target)
    cycle = _cycle(edges)
    if cycle:
        first = next(i for i, (name, _) in enumerate(roles) if name == cycle[0])
        report(first, None, f"memberships make a cycle ({' → '.join(cycle)}); PostgreSQL refuses it")


def _cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle of the graph (its roles in order, the first repeated at the end), or None; a
    depth-first walk with its own stack, so a long chain of roles needs no deep recursion."""
    done: set[str] = set()
    for start in edges:
        if start in done:
            continue
        path = [start]
        on_path = {start}
        stack = [iter(edges.get(start, ()))]
        while stack:
            node = next(stack[-1], None)
            if node is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif node in on_path:
                return [*path[path.index(node) :], node]
            elif node not in done:
                path.append(node)
                on_path.add(node)
                stack.append(iter(edges.get(node, ())))
    return None
