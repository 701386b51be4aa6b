"""secrets.derived and secrets.keys: HKDF labels, passwords, SCRAM verifiers, the root key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pgrender.errors import RootKeyError
from pgrender.plan import ClusterPlan
from pgrender.secrets import Material, SecretInput, keys
from pgrender.secrets.derived import SALT, DerivedValues, hkdf, password_from, scram_verifier
from tests.conftest import base_spec

KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("key", "info", "length"),
    [
        (KEY, "ns|c|purpose|0", 80),
        (b"another key", "ns|c|purpose|0", 32),  # the expander of each root key is kept apart
        (KEY, "ns|c|purpose|1", 16),
        (bytes(64), "", 64),
        *((bytes([i]) * 32, f"n{i}|c|p|0", 33) for i in range(6)),  # more keys than the cache holds
        (KEY, "ns|c|purpose|0", 80),
    ],
)
def test_hkdf_matches_rfc5869_implementation(key: bytes, info: str, length: int) -> None:
    expected = HKDF(algorithm=hashes.SHA256(), length=length, salt=SALT, info=info.encode()).derive(key)
    assert hkdf(key, info, length) == expected


def test_passwords_are_alphanumeric_and_unbiased_by_construction() -> None:
    password = password_from(hkdf(KEY, "x", 64))
    assert len(password) == 32 and password.isalnum() and password.isascii()


def test_scram_verifier_matches_an_independent_computation() -> None:
    salt = b"0123456789abcdef"
    verifier = scram_verifier("pencil", salt)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys_part = rest.split("$")
    iterations, salt_b64 = iterations_salt.split(":")
    stored_b64, server_b64 = keys_part.split(":")
    assert (method, iterations, base64.b64decode(salt_b64)) == ("SCRAM-SHA-256", "4096", salt)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client = hmac.new(salted, b"Client Key", "sha256").digest()
    assert base64.b64decode(stored_b64) == hashlib.sha256(client).digest()
    assert base64.b64decode(server_b64) == hmac.new(salted, b"Server Key", "sha256").digest()


def test_values_depend_on_namespace_cluster_purpose_rotation(
    plan_of: Callable[[dict[str, Any]], ClusterPlan],
) -> None:
    plan = plan_of(base_spec())
    other_ns = base_spec()
    other_ns["metadata"]["namespace"] = "other"
    value = DerivedValues(KEY, plan).value
    seen = {
        value(SecretInput(Material.PASSWORD, "user:a")),
        value(SecretInput(Material.PASSWORD, "user:b")),
        value(SecretInput(Material.PASSWORD, "user:a", rotation=1)),
        DerivedValues(KEY, plan_of(other_ns)).value(SecretInput(Material.PASSWORD, "user:a")),
        DerivedValues(bytes(32), plan).value(SecretInput(Material.PASSWORD, "user:a")),
    }
    assert len(seen) == 5
    assert value(SecretInput(Material.PASSWORD, "user:a")) == DerivedValues(KEY, plan).value(
        SecretInput(Material.PASSWORD, "user:a")
    )


def test_root_key_sources(tmp_path: Path) -> None:
    key = keys.generate()
    path = tmp_path / "root.key"
    path.write_text(key + "\n")
    assert keys.load(str(path), {}) == bytes.fromhex(key)
    assert keys.load(None, {"PGRENDER_KEY": key.upper()}) == bytes.fromhex(key)
    with pytest.raises(RootKeyError, match="no root key"):
        keys.load(None, {})
    path.write_text("not-a-key-but-maybe-a-secret")
    with pytest.raises(RootKeyError) as info:
        keys.load(str(path), {})
    assert "not-a-key" not in str(info.value), "the key file's content never appears in errors"
    with pytest.raises(RootKeyError, match="cannot read"):
        keys.load(str(tmp_path / "missing.key"), {})
