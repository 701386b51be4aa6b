"""PostgreSQL parameters of spec.patroni.parameters: names and values held to the server's own catalogue.

The catalogue (postgres_parameters/<major>.json, beside this module) is pg_settings as PostgreSQL 14 to
18 report it: each parameter's vartype, unit, min_val, max_val, enumvals and context, plus
the enum spellings pg_settings hides (``synchronous_commit = true``). scripts/postgres-parameters.py
reads it from running servers; its docstring says which builds were read for which version (15
is Debian's; 14, 16, 17 and 18 are builds of the PostgreSQL sources without Debian's patches, so
they lack the Debian-only extension_destdir).

Why a hand-written parser for the values: PostgreSQL turns a setting's text into a value in guc.c
(``parse_bool``, ``parse_int``, ``parse_real``, ``convert_to_base_unit``,
``config_enum_lookup_by_name``), and no Python library implements those rules; pgtoolkit.conf
reads postgresql.conf's syntax but knows no parameter's type, unit or range. This module follows
guc.c, which 14 to 18 share: names compare case-insensitively; a bool is a case-insensitive prefix
of true/false/yes/no (at least two letters of on/off) or 1/0; a number is C's strtol (base 0:
``0x1f``, ``010``) or strtod, then an optional unit (kB, MB, GB, TB, B; us, ms, s, min, h, d,
case-sensitive) converted to the parameter's own unit, rounded to a whole number for integers, and
held to min_val..max_val; an enum is any of its values, hidden ones included, in any case.

What the catalogue cannot tell stays PostgreSQL's to check: string values, and the check hooks
some parameters run beyond type and range (a time zone's name, max_connections plus the worker
counts together). tests/runtime/test_parameters.py compares these verdicts with the server's.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

from pgrender.frozen import frozen
from pgrender.patterns import Pattern

# Beside this module in every install (package data); read as a file, as importlib.resources with its
# tempfile and zipfile imports costs a cold render about 4 ms (issue 17).
CATALOGUE_DIR = Path(__file__).with_name("postgres_parameters")
# Parameters renamed in a major release: name -> (the release, the new name). From that release on
# the old name is only an alias the server maps (guc.c's map_old_guc_names), which neither
# pg_settings nor ``postgres --describe-config`` lists, so Patroni drops it from the configuration
# as unknown ("Removing unexpected parameter"): refused, naming the new one.
RENAMED: dict[str, tuple[int, str]] = {"ssl_ecdh_curve": (18, "ssl_groups")}
# Values the catalogue lacks on purpose, with the reason the refusal gives.
# io_method=io_uring: the build read has no liburing, and every pgrender container runs under the
# RuntimeDefault seccomp profile, which blocks io_uring's system calls (containerd 2.0, Docker 25),
# so a server set to it cannot start its I/O.
WITHHELD_VALUES: dict[tuple[str, str], str] = {
    ("io_method", "io_uring"): "io_uring's system calls are blocked by the RuntimeDefault seccomp profile the "
    "pods run under (containerd 2.0, Docker 25 and later), so the server could not start; use 'worker' "
    "(PostgreSQL's default) or 'sync'",
}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
DBL_MAX = 1.7976931348623157e308
# pg_settings prints real bounds with %g: DBL_MAX shows as 1.79769e+308, a little below it.
DBL_MAX_SHOWN = 1.79769e308
BOOL_WORDS = ("true", "false", "yes", "no")
# Units in table order (largest first, as guc.c's conversion tables), in bytes and microseconds.
MEMORY_UNITS: tuple[tuple[str, int], ...] = (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024), ("B", 1))
TIME_UNITS: tuple[tuple[str, int], ...] = (
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
)
# A parameter's own unit as pg_settings names it: its size in bytes or microseconds.
BASE_UNITS: dict[str, tuple[str, int]] = {
    "B": ("memory", 1),
    "kB": ("memory", 1024),
    "MB": ("memory", 1024**2),
    "8kB": ("memory", 8192),  # BLCKSZ and XLOG_BLCKSZ pages
    "us": ("time", 1),
    "ms": ("time", 1_000),
    "s": ("time", 1_000_000),
    "min": ("time", 60_000_000),
}
UNIT_WORDS = {
    "B": "bytes",
    "kB": "kilobytes",
    "MB": "megabytes",
    "8kB": "8kB pages",
    "us": "microseconds",
    "ms": "milliseconds",
    "s": "seconds",
    "min": "minutes",
}
C_SPACE = " \t\n\v\f\r"  # C's isspace in the C locale
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_STRTOL = Pattern(r"[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9A-Fa-f]+)|(0[0-7]*)|([1-9][0-9]*))")
_STRTOD_DECIMAL = Pattern(r"[ \t\n\v\f\r]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRTOD_HEX = Pattern(r"[ \t\n\v\f\r]*[+-]?0[xX](?:[0-9A-Fa-f]+\.?[0-9A-Fa-f]*|\.[0-9A-Fa-f]+)(?:[pP][+-]?[0-9]+)?")
_STRTOD_SPECIAL = Pattern(r"[ \t\n\v\f\r]*[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
# An extension's setting as postgresql.conf's lexer (guc-file.l) reads a name: QUALIFIED_ID, two
# IDs joined by one dot, an ID being letters, digits, _ and bytes >= 0x80, not starting with a digit.
# (Checked by hand, not by a regex: a character class up to U+10FFFF takes 12 ms to compile at import.)
_ID_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ID_REST = _ID_START | frozenset("0123456789")


def _identifier(part: str) -> bool:
    return (
        bool(part) and all(c in _ID_REST or c >= "\x80" for c in part) and (part[0] in _ID_START or part[0] >= "\x80")
    )


def _custom_name(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 2 and all(_identifier(part) for part in parts)


@frozen
class Setting:
    """One parameter of the catalogue: the pg_settings columns pgrender checks values with."""

    name: str
    vartype: str
    unit: str | None
    min_val: str | None
    max_val: str | None
    enumvals: tuple[str, ...]
    aliases: tuple[str, ...]
    context: str


@functools.cache
def catalogue(version: int) -> dict[str, Setting]:
    """The parameters of PostgreSQL ``version``, by lower-case name (PostgreSQL's names are case-insensitive)."""
    raw: dict[str, Any] = json.loads((CATALOGUE_DIR / f"{version}.json").read_text())
    return {
        _ascii_lower(name): Setting(
            name,
            entry["vartype"],
            entry["unit"],
            entry["min_val"],
            entry["max_val"],
            tuple(entry["enumvals"] or ()),
            tuple(entry.get("aliases", ())),
            entry["context"],
        )
        for name, entry in raw["parameters"].items()
    }


def parameter_name(version: int, name: str) -> tuple[str, str | None]:
    """(the name as PostgreSQL spells it, or as written for an extension's; why it is refused, or None)."""
    setting = catalogue(version).get(_ascii_lower(name))
    if setting is not None:
        if setting.context == "internal":
            return setting.name, f"{name!r} is read-only: PostgreSQL sets it when it is built or initialized"
        return setting.name, None
    if "." in name:
        if _custom_name(name):
            return name, None  # an extension's setting (pg_stat_statements.track): the extension checks it
        return name, "expected an extension setting written prefix.name: two identifiers joined by one dot"
    renamed = RENAMED.get(_ascii_lower(name))
    if renamed is not None and version >= renamed[0]:
        return name, f"{name!r} was renamed {renamed[1]!r} in PostgreSQL {renamed[0]}; write {renamed[1]!r}"
    import difflib  # only for this message: a render without it stays off tests/test_startup.py's list

    close = difflib.get_close_matches(_ascii_lower(name), catalogue(version), n=1)
    hint = f"; did you mean {catalogue(version)[close[0]].name!r}?" if close else ""
    return name, f"unknown parameter {name!r} for PostgreSQL {version}{hint}"


def check_value(version: int, name: str, value: str) -> str | None:
    """Why PostgreSQL ``version`` would refuse ``value`` for parameter ``name``, or None when it takes it.

    Messages echo the value only for typed parameters (bool, number, enum); a string value may be
    a secret (a command line with a password) and is never repeated.
    """
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "contains a control character; a value is one line of postgresql.conf"
    setting = catalogue(version).get(_ascii_lower(name))
    if setting is None or setting.vartype == "string":
        return None
    if setting.vartype == "bool":
        ok = parse_bool(value) is not None
    elif setting.vartype == "enum":
        withheld = WITHHELD_VALUES.get((_ascii_lower(setting.name), _ascii_lower(value)))
        if withheld:
            return f"{value!r} is refused: {withheld}"
        ok = _ascii_lower(value) in {_ascii_lower(v) for v in (*setting.enumvals, *setting.aliases)}
    else:
        number = parse_number(value, setting.unit, integer=setting.vartype == "integer")
        low = -math.inf if setting.min_val is None else _bound(setting.min_val)
        high = math.inf if setting.max_val is None else _bound(setting.max_val)
        ok = number is not None and low <= number <= high
    return None if ok else f"expected {expected(setting)}; found {value!r}"


def same_value(version: int, name: str, value: str, other: str) -> bool:
    """Whether PostgreSQL ``version`` reads ``value`` and ``other`` of parameter ``name`` as one value
    (guc.c's parsing: on and true, 1GB and 1024MB, Logical and logical); a string compares as it is,
    and an enum's hidden spellings (wal_level hot_standby for replica) as values of their own."""
    setting = catalogue(version).get(_ascii_lower(name))
    if setting is None or setting.vartype == "string":
        return value == other
    if setting.vartype == "bool":
        return parse_bool(value) is not None and parse_bool(value) == parse_bool(other)
    if setting.vartype == "enum":
        return _ascii_lower(value) == _ascii_lower(other)
    integer = setting.vartype == "integer"
    number = parse_number(value, setting.unit, integer=integer)
    return number is not None and number == parse_number(other, setting.unit, integer=integer)


def expected(setting: Setting) -> str:
    """What a value of ``setting`` must look like, for messages."""
    if setting.vartype == "bool":
        return "a boolean (on, off, true, false, yes, no, 1, 0)"
    if setting.vartype == "enum":
        return f"one of {', '.join(repr(v) for v in setting.enumvals)}"
    kind = "a whole number" if setting.vartype == "integer" else "a number"
    if setting.unit not in BASE_UNITS:
        return f"{kind} between {setting.min_val} and {setting.max_val}"
    memory = BASE_UNITS[setting.unit][0] == "memory"
    units = ", ".join(u for u, _ in reversed(MEMORY_UNITS if memory else TIME_UNITS))
    return (
        f"{kind} of {UNIT_WORDS[setting.unit]} between {setting.min_val} and {setting.max_val}, "
        f"or a {'size' if memory else 'duration'} with a unit ({units})"
    )


def parse_bool(value: str) -> bool | None:
    """guc.c's parse_bool: the bool ``value`` spells, or None."""
    lower = _ascii_lower(value)
    if lower in ("1", "0"):
        return lower == "1"
    if lower[:1] == "o":  # "o" alone could be on or off
        if len(lower) >= 2 and "on".startswith(lower):
            return True
        if len(lower) >= 2 and "off".startswith(lower):
            return False
        return None
    for word in BOOL_WORDS:
        if lower and word.startswith(lower):
            return word in ("true", "yes")
    return None


def parse_number(value: str, unit: str | None, *, integer: bool) -> float | None:
    """guc.c's parse_int/parse_real: the value in the parameter's own unit, or None when it is no number.

    Integers are rounded as rint() does and held to the C int range; the caller checks min..max.
    """
    parsed: tuple[float, int] | None
    if integer:
        # strtol first; strtod again when it stops at '.', 'e' or 'E' (or overflows).
        long = _strtol(value)
        end = 0 if long is None else long[1]
        if long is not None and long[0] is not None and value[end : end + 1] not in (".", "e", "E"):
            parsed = (long[0], end)
        elif long is None and value[:1] not in (".", "e", "E"):
            return None  # no digits: strtol's end is the start, which guc.c refuses
        else:
            parsed = _strtod(value)
    else:
        parsed = _strtod(value)
    if parsed is None or math.isnan(parsed[0]):
        return None
    number, end = parsed
    rest = value[end:].strip(C_SPACE)
    if rest:
        if unit not in BASE_UNITS:
            return None  # this parameter takes no unit
        converted = _convert_unit(number, rest, *BASE_UNITS[unit])
        if converted is None:
            return None
        number = converted
    if integer:
        if math.isfinite(number):
            number = float(round(number))
        if not INT_MIN <= number <= INT_MAX:
            return None
    return number


def _ascii_lower(text: str) -> str:
    """Lower case of ASCII letters only, like PostgreSQL's pg_strcasecmp and guc_name_compare."""
    return text.translate(_ASCII_LOWER)


def _strtol(value: str) -> tuple[float | None, int] | None:
    """C strtol(value, &end, 0): (value, end), value None on overflow (ERANGE); None when no digits."""
    match = _STRTOL.match(value)
    if not match:
        return None
    sign, hex_digits, octal, decimal = match.groups()
    if hex_digits is not None:
        number = int(hex_digits, 16)
    elif octal is not None:
        number = int(octal, 8)
    else:
        number = int(decimal)
    number = -number if sign == "-" else number
    if not -(2**63) <= number < 2**63:
        return None, match.end()
    return float(number), match.end()


def _strtod(value: str) -> tuple[float, int] | None:
    """C strtod(value, &end): (value, end); None when no number or on ERANGE (overflow, underflow)."""
    for pattern in (_STRTOD_HEX, _STRTOD_SPECIAL, _STRTOD_DECIMAL):
        match = pattern.match(value)
        if match:
            text = match.group().strip(C_SPACE)
            if pattern is _STRTOD_HEX:
                body = text.lstrip("+-")
                number = float.fromhex(body if "p" in body.lower() else body + "p0")
                number = -number if text.startswith("-") else number
            elif pattern is _STRTOD_SPECIAL:
                number = float(text.split("(")[0])
                return number, match.end()
            else:
                number = float(text)
            if math.isinf(number) or (number == 0 and re.search(r"[1-9]", text.split("e")[0].split("E")[0])):
                return None  # ERANGE
            if number != 0 and abs(number) < 2.2250738585072014e-308:
                return None  # ERANGE: glibc reports underflow for subnormal results
            return number, match.end()
    return None


def _convert_unit(number: float, unit: str, kind: str, base: int) -> float | None:
    """guc.c's convert_to_base_unit: ``number`` of ``unit`` in the parameter's unit, or None."""
    table = MEMORY_UNITS if kind == "memory" else TIME_UNITS
    names = [name for name, _ in table]
    if unit not in names:
        return None
    i = names.index(unit)
    value = number * (table[i][1] / base)
    if i + 1 < len(table) and math.isfinite(value):
        # A fractional value ("30.1GB") is rounded to a whole number of the next smaller unit.
        smaller = table[i + 1][1] / base
        value = round(value / smaller) * smaller
    return value


def _bound(text: str) -> float:
    number = float(text)
    if abs(number) == DBL_MAX_SHOWN:
        return math.copysign(DBL_MAX, number)
    return number
