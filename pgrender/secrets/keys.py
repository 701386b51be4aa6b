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
