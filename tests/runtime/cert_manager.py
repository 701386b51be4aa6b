"""What cert-manager's CA issuer makes of a rendered Certificate, for the real-process tests.

cert-manager itself does not run here: :class:`IssuingCA` plays a CA Issuer. For each rendered
``Certificate`` it writes the Secret cert-manager would (``spec.secretName``, type kubernetes.io/tls,
``tls.crt``, ``tls.key``, ``ca.crt``, the ``secretTemplate`` labels), with what the Certificate asks for:
common name, DNS names, IP addresses, usages, an ECDSA P-256 key in PKCS#8, a new random serial
each time. The tests hand these Secrets to the harness beside the rendered objects
(:meth:`Rendered.with_objects`), as they would be in the namespace.

Also: what a client sees of the certificate a server presents (:func:`served_serial`), through
PostgreSQL's SSLRequest preamble (PostgreSQL, pgBouncer) or plain TLS (Patroni's REST API).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SSL_REQUEST = struct.pack("!II", 8, 80877103)  # PostgreSQL's SSLRequest: length 8, code 1234.5679
EKU = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH}


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class IssuingCA:
    """A CA like the one a cert-manager CA Issuer signs with (its Secret's tls.crt and tls.key)."""

    name: str = "pgrender test CA"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    certificate: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return _pem(self.certificate).decode()

    def issue(self, certificate: dict[str, Any], serial: int | None = None) -> tuple[dict[str, Any], int]:
        """The Secret cert-manager writes for ``certificate`` (a rendered Certificate), and its serial."""
        spec = certificate["spec"]
        assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256, spec["privateKey"]
        assert spec["privateKey"]["encoding"] == "PKCS8", spec["privateKey"]
        key = ec.generate_private_key(ec.SECP256R1())
        serial = serial or x509.random_serial_number()
        now = dt.datetime.now(dt.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.get("dnsNames", [])]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in spec.get("ipAddresses", [])]
        usages = spec["usages"]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, spec["commonName"])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature="digital signature" in usages,
                    content_commitment=False,
                    key_encipherment="key encipherment" in usages,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([EKU[u] for u in usages if u in EKU]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        leaf = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        data = {"tls.crt": _pem(leaf), "tls.key": key_pem, "ca.crt": _pem(self.certificate)}
        template = spec.get("secretTemplate", {})
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": spec["secretName"],
                "namespace": certificate["metadata"]["namespace"],
                "labels": dict(template.get("labels", {})),
            },
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
        return secret, serial


def served_certificate(port: int, *, postgres: bool, host: str = "127.0.0.1", timeout: float = 5) -> x509.Certificate:
    """The certificate a server on ``port`` presents: after PostgreSQL's SSLRequest when ``postgres``
    (PostgreSQL, pgBouncer), else at once (Patroni's REST API). Nothing is verified: this is what a
    client is shown, not whether it would accept it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if postgres:
            raw.sendall(SSL_REQUEST)
            answer = raw.recv(1)
            if answer != b"S":
                raise AssertionError(f"port {port} refused TLS (answered {answer!r} to SSLRequest)")
        with context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def served_serial(port: int, *, postgres: bool) -> int:
    return served_certificate(port, postgres=postgres).serial_number
