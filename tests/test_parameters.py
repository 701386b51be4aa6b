"""parameters: names and values held to PostgreSQL's catalogue (pg_settings of 14 to 18), as guc.c reads them.

tests/runtime/test_parameters.py checks the same verdicts against a running server.
"""

from __future__ import annotations

import math

import pytest

from pgrender.plan.parameters import catalogue, check_value, parameter_name, parse_bool, parse_number, same_value
from pgrender.spec import SUPPORTED_POSTGRES_VERSIONS


@pytest.mark.parametrize("version", SUPPORTED_POSTGRES_VERSIONS)
def test_a_catalogue_per_supported_version(version: int) -> None:
    table = catalogue(version)
    assert len(table) > 300
    assert table["max_connections"].vartype == "integer" and table["max_connections"].max_val == "262143"
    assert table["shared_buffers"].unit == "8kB"
    assert {"true", "1"} <= set(table["synchronous_commit"].aliases)
    # Debian's and PGDG's builds have lz4 (and, from 15 on, zstd for wal_compression).
    assert "lz4" in table["default_toast_compression"].enumvals
    if version >= 15:
        assert table["wal_compression"].enumvals[:3] == ("pglz", "lz4", "zstd")
    else:
        assert table["wal_compression"].vartype == "bool"


def test_names_are_case_insensitive_and_spelled_as_postgres_does() -> None:
    assert parameter_name(16, "MAX_CONNECTIONS") == ("max_connections", None)
    assert parameter_name(16, "datestyle") == ("DateStyle", None)
    assert parameter_name(16, "HBA_FILE") == ("hba_file", None)


@pytest.mark.parametrize(
    ("version", "name", "message"),
    [
        (16, "work_mme", "unknown parameter 'work_mme' for PostgreSQL 16; did you mean 'work_mem'?"),
        (16, "force_parallel_mode", "unknown parameter 'force_parallel_mode' for PostgreSQL 16"),
        (16, "block_size", "'block_size' is read-only"),
        (16, "a.b.c", "expected an extension setting written prefix.name"),
        (16, "a.1b", "expected an extension setting written prefix.name"),
        (17, "old_snapshot_threshold", "unknown parameter"),
    ],
)
def test_names_refused(version: int, name: str, message: str) -> None:
    _, problem = parameter_name(version, name)
    assert problem is not None and problem.startswith(message)


def test_version_specific_names() -> None:
    assert parameter_name(15, "force_parallel_mode")[1] is None
    assert parameter_name(16, "debug_parallel_query")[1] is None
    assert parameter_name(17, "transaction_timeout")[1] is None
    assert parameter_name(14, "pg_stat_statements.track") == ("pg_stat_statements.track", None)


def test_the_catalogue_of_18() -> None:
    table = catalogue(18)
    assert str(table["server_version_num"].min_val).startswith("18")  # read from an 18 server
    # New in 18: asynchronous I/O, autovacuum's worker slots; not known to 17.
    for name in ("io_method", "io_workers", "autovacuum_worker_slots", "ssl_groups", "md5_password_warnings"):
        assert parameter_name(18, name) == (name, None)
        assert str(parameter_name(17, name)[1]).startswith(f"unknown parameter {name!r} for PostgreSQL 17")
    assert check_value(18, "io_method", "worker") is None and check_value(18, "io_method", "SYNC") is None
    assert check_value(18, "io_workers", "4") is None
    assert check_value(18, "io_workers", "33") == "expected a whole number between 1 and 32; found '33'"
    # 18 turned log_connections from a bool into a list of aspects ("on" still means the old set).
    assert table["log_connections"].vartype == "string" and catalogue(17)["log_connections"].vartype == "bool"
    assert check_value(18, "log_connections", "receipt,authentication") is None
    assert check_value(17, "log_connections", "receipt") is not None
    # autovacuum_max_workers no longer needs a restart: 18 reserves autovacuum_worker_slots instead.
    assert table["autovacuum_max_workers"].context == "sighup"
    assert catalogue(17)["autovacuum_max_workers"].context == "postmaster"


def test_a_name_18_renamed_is_refused_with_the_new_name() -> None:
    # ssl_ecdh_curve is only an alias in 18, which Patroni drops from the configuration as unknown.
    assert parameter_name(17, "ssl_ecdh_curve") == ("ssl_ecdh_curve", None)
    assert parameter_name(18, "SSL_ECDH_Curve")[1] == (
        "'SSL_ECDH_Curve' was renamed 'ssl_groups' in PostgreSQL 18; write 'ssl_groups'"
    )


