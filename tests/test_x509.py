"""secrets.x509: certificates parse, verify against the CA, carry the fields given, are deterministic,
and are byte for byte what cryptography's CertificateBuilder and PKCS #8 serializer make of the same
inputs (the encoding is pgrender's own for start-up time; these tests hold it to the library's)."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pgrender.secrets import x509

NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CA_NAME = "hippo.db pgrender CA"
LEAF_NAME = "hippo-primary.db.svc.cluster.local"
SEEDS = st.binary(min_size=48, max_size=48)
SERIALS = st.integers(min_value=1, max_value=2**159 - 1)
DNS_NAMES = st.from_regex(r"\A[a-z]([a-z0-9-]{0,30}[a-z0-9])?(\.[a-z0-9]{1,20}){0,4}\Z")
IP_ADDRESSES = st.ip_addresses(v=4) | st.ip_addresses(v=6)


def _parse(der: bytes) -> cx509.Certificate:
    return cx509.load_der_x509_certificate(der)


def _builder(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, serial: int, validity: x509.Validity
) -> cx509.CertificateBuilder:
    return (
        cx509.CertificateBuilder()
        .subject_name(cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
    )


def _usage(*, cert_sign: bool) -> cx509.KeyUsage:
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


def _library_ca(key: ec.EllipticCurvePrivateKey, common_name: str, validity: x509.Validity, serial: int) -> bytes:
    """What secrets.x509.certificate_authority makes, made by cryptography.x509."""
    builder = (
        _builder(common_name, common_name, key, serial, validity)
        .add_extension(cx509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True).public_bytes(serialization.Encoding.DER)


def _library_leaf(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    dns_names: tuple[str, ...],
    ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...],
    *,
    server: bool,
    client: bool,
    serial: int,
    validity: x509.Validity,
) -> bytes:
    """What secrets.x509.leaf makes, made by cryptography.x509."""
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    builder = (
        _builder(LEAF_NAME, CA_NAME, key, serial, validity)
        .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(cx509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(cx509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(cx509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    names: list[cx509.GeneralName] = [cx509.DNSName(n) for n in dns_names]
    names += [cx509.IPAddress(a) for a in ip_addresses]
    if names:
        builder = builder.add_extension(cx509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True).public_bytes(serialization.Encoding.DER)


def _common_name(name: cx509.Name) -> str | bytes:
    return name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def _leaf(
    seed: bytes,
    ca_seed: bytes,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = (),
    *,
    server: bool = True,
    client: bool = True,
    serial: int = 7,
    days: int = 365,
) -> bytes:
    ca_key = x509.key_pair(ca_seed)
    return x509.leaf(
        x509.key_pair(seed),
        LEAF_NAME,
        dns_names,
        ip_addresses,
        server=server,
        client=client,
        issuer_name=CA_NAME,
        ca_key=ca_key,
        ca_key_identifier=x509.authority_key_identifier(ca_key),
        validity=x509.Validity(NOT_BEFORE, days),
        serial=serial,
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    serial=SERIALS,
    common_name=st.text(st.characters(codec="utf-8"), min_size=1).filter(lambda cn: len(cn.encode()) <= 64),
    days=st.integers(min_value=1, max_value=36500),
    seconds=st.integers(min_value=0, max_value=86399),
)
def test_ca_is_self_signed_with_the_given_fields(
    seed: bytes, serial: int, common_name: str, days: int, seconds: int
) -> None:
    key = x509.key_pair(seed)
    validity = x509.Validity(NOT_BEFORE + dt.timedelta(seconds=seconds), days)
    ca = x509.certificate_authority(key, common_name, validity, serial)
    parsed = _parse(ca)
    parsed.verify_directly_issued_by(parsed)
    assert _common_name(parsed.subject) == _common_name(parsed.issuer) == common_name
    assert parsed.serial_number == serial
    assert (parsed.not_valid_before_utc, parsed.not_valid_after_utc) == (validity.not_before, validity.not_after)
    constraints = parsed.extensions.get_extension_for_class(cx509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = parsed.extensions.get_extension_for_class(cx509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert x509.certificate_authority(key, common_name, validity, serial) == ca, "deterministic"
    assert _library_ca(key, common_name, validity, serial) == ca, "cryptography.x509 makes the same bytes"
    assert x509.cert_pem(ca) == parsed.public_bytes(serialization.Encoding.PEM).decode()


@settings(max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    ca_seed=SEEDS,
    serial=SERIALS,
    dns_names=st.lists(DNS_NAMES, max_size=40),
    ip_addresses=st.lists(IP_ADDRESSES, max_size=5),
    usage=st.sampled_from([(True, False), (False, True), (True, True)]),
    days=st.integers(min_value=1, max_value=36500),
)
def test_leaf_verifies_against_its_ca_and_carries_the_plan(
    seed: bytes,
    ca_seed: bytes,
    serial: int,
    dns_names: list[str],
    ip_addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    usage: tuple[bool, bool],
    days: int,
) -> None:
    server, client = usage
    cert = _leaf(
        seed, ca_seed, tuple(dns_names), tuple(ip_addresses), server=server, client=client, serial=serial, days=days
    )
    ca_key = x509.key_pair(ca_seed)
    ca = _parse(x509.certificate_authority(ca_key, CA_NAME, x509.Validity(NOT_BEFORE, days), 1))
    parsed = _parse(cert)
    parsed.verify_directly_issued_by(ca)
    assert parsed.serial_number == serial
    assert [e.oid for e in parsed.extensions][:5] == [
        cx509.BasicConstraints.oid,
        cx509.KeyUsage.oid,
        cx509.ExtendedKeyUsage.oid,
        cx509.SubjectKeyIdentifier.oid,
        cx509.AuthorityKeyIdentifier.oid,
    ]
    expected_usages = [ExtendedKeyUsageOID.SERVER_AUTH] * server + [ExtendedKeyUsageOID.CLIENT_AUTH] * client
    assert list(parsed.extensions.get_extension_for_class(cx509.ExtendedKeyUsage).value) == expected_usages
    authority = parsed.extensions.get_extension_for_class(cx509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(cx509.SubjectKeyIdentifier).value
    assert authority.key_identifier == ca_ski.digest
    assert authority.authority_cert_issuer is None and authority.authority_cert_serial_number is None
    if dns_names or ip_addresses:
        sans = parsed.extensions.get_extension_for_class(cx509.SubjectAlternativeName)
        assert not sans.critical
        assert list(sans.value) == [cx509.DNSName(n) for n in dns_names] + [cx509.IPAddress(a) for a in ip_addresses]
    else:
        assert cx509.SubjectAlternativeName.oid not in [e.oid for e in parsed.extensions]
    again = _leaf(
        seed, ca_seed, tuple(dns_names), tuple(ip_addresses), server=server, client=client, serial=serial, days=days
    )
    assert again == cert, "deterministic"
    library = _library_leaf(
        x509.key_pair(seed),
        ca_key,
        tuple(dns_names),
        tuple(ip_addresses),
        server=server,
        client=client,
        serial=serial,
        validity=x509.Validity(NOT_BEFORE, days),
    )
    assert library == cert, "cryptography.x509 makes the same bytes"


def test_times_switch_to_generalized_time_in_2050() -> None:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050."""
    key = x509.key_pair(bytes(48))
    last_utc = dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    ca = x509.certificate_authority(key, CA_NAME, x509.Validity(last_utc - dt.timedelta(days=1), 1), 1)
    assert b"\x17\x0d491231235959Z" in ca
    ca = x509.certificate_authority(key, CA_NAME, x509.Validity(last_utc, 1), 1)
    assert b"\x17\x0d491231235959Z\x18\x0f20500101235959Z" in ca
    assert _library_ca(key, CA_NAME, x509.Validity(last_utc, 1), 1) == ca


