"""Deterministic P-256 certificates and keys; their encoding is a security boundary, so cryptography.x509 owns it."""

from __future__ import annotations

import datetime as dt
from ipaddress import IPv4Address, IPv6Address

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pgrender.frozen import frozen

# Order of the P-256 group; scalars are reduced into [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@frozen
class Validity:
    not_before: dt.datetime
    days: int

    @property
    def not_after(self) -> dt.datetime:
        return self.not_before + dt.timedelta(days=self.days)


def key_pair(seed: bytes) -> ec.EllipticCurvePrivateKey:
    """An ECDSA P-256 key from at least 48 bytes of derived material (bias below 2^-128)."""
    scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    """PKCS #8 PrivateKeyInfo, unencrypted, as PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_authority(
    key: ec.EllipticCurvePrivateKey, common_name: str, validity: Validity, serial: int
) -> x509.Certificate:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    public = key.public_key()
    builder = (
        _builder(common_name, common_name, public, serial, validity)
        .add_extension(_CA_CONSTRAINTS, critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return _sign(builder, key)


def leaf(
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    dns_names: tuple[str, ...],
    ip_addresses: tuple[IPv4Address | IPv6Address, ...] = (),
    *,
    server: bool,
    client: bool,
    issuer_name: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_key_identifier: x509.AuthorityKeyIdentifier,
    validity: Validity,
    serial: int,
) -> x509.Certificate:
    """A leaf certificate signed by the CA named ``issuer_name``; CN and SANs as the plan lists them.

    The SAN extension holds the DNS names, then the IP addresses, each in plan order.
    """
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    public = key.public_key()
    builder = (
        _builder(common_name, issuer_name, public, serial, validity)
        .add_extension(_LEAF_CONSTRAINTS, critical=True)
        .add_extension(_LEAF_KEY_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(ca_key_identifier, critical=False)
    )
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(address) for address in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _sign(builder, ca_key)


def authority_key_identifier(ca_key: ec.EllipticCurvePrivateKey) -> x509.AuthorityKeyIdentifier:
    """What a leaf names its CA by: keyIdentifier only, as issuer name and serial would tie the leaf
    to one CA certificate. Made once per CA, not per leaf."""
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())


def _builder(
    subject: str, issuer: str, public: ec.EllipticCurvePublicKey, serial: int, validity: Validity
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
    )


def _sign(builder: x509.CertificateBuilder, signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    # RFC 6979: the same inputs give the same signature, so a render is reproducible.
    return builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=True)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])  # UTF8String


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# The same for every certificate, made once.
_CA_CONSTRAINTS = x509.BasicConstraints(ca=True, path_length=0)
_LEAF_CONSTRAINTS = x509.BasicConstraints(ca=False, path_length=None)
_CA_KEY_USAGE = _key_usage(cert_sign=True)
_LEAF_KEY_USAGE = _key_usage(cert_sign=False)
