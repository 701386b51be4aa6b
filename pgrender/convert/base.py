"""The machinery every converter shares: reading an operator's document field by field, building the
pgrender spec with the source of every value, the notes, and the loop that holds the result to
pgrender's own checks.

Nothing is dropped silently, by construction:

* a converter ``take``s each field it carries (or ``left_out``/``changed``/``ignored`` notes it);
* once it is done, ``Source.sweep`` notes every field of the document nobody took: with the reason
  the converter's table gives for it, or as having no pgrender equivalent;
* the spec is then checked as ``pgrender validate`` checks it; a value pgrender refuses is traced back
  to the field it came from, which is left out with pgrender's own message, and the document is
  converted again without it, until the spec is valid. A check of a whole mapping that names values
  in it (maxClientConnections below defaultPoolSize) leaves out one of those, not the mapping. A
  field refused only once a part of it was left out (a repository without the store pgrender
  refused) is noted with that first refusal, the real cause, then its own. What cannot be traced
  back (a required field) is a problem with the input: exit 2, nothing written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pgrender.errors import Problem, SpecError
from pgrender.frozen import frozen
from pgrender.load import Document, format_path

Path_ = tuple[str | int, ...]
Key = tuple[str, int, Path_]  # an input field: file, document index, path
ANY = "*"  # in a reason's pattern: any key or list index

# Rounds of "convert, check, leave out what pgrender refuses": each round leaves out at least one
# field, and a refused field rarely makes another one refused.
MAX_ROUNDS = 20


# The reason of the fields that name an operator's own certificates (PGO's customTLSSecret and
# customReplicationTLSSecret, Zalando's tls): one Secret does not make pgrender's provider existing.
OWN_TLS = (
    "your certificates: spec.tls.provider existing takes your Secrets, and needs more than this one (a "
    "replication, superuser and pgBackRest certificate, and caCertificate): set spec.tls yourself (README, "
    "'TLS providers'); until then pgrender makes the certificates"
)


class NoteKind(StrEnum):
    LEFT_OUT = "left out"  # not in the converted spec
    CHANGED = "changed"  # in it, but not as it was written
    IGNORED = "ignored"  # not the user's intent (written by the operator or the API server), or another kind


@dataclass(frozen=True, order=True)
class Note:
    """What happened to one field of the input, at its position."""

    file: str
    line: int
    column: int
    path: str
    kind: NoteKind
    message: str

    @property
    def counts(self) -> bool:
        """Whether it means the spec differs from the input (exit 1): left out or changed."""
        return self.kind is not NoteKind.IGNORED

    def as_problem(self) -> Problem:
        return Problem(self.file, self.line, self.column, self.path, f"{self.kind}: {self.message}")

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "kind": str(self.kind),
            "message": self.message,
        }


@frozen
class Reason:
    """Why the fields at ``pattern`` are not carried (``*`` matches any key or index)."""

    pattern: Path_
    kind: NoteKind
    message: str

    def matches(self, path: Path_) -> bool:
        return len(path) == len(self.pattern) and all(p in (ANY, q) for p, q in zip(self.pattern, path, strict=True))

    def below(self, path: Path_) -> bool:
        """Whether the pattern names a field inside ``path`` (so the sweep looks closer)."""
        return len(self.pattern) > len(path) and all(p in (ANY, q) for p, q in zip(self.pattern, path, strict=False))


def left_out(*pattern: str | int, why: str) -> Reason:
    return Reason(pattern, NoteKind.LEFT_OUT, why)


def ignored(*pattern: str | int, why: str) -> Reason:
    return Reason(pattern, NoteKind.IGNORED, why)


# Fields of every Kubernetes object that its author did not write.
RUNTIME_REASONS = (
    *(
        ignored("metadata", key, why="written by the API server")
        for key in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")
    ),
    ignored("metadata", "deletionTimestamp", why="written by the API server"),
    ignored("metadata", "deletionGracePeriodSeconds", why="written by the API server"),
    ignored("metadata", "finalizers", why="written by the operator"),
    ignored("metadata", "ownerReferences", why="written by whoever owns the object"),
    ignored("status", why="written by the operator"),
    left_out(
        "metadata",
        "labels",
        why="labels of the custom resource itself: a pgrender spec is not applied to the cluster; "
        "metadata.labels puts labels on every object pgrender writes",
    ),
    left_out(
        "metadata",
        "annotations",
        why="annotations of the custom resource itself: a pgrender spec is not applied to the cluster; "
        "metadata.annotations puts annotations on every object pgrender writes",
    ),
    left_out("metadata", "generateName", why="pgrender needs metadata.name: names are decided when rendering"),
)
GENERIC_REASON = "no pgrender equivalent"


class Source:
    """One input document, read field by field; what is not taken is noted by ``sweep``."""

    def __init__(self, doc: Document, reasons: tuple[Reason, ...]) -> None:
        self.doc = doc
        self.reasons = (*RUNTIME_REASONS, *reasons)
        self.consumed: set[Path_] = set()
        self.notes: list[Note] = []
        self.problems: list[Problem] = []

    @property
    def file(self) -> str:
        return self.doc.file

    # Reading ---------------------------------------------------------------------------------

    def get(self, path: Path_) -> Any:
        """The value at ``path`` (None when absent), without taking it."""
        here = self.doc.data
        for part in path:
            if isinstance(here, dict) and isinstance(part, str):
                here = here.get(part)
            elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
                here = here[part]
            else:
                return None
        return here

    def has(self, path: Path_) -> bool:
        return self.get(path) is not None

    def take(self, path: Path_) -> Any:
        """The value at ``path``, which the converter carries (so the sweep says nothing of it)."""
        value = self.get(path)
        if value is not None:
            self.consumed.add(path)
        return value

    def items(self, path: Path_) -> Iterator[tuple[str, Path_, Any]]:
        """(key, path, value) of a mapping, taking nothing; a value that is not a mapping is a problem."""
        value = self.get(path)
        if value is None:
            return
        if not isinstance(value, dict):
            self.expected(path, "a mapping")
            return
        for key, item in value.items():
            yield key, (*path, key), item

    def elements(self, path: Path_) -> Iterator[tuple[int, Path_, Any]]:
        """(index, path, value) of a list, taking nothing."""
        value = self.get(path)
        if value is None:
            return
        if not isinstance(value, list):
            self.expected(path, "a list")
            return
        for i, item in enumerate(value):
            yield i, (*path, i), item

    def take_str(self, path: Path_) -> str | None:
        value = self.take(path)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.expected(path, "a string")
            return None
        return str(value)  # a number where a string is expected: YAML's doing, as the operator reads it

    def take_int(self, path: Path_) -> int | None:
        value = self.take(path)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        self.expected(path, "a whole number")
        return None

    def take_bool(self, path: Path_) -> bool | None:
        value = self.take(path)
        if value is None or isinstance(value, bool):
            return value
        self.expected(path, "true or false")
        return None

    def take_map(self, path: Path_) -> dict[str, Any] | None:
        value = self.take(path)
        if value is None or isinstance(value, dict):
            return value
        self.expected(path, "a mapping")
        return None

    def take_list(self, path: Path_) -> list[Any] | None:
        value = self.take(path)
        if value is None or isinstance(value, list):
            return value
        self.expected(path, "a list")
        return None

    # Notes and problems -----------------------------------------------------------------------

    def note(self, path: Path_, kind: NoteKind, message: str) -> None:
        """A note on ``path``; left out or ignored, the field is dealt with (a changed one was taken)."""
        if kind is not NoteKind.CHANGED:
            self.consumed.add(path)
        line, column = self.doc.position(path)
        self.notes.append(Note(self.file, line, column, format_path(path), kind, message))

    def left_out(self, path: Path_, message: str) -> None:
        self.note(path, NoteKind.LEFT_OUT, message)

    def changed(self, path: Path_, message: str) -> None:
        self.note(path, NoteKind.CHANGED, message)

    def ignored(self, path: Path_, message: str) -> None:
        self.note(path, NoteKind.IGNORED, message)

    def at(self, path: Path_) -> Ref:
        """The field at ``path``, as the source of a value of the spec."""
        return Ref(self, path)

    def problem(self, path: Path_, message: str) -> None:
        line, column = self.doc.position(path)
        self.problems.append(Problem(self.file, line, column, format_path(path), message))

    def expected(self, path: Path_, what: str) -> None:
        self.problem(path, f"expected {what}, found {_kind(self.get(path))}")

    def sweep(self) -> None:
        """Note every field nobody took: with the reason the tables give, or as having no equivalent."""
        touched: set[Path_] = set()
        for path in self.consumed:
            for end in range(len(path) + 1):
                touched.add(path[:end])
        self._sweep((), self.doc.data, touched)

    def _sweep(self, path: Path_, value: Any, touched: set[Path_]) -> None:
        if any(path[:end] in self.consumed for end in range(len(path) + 1)):
            return
        children: list[tuple[Path_, Any]] = []
        if isinstance(value, dict):
            children = [((*path, k), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [((*path, i), v) for i, v in enumerate(value)]
        if path in touched or (children and any(r.below(path) for r in self.reasons)):
            for child, item in children:
                self._sweep(child, item, touched)
            return
        if value is None or value == {} or value == []:
            return  # an empty field asks for nothing
        # The field's own reason, else its nearest parent's: a mapping some of whose keys were taken
        # (metadata.annotations, one of which a converter reads) leaves the rest for the parent's reason.
        reason = next((r for end in range(len(path), 0, -1) for r in self.reasons if r.matches(path[:end])), None)
        if reason is None:
            self.left_out(path, GENERIC_REASON)
        else:
            self.note(path, reason.kind, reason.message)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return "null"


@frozen
class Ref:
    """An input field a value of the spec comes from."""

    source: Source
    path: Path_

    @property
    def key(self) -> Key:
        return (self.source.file, self.source.doc.index, self.path)


@dataclass
class Output:
    """The pgrender spec being built, with the input field each value comes from.

    ``dropped`` holds input fields pgrender refused in an earlier round (with the note's message): a
    value from one of them is not set, and the field is noted as left out instead.
    """

    dropped: dict[Key, str]
    data: dict[str, Any] = field(default_factory=dict)
    units: dict[Path_, Ref | None] = field(default_factory=dict)
    _noted: set[Key] = field(default_factory=set)

    def refused(self, source: Ref | None) -> bool:
        """Whether values from ``source`` are left out (noting it once)."""
        if source is None or source.key not in self.dropped:
            return False
        if source.key not in self._noted:
            self._noted.add(source.key)
            source.source.left_out(source.path, self.dropped[source.key])
        return True

    def set(self, path: Path_, value: Any, source: Ref | None) -> bool:
        """Set ``path`` (its mappings made as needed) to ``value`` from ``source``; False when refused."""
        if self.refused(source):
            return False
        parent = self._container(path[:-1])
        parent[path[-1]] = value
        self.units[path] = source
        return True

    def append(self, path: Path_, value: Any, source: Ref | None) -> int | None:
        """Append ``value`` to the list at ``path``; its index, or None when refused."""
        if self.refused(source):
            return None
        parent = self._container(path[:-1])
        items = parent.setdefault(path[-1], [])
        items.append(value)
        index = len(items) - 1
        self.units[(*path, index)] = source
        return index

    def get(self, path: Path_) -> Any:
        here: Any = self.data
        for part in path:
            found = (isinstance(here, dict) and part in here) or (
                isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here)
            )
            if not found:
                return None
            here = here[part]
        return here

    def _container(self, path: Path_) -> Any:
        here: Any = self.data
        for part in path:
            here = here[part] if isinstance(here, list) and isinstance(part, int) else here.setdefault(part, {})
        return here

    def named(self, problem: Problem) -> list[tuple[Path_, Ref]]:
        """The input fields of values below the problem's own path that its message names, in the
        message's order: a check of a whole mapping (maxClientConnections below defaultPoolSize,
        requests.memory above limits.memory) is about those values, and leaving one of them out
        keeps the rest of the mapping."""
        index: dict[str, Path_] = {}
        _index(self.data, (), index)
        base = index.get(problem.path)
        if base is None:
            return []
        found: list[tuple[int, Path_, Ref]] = []
        for path, ref in self.units.items():
            if ref is None or not _inside(path, base):
                continue
            named = re.search(rf"(?<![\w.\[]){re.escape(format_path(path[len(base) :]))}(?!\w)", problem.message)
            if named:
                found.append((named.start(), path, ref))
        return [(path, ref) for _, path, ref in sorted(found, key=lambda item: item[0])]

    def unit(self, problem_path: str) -> tuple[Path_, Ref | None] | None:
        """The output unit (path, input field) a problem at ``problem_path`` belongs to."""
        index: dict[str, Path_] = {}
        _index(self.data, (), index)
        best: Path_ | None = None
        for text, path in index.items():
            if (problem_path == text or problem_path.startswith((text + ".", text + "["))) and (
                best is None or len(path) > len(best)
            ):
                best = path
        if best is None:
            return None
        for end in range(len(best), 0, -1):
            if best[:end] in self.units:
                return best[:end], self.units[best[:end]]
        return None


def _index(value: Any, path: Path_, out: dict[str, Path_]) -> None:
    if path:
        out[format_path(path)] = path
    if isinstance(value, dict):
        for key, item in value.items():
            _index(item, (*path, key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _index(item, (*path, i), out)


Check = Callable[[dict[str, Any]], tuple[Problem, ...]]
# The cluster's document and its companions (a CloudNativePG Pooler), read into the spec.
Build = Callable[[Source, list[Source], Output], None]
ReasonsFor = Callable[[Document], tuple[Reason, ...]]


@frozen
class Converted:
    """One converted cluster: the spec, and what happened to the input's fields."""

    spec: dict[str, Any]
    notes: tuple[Note, ...]
    doc: Document

    @property
    def ident(self) -> tuple[str, str]:
        meta = self.spec.get("metadata", {})
        return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def convert_checked(
    doc: Document, companions: list[Document], reasons: ReasonsFor, build: Build, check: Check
) -> Converted:
    """Run ``build`` until ``check`` finds nothing, leaving out each input field pgrender refuses."""
    refusals: dict[Key, _Refusal] = {}
    dropped: dict[Key, str] = {}  # the note of each field in refusals
    for _ in range(MAX_ROUNDS):
        source = Source(doc, reasons(doc))
        others = [Source(d, reasons(d)) for d in companions]
        out = Output(dropped)
        build(source, others, out)
        sources = [source, *others]
        problems_in_input = [p for s in sources for p in s.problems]
        if problems_in_input:
            raise SpecError(problems_in_input)
        for s in sources:
            s.sweep()
        problems = check(out.data)
        if not problems:
            return Converted(out.data, _settled_notes(sources), doc)
        stuck: list[Problem] = []
        progress = False
        for problem in problems:
            at, ref = out.unit(problem.path) or ((), None)
            # A value the problem names, rather than the whole mapping it is about.
            at, ref = next(((p, r) for p, r in out.named(problem) if r.key not in dropped), (at, ref))
            if ref is not None and ref.key not in dropped:
                reason = f"{problem.path}: {problem.message}" if problem.path else problem.message
                refusal = _Refusal(reason, at, _root(ref, at, refusals) or (ref.key, reason))
                refusals[ref.key] = refusal
                dropped[ref.key] = refusal.message(ref)
                progress = True
            else:
                stuck.append(problem)
        if not progress:  # what was left out on the way comes first: it is usually why the rest fails
            raise SpecError([*_left_out_on_the_way(sources, dropped), *(_unconvertible(source, out, p) for p in stuck)])
    line, column = doc.position(())
    raise SpecError([Problem(doc.file, line, column, "", "cannot convert: pgrender kept refusing the result")])


