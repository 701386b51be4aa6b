"""TLS provider `cert-manager`: cert-manager (cert-manager.io/v1) issues and renews every certificate.

In place of each certificate Secret pgrender would write, a Certificate with the same name asks
cert-manager to keep that Secret filled (tls.crt, tls.key, and ca.crt, which CA issuers write): the
pods mount the same Secrets as with `derived`. Each Certificate carries the names the plan decided
(every Service name form, the pod names, spec.connectivity.dns's fully qualified names, extraSANs,
IP addresses as ipAddresses) and the usages pgrender's own certificates have. The issuer is the one
spec.tls.certManager.issuerRef names, or a CA Issuer pgrender writes from caSecretName.

cert-manager renews the certificates in the cluster, with no render: the pods that mount them run a
watcher (pod_parts/tls_reload.py) that makes PostgreSQL, Patroni, pgBouncer and pgBackRest reload
them. Secrets pgrender writes for applications carry spec.tls.caCertificate as ca.crt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.pod import object_meta
from pgrender.tls.derived import TLS_SECRET_TYPE

if TYPE_CHECKING:
    from pgrender.plan import CertificatePlan, ClusterPlan

Manifest = dict[str, Any]
API_VERSION = "cert-manager.io/v1"
# pgrender's own certificates: ECDSA P-256, PKCS#8 (what PostgreSQL, libpq, pgBouncer, Patroni and
# pgBackRest all read), a new key at every renewal.
PRIVATE_KEY = {"algorithm": "ECDSA", "size": 256, "encoding": "PKCS8", "rotationPolicy": "Always"}


class _CertManager:
    name = "cert-manager"
    summary = "cert-manager Certificates (and a CA Issuer from your CA's Secret); renewed in the cluster"
    settings = "cert_manager"
    decides_names = True
    own_ca = False
    in_cluster = True

    def owns(self, manifest: Manifest) -> bool:
        return bool(manifest["kind"] == "Secret" and manifest.get("type") == TLS_SECRET_TYPE)

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        raise AssertionError("cert-manager's Certificates need the plan: transforms.tls_objects binds it")

    def for_plan(self, plan: ClusterPlan) -> _Bound:
        return _Bound(plan)


class _Bound(_CertManager):
    def __init__(self, plan: ClusterPlan) -> None:
        self.plan = plan

    def finish(self, owned: list[Manifest]) -> list[Manifest]:
        """A Certificate for each certificate Secret (the CA Issuer first, when pgrender writes one)."""
        tls = self.plan.tls
        by_secret = {leaf.secret.name: leaf for leaf in tls.leaves if leaf.secret}
        out = [issuer(self.plan)] if tls.cert_manager and tls.cert_manager.ca_issuer_secret else []
        return out + [certificate(self.plan, secret, by_secret[secret["metadata"]["name"]]) for secret in owned]


def usages(leaf: CertificatePlan) -> list[str]:
    """Key usages as pgrender's own certificates have them (ECDSA: no key encipherment)."""
    return ["digital signature", *(["server auth"] if leaf.server else []), *(["client auth"] if leaf.client else [])]


def certificate(plan: ClusterPlan, secret: Manifest, leaf: CertificatePlan) -> Manifest:
    """The Certificate that keeps ``secret`` (the Secret pgrender would write) filled by cert-manager."""
    settings = plan.tls.cert_manager
    assert settings is not None  # provider cert-manager needs spec.tls.certManager
    meta = secret["metadata"]
    template: Manifest = {"labels": dict(meta["labels"])}
    if meta.get("annotations"):
        template["annotations"] = dict(meta["annotations"])
    spec: Manifest = {"secretName": meta["name"], "secretTemplate": template, "commonName": leaf.common_name}
    if leaf.dns_names:
        spec["dnsNames"] = list(leaf.dns_names)
    if leaf.ip_addresses:
        spec["ipAddresses"] = [str(address) for address in leaf.ip_addresses]
    spec["usages"] = usages(leaf)
    spec["privateKey"] = dict(PRIVATE_KEY)
    if settings.duration:
        spec["duration"] = settings.duration
    if settings.renew_before:
        spec["renewBefore"] = settings.renew_before
    issuer_ref = settings.issuer
    spec["issuerRef"] = {"name": issuer_ref.name, "kind": issuer_ref.kind, "group": issuer_ref.group}
    return {"apiVersion": API_VERSION, "kind": "Certificate", "metadata": dict(meta), "spec": spec}


def issuer(plan: ClusterPlan) -> Manifest:
    """The CA Issuer signing with the CA in spec.tls.certManager.caSecretName (tls.crt, tls.key)."""
    settings = plan.tls.cert_manager
    assert settings is not None and settings.ca_issuer_secret is not None
    return {
        "apiVersion": API_VERSION,
        "kind": "Issuer",
        "metadata": object_meta(plan, settings.issuer.name, plan.database_labels),
        "spec": {"ca": {"secretName": settings.ca_issuer_secret}},
    }


PROVIDER = _CertManager()
