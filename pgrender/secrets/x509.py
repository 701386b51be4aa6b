"""Deterministic X.509: ECDSA P-256 keys from derived scalars, RFC 6979 signatures.

cryptography does the elliptic-curve work; the certificate and key structures are encoded here
(RFC 5280, RFC 5915, RFC 5958) exactly as cryptography's CertificateBuilder and PKCS #8
serializer would write them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pgrender.secrets import der

# Order of the P-256 group; scalars are reduced into [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_EC_PUBLIC_KEY = der.sequence(der.oid("1.2.840.10045.2.1"), der.oid("1.2.840.10045.3.1.7"))  # P-256
_ECDSA_WITH_SHA256 = der.sequence(der.oid("1.2.840.10045.4.3.2"))
_COMMON_NAME = der.oid("2.5.4.3")
_SERVER_AUTH = der.oid("1.3.6.1.5.5.7.3.1")
_CLIENT_AUTH = der.oid("1.3.6.1.5.5.7.3.2")
_BASIC_CONSTRAINTS = der.oid("2.5.29.19")
_KEY_USAGE = der.oid("2.5.29.15")
_EXTENDED_KEY_USAGE = der.oid("2.5.29.37")
_SUBJECT_KEY_IDENTIFIER = der.oid("2.5.29.14")
_AUTHORITY_KEY_IDENTIFIER = der.oid("2.5.29.35")
_SUBJECT_ALT_NAME = der.oid("2.5.29.17")
# KeyUsage bits (RFC 5280 4.2.1.3)
_DIGITAL_SIGNATURE, _KEY_CERT_SIGN, _CRL_SIGN = 0, 5, 6


@dataclass(frozen=True)
class KeyPair:
    """A P-256 key with its public point (uncompressed, 65 octets)."""

    private: ec.EllipticCurvePrivateKey
    scalar: int
    point: bytes

    @property
    def key_identifier(self) -> bytes:
        """RFC 5280 4.2.1.2 method 1: SHA-1 of the public key bits."""
        return hashlib.sha1(self.point, usedforsecurity=False).digest()

    @property
    def public_key_info(self) -> bytes:
        return der.sequence(_EC_PUBLIC_KEY, der.bit_string(self.point))


@dataclass(frozen=True)
class Validity:
    not_before: dt.datetime
    days: int

    @property
    def not_after(self) -> dt.datetime:
        return self.not_before + dt.timedelta(days=self.days)


def key_pair(seed: bytes) -> KeyPair:
    """An ECDSA P-256 key from at least 48 bytes of derived material (bias below 2^-128)."""
    scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    public = private.public_key().public_numbers()
    return KeyPair(private, scalar, b"\x04" + public.x.to_bytes(32, "big") + public.y.to_bytes(32, "big"))


def key_pem(key: KeyPair) -> str:
    """PKCS #8 PrivateKeyInfo holding an RFC 5915 ECPrivateKey with its public key."""
    ec_private_key = der.sequence(
        der.integer(1), der.octet_string(key.scalar.to_bytes(32, "big")), der.explicit(1, der.bit_string(key.point))
    )
    return der.pem("PRIVATE KEY", der.sequence(der.integer(0), _EC_PUBLIC_KEY, der.octet_string(ec_private_key)))


def cert_pem(certificate: bytes) -> str:
    return der.pem("CERTIFICATE", certificate)


def certificate_authority(key: KeyPair, common_name: str, validity: Validity, serial: int) -> bytes:
    """A self-signed CA that may sign leaf certificates only (path length 0), DER-encoded."""
    extensions = (
        _CA_CONSTRAINTS,
        _CA_KEY_USAGE,
        _extension(_SUBJECT_KEY_IDENTIFIER, der.octet_string(key.key_identifier)),
    )
    return _certificate(common_name, common_name, key, serial, validity, extensions, signer=key)


def leaf(
    key: KeyPair,
    common_name: str,
    dns_names: tuple[str, ...],
    *,
    server: bool,
    client: bool,
    issuer_name: str,
    ca_key: KeyPair,
    validity: Validity,
    serial: int,
) -> bytes:
    """A leaf certificate signed by the CA named ``issuer_name``; CN and SANs as the plan lists them."""
    usages = ([_SERVER_AUTH] if server else []) + ([_CLIENT_AUTH] if client else [])
    extensions = [
        _LEAF_CONSTRAINTS,
        _LEAF_KEY_USAGE,
        _extension(_EXTENDED_KEY_USAGE, der.sequence(*usages)),
        _extension(_SUBJECT_KEY_IDENTIFIER, der.octet_string(key.key_identifier)),
        _extension(_AUTHORITY_KEY_IDENTIFIER, der.sequence(der.implicit(0, ca_key.key_identifier))),
    ]
    if dns_names:
        names = der.sequence(*(der.implicit(2, name.encode("ascii")) for name in dns_names))  # dNSName
        extensions.append(_extension(_SUBJECT_ALT_NAME, names))
    return _certificate(common_name, issuer_name, key, serial, validity, tuple(extensions), signer=ca_key)


def _name(common_name: str) -> bytes:
    return der.sequence(der.set_of(der.sequence(_COMMON_NAME, der.utf8_string(common_name))))


def _extension(extension_id: bytes, value: bytes, *, critical: bool = False) -> bytes:
    flag = der.boolean(True) if critical else b""  # DER leaves out the default (FALSE)
    return der.sequence(extension_id, flag, der.octet_string(value))


_CA_CONSTRAINTS = _extension(_BASIC_CONSTRAINTS, der.sequence(der.boolean(True), der.integer(0)), critical=True)
_CA_KEY_USAGE = _extension(_KEY_USAGE, der.named_bits((_KEY_CERT_SIGN, _CRL_SIGN)), critical=True)
_LEAF_CONSTRAINTS = _extension(_BASIC_CONSTRAINTS, der.sequence(), critical=True)
_LEAF_KEY_USAGE = _extension(_KEY_USAGE, der.named_bits((_DIGITAL_SIGNATURE,)), critical=True)


def _certificate(
    subject: str,
    issuer: str,
    key: KeyPair,
    serial: int,
    validity: Validity,
    extensions: tuple[bytes, ...],
    *,
    signer: KeyPair,
) -> bytes:
    tbs = der.sequence(
        der.explicit(0, der.integer(2)),  # v3
        der.integer(serial),
        _ECDSA_WITH_SHA256,
        _name(issuer),
        der.sequence(der.time(validity.not_before), der.time(validity.not_after)),
        _name(subject),
        key.public_key_info,
        der.explicit(3, der.sequence(*extensions)),
    )
    signature = signer.private.sign(tbs, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return der.sequence(tbs, _ECDSA_WITH_SHA256, der.bit_string(signature))
