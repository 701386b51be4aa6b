"""The root key: reading it from --key-file or PGRENDER_KEY, and making a new one."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pgrender.errors import RootKeyError

ENV_VAR = "PGRENDER_KEY"
KEY_BYTES = 32
_HEX = re.compile(r"^[0-9a-f]{64}\Z")


def generate() -> str:
    """Return a new root key as 64 hex characters (the only randomness pgrender uses)."""
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


def load(key_file: str | None, environ: dict[str, str] | None = None) -> bytes:
    """Return the root key from a file, else from PGRENDER_KEY; RootKeyError when neither is usable."""
    env = os.environ if environ is None else environ
    if key_file:
        try:
            return parse(Path(key_file).read_text(encoding="utf-8"), key_file)
        except OSError as exc:
            raise RootKeyError(f"{key_file}: cannot read the key file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise RootKeyError(f"{key_file}: expected a text file with 64 hexadecimal characters") from None
    if env.get(ENV_VAR):
        return parse(env[ENV_VAR], ENV_VAR)
    raise RootKeyError(
        "no root key: the derived secrets provider needs one; pass --key-file FILE or set "
        f"{ENV_VAR} (create one with `pgrender keygen`)"
    )
