"""ASN.1 DER encoding (X.690), only the types X.509 certificates and PKCS #8 keys use.

Encoding certificates here keeps `cryptography.x509` (a third of a cold render's imports) off
the render path; tests hold the output byte for byte against cryptography's own builder.
"""

from __future__ import annotations

import base64
import datetime as dt

SEQUENCE = 0x30
SET = 0x31


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, definite length (short or long form), content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(SET, b"".join(sorted(items)))  # DER orders SET OF elements by their encodings


def integer(value: int) -> bytes:
    """A non-negative INTEGER in the fewest octets, with a leading zero when the top bit is set."""
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def boolean(value: bool) -> bytes:
    return tlv(0x01, b"\xff" if value else b"\x00")


def octet_string(value: bytes) -> bytes:
    return tlv(0x04, value)


def bit_string(value: bytes, unused_bits: int = 0) -> bytes:
    return tlv(0x03, bytes((unused_bits,)) + value)


def named_bits(bits: tuple[int, ...]) -> bytes:
    """A BIT STRING of named bits (bit 0 is the most significant), trailing zero bits dropped."""
    if not bits:
        return bit_string(b"")
    top = max(bits)
    value = sum(1 << (7 - bit % 8) << 8 * (top // 8 - bit // 8) for bit in bits)
    return bit_string(value.to_bytes(top // 8 + 1, "big"), 7 - top % 8)


def oid(dotted: str) -> bytes:
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    out = bytearray((40 * first + second,))
    for arc in rest:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | arc & 0x7F)
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def utf8_string(text: str) -> bytes:
    return tlv(0x0C, text.encode())


def time(moment: dt.datetime) -> bytes:
    """RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; UTC, whole seconds."""
    utc = moment.astimezone(dt.UTC)
    rest = f"{utc.month:02d}{utc.day:02d}{utc.hour:02d}{utc.minute:02d}{utc.second:02d}Z"
    if utc.year < 2050:
        return tlv(0x17, f"{utc.year % 100:02d}{rest}".encode())
    return tlv(0x18, f"{utc.year:04d}{rest}".encode())


def explicit(number: int, content: bytes) -> bytes:
    """A constructed context-specific tag around a whole element."""
    return tlv(0xA0 | number, content)


def implicit(number: int, content: bytes) -> bytes:
    """A primitive context-specific tag replacing the tag of a primitive element."""
    return tlv(0x80 | number, content)


def pem(label: str, der: bytes) -> str:
    """RFC 7468 text: base64 in lines of 64 between BEGIN and END lines."""
    text = base64.b64encode(der).decode()
    lines = "".join(f"{text[i : i + 64]}\n" for i in range(0, len(text), 64))
    return f"-----BEGIN {label}-----\n{lines}-----END {label}-----\n"
