"""The server certificate, and the replication client certificate under replication/, in the database pod."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, defaults, secret_keys
from pgrender.pod import PodPart, secret_volume


def server_tls(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    names = plan.names
    replication = [
        (key, f"{defaults.REPLICATION_TLS_SUBDIR}/{key}") for key in (secret_keys.TLS_CERT, secret_keys.TLS_KEY)
    ]
    return PodPart(
        volumes=(
            secret_volume(
                "tls",
                [
                    (names.cluster_cert, [(key, key) for key in secret_keys.TLS_FILES]),
                    (names.replication_cert, replication),
                ],
            ),
        ),
        mounts=({"name": "tls", "mountPath": defaults.TLS_DIR, "readOnly": True},),
    )
