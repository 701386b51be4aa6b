"""The spec files a config's globs name: one function for config.py and for the no-op path
(record.py), which must find the same files without importing the config model (pydantic).

Written with os.path, not pathlib: outside an editable install nothing has imported pathlib when the
no-op path starts, and importing it costs 3.5 ms there. The strings are those pathlib gives: a file
below the working directory is named relative to it, as Path.resolve().relative_to(Path.cwd()) does.

Measured reason for matching here rather than in glob: glob imports fnmatch, which imports re (and
re enum), and contextlib: 6.5 ms of the no-op path's 25 ms (`-X importtime`, a plain install). So a
pattern of literal characters, `*`, `?` and `**` (what spec globs are: `clusters/**/*.pgcluster.yaml`)
is matched by _glob, which walks the directories as glob.glob(pattern, recursive=True) does in
Python 3.11 (hidden names skipped unless the pattern's part starts with a dot, `**` through links to
directories, but not round a link loop, where glob has no end); a part with `[` is matched by
fnmatch, imported only for it. tests/test_globs.py holds the two to the same
files on generated trees and patterns.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name the same
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


def spec_files(root: str, patterns: Iterable[str]) -> list[str]:
    """Files matching ``patterns`` (relative to ``root``; ** matches directories), sorted, relative
    to the working directory when possible."""
    cwd = os.path.realpath(os.getcwd())
    found: set[str] = set()
    for pattern in patterns:
        for match in matches(os.path.join(root, pattern)):
            if os.path.isfile(match):
                found.add(_relative(match, cwd))
    return sorted(found)


def matches(pattern: str) -> list[str]:
    """glob.glob(pattern, recursive=True), as a list in any order."""
    return list(_glob(pattern, dirs_only=False))


def _relative(match: str, cwd: str) -> str:
    below = os.path.realpath(match)
    prefix = cwd.rstrip("/") + "/"
    if below.startswith(prefix):
        return below[len(prefix) :]
    from pathlib import Path  # a spec outside the working directory keeps its name as pathlib spells it

    return str(Path(match))


def _magic(text: str) -> bool:
    return "*" in text or "?" in text or "[" in text


def _glob(pattern: str, dirs_only: bool) -> Iterator[str]:
    """glob._iglob for a pattern without ``[``: each directory part matched in turn."""
    directory, base = os.path.split(pattern)
    if not _magic(pattern):
        if os.path.lexists(pattern) if base else os.path.isdir(directory):
            yield pattern
        return
    if not directory:
        yield from _in_directory("", base, dirs_only)
        return
    parents = _glob(directory, True) if directory != pattern and _magic(directory) else iter((directory,))
    for parent in parents:
        if _magic(base):
            names: Iterable[str] = _in_directory(parent, base, dirs_only)
        else:
            names = (base,) if (os.path.lexists(os.path.join(parent, base)) if base else os.path.isdir(parent)) else ()
        for name in names:
            yield os.path.join(parent, name)


def _in_directory(directory: str, part: str, dirs_only: bool) -> Iterator[str]:
    """The names in ``directory`` matching one part of a pattern: ``**`` is '' and every name below."""
    if part == "**":
        yield ""
        yield from _below(directory, dirs_only)
        return
    hidden = part.startswith(".")
    for name in _names(directory, dirs_only):
        if (hidden or not name.startswith(".")) and _fits(name, part):
            yield name


def _below(directory: str, dirs_only: bool, above: tuple[str, ...] = ()) -> Iterator[str]:
    """glob._rlistdir: every name below ``directory`` but hidden ones, through links to directories,
    but never into a directory the walk is already inside: glob enters a link back up again, and two
    such links in a repository (d/a -> .., d/b -> ..) made the walk double at every level."""
    above = above or (os.path.realpath(directory or os.curdir),)
    for name in _names(directory, dirs_only):
        if not name.startswith("."):
            yield name
            path = os.path.join(directory, name) if directory else name
            # Only a link can lead back up: the rest costs no realpath (the no-op path walks here).
            real = os.path.realpath(path) if os.path.islink(path) else os.path.join(above[-1], name)
            if real in above:
                continue
            for deeper in _below(path, dirs_only, (*above, real)):
                yield os.path.join(name, deeper)


def _names(directory: str, dirs_only: bool) -> list[str]:
    """glob._listdir: the entries of ``directory`` (directories only, links followed, when asked);
    none when it cannot be read."""
    names = []
    try:
        with os.scandir(directory or os.curdir) as entries:
            for entry in entries:
                try:
                    if not dirs_only or entry.is_dir():
                        names.append(entry.name)
                except OSError:
                    pass
    except OSError:
        return []
    return names


def _fits(name: str, part: str) -> bool:
    """fnmatch.fnmatchcase(name, part): for a part of literal characters, ``*`` and ``?``, the
    pieces between stars in order, each at its leftmost place (which is where any match can put it);
    a part with ``[`` by fnmatch itself (imported only then: see the module docstring)."""
    if "[" in part:
        import fnmatch

        return fnmatch.fnmatchcase(name, part)
    head, *pieces = part.split("*")
    if not pieces:
        return len(name) == len(head) and _at(name, 0, head)
    tail = pieces.pop()
    end = len(name) - len(tail)
    if end < len(head) or not _at(name, 0, head) or not _at(name, end, tail):
        return False
    at = len(head)
    for piece in pieces:
        while at + len(piece) <= end and not _at(name, at, piece):
            at += 1
        if at + len(piece) > end:
            return False
        at += len(piece)
    return True


def _at(name: str, at: int, piece: str) -> bool:
    """Whether ``piece`` (``?`` any one character) is in ``name`` at ``at``."""
    return all(c == "?" or c == name[at + i] for i, c in enumerate(piece))
