"""The spec files a config's globs name: one function for config.py and for the no-op path
(record.py), which must find the same files without importing the config model (pydantic)."""

from __future__ import annotations

import glob
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name the same
if TYPE_CHECKING:
    from collections.abc import Iterable


def spec_files(root: str, patterns: Iterable[str]) -> list[str]:
    """Files matching ``patterns`` (relative to ``root``; ** matches directories), sorted, relative
    to the working directory when possible."""
    found: set[str] = set()
    for pattern in patterns:
        for match in glob.glob(str(Path(root) / pattern), recursive=True):
            path = Path(match)
            if path.is_file():
                found.add(_relative(path))
    return sorted(found)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
