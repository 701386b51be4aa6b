"""certificates: a CA and three leaves that verify, with the promised names and spec validity."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from pgrender.plan import ClusterPlan
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


def ip_spec(*extra_sans: str) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["tls"] = {"extraSANs": list(extra_sans)}
    return spec


def test_ip_sans_are_ip_address_entries(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    """Regression: an IP in extraSANs was written as a dNSName, which no TLS client matches an address against."""
    objects = objects_of(ip_spec("10.0.0.5", "2001:db8::1", "db.example.com"))
    cert, ca, _ = material(objects, "hippo-cluster-cert")
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.5"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    dns_names = names.get_values_for_type(x509.DNSName)
    assert dns_names[-1] == "db.example.com"
    assert not any(n in ("10.0.0.5", "2001:db8::1") for n in dns_names)


def test_plan_splits_extra_sans_into_names_and_addresses(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    plan = plan_of(ip_spec("10.0.0.5", "db.example.com", "2001:DB8::1", "10.0.0.5", "2001:db8:0::1"))
    assert plan.tls.server.ip_addresses == (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("2001:db8::1"))
    assert plan.tls.server.dns_names[-1] == "db.example.com"
    assert not any(":" in n or n[-1].isdigit() for n in plan.tls.server.dns_names)
    assert plan.tls.replication.ip_addresses == plan.tls.superuser.ip_addresses == ()


def test_ip_sans_pass_path_validation(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    objects = objects_of(ip_spec("10.0.0.5", "2001:db8::1", "db.example.com"))
    cert, ca, _ = material(objects, "hippo-cluster-cert")
    builder = PolicyBuilder().store(Store([ca])).time(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    for address in ("10.0.0.5", "2001:db8::1"):
        verifier = builder.build_server_verifier(x509.IPAddress(ipaddress.ip_address(address)))
        assert verifier.verify(cert, []) == [cert, ca]
    verifier = builder.build_server_verifier(x509.IPAddress(ipaddress.ip_address("10.0.0.6")))
    with pytest.raises(VerificationError):
        verifier.verify(cert, [])


def handshake(tmp_path: Path, data: dict[str, str], server_hostname: str) -> str:
    """A TLS handshake over loopback: the server presents the rendered certificate and key, the
    client trusts only the rendered CA and checks ``server_hostname``; returns the TLS version."""
    (tmp_path / "tls.crt").write_bytes(base64.b64decode(data["tls.crt"]))
    (tmp_path / "tls.key").write_bytes(base64.b64decode(data["tls.key"]))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    client_context = ssl.create_default_context(cadata=base64.b64decode(data["ca.crt"]).decode())
    assert client_context.check_hostname and client_context.verify_mode == ssl.CERT_REQUIRED

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def serve() -> None:
            connection, _ = listener.accept()
            connection.settimeout(10)
            try:
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate; the client side reports why

        server = threading.Thread(target=serve)
        server.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=10) as raw,
                client_context.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                assert tls.recv(2) == b"ok"
                return str(tls.version())
        finally:
            server.join(timeout=10)


def test_ip_addressed_client_completes_a_tls_handshake(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]], tmp_path: Path
) -> None:
    """A client given an IP address as the host to verify matches it against the iPAddress SANs only."""
    data = find(objects_of(ip_spec("127.0.0.1", "::1", "db.example.com")), "Secret", "hippo-cluster-cert")["data"]
    # The connection runs over IPv4 loopback; the client checks the name it was given, so "::1" needs no IPv6.
    for name in ("127.0.0.1", "::1", "db.example.com"):
        assert handshake(tmp_path, data, name).startswith("TLS")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(tmp_path, data, "127.0.0.2")


def test_two_renders_give_identical_certificates(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spec = ip_spec("10.0.0.5", "2001:db8::1", "db.example.com")
    secrets = ("hippo-cluster-cert", "hippo-replication-cert", "hippo-superuser-cert")
    first, second = objects_of(spec), objects_of(spec)
    assert [find(first, "Secret", n)["data"] for n in secrets] == [find(second, "Secret", n)["data"] for n in secrets]
