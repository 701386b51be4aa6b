"""The root key: reading it from --key-file or PGRENDER_KEY, and making a new one."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from pgrender.errors import RootKeyError
from pgrender.frozen import field, frozen
from pgrender.patterns import Pattern

ENV_VAR = "PGRENDER_KEY"
ALLOW_TEST_KEY_VAR = "PGRENDER_ALLOW_TEST_KEY"
KEY_BYTES = 32
MAX_KEY_FILE_BYTES = 4096  # a key file holds 65 bytes; the bound only keeps a device or a huge file out
# SHA-256 of the root key in tests/golden.key, which is published with the source: anyone can derive
# the passwords it protects. Only the digest is kept, so the package carries no key material.
TEST_KEY_SHA256 = "36ef3c7e341ccc018e96778bd36aef20375f720228df91f137a1226b0fd7993e"
_HEX = Pattern(r"^[0-9a-f]{64}\Z")
_KEY_LIKE = Pattern(r"[0-9a-fA-F]{64}")


def named(path: str) -> str:
    """A key file's name as messages show it: a root key given where a file's name goes (``--key-file
    KEY``, the plugin's key-file parameter) is not echoed to a terminal, a CI log or Argo CD."""
    if _KEY_LIKE.search(path):
        return f"the key file (its name looks like a root key: set the key in {ENV_VAR}; --key-file names a file)"
    return path


def generate() -> str:
    """Return a new root key as 64 hex characters (randomness; the other use is sealing, secrets/sealed.py)."""
    import secrets  # only keygen needs it

    return secrets.token_hex(KEY_BYTES)


def write_new(path: Path, key: str) -> None:
    """Save a new key to ``path``, never replacing a file; RootKeyError (exit 2) when that cannot be done.

    The file is created exclusively with mode 0600 (readable by nobody else at any moment), and missing
    parent directories with mode 0700: the README's own ~/.config/pgrender need not exist yet.
    """
    try:
        _make_private_parents(path.parent)
    except OSError as exc:
        raise RootKeyError(_cannot_write(path, exc)) from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RootKeyError(f"{path}: exists; a root key is never overwritten") from None
    except OSError as exc:
        raise RootKeyError(_cannot_write(path, exc)) from None
    try:
        with open(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # exactly 0600, whatever the umask took away
            file.write(key + "\n")
    except OSError as exc:
        # The file is ours (O_EXCL) and incomplete: left behind, it would block the next keygen.
        path.unlink(missing_ok=True)
        raise RootKeyError(_cannot_write(path, exc)) from None


def _make_private_parents(directory: Path) -> None:
    """mkdir -p, with mode 0700 for each directory made: os.makedirs gives the mode to the last one only."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _cannot_write(path: Path, exc: OSError) -> str:
    """One line naming the key file, the reason, and the directory at fault when it is not the file."""
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return f"{path}: cannot write a new root key: {exc.strerror or exc}{where}"


def parse(text: str, source: str) -> bytes:
    """Decode a root key; the error names the source and the expected form, never the content."""
    value = text.strip().lower()
    if not _HEX.match(value):
        raise RootKeyError(f"{source}: expected a root key of 64 hexadecimal characters (see `pgrender keygen`)")
    return bytes.fromhex(value)


def load(
    key_file: str | None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> bytes:
    """Return the root key from a file and/or PGRENDER_KEY; RootKeyError when neither is usable.

    Both may be given only when they hold the same key: silently preferring one would render with
    a key the user did not mean. The published test key and the all-zero key are refused unless
    PGRENDER_ALLOW_TEST_KEY=1 (the test suite, `make demo`, `make golden`). Warnings go to ``warn``
    (standard error by default) and never contain key bytes.
    """
    env = os.environ if environ is None else environ
    from_file = _read_key_file(key_file) if key_file else None
    from_env = parse(env[ENV_VAR], ENV_VAR) if env.get(ENV_VAR) else None
    if from_file and from_env and not hmac.compare_digest(from_file.key, from_env):
        raise RootKeyError(
            f"{named(from_file.path)} (--key-file) and {ENV_VAR} hold two different root keys; give only one of them"
        )
    if from_file:
        key, source = from_file.key, named(from_file.path)
    elif from_env:
        key, source = from_env, ENV_VAR
    else:
        raise RootKeyError(
            "no root key: the secrets providers derived and sealed make every password and key from one; "
            "pass --key-file FILE or set "
            f"{ENV_VAR} (create one with `pgrender keygen`)"
        )
    weak = _weak_key(key)
    if weak and env.get(ALLOW_TEST_KEY_VAR) != "1":
        raise RootKeyError(
            f"{source}: this is {weak}, which must never protect a real cluster; make a key with "
            f"`pgrender keygen` (tests and demos set {ALLOW_TEST_KEY_VAR}=1 to allow it)"
        )
    # The test key is public anyway: a warning about who may read its file would only be noise.
    if from_file and not weak and from_file.readable_by:
        (_warn if warn is None else warn)(
            f"{named(from_file.path)}: the root key file is readable by {from_file.readable_by} "
            f"(mode {from_file.mode:04o}); whoever reads it can derive every password: chmod 600 "
            f"{named(from_file.path)}"
        )
    return key


def _weak_key(key: bytes) -> str | None:
    """What makes ``key`` unfit for a real cluster, or None. Only the test key's digest is kept here."""
    if hashlib.sha256(key).hexdigest() == TEST_KEY_SHA256:
        return "the published test key (tests/golden.key)"
    if key == bytes(KEY_BYTES):
        return "the all-zero key"
    return None


@frozen
class _KeyFile:
    path: str
    key: bytes = field(repr=False)
    mode: int  # permission bits of a regular file; 0 for pipes and devices, which have none that matter
    readable_by: str  # "its group", "others", both joined by "and", or "" when only the owner can read it


def _read_key_file(path: str) -> _KeyFile:
    """Read and parse at most MAX_KEY_FILE_BYTES of ``path``.

    Bounded, because anything can be named: /dev/zero or /dev/urandom would be read until memory
    runs out. Opened non-blocking, because opening a FIFO that has no writer blocks forever (reading
    it then finds the end at once); reads block again, so a pipe from a password manager
    (``--key-file <(pass show root.key)``, whose writer is already there) is read to its end.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise RootKeyError(f"{named(path)}: cannot read the key file ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        os.set_blocking(fd, True)
        data = b""
        while len(data) <= MAX_KEY_FILE_BYTES:
            chunk = os.read(fd, MAX_KEY_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise RootKeyError(f"{named(path)}: cannot read the key file ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise RootKeyError(f"{named(path)}: more than {MAX_KEY_FILE_BYTES} bytes; expected 64 hexadecimal characters")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RootKeyError(f"{named(path)}: expected a text file with 64 hexadecimal characters") from None
    key = parse(text, named(path))
    if not stat.S_ISREG(st.st_mode):
        return _KeyFile(path, key, 0, "")
    # libpq's rule for a client key: a file owned by root may be group-readable (how kubelet mounts a
    # Secret for a pod's fsGroup); any other only by its owner. Others reading it is never right.
    bits = (("others", stat.S_IROTH),) if st.st_uid == 0 else (("its group", stat.S_IRGRP), ("others", stat.S_IROTH))
    readers = [who for who, bit in bits if st.st_mode & bit]
    return _KeyFile(path, key, stat.S_IMODE(st.st_mode), " and ".join(readers))


def _warn(message: str) -> None:
    print(f"pgrender: warning: {message}", file=sys.stderr)
