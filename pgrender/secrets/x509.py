"""Deterministic P-256 certificates and keys: DER written here, keys and signatures by cryptography.

Why the encoding is written here. Importing ``cryptography.x509`` and cryptography's serialization
package took about 40 ms of a 135 ms cold render (issue 17: ``python -c`` importing them beside
``ec`` and ``hashes``, timed interleaved), more than the whole render of a cluster. pgrender makes
two certificate templates only: a self-signed CA and a leaf, each with a one-attribute subject
(commonName) and a fixed list of extensions, plus unencrypted PKCS #8 keys. That is the DER below:
tag, length and value (X.690), about sixty lines.

What stays with cryptography: the P-256 keys (``ec.derive_private_key``) and the RFC 6979
deterministic ECDSA signature over the encoded TBSCertificate, so nothing security-critical is
computed here. What proves the encoding: tests/test_x509.py builds the same certificates with
cryptography's ``CertificateBuilder`` and keys with its PKCS #8 serializer and requires the same bytes
(hypothesis: names, serials, times either side of 2050, DNS names and IP addresses), and parses each
certificate and verifies its signature with cryptography; the golden files did not change; the
runtime tests connect PostgreSQL, Patroni, pgBouncer and pgBackRest clients through them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from base64 import b64encode
from ipaddress import IPv4Address, IPv6Address

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

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
    """PKCS #8 PrivateKeyInfo, unencrypted, as PEM (RFC 5208; the ECPrivateKey inside, RFC 5915,
    carries the public key and leaves the curve to the algorithm identifier, as OpenSSL writes it)."""
    numbers = key.private_numbers()  # the public numbers with it: one call to the key, not two
    private = numbers.private_value.to_bytes(32, "big")
    ec_private_key = _seq(_integer(1), _tlv(0x04, private), _tlv(0xA1, _bit_string(_encoded(numbers.public_numbers))))
    return _pem("PRIVATE KEY", _seq(_integer(0), _EC_P256, _tlv(0x04, ec_private_key)))


def cert_pem(certificate: bytes) -> str:
    return _pem("CERTIFICATE", certificate)


def certificate_authority(key: ec.EllipticCurvePrivateKey, common_name: str, validity: Validity, serial: int) -> bytes:
    """A self-signed CA that may sign leaf certificates only (path length 0), as DER."""
    public = _point(key.public_key())
    extensions = [
        _extension(_BASIC_CONSTRAINTS, _seq(_TRUE, _integer(0)), critical=True),
        _extension(_KEY_USAGE, _CA_KEY_USAGE, critical=True),
        _extension(_SUBJECT_KEY_IDENTIFIER, _tlv(0x04, _key_identifier(public))),
    ]
    return _certificate(common_name, common_name, public, serial, validity, extensions, key)


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
    ca_key_identifier: bytes,
    validity: Validity,
    serial: int,
) -> bytes:
    """A leaf certificate signed by the CA named ``issuer_name``, as DER; CN and SANs as the plan
    lists them. The SAN extension holds the DNS names, then the IP addresses, each in plan order."""
    usages = ([_SERVER_AUTH] if server else []) + ([_CLIENT_AUTH] if client else [])
    public = _point(key.public_key())
    extensions = [
        _extension(_BASIC_CONSTRAINTS, _seq(), critical=True),
        _extension(_KEY_USAGE, _LEAF_KEY_USAGE, critical=True),
        _extension(_EXTENDED_KEY_USAGE, _seq(*usages)),
        _extension(_SUBJECT_KEY_IDENTIFIER, _tlv(0x04, _key_identifier(public))),
        # keyIdentifier only: issuer name and serial would tie the leaf to one CA certificate
        _extension(_AUTHORITY_KEY_IDENTIFIER, _seq(_tlv(0x80, ca_key_identifier))),
    ]
    # dNSName is [2] IA5String, iPAddress [7] OCTET STRING of the 4 or 16 address octets.
    names = [_tlv(0x82, name.encode("ascii")) for name in dns_names]
    names += [_tlv(0x87, address.packed) for address in ip_addresses]
    if names:
        extensions.append(_extension(_SUBJECT_ALT_NAME, _seq(*names)))
    return _certificate(common_name, issuer_name, public, serial, validity, extensions, ca_key)


def authority_key_identifier(ca_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The CA's key identifier, which its leaves name it by. Made once per CA, not per leaf."""
    return _key_identifier(_point(ca_key.public_key()))


