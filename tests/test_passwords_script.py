"""job_scripts/passwords.py: SCRAM verifiers computed in the cluster from the Secrets' passwords
(secrets provider external). The real server's view is tests/runtime/test_external.py."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from pgrender.job_scripts import passwords
from pgrender.secrets.derived import scram_verifier

SALT = bytes(range(16))
SCRIPT = Path(passwords.__file__)


@pytest.mark.parametrize("password", ["secret", "p@ss w:rd", "x" * 100])
def test_ascii_verifier_is_the_derived_providers(password: str) -> None:
    """The derived provider's verifier is what PostgreSQL accepts; for ASCII, SASLprep is the identity."""
    assert passwords.verifier(password.encode(), SALT) == scram_verifier(password, SALT)


@pytest.mark.parametrize(
    ("given", "prepared"),
    [
        ("I\u00adX", "IX"),  # RFC 4013 examples: soft hyphen mapped to nothing
        ("user", "user"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),
        ("a\u00a0b\u3000c", "a b c"),  # non-ASCII spaces become spaces
        ("a\u0007b\u00e9", "a\u0007b\u00e9"),  # a prohibited character: PostgreSQL hashes the password as it is
        ("\u0627\u0031", "\u0627\u0031"),  # RandALCat first, not last: as it is
        ("\u0627\u0031\u0628", "\u0627\u0031\u0628"),  # bidi rules kept
        ("\u200b", " "),  # ZERO WIDTH SPACE is a non-ASCII space first (C.1.2; PostgreSQL checks that first)
        ("\u00ad", "\u00ad"),  # maps to nothing: refused (no empty password), hashed as it is
    ],
)
def test_saslprep(given: str, prepared: str) -> None:
    assert passwords.saslprep(given.encode()) == prepared.encode()


def test_invalid_utf8_is_hashed_as_it_is() -> None:
    assert passwords.saslprep(b"\xff\xfe") == b"\xff\xfe"


def test_a_stored_verifier_of_the_password_is_kept_byte_for_byte() -> None:
    stored = passwords.verifier(b"p@ss", SALT, 10000)
    assert passwords.matches(stored, b"p@ss")
    assert passwords.verifier_for(stored, b"p@ss") == stored


@pytest.mark.parametrize(
    "stored", [None, "", "md5abcdef", "SCRAM-SHA-256$4096:!!$x:y", passwords.verifier(b"old", SALT)]
)
def test_anything_else_gets_a_new_verifier_with_a_random_salt(stored: str | None) -> None:
    first, second = passwords.verifier_for(stored, b"new"), passwords.verifier_for(stored, b"new")
    assert first != second  # fresh salts
    for made in (first, second):
        assert passwords.matches(made, b"new") and made.startswith("SCRAM-SHA-256$4096:")
        assert len(base64.b64decode(made.split("$")[1].split(":")[1])) == passwords.SALT_BYTES


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (b"", {}),
        (b"a\0SCRAM-x\0b\0md5y\0", {"a": "SCRAM-x", "b": "md5y"}),
        (b"a\0v\0\n", {"a": "v"}),
    ],
)
def test_psql_records(raw: bytes, parsed: dict[str, str]) -> None:
    assert passwords._records(raw) == parsed


def test_assignments_for_the_shell() -> None:
    stored = {"app": passwords.verifier(b"kept", SALT)}
    triples = [("V0", "P0", "app"), ("V1", "P1", "other")]
    out = passwords.assignments(triples, stored, {"P0": "kept", "P1": "fresh"})
    lines = out.splitlines()
    assert lines[0] == f"V0='{stored['app']}'"
    assert lines[1].startswith("V1='SCRAM-SHA-256$4096:") and passwords.matches(lines[1][4:-1], b"fresh")


def test_a_missing_password_names_the_role_and_variable_never_a_value() -> None:
    with pytest.raises(passwords.Failed, match="role app: P0 is empty or unset"):
        passwords.assignments([("V0", "P0", "app")], {}, {"P0": ""})


def test_the_script_runs_alone_and_fails_without_printing_the_password(tmp_path: Path) -> None:
    """As the Job runs it: python3 with the standard library; a psql that fails is reported with its
    message and exit status 1, and the password is not in the output."""
    fake = tmp_path / "psql"
    fake.write_text("#!/bin/sh\necho 'could not connect' >&2\nexit 2\n")
    fake.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), f"--psql={fake}", "V0:P0:app"],
        env={"P0": "hunter2", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "could not connect" in result.stderr and "psql exit 2" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_the_script_prints_assignments(tmp_path: Path) -> None:
    stored = passwords.verifier(b"kept", SALT)
    fake = tmp_path / "psql"
    fake.write_text(f"#!/bin/sh\nprintf 'app\\000%s\\000' '{stored}'\n")
    fake.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), f"--psql={fake}", "V0:P0:app"],
        env={"P0": "kept", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"V0='{stored}'\n"), result.stderr
