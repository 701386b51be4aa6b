"""The server certificate, the replication client certificate under replication/, (with backups)
pgBackRest's under pgbackrest/ and (a direct clone) the certificate for its source under
clone-source/, in the database pod."""

from __future__ import annotations

from pgrender.plan import CertificatePlan, ClusterPlan, InstancePlan, TLSSecret, defaults
from pgrender.plan.backups import TLS_SUBDIR
from pgrender.pod import PodPart, secret_volume


def _secret(cert: CertificatePlan | None) -> TLSSecret:
    assert cert is not None and cert.secret is not None  # resolve_tls names every certificate's Secret
    return cert.secret


def server_tls(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    tls = plan.tls
    server = _secret(tls.server)
    sources = [
        (server.name, server.items()),
        (_secret(tls.replication).name, _secret(tls.replication).items(defaults.REPLICATION_TLS_SUBDIR, ca=False)),
    ]
    if plan.backups:
        # pgBackRest's client certificate: archive-push to a repository host presents it.
        pgbackrest = _secret(tls.pgbackrest)
        sources.append((pgbackrest.name, pgbackrest.items(TLS_SUBDIR, ca=False)))
    if plan.clone_source:
        # A direct clone's first member copies its source with these (plan/clone.py).
        clone = plan.clone_source.secret
        sources.append((clone.name, clone.items(defaults.CLONE_SOURCE_TLS_SUBDIR)))
    return PodPart(
        volumes=(secret_volume("tls", sources),),
        mounts=({"name": "tls", "mountPath": defaults.TLS_DIR, "readOnly": True},),
    )
