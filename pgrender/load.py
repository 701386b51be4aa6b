"""Read spec files: YAML documents to plain data, plus each field's line and column.

Plain data is built straight from the parser's events, without a tree of nodes in between: the
builder keeps its own stack, so nesting costs no recursion, and it bounds depth, nodes and alias
expansion as it goes. One document that cannot be read is a Problem; the others are still read.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pgrender.errors import Problem, SpecError
from pgrender.frozen import field, frozen
from pgrender.patterns import Pattern

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 4 * 1024 * 1024
# A spec nests about 8 levels (spec.instances[0].scheduling.affinity...); 64 leaves room for any
# hand-written YAML and keeps every walk over the data (pydantic, json, copies) far from Python's
# recursion limit.
MAX_DEPTH = 64
# Per document, aliases expanded: a spec has hundreds of nodes, a large one a few thousand.
MAX_NODES = 200_000
# Per file, the nodes that aliases add. Counted before an alias is copied, so a "billion laughs"
# stops when the next copy would cross it, having copied less than this.
MAX_ALIAS_NODES = 100_000
# Messages quote at most this many characters of a value, key or tag.
MAX_SHOWN = 80
STDIN = "-"  # as a file name: standard input
# Runs of bytes that are not UTF-8, and characters YAML does not allow, reported one by one up to
# this many of each per file.
MAX_BAD_SHOWN = 10

_CORE = "tag:yaml.org,2002:"
_STR = _CORE + "str"
_NULL = _CORE + "null"
_BOOL = _CORE + "bool"
_INT = _CORE + "int"
_FLOAT = _CORE + "float"
_TIMESTAMP = _CORE + "timestamp"
_MERGE = _CORE + "merge"
_MAP = _CORE + "map"
_SEQ = _CORE + "seq"
_TAG_EXPECTS = {
    _STR: "a string",
    _NULL: "null",
    _BOOL: "true or false",
    _INT: "a whole number",
    _FLOAT: "a number",
    _TIMESTAMP: "a date or a timestamp such as 2026-01-01T00:00:00Z",
}
_SUPPORTED_TAGS = "!!str, !!int, !!float, !!bool, !!null, !!timestamp, !!map and !!seq"
# What YAML (and libyaml's reader) refuses to read: C0 and C1 controls other than tab, line
# feed, carriage return and NEL; surrogates; U+FFFE and U+FFFF.
# The class takes 0.4 ms to compile, and most specs are ASCII: its ASCII part checks them.
_UNPRINTABLE = Pattern("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_UNPRINTABLE_ASCII = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A line starting a document: where reading can go on after a document that cannot be parsed.
_DOCUMENT_START = Pattern(r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)
# Bytes that are not UTF-8, as Python's surrogateescape handler decodes them.
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _undecodable(found: str) -> str:
    return f"not UTF-8 text: byte 0x{ord(found[0]) - 0xDC00:02X} cannot be decoded (save the file as UTF-8)"


def _unprintable(found: str) -> str:
    char = ord(found)
    kind = "surrogate" if 0xD800 <= char <= 0xDFFF else "control character"
    return f"invalid YAML: {kind} U+{char:04X} is not allowed in YAML text (write it as an escape)"


@frozen
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


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut: messages stay one line
    long whatever a spec holds."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_path(path: Path_) -> str:
    """Spell a field path as YAML users read it: ``spec.instances[0].dataVolume.size``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = shorten(part)
            out += f".{part}" if out else part
    return shorten(out, 2 * MAX_SHOWN)


def load_file(path: str | Path) -> list[Document]:
    """Return the non-empty documents of one spec file; raise SpecError for unreadable YAML."""
    return list(iter_file(path))


def load_text(text: str, name: str) -> list[Document]:
    """Parse YAML text holding one or more documents (YAML 1.2: `yes` and `on` are strings)."""
    return list(iter_text(text, name))


