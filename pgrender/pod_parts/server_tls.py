"""The server certificate, the replication client certificate under replication/ and (with
backups) pgBackRest's under pgbackrest/, in the database pod."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan, defaults, secret_keys
from pgrender.plan.backups import TLS_SUBDIR
from pgrender.pod import PodPart, secret_volume


def _below(directory: str) -> list[tuple[str, str]]:
    """A certificate and its key in a sub-directory of the TLS mount (the CA is beside them once)."""
    return [(key, f"{directory}/{key}") for key in (secret_keys.TLS_CERT, secret_keys.TLS_KEY)]


def server_tls(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    names = plan.names
    sources = [
        (names.cluster_cert, [(key, key) for key in secret_keys.TLS_FILES]),
        (names.replication_cert, _below(defaults.REPLICATION_TLS_SUBDIR)),
    ]
    if plan.backups:
        # pgBackRest's client certificate: archive-push to a repository host presents it.
        sources.append((plan.backups.cert_secret, _below(TLS_SUBDIR)))
    return PodPart(
        volumes=(secret_volume("tls", sources),),
        mounts=({"name": "tls", "mountPath": defaults.TLS_DIR, "readOnly": True},),
    )