def test_ip_addresses_are_ip_address_entries() -> None:
    addresses = (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("2001:db8::1"))
    cert = _leaf(bytes(48), bytes(range(48)), ("db.example.com",), addresses)
    sans = _parse(cert).extensions.get_extension_for_class(cx509.SubjectAlternativeName).value
    assert sans.get_values_for_type(cx509.DNSName) == ["db.example.com"]
    assert sans.get_values_for_type(cx509.IPAddress) == list(addresses)
    # iPAddress is [7] IMPLICIT OCTET STRING of 4 or 16 octets, never text
    assert b"\x87\x04\x0a\x00\x00\x05" in cert
    assert b"\x87\x10" + addresses[1].packed in cert
    assert b"10.0.0.5" not in cert


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS)
def test_private_key_pem_is_pkcs8_of_the_derived_key(seed: bytes) -> None:
    key = x509.key_pair(seed)
    text = x509.key_pem(key)
    assert text.startswith("-----BEGIN PRIVATE KEY-----\n") and text.endswith("-----END PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(text.encode(), None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.curve.name == "secp256r1"
    assert loaded.private_numbers() == key.private_numbers()
    assert x509.key_pem(x509.key_pair(seed)) == text, "deterministic"
    library = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert library.decode() == text, "cryptography's PKCS #8 serializer makes the same text"