def iter_file(path: str | Path) -> Iterator[Document]:
    """Yield the documents of one spec file that can be read; at the end, raise SpecError with
    every problem found."""
    problems: list[Problem] = []
    yield from _file_documents(path, problems)
    if problems:
        raise SpecError(problems)


def iter_text(text: str, name: str) -> Iterator[Document]:
    """Yield the documents of YAML text that can be read; at the end, raise SpecError with every
    problem found."""
    problems: list[Problem] = []
    yield from _Reader(name, problems).documents(text)
    if problems:
        raise SpecError(problems)


def iter_documents(paths: list[str], problems: list[Problem], read: dict[str, str] | None = None) -> Iterator[Document]:
    """Yield the documents of every file as they are parsed. What cannot be read is appended to
    ``problems`` and loading goes on with the next document. ``read`` gets the SHA-256 (hex) of the
    bytes of each file read, by its name: what a record names (commands._record_inputs)."""
    for path in paths:
        yield from _file_documents(path, problems, read)


def _file_documents(
    path: str | Path, problems: list[Problem], read: dict[str, str] | None = None
) -> Iterator[Document]:
    """The documents of one file; "-" is standard input. (Not a generator itself: the file's bytes
    are held by _bytes_documents alone, which lets them go once they are decoded.)"""
    raw = _read(path, problems)
    if raw is None:
        return iter(())
    if read is not None:
        import hashlib

        read[str(path)] = hashlib.sha256(raw).hexdigest()
    return _bytes_documents(raw, str(path), problems)


def file_bytes(path: str | Path) -> bytes:
    """The bytes of one file ("-": standard input); SpecError, as loading it would say, when they
    cannot be read. For a file read once and also digested: pgrender.yaml (config.load_config)."""
    problems: list[Problem] = []
    raw = _read(path, problems)
    if raw is None:
        raise SpecError(problems)
    return raw


def _read(path: str | Path, problems: list[Problem]) -> bytes | None:
    """The file's bytes, one more than MAX_FILE_BYTES at most (then _bytes_documents says it is
    too large): a device or a pipe that never ends (/dev/zero) is not read into memory whole."""
    name = str(path)
    try:
        if name == STDIN:
            return sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        with open(path, "rb") as file:
            return file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        problems.append(Problem(name, 0, 0, "", "file not found"))
    except IsADirectoryError:
        problems.append(Problem(name, 0, 0, "", "is a directory, expected a YAML file"))
    except OSError as exc:
        what = "standard input" if name == STDIN else "file"
        problems.append(Problem(name, 0, 0, "", f"cannot read {what}: {exc.strerror}"))
    return None


def load_bytes(raw: bytes, name: str) -> list[Document]:
    """The documents of a file's bytes (UTF-8 YAML, as rendered output is); SpecError with every
    problem found."""
    problems: list[Problem] = []
    documents = list(_bytes_documents(raw, name, problems))
    if problems:
        raise SpecError(problems)
    return documents


def _bytes_documents(raw: bytes, name: str, problems: list[Problem]) -> Iterator[Document]:
    if len(raw) > MAX_FILE_BYTES:
        problems.append(Problem(name, 0, 0, "", f"file is larger than {MAX_FILE_BYTES} bytes"))
        return
    reader = _Reader(name, problems)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if b"\0" in raw:  # binary, or UTF-16: one problem says it all
            before = raw[: exc.start].decode("utf-8")
            line, column = _line_column(before, len(before))
            message = f"not UTF-8 text: byte 0x{raw[exc.start]:02X} cannot be decoded (a binary file?)"
            problems.append(Problem(name, line, column, "", message))
            return
        text = reader.undecodable(raw)
    del raw  # a large file is held as text from here (and by the parser), not twice more
    yield from reader.documents(text)


class _Refused(Exception):
    """A document cannot be used: the builder drops it and reads on."""

    def __init__(self, line: int, column: int, path: Path_, message: str, stop: bool = False) -> None:
        super().__init__(message)
        self.where = (line, column, path, message)
        self.stop = stop  # parsing the rest of the document would cost too much: skip to the next


