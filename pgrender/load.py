"""Read spec files: YAML documents to plain data, plus each field's line and column."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgrender.errors import Problem, SpecError

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 4 * 1024 * 1024
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
    return list(iter_file(path))


def load_text(text: str, name: str) -> list[Document]:
    """Parse YAML text holding one or more documents (YAML 1.2: `yes` and `on` are strings)."""
    return list(iter_text(text, name))


def iter_file(path: str | Path) -> Iterator[Document]:
    """Yield the non-empty documents of one spec file as they are parsed; raise SpecError at the
    first thing that cannot be read."""
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
    yield from iter_text(text, name)


def iter_text(text: str, name: str) -> Iterator[Document]:
    """Yield the non-empty documents of YAML text as they are parsed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    # Composing nodes (libyaml's parser when ruamel.yaml.clib is there) and building plain values
    # here is several times faster than ruamel's round-trip loader and keeps every position.
    yaml = YAML(typ="safe")
    yaml.Resolver = _yaml12_resolver()
    walker = _Walker(name, yaml.constructor)
    found = False
    try:
        for index, node in enumerate(yaml.compose_all(text)):
            if node is None or (node.tag == "tag:yaml.org,2002:null" and not node.value):
                continue
            positions: dict[Path_, tuple[int, int]] = {(): _mark(node)}
            walker.budget = MAX_NODES
            found = True
            yield Document(name, index, walker.plain(node, (), positions), positions)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise SpecError([Problem(name, line, col, "", _yaml_message(exc))]) from None
    except YAMLError as exc:
        raise SpecError([Problem(name, 0, 0, "", f"invalid YAML: {exc}")]) from None
    if not found:
        raise SpecError([Problem(name, 0, 0, "", "no YAML document found")])


@functools.cache
def _yaml12_resolver() -> type:
    """ruamel's resolver fixed to YAML 1.2, whatever a %YAML directive says (libyaml's parser
    never told ruamel of one either). Its own looks the version up for every scalar, raising and
    catching exceptions: a third of the time spent reading a spec."""
    from ruamel.yaml.resolver import VersionedResolver

    class Yaml12Resolver(VersionedResolver):
        @property
        def processing_version(self) -> tuple[int, int]:
            return (1, 2)

    return Yaml12Resolver


def _yaml_message(exc: Any) -> str:
    problem = (exc.problem or "invalid YAML").strip()
    context = (exc.context or "").strip()
    return f"invalid YAML: {context + ', ' if context else ''}{problem}"


def _mark(node: Any) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    """Turns composed nodes into plain values, recording positions and refusing what YAML allows
    but a spec must not hold: duplicate keys, non-scalar keys, merge keys, alias bombs."""

    def __init__(self, name: str, constructor: Any) -> None:
        self.name = name
        self.constructor = constructor
        self.budget = MAX_NODES

    def _problem(self, node: Any, path: Path_, message: str) -> SpecError:
        line, col = _mark(node)
        return SpecError([Problem(self.name, line, col, format_path(path), message)])

    def plain(self, node: Any, path: Path_, positions: dict[Path_, tuple[int, int]]) -> Any:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        # Aliases are shared references: a "billion laughs" document is small on disk and huge
        # once expanded. Counting nodes as they are visited stops it early.
        self.budget -= 1
        if self.budget < 0:
            message = f"document expands to more than {MAX_NODES} nodes (aliases are expanded; an alias bomb?)"
            raise SpecError([Problem(self.name, 0, 0, "", message)])
        if isinstance(node, MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self._problem(key_node, path, "merge keys (<<) are not supported; write the fields out")
                if not isinstance(key_node, ScalarNode):
                    raise self._problem(key_node, path, "keys must be scalars")
                key = str(_scalar(self.constructor.construct_object(key_node)))
                child = (*path, key)
                if key in out:
                    raise self._problem(key_node, child, "duplicate key: each key may appear once per mapping")
                positions[child] = _mark(key_node)
                out[key] = self.plain(value_node, child, positions)
            return out
        if isinstance(node, SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                child = (*path, i)
                positions[child] = _mark(item)
                items.append(self.plain(item, child, positions))
            return items
        return _scalar(self.constructor.construct_object(node))


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


def iter_documents(paths: list[str], problems: list[Problem]) -> Iterator[Document]:
    """Yield the documents of every file as they are parsed. What cannot be read is appended to
    ``problems`` and loading goes on with the next file."""
    for path in paths:
        try:
            yield from iter_file(path)
        except SpecError as exc:
            problems.extend(exc.problems)
