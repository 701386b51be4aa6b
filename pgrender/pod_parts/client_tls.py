"""The superuser's client certificate in every Job pod: Jobs reach PostgreSQL and Patroni with it."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, defaults, secret_keys
from pgrender.pod import PodPart, secret_volume


def client_tls(plan: ClusterPlan) -> PodPart:
    return PodPart(
        volumes=(secret_volume("tls", [(plan.names.superuser_cert, [(key, key) for key in secret_keys.TLS_FILES])]),),
        mounts=({"name": "tls", "mountPath": defaults.TLS_DIR, "readOnly": True},),
    )
