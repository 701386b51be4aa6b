"""Parameters against PostgreSQL's own catalogue: pgrender's table is the server's, its verdicts the server's.

The server judges a setting the way it meets it in a pod: written into postgresql.conf as Patroni
writes parameters, then read by ``postgres -C``, which parses the file as the postmaster does at
start and fails on any error (PlainServer.takes_settings). Every parameter is judged so,
postmaster-only ones included, and the running server is not touched.
"""

from __future__ import annotations

import pytest

from pgrender.plan.parameters import catalogue, check_value, parameter_name

from .harness import PlainServer, default_pg_major

pytestmark = pytest.mark.runtime

COLUMNS = ("vartype", "unit", "min_val", "max_val", "enumvals", "context")
ACCEPTED, REFUSED = True, False
# (name, value as pgrender writes it) -> whether PostgreSQL takes it; pgrender must say the same.
CASES: tuple[tuple[str, str, bool], ...] = (
    # The issue: names are case-insensitive, values are typed.
    ("max_connections", "lots", REFUSED),
    ("MAX_CONNECTIONS", "lots", REFUSED),
    ("HBA_FILE", "/etc/passwd", ACCEPTED),  # a real parameter: pgrender refuses it as managed, not as unknown
    ("Work_Mem", "8MB", ACCEPTED),
    ("no_such_parameter", "1", REFUSED),
    ("block_size", "8192", REFUSED),  # internal: fixed when PostgreSQL is built
    # Integers: C's strtol and strtod, then the range.
    ("max_connections", "100", ACCEPTED),
    ("max_connections", "0", REFUSED),
    ("max_connections", "10000", ACCEPTED),
    ("max_connections", "262144", REFUSED),
    ("max_connections", " 100 ", ACCEPTED),
    ("max_connections", "1e2", ACCEPTED),
    ("max_connections", "100.4", ACCEPTED),
    ("max_connections", "0x64", ACCEPTED),
    ("max_connections", "010", ACCEPTED),
    ("max_connections", "09", REFUSED),
    ("max_connections", " .5e3", REFUSED),
    ("max_connections", ".5e3", ACCEPTED),
    ("max_connections", "100kB", REFUSED),
    ("max_connections", "", REFUSED),
    ("max_connections", "99999999999", REFUSED),
    # Memory: units are case-sensitive, fractions round to the next smaller unit.
    ("shared_buffers", "256MB", ACCEPTED),
    ("shared_buffers", "256 MB", ACCEPTED),
    ("shared_buffers", "256mb", REFUSED),
    ("shared_buffers", "256MBs", REFUSED),
    ("shared_buffers", "1.5GB", ACCEPTED),
    ("shared_buffers", "8kB", REFUSED),
    ("shared_buffers", "128kB", ACCEPTED),
    ("shared_buffers", "1TB", ACCEPTED),
    ("shared_buffers", "16TB", REFUSED),
    ("work_mem", "64", ACCEPTED),
    ("work_mem", "63", REFUSED),
    ("work_mem", "65535B", ACCEPTED),
    ("work_mem", "1.5MB", ACCEPTED),
    ("wal_buffers", "-1", ACCEPTED),
    ("max_wal_size", "1GB", ACCEPTED),
    ("max_wal_size", "1", REFUSED),
    # Time.
    ("statement_timeout", "30s", ACCEPTED),
    ("statement_timeout", "1.5min", ACCEPTED),
    ("statement_timeout", "10us", ACCEPTED),
    ("statement_timeout", "25d", REFUSED),
    ("statement_timeout", "1 hour", REFUSED),
    ("log_rotation_age", "90s", ACCEPTED),
    ("log_rotation_age", "1d", ACCEPTED),
    ("vacuum_cost_delay", "2ms", ACCEPTED),
    ("vacuum_cost_delay", "500us", ACCEPTED),
    ("vacuum_cost_delay", "1.5s", REFUSED),
    # Reals.
    ("checkpoint_completion_target", "0.9", ACCEPTED),
    ("checkpoint_completion_target", "1.5", REFUSED),
    ("checkpoint_completion_target", "nan", REFUSED),
    ("seq_page_cost", "1e308", ACCEPTED),
    ("seq_page_cost", "1e309", REFUSED),
    ("seq_page_cost", "inf", REFUSED),
    ("seq_page_cost", "0x1p3", ACCEPTED),
    ("random_page_cost", "-1", REFUSED),
    ("random_page_cost", "1.1x", REFUSED),
    # Booleans: prefixes of true/false/yes/no, two letters of on/off, 1/0, any case.
    ("jit", "on", ACCEPTED),
    ("jit", "of", ACCEPTED),
    ("jit", "o", REFUSED),
    ("jit", "TRU", ACCEPTED),
    ("jit", "Yes", ACCEPTED),
    ("jit", "1", ACCEPTED),
    ("jit", "2", REFUSED),
    ("jit", "onn", REFUSED),
    ("jit", " on", REFUSED),
    # Enums: any case, hidden spellings included.
    ("synchronous_commit", "Remote_Apply", ACCEPTED),
    ("synchronous_commit", "true", ACCEPTED),
    ("synchronous_commit", "maybe", REFUSED),
    ("wal_compression", "lz4", ACCEPTED),
    ("wal_compression", "zstd", ACCEPTED),
    ("wal_compression", "gzip", REFUSED),
    ("log_min_messages", "debug", ACCEPTED),
    ("client_min_messages", "fatal", REFUSED),
    ("ssl_max_protocol_version", "", ACCEPTED),
    # Strings and extension settings.
    ("DateStyle", "ISO, MDY", ACCEPTED),
    ("application_name", "a\nb", REFUSED),
    ("pg_stat_statements.track", "all", ACCEPTED),
    ("my_ext.setting_2", "x", ACCEPTED),
    ("my.custom.setting", "x", REFUSED),  # SET takes it; postgresql.conf's lexer does not
    ("my_ext.a$b", "x", REFUSED),
    ("bad..name", "x", REFUSED),
    ("1abc.x", "x", REFUSED),
)


