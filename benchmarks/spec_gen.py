"""Specs for the benchmarks: cluster ``i`` of a fleet, varied the way a real fleet varies."""

from __future__ import annotations

# With backups: an encrypted S3 repository with full and incremental schedules and PITR retention.
BACKUPS = (
    "  backups:\n    repos:\n      - name: repo1\n"
    "        s3: {bucket: fleet-backups, endpoint: s3.eu-north-1.amazonaws.com, region: eu-north-1}\n"
    "        credentials: {secretName: fleet-s3}\n"
    '        schedules: {full: "30 1 * * 0", incremental: "30 1 * * 1-6"}\n'
    "        retention: {full: 4, pointInTimeDays: 14}\n"
)


def spec(i: int, backups: bool = False, users: int | None = None, replicas: int | None = None) -> str:
    """Cluster ``i``: 1-3 users and replicas and PostgreSQL 14-18 by its number, unless given; the
    users share 50 databases at most (a cluster's limit)."""
    n_users = 1 + i % 3 if users is None else users
    listed = "".join(f"    - name: user{u}\n      databases: [db{u % 50}]\n" for u in range(n_users))
    return (
        "apiVersion: pgrender.io/v1alpha1\nkind: PostgresCluster\n"
        f"metadata:\n  name: c{i:04d}\n  namespace: team{i % 17}\n"
        f"spec:\n  postgresVersion: {14 + i % 5}\n  instances:\n    - name: main\n"
        f"      replicas: {1 + i % 3 if replicas is None else replicas}\n"
        "      dataVolume:\n        size: 10Gi\n"
        f"  users:\n{listed}" + (BACKUPS if backups else "")
    )
