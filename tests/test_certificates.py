"""certificates: a CA and three leaves that verify, with the promised names and spec validity."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import base_spec, find


def material(objects: list[dict[str, Any]], name: str) -> tuple[x509.Certificate, x509.Certificate, bytes]:
    data = find(objects, "Secret", name)["data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    return cert, ca, base64.b64decode(data["tls.key"])


def sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.DNSName)


def test_server_certificate(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    spec = base_spec()
    spec["spec"]["tls"] = {
        "extraSANs": ["db.example.com"],
        "notBefore": "2027-03-01T00:00:00Z",
        "validityDays": 90,
    }
    objects = objects_of(spec)
    cert, ca, key = material(objects, "hippo-cluster-cert")
    assert find(objects, "Secret", "hippo-cluster-cert")["type"] == "kubernetes.io/tls"
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    names = sans(cert)
    for service in ("hippo-primary", "hippo-replicas"):
        assert [n for n in names if n.split(".")[0] == service] == [
            f"{service}.db.svc.cluster.local",
            f"{service}.db.svc",
            f"{service}.db",
            service,
        ]
    assert "hippo-instance1-1-0.hippo-pods.db.svc.cluster.local" in names
    assert "hippo-instance1-0-0.hippo-pods" in names
    assert names[-1] == "db.example.com"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "hippo-primary.db.svc.cluster.local"
    assert cert.not_valid_before_utc == dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2027, 5, 30, tzinfo=dt.UTC)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert b"PRIVATE KEY" in key


def test_client_certificates(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    objects = objects_of(base_spec())
    for secret, common_name in (
        ("hippo-replication-cert", "_pgrender_repl"),
        ("hippo-superuser-cert", "postgres"),
    ):
        cert, ca, _ = material(objects, secret)
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_common_names_fit_rfc5280_with_long_names(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spec = base_spec()
    spec["metadata"]["name"] = "a" * 40
    spec["metadata"]["namespace"] = "n" * 63
    objects = objects_of(spec)
    cert, ca, _ = material(objects, f"{'a' * 40}-cluster-cert")
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{'a' * 40}-primary"
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{'a' * 40} pgrender CA"
    assert sans(cert)[0] == f"{'a' * 40}-primary.{'n' * 63}.svc.cluster.local"


def test_one_ca_per_cluster_and_rotation(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spec = base_spec()
    objects = objects_of(spec)
    cas = {find(objects, "Secret", n)["data"]["ca.crt"] for n in ("hippo-cluster-cert", "hippo-superuser-cert")}
    assert len(cas) == 1
    spec["spec"]["tls"] = {"rotation": 1}
    rotated = objects_of(spec)
    assert material(rotated, "hippo-cluster-cert")[2] != material(objects, "hippo-cluster-cert")[2]


def test_ca_private_key_never_in_output(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    objects = objects_of(base_spec())
    leaf_keys = {
        base64.b64decode(find(objects, "Secret", n)["data"]["tls.key"])
        for n in ("hippo-cluster-cert", "hippo-replication-cert", "hippo-superuser-cert")
    }
    all_keys = set()
    for obj in objects:
        for value in obj.get("data", {}).values():
            text = base64.b64decode(value) if obj["kind"] == "Secret" else value.encode()
            if b"PRIVATE KEY" in text:
                all_keys.add(text)
    assert all_keys == leaf_keys, "only the three leaf keys may appear; the CA key never does"