def pgrender_verdict(version: int, name: str, value: str) -> bool:
    canonical, message = parameter_name(version, name)
    return message is None and check_value(version, canonical, value) is None


def test_verdicts_agree_with_postgres(server: PlainServer) -> None:
    version = default_pg_major()
    assert version is not None
    for name, value, expected in CASES:
        server_verdict = server.takes_settings([(name, value)])
        assert server_verdict == expected, f"PostgreSQL {'takes' if server_verdict else 'refuses'} {name}={value!r}"
        ours = pgrender_verdict(version, name, value)
        assert ours == expected, f"pgrender {'takes' if ours else 'refuses'} {name}={value!r}"


def test_catalogue_is_the_servers(server: PlainServer) -> None:
    """The shipped table of the installed major version is pg_settings, column for column."""
    version = default_pg_major()
    assert version is not None
    rows = server.json(f"SELECT name, {', '.join(COLUMNS)} FROM pg_settings")
    live = {r["name"]: tuple(tuple(r[c]) if c == "enumvals" and r[c] else r[c] for c in COLUMNS) for r in rows}
    shipped = {
        s.name: (s.vartype, s.unit, s.min_val, s.max_val, s.enumvals or None, s.context)
        for s in catalogue(version).values()
    }
    assert shipped == live


def test_hidden_enum_spellings_are_the_servers(server: PlainServer) -> None:
    """Every enum value and hidden spelling in the table is one the server takes; others are not."""
    version = default_pg_major()
    assert version is not None
    enums = [s for s in catalogue(version).values() if s.vartype == "enum" and s.context != "internal"]
    assert catalogue(version)["synchronous_commit"].aliases[:1] == ("true",), "the table has hidden spellings"
    # One file per round, each enum with its next value: the server must take every round.
    values = {s.name: (*s.enumvals, *s.aliases) for s in enums}
    for i in range(max(len(v) for v in values.values())):
        settings = [(name, vs[i]) for name, vs in values.items() if i < len(vs)]
        assert server.takes_settings(settings), [p for p in settings if not server.takes_settings([p])]
    # Spellings that other enums hide but these do not: the server refuses them.
    for setting in enums:
        for spelling in ("true", "debug", "archive"):
            if spelling not in {v.lower() for v in values[setting.name]}:
                assert not server.takes_settings([(setting.name, spelling)]), (setting.name, spelling)