class _Stopped(Exception):
    """The parser cannot go on in this document; reading resumes at ``offset`` or later."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class _Anchor:
    """An anchored node: its value once complete, where it is, and what copying it costs."""

    __slots__ = ("height", "mark", "nodes", "path", "value")

    def __init__(self, path: Path_, mark: tuple[int, int]) -> None:
        self.path = path
        self.mark = mark
        self.value: Any = _OPEN
        self.nodes = 1
        self.height = 0


class _Open:
    """A mapping or sequence whose end event has not come yet."""

    __slots__ = ("anchor", "container", "height", "is_mapping", "key", "nodes_before", "path")

    def __init__(self, container: Any, path: Path_, anchor: _Anchor | None, nodes: int) -> None:
        self.container = container  # a dict or a list
        self.is_mapping = type(container) is dict
        self.path = path
        self.anchor = anchor
        self.nodes_before = nodes
        self.height = 1
        self.key: str | None = None  # a mapping's key while its value is read


_OPEN = object()  # an anchor whose node has not ended yet: an alias to it would be a cycle


class _Reader:
    """Reads the documents of one file, appending what cannot be read to ``problems``."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.name = name
        self.problems = problems
        self.alias_nodes = 0
        self.problems_before = len(problems)
        self.bad_lines: list[int] = []  # lines holding what the parser cannot be given, in order

    def undecodable(self, raw: bytes) -> str:
        """``raw`` decoded, with U+FFFD where it is not UTF-8; each place is a problem."""
        text = raw.decode("utf-8", "surrogateescape")
        return self.replace(text, _ESCAPED_BYTES, _undecodable, "not UTF-8 text: {} more places cannot be decoded")

    def replace(self, text: str, pattern: re.Pattern[str] | Pattern, describe: Callable[[str], str], more: str) -> str:
        """Record each match of ``pattern`` as a problem and return ``text`` with U+FFFD in their
        places, for the parser to read on; the documents that held them are dropped. Done before
        parsing, as libyaml's reader checks characters well ahead of the document it parses."""
        line, line_start, offset = 1, 0, 0
        count = 0
        for count, match in enumerate(pattern.finditer(text), start=1):
            newlines = text.count("\n", offset, match.start())
            if newlines:
                line += newlines
                line_start = text.rfind("\n", offset, match.start()) + 1
            offset = match.start()
            self.bad_lines.append(line)
            if count <= MAX_BAD_SHOWN:
                column = offset - line_start + 1
                self.problems.append(Problem(self.name, line, column, "", describe(match.group())))
        if count > MAX_BAD_SHOWN:
            self.problems.append(Problem(self.name, 0, 0, "", more.format(count - MAX_BAD_SHOWN)))
        self.bad_lines.sort()
        return pattern.sub("\ufffd", text) if count else text

    def problem(self, line: int, column: int, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.name, line, column, format_path(path), message))

    def documents(self, text: str) -> Iterator[Document]:
        """Yield the readable documents of ``text``. After a document the parser cannot read, or
        one too deep to parse further, read on from the next line that starts a document (``---``
        at the start of a line always does, even inside a quoted or block scalar)."""
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        unprintable = _UNPRINTABLE_ASCII if text.isascii() else _UNPRINTABLE
        text = self.replace(text, unprintable, _unprintable, "invalid YAML: {} more characters YAML does not allow")
        found = False
        index = start = line_offset = 0
        while True:
            builder = _Builder(self, index, start, line_offset)
            try:
                for doc in builder.run(_TextStream(text, start)):
                    found = True
                    yield doc
                break
            except MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                if mark is None:
                    self.problem(0, 0, (), _yaml_message(exc))
                    break
                self.problem(*builder.at(mark), (), _yaml_message(exc))
                failed_at = start + mark.index
            except YAMLError as exc:  # the reader's, without a mark; replace() should have left none
                self.problem(0, 0, (), shorten(f"invalid YAML: {exc}".splitlines()[0], 2 * MAX_SHOWN))
                break
            except _Stopped as exc:
                failed_at = exc.offset
            # Past the failure, and past the start of the document that failed.
            resume = _DOCUMENT_START.search(text, max(failed_at, builder.document_start + 1, start + 1))
            if resume is None:
                break
            line_offset += text.count("\n", start, resume.start())
            start = resume.start()
            index = builder.index + 1
        if not found and len(self.problems) == self.problems_before:
            self.problems.append(Problem(self.name, 0, 0, "", "no YAML document found"))


