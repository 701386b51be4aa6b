"""SCRAM-SHA-256 verifiers of passwords read at run time (shipped in ConfigMap <c>-reconcile, run
with the image's python3; standard library only, nothing of pgrender is imported).

When the passwords live in a store (secrets provider ``external``), the Secrets hold no verifier
made at render time. The reconcile Job and CronJob <c>-passwords run::

    python3 passwords.py --psql=PSQL VERIFIER_VAR:PASSWORD_VAR:ROLE ...

For each triple it reads the password from the environment variable PASSWORD_VAR (set from the
role's Secret) and prints one shell assignment ``VERIFIER_VAR='SCRAM-SHA-256$...'`` for the
caller to ``eval``. A role whose stored verifier (pg_authid, read through PSQL with the PG*
variables of the environment) belongs to that password keeps it, byte for byte, so the guarded
``ALTER ROLE`` of the SQL changes nothing; any other gets a new verifier with a fresh random salt.
The password is prepared with SASLprep as PostgreSQL and libpq do (pg_saslprep), so a client
logging in with it computes the same proof.

Nothing here prints, logs or passes on a password: it is read from the environment and hashed.
Errors name the role and the variable, never a value; the exit status is 1.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import re
import stringprep
import subprocess
import sys
import unicodedata

ITERATIONS = 4096  # PostgreSQL's default scram_iterations
SALT_BYTES = 16  # PostgreSQL's SCRAM_DEFAULT_SALT_LEN
_VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)\Z")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class Failed(Exception):
    """What went wrong, for the Job's log (never a password)."""


def _prohibited(char: str) -> bool:
    return any(
        check(char)
        for check in (
            stringprep.in_table_c12,
            stringprep.in_table_c21,
            stringprep.in_table_c22,
            stringprep.in_table_c3,
            stringprep.in_table_c4,
            stringprep.in_table_c5,
            stringprep.in_table_c6,
            stringprep.in_table_c7,
            stringprep.in_table_c8,
            stringprep.in_table_c9,
            stringprep.in_table_a1,
        )
    )


def saslprep(password: bytes) -> bytes:
    """The bytes PostgreSQL hashes for ``password`` (src/common/saslprep.c, pg_saslprep).

    ASCII is taken as it is. Otherwise, as UTF-8: non-ASCII spaces become spaces, characters
    "commonly mapped to nothing" go, the rest is NFKC-normalized; where the mapped string holds a
    prohibited or unassigned character or breaks the bidirectional rules (or is not UTF-8, or maps
    to nothing), PostgreSQL hashes the password as it is, and so does this.
    """
    if password.isascii():
        return password
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else "" if stringprep.in_table_b1(c) else c for c in text)
    if not mapped or any(_prohibited(c) for c in mapped):
        return password
    if any(stringprep.in_table_d1(c) for c in mapped) and (
        any(stringprep.in_table_d2(c) for c in mapped)
        or not stringprep.in_table_d1(mapped[0])
        or not stringprep.in_table_d1(mapped[-1])
    ):
        return password
    return unicodedata.normalize("NFKC", mapped).encode("utf-8")


def verifier(password: bytes, salt: bytes, iterations: int = ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, RFC 7677)."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    # Joined, not one f-string: "$" before "{" would read as a variable to Flux's substitution.
    proof = f"{b64(stored_key).decode()}:{b64(server_key).decode()}"
    return "SCRAM-SHA-256$" + f"{iterations}:{b64(salt).decode()}" + "$" + proof


def matches(stored: str | None, password: bytes) -> bool:
    """Whether ``stored`` (a role's rolpassword) is a SCRAM verifier of ``password``."""
    found = _VERIFIER.match(stored or "")
    if not found:
        return False
    try:
        salt = base64.b64decode(found.group(2), validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(verifier(password, salt, int(found.group(1))), stored or "")


def verifier_for(stored: str | None, password: bytes) -> str:
    """``stored`` when it belongs to ``password``; else a new verifier with a random salt."""
    if stored is not None and matches(stored, password):
        return stored
    return verifier(password, os.urandom(SALT_BYTES))


def stored_passwords(psql: str) -> dict[str, str]:
    """role -> rolpassword of every role with a password (the superuser's connection: PG*)."""
    result = subprocess.run(
        [
            psql,
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--field-separator-zero",
            "--record-separator-zero",
            "--set=ON_ERROR_STOP=1",
            "--command=SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolpassword IS NOT NULL",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise Failed(f"cannot read the roles' stored passwords (psql exit {result.returncode}): {message}")
    return _records(result.stdout)


def _records(raw: bytes) -> dict[str, str]:
    """Parse psql's zero-separated output: field, NUL, field, NUL (record separator), ..."""
    fields = raw.split(b"\0")
    if fields and fields[-1] in (b"", b"\n"):
        fields.pop()
    if len(fields) % 2:
        raise Failed("cannot read the roles' stored passwords: psql's output has an odd number of fields")
    return {fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields), 2)}


def _triple(text: str) -> tuple[str, str, str]:
    verifier_var, sep1, rest = text.partition(":")
    password_var, sep2, role = rest.partition(":")
    if not (sep1 and sep2 and role and _NAME.match(verifier_var) and _NAME.match(password_var)):
        raise argparse.ArgumentTypeError(f"{text!r}: expected VERIFIER_VAR:PASSWORD_VAR:ROLE")
    return verifier_var, password_var, role


def assignments(triples: list[tuple[str, str, str]], stored: dict[str, str], environ: dict[str, str]) -> str:
    """The shell assignments of every verifier variable (single-quoted: a verifier holds only
    base64 characters, digits, '$' and ':')."""
    lines = []
    for verifier_var, password_var, role in triples:
        password = environ.get(password_var)
        if not password:
            raise Failed(f"role {role}: {password_var} is empty or unset; its Secret has no password")
        value = verifier_for(stored.get(role), os.fsencode(password))
        lines.append(f"{verifier_var}='{value}'")
    return "".join(f"{line}\n" for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--psql", required=True, help="psql to read pg_authid with")
    parser.add_argument("triples", nargs="+", type=_triple, metavar="VERIFIER_VAR:PASSWORD_VAR:ROLE")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(assignments(args.triples, stored_passwords(args.psql), dict(os.environ)))
    except Failed as exc:
        print(f"passwords.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
