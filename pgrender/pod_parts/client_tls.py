"""The superuser's client certificate in every Job pod: Jobs reach PostgreSQL and Patroni with it."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, defaults
from pgrender.pod import Manifest, PodPart, secret_volume


def client_tls(plan: ClusterPlan) -> PodPart:
    secret = plan.tls.superuser.secret
    assert secret is not None  # resolve_tls names every certificate's Secret
    return PodPart(
        volumes=(secret_volume("tls", [(secret.name, secret.items())]),),
        mounts=({"name": "tls", "mountPath": defaults.TLS_DIR, "readOnly": True},),
    )


def superuser_libpq_env(plan: ClusterPlan) -> list[Manifest]:
    """libpq's environment for a Job that connects to the primary as the superuser, with the
    client certificate above and verify-full against the primary Service's name."""
    client = plan.tls.client_files
    return [
        {"name": "PGHOST", "value": plan.primary_host},
        {"name": "PGPORT", "value": str(plan.port)},
        {"name": "PGUSER", "value": plan.superuser},
        {"name": "PGDATABASE", "value": "postgres"},
        {"name": "PGSSLMODE", "value": "verify-full"},
        {"name": "PGSSLROOTCERT", "value": client.ca},
        {"name": "PGSSLCERT", "value": client.cert},
        {"name": "PGSSLKEY", "value": client.key},
        {"name": "PGCONNECT_TIMEOUT", "value": "5"},
    ]