class _TextStream:
    """``text`` from ``start`` on, handed to the parser a piece at a time. Given the string itself,
    the parser holds a UTF-8 copy of it whole (a 4 MiB file of specs is held twice more); io.StringIO
    holds four bytes a character; a slice, at each resumption after a bad document, copies the rest
    of the file."""

    __slots__ = ("_at", "_text")

    def __init__(self, text: str, start: int) -> None:
        self._text = text
        self._at = start

    def read(self, size: int = -1) -> str:
        start = self._at
        self._at = len(self._text) if size < 0 else min(start + size, len(self._text))
        return self._text[start : self._at]


def _events(source: _TextStream) -> Iterator[Any]:
    """The parse events of ``source``, from libyaml's parser (ruamel.yaml.clib) by itself. ruamel's
    YAML(typ="safe").parse makes a class around that parser for each call, which holds itself and
    the parser in reference cycles: the parser's buffers of each file read waited for the cyclic
    collector, and a render of a fleet kept one spec a file grew by about 70 KB a file (1000 files:
    107 MB RSS, against 39 MB for the same specs in one file). The events are the same (every YAML
    file of the repository and the tests, compared)."""
    try:
        from _ruamel_yaml import CParser
    except ImportError:  # no ruamel.yaml.clib (not CPython): ruamel's parser written in Python
        from ruamel.yaml import YAML

        yield from YAML(typ="safe").parse(source)
        return
    parser = CParser(source)
    try:
        while parser.check_event():
            yield parser.get_event()
    finally:
        parser.dispose()


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