def test_io_uring_is_refused_with_the_reason() -> None:
    message = check_value(18, "io_method", "IO_URING")
    assert message is not None and message.startswith("'IO_URING' is refused: io_uring's system calls are blocked")
    assert "RuntimeDefault seccomp profile" in message and "'worker'" in message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("on", True),
        ("ON", True),
        ("of", False),
        ("o", None),
        ("t", True),
        ("tru", True),
        ("truex", None),
        ("YES", True),
        ("n", False),
        ("1", True),
        ("0", False),
        ("01", None),
        ("", None),
        (" on", None),
    ],
)
def test_parse_bool(text: str, value: bool | None) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("100", None, 100),
        (" 100 ", None, 100),
        ("0x10", None, 16),
        ("010", None, 8),
        ("09", None, None),  # octal 0, then "9" is no unit
        ("1e2", None, 100),
        ("100.5", None, 100),  # rint: half to even
        ("101.5", None, 102),
        (".5e1", None, 5),
        (" .5", None, None),  # strtol stops at the blank, so strtod never runs
        ("10kB", None, None),  # no unit for a unit-less parameter
        ("2147483648", None, None),
        ("256MB", "8kB", 32768),
        ("256 MB", "8kB", 32768),
        ("256mb", "8kB", None),
        ("1.5kB", "kB", 2),  # 1536 B, as kB: rint(1.5) = 2
        ("1.5GB", "MB", 1536),
        ("30.1GB", "MB", 30822),
        ("1TB", "8kB", 134217728),
        ("90s", "min", 2),
        ("30s", "min", 0),
        ("1.5min", "ms", 90000),
        ("10us", "ms", 0),
        ("1d", "s", 86400),
        ("1 hour", "s", None),
    ],
)
def test_parse_integer(text: str, unit: str | None, value: int | None) -> None:
    assert parse_number(text, unit, integer=True) == value


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("0.9", None, 0.9),
        ("1e308", None, 1e308),
        ("1e309", None, None),  # ERANGE
        ("1e-400", None, None),  # ERANGE
        ("0x1p3", None, 8.0),
        ("nan", None, None),
        ("500us", "ms", 0.5),
        ("1.5s", "ms", 1500.0),
        ("2 ms", "ms", 2.0),
    ],
)
def test_parse_real(text: str, unit: str | None, value: float | None) -> None:
    assert parse_number(text, unit, integer=False) == value
    assert math.isinf(parse_number("inf", None, integer=False) or 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_connections", "lots", "expected a whole number between 1 and 262143; found 'lots'"),
        (
            "work_mem",
            "-1",
            "expected a whole number of kilobytes between 64 and 2147483647, "
            "or a size with a unit (B, kB, MB, GB, TB); found '-1'",
        ),
        (
            "statement_timeout",
            "25d",
            "expected a whole number of milliseconds between 0 and 2147483647, "
            "or a duration with a unit (us, ms, s, min, h, d); found '25d'",
        ),
        ("checkpoint_completion_target", "1.5", "expected a number between 0 and 1; found '1.5'"),
        ("jit", "maybe", "expected a boolean (on, off, true, false, yes, no, 1, 0); found 'maybe'"),
        ("wal_level", "hot", "expected one of 'minimal', 'replica', 'logical'; found 'hot'"),
    ],
)
def test_values_refused_with_what_was_expected(name: str, value: str, message: str) -> None:
    assert check_value(16, name, value) == message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("synchronous_commit", "TRUE"),
        ("wal_level", "hot_standby"),
        ("log_min_messages", "Debug"),
        ("wal_compression", "zstd"),
        ("search_path", '"$user", public'),
        ("pg_stat_statements.track", "anything"),  # an extension checks its own
    ],
)
def test_values_taken(name: str, value: str) -> None:
    assert check_value(16, name, value) is None


def test_string_values_stay_out_of_messages() -> None:
    message = check_value(16, "archive_command", "curl -u admin:hunter2\nx")
    assert message is not None and "hunter2" not in message


@pytest.mark.parametrize(
    ("name", "value", "other", "same"),
    [
        ("ssl", "true", "on", True),
        ("ssl", "of", "on", False),
        ("ssl", "maybe", "maybe", False),
        ("wal_level", "Logical", "logical", True),
        ("wal_level", "replica", "logical", False),
        ("port", "0x1538", "5432", True),
        ("shared_buffers", "1GB", "131072", True),
        ("password_encryption", "SCRAM-SHA-256", "scram-sha-256", True),
        ("archive_command", "true", "TRUE", False),
    ],
)
def test_same_value(name: str, value: str, other: str, same: bool) -> None:
    assert same_value(16, name, value, other) is same
