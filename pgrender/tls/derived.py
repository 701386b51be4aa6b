"""TLS provider `derived`: pgrender's own CA and certificates, derived from the root key.

The certificate Secrets (type kubernetes.io/tls) stay ordinary Secrets: their values come from
the root key (secrets.derived.DerivedValues signs them with RFC 6979) and the secrets provider
delivers them with the other Secrets. They change only with a render (spec.tls.rotation,
notBefore, a new name): the pods' rollout digests then replace the pods, which load them.
"""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]
TLS_SECRET_TYPE = "kubernetes.io/tls"


class _DerivedTLS:
    name = "derived"
    summary = "pgrender's own CA, keys and certificates, derived from the root key"
    settings = None
    decides_names = True
    own_ca = True
    in_cluster = False

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret" and manifest.get("type") == TLS_SECRET_TYPE)

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        return owned


PROVIDER = _DerivedTLS()
