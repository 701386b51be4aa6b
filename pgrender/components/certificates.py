"""Secrets <c>-cluster-cert, <c>-replication-cert and <c>-superuser-cert (tls.crt, tls.key, ca.crt)."""

from __future__ import annotations

from pgrender.plan import CertificatePlan, ClusterPlan
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import certificate_data


def certificates(plan: ClusterPlan) -> list[Manifest]:
    """Return the server certificate and the two client certificates, each with the CA."""
    names, tls = plan.names, plan.tls
    return [
        _tls_secret(plan, names.cluster_cert, tls.server),
        _tls_secret(plan, names.replication_cert, tls.replication),
        _tls_secret(plan, names.superuser_cert, tls.superuser),
    ]


def _tls_secret(plan: ClusterPlan, name: str, cert: CertificatePlan) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(plan, name, plan.database_labels),
        "type": "kubernetes.io/tls",
        "data": certificate_data(plan.tls, cert),
    }
