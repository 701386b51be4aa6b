"""Secrets <c>-cluster-cert, <c>-replication-cert and <c>-superuser-cert (tls.crt, tls.key, ca.crt),
and each pgBouncer's certificate when it has a Secret of its own (issued in the cluster).

Each Secret is named where the plan says the pods find the certificate; the TLS provider
(transforms.tls_objects) keeps them (derived), puts cert-manager Certificates for them in their
place, or drops them (existing: the Secrets are the user's).
"""

from __future__ import annotations

from pgrender.plan import CertificatePlan, ClusterPlan
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import certificate_data


def certificates(plan: ClusterPlan) -> list[Manifest]:
    """Return the server certificate and the two client certificates, each with the CA."""
    tls = plan.tls
    leaves = [tls.server, tls.replication, tls.superuser]
    for pooler in plan.poolers:
        cert = tls.pooler_certificate(pooler)
        if cert.secret and cert.secret.name != pooler.name:
            leaves.append(cert)
    out: dict[str, Manifest] = {}
    for cert in leaves:
        assert cert.secret is not None  # resolve_tls names every certificate's Secret
        out.setdefault(cert.secret.name, _tls_secret(plan, cert.secret.name, cert))  # one Secret may serve two
    return list(out.values())


def _tls_secret(plan: ClusterPlan, name: str, cert: CertificatePlan) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(plan, name, plan.database_labels),
        "type": "kubernetes.io/tls",
        "data": certificate_data(plan.tls, cert),
    }