class _Builder:
    """Builds plain data from one parse's events, one document at a time."""

    def __init__(self, reader: _Reader, index: int, start: int, line_offset: int) -> None:
        self.reader = reader
        self.index = index  # of the document being read
        self.start = start  # where in the text the parser started
        self.line_offset = line_offset  # lines before ``start``
        self.document_start = start  # where the document being read began
        self.document_line = line_offset + 1
        self.constructors = _constructors()
        self.resolvers = _implicit_resolvers()

    def at(self, mark: Any) -> tuple[int, int]:
        return (mark.line + 1 + self.line_offset, mark.column + 1)

    def run(self, source: _TextStream) -> Iterator[Document]:
        """Yield the documents that can be used; record a problem for each that cannot."""
        from ruamel.yaml.events import (
            AliasEvent,
            DocumentEndEvent,
            DocumentStartEvent,
            MappingEndEvent,
            MappingStartEvent,
            ScalarEvent,
            SequenceEndEvent,
            SequenceStartEvent,
        )

        reader = self.reader
        at = self.at
        stack: list[_Open] = []
        positions: dict[Path_, tuple[int, int]] = {}
        anchors: dict[str, _Anchor] = {}
        root: Any = _OPEN
        empty = False  # nothing between two `---` (a `null` or `~` written out is a document)
        refused = False
        nodes = 0
        for event in _events(source):
            kind = type(event)
            try:
                if refused and kind is not DocumentEndEvent and kind is not DocumentStartEvent:
                    continue
                if kind is ScalarEvent or kind is AliasEvent:
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise self.too_many(event)
                    top = stack[-1] if stack else None
                    if top is not None and top.is_mapping and top.key is None:
                        top.key = self.key(event, top, anchors, positions)
                        continue
                    if kind is AliasEvent:
                        path = self.child_path(top, at(event.start_mark), positions, anchors.get(event.anchor))
                        value, added, height = self.expand(event, path, len(stack), anchors, positions)
                        nodes += added
                        if top is not None and top.height <= height:
                            top.height = height + 1
                    else:
                        mark = at(event.start_mark)
                        path = self.child_path(top, mark, positions, None)
                        value = self.scalar(event, mark, path)
                        if event.anchor is not None:
                            self.anchor(event.anchor, path, mark, anchors).value = value
                    if top is None:
                        root = value
                        empty = value is None and kind is ScalarEvent and not event.value
                    elif top.key is not None:
                        top.container[top.key] = value
                        top.key = None
                    else:
                        top.container.append(value)
                elif kind is MappingStartEvent or kind is SequenceStartEvent:
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise self.too_many(event)
                    mark = at(event.start_mark)
                    top = stack[-1] if stack else None
                    if top is not None and top.is_mapping and top.key is None:
                        raise _Refused(*mark, top.path, "keys must be scalars")
                    if len(stack) >= MAX_DEPTH:
                        # libyaml's scanner slows down with every open flow collection: parsing
                        # the rest of such a document could take minutes, so stop here.
                        message = f"nested deeper than {MAX_DEPTH} levels (a spec needs about 10)"
                        raise _Refused(*mark, top.path if top else (), message, stop=True)
                    path = self.child_path(top, mark, positions, None)
                    container: Any
                    if kind is MappingStartEvent:
                        self.check_tag(event, mark, path, _MAP, "a mapping")
                        container = {}
                    else:
                        self.check_tag(event, mark, path, _SEQ, "a list")
                        container = []
                    anchor = None if event.anchor is None else self.anchor(event.anchor, path, mark, anchors)
                    if top is None:
                        root = container
                    elif top.key is not None:
                        top.container[top.key] = container
                        top.key = None
                    else:
                        top.container.append(container)
                    stack.append(_Open(container, path, anchor, nodes))
                elif kind is MappingEndEvent or kind is SequenceEndEvent:
                    done = stack.pop()
                    if stack and stack[-1].height <= done.height:
                        stack[-1].height = done.height + 1
                    if done.anchor is not None:
                        done.anchor.value = done.container
                        done.anchor.nodes = nodes - done.nodes_before + 1
                        done.anchor.height = done.height
                elif kind is DocumentStartEvent:
                    stack, positions, anchors, root, empty, refused, nodes = [], {}, {}, _OPEN, False, False, 0
                    self.document_start = self.start + event.start_mark.index
                    self.document_line = at(event.start_mark)[0]
                elif kind is DocumentEndEvent:
                    if not refused and root is not _OPEN and not empty and not self.undecodable(event):
                        yield Document(reader.name, self.index, root, positions)
                    self.index += 1
            except _Refused as exc:
                reader.problem(*exc.where)
                refused = True
                if exc.stop:
                    raise _Stopped(self.start + event.start_mark.index) from None

    def undecodable(self, end: Any) -> bool:
        """Whether the document ending at ``end`` held bytes that were not UTF-8."""
        bad_lines = self.reader.bad_lines
        i = bisect.bisect_left(bad_lines, self.document_line)
        return i < len(bad_lines) and bad_lines[i] <= self.at(end.end_mark)[0]

    def too_many(self, event: Any) -> _Refused:
        message = f"document has more than {MAX_NODES} nodes, aliases expanded"
        return _Refused(*self.at(event.start_mark), (), message)

    def child_path(
        self, top: _Open | None, mark: tuple[int, int], positions: dict[Path_, tuple[int, int]], alias: Any
    ) -> Path_:
        """The path of the node starting at ``mark``, its position recorded (an alias's is that of
        its anchored node, as for the fields inside it)."""
        if top is None:
            path: Path_ = ()
        elif top.key is not None:
            return (*top.path, top.key)  # recorded at the key
        else:
            path = (*top.path, len(top.container))
        positions[path] = alias.mark if isinstance(alias, _Anchor) else mark
        return path

    def key(self, event: Any, top: _Open, anchors: dict[str, _Anchor], positions: dict[Path_, Any]) -> str:
        from ruamel.yaml.events import AliasEvent

        mark = self.at(event.start_mark)
        if type(event) is AliasEvent:
            anchor = anchors.get(event.anchor)
            if anchor is None or anchor.value is _OPEN:
                raise self.bad_alias(event, top.path, anchor)
            if isinstance(anchor.value, dict | list):
                raise _Refused(*mark, top.path, "keys must be scalars")
            key = str(anchor.value)
            mark = anchor.mark
        else:
            value = self.scalar(event, mark, top.path, is_key=True)
            key = str(value)
            if event.anchor is not None:
                self.anchor(event.anchor, top.path, mark, anchors).value = value
        path = (*top.path, key)
        if key in top.container:
            raise _Refused(*mark, path, "duplicate key: each key may appear once per mapping")
        positions[path] = mark
        return key

    def scalar(self, event: Any, mark: tuple[int, int], path: Path_, is_key: bool = False) -> Any:
        value: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            if not event.implicit[0]:
                return value  # quoted, or a block scalar
            if len(value) < 19 and value.isascii() and value.isdigit():
                return int(value)  # the most common number, without building a node for ruamel
            tag = _resolve(self.resolvers, value)
            if tag == _STR:
                return value
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return value[0] in "tT"
            if tag == _MERGE and is_key:
                raise _Refused(*mark, path, "merge keys (<<) are not supported; write the fields out")
            construct = self.constructors.get(tag)
            if construct is None:
                return value  # `<<` as a value, `=`: strings in YAML 1.2's core schema
            try:
                return construct(value)
            except Exception:
                # ruamel's patterns are looser than YAML 1.2's (`0x_`, `._`, `2001-13-45`): to the
                # core schema such a plain scalar is a string, and the field's type says more.
                return value
        construct = self.constructors.get(tag)
        if construct is None:
            raise self.bad_tag(tag, mark, path, "a scalar")
        try:
            return construct(value)
        except Exception:
            message = f"the value does not fit its tag {_short_tag(tag)}: expected {_TAG_EXPECTS[tag]}"
            raise _Refused(*mark, path, message) from None

    def check_tag(self, event: Any, mark: tuple[int, int], path: Path_, expected: str, what: str) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != expected:
            raise self.bad_tag(tag, mark, path, what)

    @staticmethod
    def bad_tag(tag: str, mark: tuple[int, int], path: Path_, what: str) -> _Refused:
        # YAML's own tags are named; a local tag is not repeated, as the file may be a Secret.
        named = f"tag {_short_tag(tag)}" if tag.startswith("tag:yaml.org,2002:") else "a local tag"
        message = f"{named} on {what} is not supported; a spec may use {_SUPPORTED_TAGS}"
        return _Refused(*mark, path, message)

    def anchor(self, name: str, path: Path_, mark: tuple[int, int], anchors: dict[str, _Anchor]) -> _Anchor:
        first = anchors.get(name)
        if first is not None:
            line, column = first.mark
            # Anchor and alias names are not repeated, as tags are not: the file may be a Secret (lint).
            message = f"duplicate anchor: first defined at line {line}, column {column}"
            raise _Refused(*mark, path, message)
        anchor = anchors[name] = _Anchor(path, mark)
        return anchor

    def bad_alias(self, event: Any, path: Path_, anchor: _Anchor | None) -> _Refused:
        if anchor is None:
            message = "invalid YAML: an alias (*) names no anchor (&) defined before it"
        else:
            message = "an alias (*) refers to a node that contains it (a recursive structure cannot be a spec)"
        return _Refused(*self.at(event.start_mark), path, message)

    def expand(
        self, event: Any, path: Path_, depth: int, anchors: dict[str, _Anchor], positions: dict[Path_, Any]
    ) -> tuple[Any, int, int]:
        """A copy of the anchored value (the data stays a tree), its node count and its height.
        Both limits are checked before anything is copied."""
        anchor = anchors.get(event.anchor)
        if anchor is None or anchor.value is _OPEN:
            raise self.bad_alias(event, path, anchor)
        value = anchor.value
        if not isinstance(value, dict | list):
            return value, 0, 0
        mark = self.at(event.start_mark)
        if depth + anchor.height > MAX_DEPTH:
            message = f"this alias (*) nests the document deeper than {MAX_DEPTH} levels"
            raise _Refused(*mark, path, message)
        added = anchor.nodes - 1
        self.reader.alias_nodes += added
        if self.reader.alias_nodes > MAX_ALIAS_NODES:
            message = (
                f"aliases expand to more than {MAX_ALIAS_NODES} nodes in this file "
                f"(this alias holds {anchor.nodes}; an alias bomb?)"
            )
            raise _Refused(*mark, path, message)
        return _copy(value, anchor.path, path, positions), added, anchor.height