def _certificate(
    subject: str,
    issuer: str,
    public: bytes,
    serial: int,
    validity: Validity,
    extensions: list[bytes],
    signer: ec.EllipticCurvePrivateKey,
) -> bytes:
    """Certificate (RFC 5280 4.1): a v3 TBSCertificate, signed ecdsa-with-SHA256."""
    tbs = _seq(
        _tlv(0xA0, _integer(2)),  # [0] EXPLICIT version v3
        _integer(serial),
        _ECDSA_WITH_SHA256,
        _name(issuer),
        _seq(_time(validity.not_before), _time(validity.not_after)),
        _name(subject),
        _seq(_EC_P256, _bit_string(public)),  # SubjectPublicKeyInfo
        _tlv(0xA3, _seq(*extensions)),  # [3] EXPLICIT extensions
    )
    # RFC 6979: the same inputs give the same signature, so a render is reproducible.
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return _seq(tbs, _ECDSA_WITH_SHA256, _bit_string(signature))


def _name(common_name: str) -> bytes:
    """A Name of one RDN, commonName as UTF8String."""
    return _seq(_tlv(0x31, _seq(_COMMON_NAME, _tlv(0x0C, common_name.encode()))))


@functools.lru_cache(maxsize=64)
def _time(moment: dt.datetime) -> bytes:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; UTC, whole seconds. A fleet's
    certificates share a few validity times (spec.tls.notBefore and its days): each is encoded once."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    if 1950 <= moment.year < 2050:
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, f"{moment.year:04d}{moment.strftime('%m%d%H%M%S')}Z".encode())


def _point(public: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point (SEC 1 2.3.3) that SubjectPublicKeyInfo and ECPrivateKey carry."""
    return _encoded(public.public_numbers())


def _encoded(numbers: ec.EllipticCurvePublicNumbers) -> bytes:
    return b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def _key_identifier(point: bytes) -> bytes:
    """RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits."""
    return hashlib.sha1(point).digest()


def _extension(oid: bytes, value: bytes, *, critical: bool = False) -> bytes:
    """Extension: critical is DEFAULT FALSE, so DER leaves it out when false."""
    return _seq(oid, _TRUE, _tlv(0x04, value)) if critical else _seq(oid, _tlv(0x04, value))


def _pem(label: str, der: bytes) -> str:
    text = b64encode(der).decode()
    lines = "".join(text[i : i + 64] + "\n" for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{lines}-----END {label}-----\n"


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: the tag, the definite length (short form below 128), the content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _integer(value: int) -> bytes:
    """A non-negative INTEGER in the fewest octets, with a leading zero when the top bit is set."""
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _bit_string(octets: bytes) -> bytes:
    return _tlv(0x03, b"\x00" + octets)  # no unused bits


def _oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER: the first two arcs in one subidentifier, each in base 128."""
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    body = bytearray()
    for arc in (40 * first + second, *rest):
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | arc & 0x7F)
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


_TRUE = _tlv(0x01, b"\xff")
_COMMON_NAME = _oid("2.5.4.3")
_ECDSA_WITH_SHA256 = _seq(_oid("1.2.840.10045.4.3.2"))  # parameters absent (RFC 5758 3.2)
_EC_P256 = _seq(_oid("1.2.840.10045.2.1"), _oid("1.2.840.10045.3.1.7"))  # id-ecPublicKey, prime256v1
_BASIC_CONSTRAINTS = _oid("2.5.29.19")
_KEY_USAGE = _oid("2.5.29.15")
_EXTENDED_KEY_USAGE = _oid("2.5.29.37")
_SUBJECT_KEY_IDENTIFIER = _oid("2.5.29.14")
_AUTHORITY_KEY_IDENTIFIER = _oid("2.5.29.35")
_SUBJECT_ALT_NAME = _oid("2.5.29.17")
_SERVER_AUTH = _oid("1.3.6.1.5.5.7.3.1")
_CLIENT_AUTH = _oid("1.3.6.1.5.5.7.3.2")
# KeyUsage is a named BIT STRING: DER drops trailing zero bits and counts them as unused.
_CA_KEY_USAGE = _tlv(0x03, b"\x01\x06")  # keyCertSign (5), cRLSign (6)
_LEAF_KEY_USAGE = _tlv(0x03, b"\x07\x80")  # digitalSignature (0)