@frozen
class _Refusal:
    """Why an input field is left out: pgrender's ``reason`` for the value at ``at`` in the spec, and
    the field whose refusal led to it (``root``: its key and reason; this one's own when pgrender
    refused it first)."""

    reason: str
    at: Path_
    root: tuple[Key, str]

    def message(self, ref: Ref) -> str:
        """The note of the field: the refusal it follows from first, then its own."""
        key, reason = self.root
        if key == ref.key:
            return f"pgrender refuses it: {reason}"
        file, index, path = key
        if (file, index) == ref.key[:2] and _inside(path, ref.path):
            what = f"its {format_path(path[len(ref.path) :])}"
        else:
            where = "" if (file, index) == ref.key[:2] else f" ({file}, document {index + 1})"
            what = f"{format_path(path)}{where}"
        return f"pgrender refuses {what}: {reason} (and, without it, {self.reason})"


def _root(ref: Ref, at: Path_, refusals: dict[Key, _Refusal]) -> tuple[Key, str] | None:
    """The refusal a new one follows from: the first field left out inside the input field ``ref`` or
    the spec's value at ``at``. A later round's problem with a value that lost a part is about that
    part: a repository whose store was refused is then refused for having none."""
    for key, refusal in refusals.items():
        if (key[:2] == ref.key[:2] and _inside(key[2], ref.path)) or (at and _inside(refusal.at, at)):
            return refusal.root
    return None


