"""TLS provider `existing`: certificates from your own PKI, in Secrets you create (bring your own).

spec.tls.existing names the Secrets (server, replication, superuser, and pgBouncer's and
pgBackRest's when those run) and the keys that hold the certificate, its key and the CA; the pods
mount them there, as tls.crt, tls.key and ca.crt. pgrender writes none of them: the certificate
Secrets it would write are dropped. Replacing a Secret's content reaches the processes without a
render: the pods run the watcher of pod_parts/tls_reload.py. Secrets pgrender writes for
applications carry spec.tls.caCertificate as ca.crt.
"""

from __future__ import annotations

from typing import Any

from pgrender.tls.derived import TLS_SECRET_TYPE

Manifest = dict[str, Any]


class _Existing:
    name = "existing"
    summary = "your own certificates, in Secrets spec.tls.existing names; reloaded when you replace them"
    settings = "existing"
    decides_names = False
    own_ca = False
    in_cluster = True

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret" and manifest.get("type") == TLS_SECRET_TYPE)

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        return []


PROVIDER = _Existing()