def _copy(value: Any, source: Path_, target: Path_, positions: dict[Path_, tuple[int, int]]) -> Any:
    """Copy ``value``, giving each field under ``target`` the position of its twin under ``source``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            src, dst = (*source, key), (*target, key)
            positions[dst] = positions[src]
            out[key] = _copy(item, src, dst, positions)
        return out
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            src, dst = (*source, i), (*target, i)
            positions[dst] = positions[src]
            items.append(_copy(item, src, dst, positions))
        return items
    return value


def _resolve(resolvers: dict[str, list[tuple[str, Any]]], value: str) -> str:
    """The tag of a plain scalar, by YAML 1.2's core schema (with ruamel's timestamps)."""
    for tag, regexp in resolvers.get(value[:1], ()):
        if regexp.match(value):
            return tag
    return _STR


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


@functools.cache
def _implicit_resolvers() -> dict[str, list[tuple[str, Any]]]:
    """YAML 1.2 implicit types by first character, from ruamel's table. The version is fixed,
    whatever a %YAML directive says (libyaml's parser never told ruamel of one either)."""
    from ruamel.yaml.resolver import implicit_resolvers

    table: dict[str, list[tuple[str, Any]]] = {}
    anywhere: list[tuple[str, Any]] = []
    for versions, tag, regexp, first in implicit_resolvers:
        if (1, 2) not in versions:
            continue
        if first is None:
            anywhere.append((tag, regexp))
        for char in first or ():
            table.setdefault(char, []).append((tag, regexp))
    return {char: [*entries, *anywhere] for char, entries in table.items()}


@functools.cache
def _constructors() -> dict[str, Callable[[str], Any]]:
    """Plain values for the core tags, built by ruamel's SafeConstructor."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import ScalarNode

    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _yaml12_resolver()
    constructor = yaml.constructor

    def using(method: Callable[[Any], Any], tag: str) -> Callable[[str], Any]:
        return lambda value: _scalar(method(ScalarNode(tag, value)))

    return {
        _STR: str,
        _NULL: using(constructor.construct_yaml_null, _NULL),
        _BOOL: using(constructor.construct_yaml_bool, _BOOL),
        _INT: using(constructor.construct_yaml_int, _INT),
        _FLOAT: using(constructor.construct_yaml_float, _FLOAT),
        _TIMESTAMP: using(constructor.construct_yaml_timestamp, _TIMESTAMP),
    }


@functools.cache
def _yaml12_resolver() -> type:
    """ruamel's resolver fixed to YAML 1.2, which its int and float constructors ask about."""
    from ruamel.yaml.resolver import VersionedResolver

    class Yaml12Resolver(VersionedResolver):
        @property
        def processing_version(self) -> tuple[int, int]:
            return (1, 2)

    return Yaml12Resolver


def _yaml_message(exc: Any) -> str:
    problem = shorten((exc.problem or "invalid YAML").strip(), 2 * MAX_SHOWN)
    context = shorten((exc.context or "").strip(), 2 * MAX_SHOWN)
    return f"invalid YAML: {context + ', ' if context else ''}{problem}"


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
    return value
