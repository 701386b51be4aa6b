"""Read spec files: YAML documents to plain data, plus each field's line and column."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgrender.errors import Problem, SpecError

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 4 * 1024 * 1024
# Aliases are shared references: a "billion laughs" document is small on disk and huge once
# expanded. Counting nodes as they are visited stops it long before memory or time run out.
MAX_NODES = 200_000


@dataclass(frozen=True)
class Document:
    """One YAML document of a spec file, as plain data with a position for every field."""

    file: str
    index: int
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(repr=False)

    def position(self, path: Path_) -> tuple[int, int]:
        """Return the (line, column) of ``path`` or of its nearest ancestor that exists."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return (1, 1)


def format_path(path: Path_) -> str:
    """Spell a field path as YAML users read it: ``spec.instances[0].dataVolume.size``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def load_file(path: str | Path) -> list[Document]:
    """Return the non-empty documents of one spec file; raise SpecError for unreadable YAML."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError([Problem(name, 0, 0, "", "file not found")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(name, 0, 0, "", "is a directory, expected a YAML file")]) from None
    except OSError as exc:
        raise SpecError([Problem(name, 0, 0, "", f"cannot read file: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError([Problem(name, 0, 0, "", f"file is larger than {MAX_FILE_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(name, 0, 0, "", f"not UTF-8 text (byte {exc.start})")]) from None
    return load_text(text, name)


def load_text(text: str, name: str) -> list[Document]:
    """Parse YAML text holding one or more documents."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    docs: list[Document] = []
    try:
        for index, node in enumerate(yaml.load_all(text)):
            if node is None:
                continue
            positions: dict[Path_, tuple[int, int]] = {}
            budget = _Budget()
            data = _plain(node, (), positions, budget, name)
            docs.append(Document(name, index, data, positions))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        message = _yaml_message(exc)
        raise SpecError([Problem(name, line, col, "", message)]) from None
    except YAMLError as exc:
        raise SpecError([Problem(name, 0, 0, "", f"invalid YAML: {exc}")]) from None
    if not docs:
        raise SpecError([Problem(name, 0, 0, "", "no YAML document found")])
    return docs


def _yaml_message(exc: Any) -> str:
    problem = (exc.problem or "invalid YAML").strip()
    duplicate = re.match(r'found duplicate key "(.*?)" with value', problem)
    if duplicate:  # ruamel's text quotes both values; they may be secrets, so only the key is kept
        return f"duplicate key {duplicate.group(1)!r}: each key may appear once per mapping"
    context = (exc.context or "").strip()
    return f"invalid YAML: {context + ', ' if context else ''}{problem}"


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def spend(self, name: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise SpecError(
                [
                    Problem(
                        name,
                        0,
                        0,
                        "",
                        f"document expands to more than {MAX_NODES} nodes "
                        "(anchors and aliases are expanded; is this an alias bomb?)",
                    )
                ]
            )


def _plain(node: Any, path: Path_, positions: dict[Path_, tuple[int, int]], budget: _Budget, name: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    budget.spend(name)
    if isinstance(node, CommentedMap):
        if path == ():
            positions[path] = (node.lc.line + 1, node.lc.col + 1)
        out: dict[Any, Any] = {}
        for key in node:
            key_plain = _scalar(key)
            if isinstance(key, (CommentedMap, CommentedSeq)) or not isinstance(key_plain, (str, int, bool)):
                line, col = node.lc.key(key)
                raise SpecError([Problem(name, line + 1, col + 1, format_path(path), "keys must be scalars")])
            child = (*path, str(key_plain))
            line, col = node.lc.key(key)
            positions[child] = (line + 1, col + 1)
            out[str(key_plain)] = _plain(node[key], child, positions, budget, name)
        return out
    if isinstance(node, CommentedSeq):
        if path == ():
            positions[path] = (node.lc.line + 1, node.lc.col + 1)
        items = []
        for i, item in enumerate(node):
            child = (*path, i)
            try:
                line, col = node.lc.item(i)
                positions[child] = (line + 1, col + 1)
            except (KeyError, IndexError, TypeError):
                pass
            items.append(_plain(item, child, positions, budget, name))
        return items
    return _scalar(node)


def _scalar(value: Any) -> Any:
    """Strip ruamel's scalar subclasses so that only plain Python values go further."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if hasattr(value, "value"):  # ruamel TaggedScalar and friends
        return str(value.value)
    return value


def iter_documents(paths: list[str]) -> Iterator[Document]:
    """Load every file; collect the problems of all files before raising."""
    problems: list[Problem] = []
    docs: list[Document] = []
    for p in paths:
        try:
            docs.extend(load_file(p))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    yield from docs
