"""Every secret string of a rendered tree, to assert that none reaches a command's output.

A Secret also holds public values (host, port, user, the CA certificate's lines are harmless but
kept); those that appear in a non-Secret object, or are too short to mean anything alone, are left
out, so that a Secret's name in a message does not count as a leak of its `user` value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

MIN_LENGTH = 8  # shorter values (ports, short user names) appear in messages for other reasons


def secret_strings(directory: Path, *extra: str) -> set[str]:
    """The secret strings of every Secret under ``directory``, in every form that could be printed:
    each base64 value as written, its decoded text, and each line of a multi-line value (a PEM body
    line); plus ``extra`` (a root key, a value written into a file by a test)."""
    secrets: list[dict[str, Any]] = []
    public: list[str] = []
    for path in sorted(directory.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        documents = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        found = [d for d in documents if d.get("kind") == "Secret"]
        secrets.extend(found)
        if not found:
            public.append(text)
        for document in documents:
            meta = document.get("metadata") or {}
            public.extend(str(meta.get(k, "")) for k in ("name", "namespace"))
    out: set[str] = set(extra)
    for secret in secrets:
        for value in (secret.get("data") or {}).values():
            out.add(value)
            out.update(_forms(_decoded(value)))
        for value in (secret.get("stringData") or {}).values():
            out.update(_forms(str(value)))
    everything_public = "\n".join(public)
    return {s for s in out if len(s) >= MIN_LENGTH and s not in everything_public}


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _forms(text: str) -> Iterable[str]:
    yield text
    for line in text.splitlines():
        if not line.startswith("-----"):  # PEM armour lines are the same in every key
            yield line.strip()


def leaked(output: str, secrets: set[str]) -> list[str]:
    """The secrets that appear in ``output``, shortened so that a failing test does not print them whole."""
    return sorted(f"{s[:4]}...({len(s)} characters)" for s in secrets if s in output)