def _inside(path: Path_, within: Path_) -> bool:
    """Whether ``path`` names a field strictly inside the one at ``within``."""
    return len(path) > len(within) and path[: len(within)] == within


def _settled_notes(sources: list[Source]) -> tuple[Note, ...]:
    """The notes of every source; a field left out in the end is not also noted as changed."""
    notes = {n for s in sources for n in s.notes}
    left = {(n.file, n.path) for n in notes if n.kind is NoteKind.LEFT_OUT}
    return tuple(sorted(n for n in notes if n.kind is not NoteKind.CHANGED or (n.file, n.path) not in left))


def _left_out_on_the_way(sources: list[Source], dropped: dict[Key, str]) -> list[Problem]:
    """The input fields an earlier round left out, each where it is, with what pgrender refused:
    numberOfInstances: 100 left out leaves a spec without instances, which says nothing of 100."""
    problems = []
    for (file, index, path), message in dropped.items():
        found = next((s for s in sources if s.file == file and s.doc.index == index), None)
        line, column = found.doc.position(path) if found is not None else (0, 0)
        problems.append(Problem(file, line, column, format_path(path), message))
    return problems


def _unconvertible(source: Source, out: Output, problem: Problem) -> Problem:
    """A problem pgrender finds in the converted spec that no input field can be left out for."""
    unit = out.unit(problem.path)
    ref = unit[1] if unit else None
    where = ref if ref is not None else Ref(source, ())
    line, column = where.source.doc.position(where.path)
    what = f"{problem.path}: {problem.message}" if problem.path else problem.message
    return Problem(where.source.file, line, column, format_path(where.path), f"the converted spec is not valid: {what}")
