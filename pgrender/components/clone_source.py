"""Secret <c>-clone-source of a direct clone (spec.bootstrap.fromCluster): the source's CA certificate
and a replication client certificate the source accepts, which the first member's pg_basebackup
presents (plan/clone.py). Opaque, not kubernetes.io/tls: its values are the source's, derived for
the source, and the cluster's own TLS provider has no say in them (with the secrets provider
external, they are the source's entries of the store)."""

from __future__ import annotations

from pgrender import tls as tls_providers
from pgrender.plan import ClusterPlan
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import Material, SecretInput, secret_text


def clone_source(plan: ClusterPlan) -> list[Manifest]:
    source = plan.clone_source
    if source is None or not tls_providers.own_ca(plan.tls.provider):
        # The source's certificates are then another PKI's (cert-manager's, the user's): the user makes
        # the Secret with that CA and a replication certificate from it (README, "Copy a running cluster").
        return []
    owner, rotation, subject = source.owner, plan.tls.rotation, plan.tls.replication.subject
    secret = source.secret
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": object_meta(plan, secret.name, plan.database_labels),
            "type": "Opaque",
            "data": {
                secret.ca: secret_text(
                    SecretInput(Material.CA_CERT, plan.tls.ca_subject, source.ca_rotation, owner=owner)
                ),
                secret.cert: secret_text(SecretInput(Material.CERT, subject, rotation, owner=owner)),
                secret.key: secret_text(SecretInput(Material.KEY, subject, rotation, owner=owner)),
            },
        }
    ]
