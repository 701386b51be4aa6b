"""secrets.der and secrets.x509: byte for byte what cryptography's builder and serializer write."""

from __future__ import annotations

import datetime as dt

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pgrender.secrets import der, x509

NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _name(common_name: str) -> cx509.Name:
    return cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, cert_sign: bool) -> cx509.KeyUsage:
    return cx509.KeyUsage(
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


def reference_ca(key: x509.KeyPair, common_name: str, validity: x509.Validity, serial: int) -> bytes:
    public = key.private.public_key()
    builder = (
        cx509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
        .add_extension(cx509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    cert = builder.sign(key.private, hashes.SHA256(), ecdsa_deterministic=True)
    return cert.public_bytes(serialization.Encoding.DER)


def reference_leaf(
    key: x509.KeyPair,
    common_name: str,
    dns_names: tuple[str, ...],
    server: bool,
    client: bool,
    ca_name: str,
    ca_key: x509.KeyPair,
    validity: x509.Validity,
    serial: int,
) -> bytes:
    public = key.private.public_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    builder = (
        cx509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(ca_name))
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
        .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(cx509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(cx509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.private.public_key()), critical=False)
    )
    if dns_names:
        builder = builder.add_extension(
            cx509.SubjectAlternativeName([cx509.DNSName(n) for n in dns_names]), critical=False
        )
    cert = builder.sign(ca_key.private, hashes.SHA256(), ecdsa_deterministic=True)
    return cert.public_bytes(serialization.Encoding.DER)


def test_lengths_use_the_short_and_long_forms() -> None:
    assert der.tlv(0x04, b"x" * 127)[:2] == b"\x04\x7f"
    assert der.tlv(0x04, b"x" * 128)[:3] == b"\x04\x81\x80"
    assert der.tlv(0x04, b"x" * 256)[:4] == b"\x04\x82\x01\x00"


def test_integers_oids_and_named_bits() -> None:
    assert der.integer(0) == b"\x02\x01\x00"
    assert der.integer(127) == b"\x02\x01\x7f"
    assert der.integer(128) == b"\x02\x02\x00\x80"
    assert der.integer(256) == b"\x02\x02\x01\x00"
    assert der.oid("1.2.840.10045.2.1") == bytes.fromhex("06072a8648ce3d0201")
    assert der.named_bits((0,)) == b"\x03\x02\x07\x80"
    assert der.named_bits((5, 6)) == b"\x03\x02\x01\x06"
    assert der.named_bits((0, 8)) == b"\x03\x03\x07\x80\x80"


def test_times_switch_to_generalized_time_in_2050() -> None:
    assert der.time(dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)) == b"\x17\x0d491231235959Z"
    assert der.time(dt.datetime(2050, 1, 1, tzinfo=dt.UTC)) == b"\x18\x0f20500101000000Z"


@settings(max_examples=40, deadline=None)
@given(
    seed=st.binary(min_size=48, max_size=48),
    serial=st.integers(min_value=1, max_value=2**159 - 1),
    common_name=st.text(st.characters(codec="utf-8"), min_size=1).filter(lambda cn: len(cn.encode()) <= 64),
    days=st.integers(min_value=1, max_value=36500),
    seconds=st.integers(min_value=0, max_value=86399),
)
def test_ca_matches_cryptography(seed: bytes, serial: int, common_name: str, days: int, seconds: int) -> None:
    key = x509.key_pair(seed)
    validity = x509.Validity(NOT_BEFORE + dt.timedelta(seconds=seconds), days)
    assert x509.certificate_authority(key, common_name, validity, serial) == reference_ca(
        key, common_name, validity, serial
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.binary(min_size=48, max_size=48),
    ca_seed=st.binary(min_size=48, max_size=48),
    serial=st.integers(min_value=1, max_value=2**159 - 1),
    dns_names=st.lists(st.from_regex(r"\A[a-z]([a-z0-9-]{0,30}[a-z0-9])?(\.[a-z0-9]{1,20}){0,4}\Z"), max_size=40),
    usage=st.sampled_from([(True, False), (False, True), (True, True)]),
    days=st.integers(min_value=1, max_value=36500),
)
def test_leaf_matches_cryptography(
    seed: bytes, ca_seed: bytes, serial: int, dns_names: list[str], usage: tuple[bool, bool], days: int
) -> None:
    key, ca_key = x509.key_pair(seed), x509.key_pair(ca_seed)
    validity = x509.Validity(NOT_BEFORE, days)
    server, client = usage
    ours = x509.leaf(
        key,
        "hippo-primary.db.svc.cluster.local",
        tuple(dns_names),
        server=server,
        client=client,
        issuer_name="hippo.db pgrender CA",
        ca_key=ca_key,
        validity=validity,
        serial=serial,
    )
    theirs = reference_leaf(
        key,
        "hippo-primary.db.svc.cluster.local",
        tuple(dns_names),
        server,
        client,
        "hippo.db pgrender CA",
        ca_key,
        validity,
        serial,
    )
    assert ours == theirs
    cx509.load_der_x509_certificate(ours).verify_directly_issued_by(
        cx509.load_der_x509_certificate(reference_ca(ca_key, "hippo.db pgrender CA", validity, 1))
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=48, max_size=48))
def test_private_key_pem_matches_pkcs8_serializer(seed: bytes) -> None:
    key = x509.key_pair(seed)
    expected = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert x509.key_pem(key) == expected.decode()
    loaded = serialization.load_pem_private_key(expected, None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers().private_value == key.scalar
