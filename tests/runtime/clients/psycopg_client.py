"""An application using psycopg 3 (libpq) with a connection string as it receives it.

Usage: psycopg_client.py SOURCE WORKLOAD
  SOURCE    file:PATH (a key of the mounted Secret) or env:NAME (an environment variable), used as is;
            none: an empty connection string, libpq's environment (PGHOST, ...) says it all
  WORKLOAD  identity: one connection, who and where it is;
            prepared: three connections taking turns, 8 executions each of one query, which psycopg
                      prepares after 5 (prepare_threshold, its default);
            prepared-workaround: the same with prepare_threshold=None, for a transaction pool whose
                      pgBouncer does not track prepared statements.
Prints one JSON object; on failure the error on stderr and exit status 1.
"""

from __future__ import annotations

import json
import os
import sys

import psycopg

IDENTITY = (
    "SELECT current_user, current_database(), "
    "coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)"
)


def connection_string(source: str) -> str:
    if source == "none":
        return ""
    kind, _, name = source.partition(":")
    if kind == "file":
        with open(name, encoding="utf-8") as f:
            return f.read()
    return os.environ[name]


def main(source: str, workload: str) -> dict[str, object]:
    uri = connection_string(source)
    if workload == "identity":
        with psycopg.connect(uri, autocommit=True) as conn:
            row = conn.execute(IDENTITY).fetchone()
            assert row is not None
            return {
                "user": row[0],
                "database": row[1],
                "server_ssl": row[2],
                "client_ssl": bool(conn.pgconn.ssl_in_use),
                "libpq": psycopg.pq.version(),
            }
    threshold = None if workload == "prepared-workaround" else 5
    conns = [psycopg.connect(uri, autocommit=True, prepare_threshold=threshold) for _ in range(3)]
    try:
        executions = 0
        for n in range(8):
            for i, conn in enumerate(conns):
                row = conn.execute("SELECT %s::int * 2", (n * 10 + i,)).fetchone()
                assert row == ((n * 10 + i) * 2,), row
                executions += 1
        return {"executions": executions, "prepare_threshold": threshold}
    finally:
        for conn in conns:
            conn.close()


if __name__ == "__main__":
    try:
        result = main(sys.argv[1], sys.argv[2])
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))
