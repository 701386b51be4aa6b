"""The spec files a config's globs name: one function for config.py and for the no-op path
(record.py), which must find the same files without importing the config model (pydantic).

Written with os.path, not pathlib: outside an editable install nothing has imported pathlib when the
no-op path starts, and importing it costs 3.5 ms there. The strings are those pathlib gives: a file
below the working directory is named relative to it, as Path.resolve().relative_to(Path.cwd()) does.
"""

from __future__ import annotations

import glob
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name the same
if TYPE_CHECKING:
    from collections.abc import Iterable


def spec_files(root: str, patterns: Iterable[str]) -> list[str]:
    """Files matching ``patterns`` (relative to ``root``; ** matches directories), sorted, relative
    to the working directory when possible."""
    cwd = os.path.realpath(os.getcwd())
    found: set[str] = set()
    for pattern in patterns:
        for match in glob.glob(os.path.join(root, pattern), recursive=True):
            if os.path.isfile(match):
                found.add(_relative(match, cwd))
    return sorted(found)


def _relative(match: str, cwd: str) -> str:
    below = os.path.realpath(match)
    prefix = cwd.rstrip("/") + "/"
    if below.startswith(prefix):
        return below[len(prefix) :]
    from pathlib import Path  # a spec outside the working directory keeps its name as pathlib spells it

    return str(Path(match))
