"""Secret <c>-ca with only the cluster CA's certificate, where the naming profile's applications
mount one to verify the server (CloudNativePG's <c>-ca; its ca.key stays out: pgrender never
writes a CA key into a Secret)."""

from __future__ import annotations

from pgrender.plan import ClusterPlan
from pgrender.plan import secret_keys as keys
from pgrender.pod import Manifest, object_meta
from pgrender.secrets import ca_certificate


def ca_secret(plan: ClusterPlan) -> list[Manifest]:
    name = plan.names.ca_secret
    if not name:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": object_meta(plan, name, plan.database_labels),
            "type": "Opaque",
            "data": {keys.CA_CERT: ca_certificate(plan.tls)},
        }
    ]
