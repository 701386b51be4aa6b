"""secrets.x509: certificates parse, verify against the CA, carry the fields given, and are deterministic."""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pgrender.secrets import x509

NOT_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CA_NAME = "hippo.db pgrender CA"
SEEDS = st.binary(min_size=48, max_size=48)
SERIALS = st.integers(min_value=1, max_value=2**159 - 1)
DNS_NAMES = st.from_regex(r"\A[a-z]([a-z0-9-]{0,30}[a-z0-9])?(\.[a-z0-9]{1,20}){0,4}\Z")
IP_ADDRESSES = st.ip_addresses(v=4) | st.ip_addresses(v=6)


def _der(cert: cx509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


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
) -> cx509.Certificate:
    ca_key = x509.key_pair(ca_seed)
    return x509.leaf(
        x509.key_pair(seed),
        "hippo-primary.db.svc.cluster.local",
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
    parsed = cx509.load_der_x509_certificate(_der(ca))
    parsed.verify_directly_issued_by(parsed)
    assert _common_name(parsed.subject) == _common_name(parsed.issuer) == common_name
    assert parsed.serial_number == serial
    assert (parsed.not_valid_before_utc, parsed.not_valid_after_utc) == (validity.not_before, validity.not_after)
    constraints = parsed.extensions.get_extension_for_class(cx509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = parsed.extensions.get_extension_for_class(cx509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert _der(x509.certificate_authority(key, common_name, validity, serial)) == _der(ca), "deterministic"


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
    ca = x509.certificate_authority(ca_key, CA_NAME, x509.Validity(NOT_BEFORE, days), 1)
    parsed = cx509.load_der_x509_certificate(_der(cert))
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
    assert _der(again) == _der(cert), "deterministic"


def test_times_switch_to_generalized_time_in_2050() -> None:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050."""
    key = x509.key_pair(bytes(48))
    last_utc = dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    ca = x509.certificate_authority(key, CA_NAME, x509.Validity(last_utc - dt.timedelta(days=1), 1), 1)
    assert b"\x17\x0d491231235959Z" in _der(ca)
    ca = x509.certificate_authority(key, CA_NAME, x509.Validity(last_utc, 1), 1)
    assert b"\x17\x0d491231235959Z\x18\x0f20500101235959Z" in _der(ca)


def test_ip_addresses_are_ip_address_entries() -> None:
    addresses = (ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("2001:db8::1"))
    cert = _leaf(bytes(48), bytes(range(48)), ("db.example.com",), addresses)
    sans = cert.extensions.get_extension_for_class(cx509.SubjectAlternativeName).value
    assert sans.get_values_for_type(cx509.DNSName) == ["db.example.com"]
    assert sans.get_values_for_type(cx509.IPAddress) == list(addresses)
    # iPAddress is [7] IMPLICIT OCTET STRING of 4 or 16 octets, never text
    assert b"\x87\x04\x0a\x00\x00\x05" in _der(cert)
    assert b"\x87\x10" + addresses[1].packed in _der(cert)
    assert b"10.0.0.5" not in _der(cert)


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
