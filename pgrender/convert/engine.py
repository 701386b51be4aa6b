"""A conversion from start to end: which documents are whose, each cluster converted and checked, the output."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pgrender.convert import CONVERTERS, Converter, Inputs, converter
from pgrender.convert.base import Converted, Note, NoteKind, Output, Source, convert_checked
from pgrender.errors import OutputError, Problem, SpecError
from pgrender.frozen import frozen
from pgrender.load import Document, format_path

API_VERSION = "pgrender.io/v1alpha1"
KIND = "PostgresCluster"


@frozen
class Result:
    clusters: tuple[Converted, ...]
    notes: tuple[Note, ...]  # of every document, sorted by file and position

    @property
    def exit_code(self) -> int:
        """1 when a field was left out or changed, else 0."""
        return 1 if any(n.counts for n in self.notes) else 0


def convert(documents: Iterable[Document], operator: str, namespace: str | None = None) -> Result:
    """Convert every custom resource of ``operator`` in ``documents``; SpecError for bad input."""
    conv = converter(operator)
    docs = list(documents)
    problems: list[Problem] = []
    notes: list[Note] = []
    clusters: list[Document] = []
    companions: list[Document] = []
    for doc in docs:
        kind = _classify(doc, conv, problems, notes)
        if kind == "cluster":
            clusters.append(doc)
        elif kind == "companion":
            companions.append(doc)
    if problems:
        raise SpecError(problems)
    if namespace:
        for doc in (*clusters, *companions):
            meta = doc.data.setdefault("metadata", {})
            if isinstance(meta, dict) and "namespace" not in meta:
                meta["namespace"] = namespace
    theirs = {id(d) for d in (*clusters, *companions)}
    inputs = Inputs(tuple(d for d in docs if id(d) in theirs))
    belongs: dict[int, list[Document]] = {id(d): [] for d in clusters}
    for doc in companions:
        owner = conv.companion_of(doc)
        cluster = inputs.find(conv.cluster_kind, *owner) if owner else None
        if cluster is None:
            who = f"{owner[1] + '/' if owner and owner[1] else ''}{owner[0] if owner else '?'}"
            notes.append(_note(doc, ("spec",), NoteKind.LEFT_OUT, _no_cluster(conv, doc, who)))
            continue
        belongs[id(cluster)].append(doc)
    converted: list[Converted] = []
    for doc in clusters:
        try:
            converted.append(
                convert_checked(
                    doc,
                    belongs[id(doc)],
                    conv.reasons,
                    lambda source, others, out: _build(conv, source, others, out, inputs),
                    check,
                )
            )
        except SpecError as exc:
            problems.extend(exc.problems)
    _duplicates(converted, problems)
    if problems:
        raise SpecError(problems)
    for c in converted:
        notes.extend(c.notes)
    return Result(tuple(converted), tuple(sorted(set(notes))))


def _build(conv: Converter, source: Source, others: list[Source], out: Output, inputs: Inputs) -> None:
    source.take(("apiVersion",))
    source.take(("kind",))
    out.set(("apiVersion",), API_VERSION, None)
    out.set(("kind",), KIND, None)
    conv.build(source, others, out, inputs)
    out.set(("spec", "naming"), conv.naming, None)
    for other in others:
        other.take(("apiVersion",))
        other.take(("kind",))
    _order(out.data)


def _no_cluster(conv: Converter, doc: Document, who: str) -> str:
    kind = doc.data.get("kind")
    return (
        f"its {conv.cluster_kind} {who} is not among the inputs: give both in one run to carry this {kind} "
        "into that cluster's spec"
    )


def _classify(doc: Document, conv: Converter, problems: list[Problem], notes: list[Note]) -> str | None:
    """'cluster', 'companion' or None (noted or a problem) for one input document."""
    data = doc.data
    if not isinstance(data, dict):
        problems.append(_problem(doc, (), f"expected a mapping (a {conv.cluster_kind} document), found {_what(data)}"))
        return None
    api_version, kind = data.get("apiVersion"), data.get("kind")
    for key, value in (("apiVersion", api_version), ("kind", kind)):
        if value is None:
            problems.append(_problem(doc, (key,), "required field is missing"))
        elif not isinstance(value, str):
            problems.append(_problem(doc, (key,), f"expected a string, found {_what(value)}"))
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    group, _, version = api_version.rpartition("/")
    if group != conv.group:
        other = _other_operator(group)
        if other is not None:
            problems.append(
                _problem(
                    doc,
                    ("apiVersion",),
                    f"{api_version} is {other.title}'s, not {conv.title}'s: convert it with --from {other.name}",
                )
            )
        elif kind == KIND and group == API_VERSION.rpartition("/")[0]:
            notes.append(_note(doc, ("kind",), NoteKind.IGNORED, "already a pgrender spec"))
        else:
            notes.append(_note(doc, ("kind",), NoteKind.IGNORED, f"a {kind}, not {conv.title}'s: not converted"))
        return None
    known = (conv.cluster_kind, *conv.companion_kinds, *conv.other_kinds)
    if kind not in known:
        problems.append(
            _problem(doc, ("kind",), f"{kind!r} is not a kind of {conv.group}; expected {', '.join(known)}")
        )
        return None
    if kind in conv.other_kinds:
        notes.append(_note(doc, ("kind",), NoteKind.IGNORED, f"{conv.title}'s {kind}: {conv.other_kinds[kind]}"))
        return None
    if version not in conv.versions:
        problems.append(
            _problem(
                doc,
                ("apiVersion",),
                f"{api_version}: expected {' or '.join(f'{conv.group}/{v}' for v in conv.versions)} for a {kind}",
            )
        )
        return None
    meta = data.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") is None:
        path = ("metadata", "name") if isinstance(meta, dict) else ("metadata",)
        problems.append(_problem(doc, path, "required field is missing: a custom resource has a name"))
        return None
    for key in ("name", "namespace"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(_problem(doc, ("metadata", key), f"expected a string, found {_what(meta[key])}"))
            return None
    return "cluster" if kind == conv.cluster_kind else "companion"


def _other_operator(group: str) -> Converter | None:
    for name in CONVERTERS:
        other = converter(name)
        if group == other.group:
            return other
    return None


def _duplicates(converted: list[Converted], problems: list[Problem]) -> None:
    seen: dict[tuple[str, str], Converted] = {}
    for c in converted:
        first = seen.setdefault(c.ident, c)
        if first is not c:
            line, _ = first.doc.position(("metadata", "name"))
            where = f"{first.doc.file}:{line}"
            ns, name = c.ident
            problems.append(
                _problem(
                    c.doc, ("metadata", "name"), f"cluster {ns + '/' if ns else ''}{name} is also defined at {where}"
                )
            )


def _problem(doc: Document, path: tuple[str | int, ...], message: str) -> Problem:
    line, column = doc.position(path)
    return Problem(doc.file, line, column, format_path(path), message)


def _note(doc: Document, path: tuple[str | int, ...], kind: NoteKind, message: str) -> Note:
    line, column = doc.position(path)
    return Note(doc.file, line, column, format_path(path), kind, message)


def _what(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return type(value).__name__


# The check -----------------------------------------------------------------------------------------

CHECKED_FILE = "<converted>"


def check(data: dict[str, Any]) -> tuple[Problem, ...]:
    """What `pgrender validate` finds in the converted spec: its schema, then its plan."""
    from pgrender.plan import resolve
    from pgrender.spec import validate

    trial = copy.deepcopy(data)
    meta = trial.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("namespace", "default")  # a spec without one takes a default when rendered
    try:
        resolve(validate(Document(CHECKED_FILE, 0, trial, {})))
    except SpecError as exc:
        return exc.problems
    return ()


# Output --------------------------------------------------------------------------------------------

# Keys of the converted spec in the order people read them; others follow as they were added.
TOP_ORDER = ("apiVersion", "kind", "metadata", "spec")
METADATA_ORDER = ("name", "namespace", "labels", "annotations")
SPEC_ORDER = (
    "naming",
    "postgresVersion",
    "image",
    "imageContract",
    "port",
    "instances",
    "users",
    "databases",
    "patroni",
    "service",
    "replicaService",
    "proxy",
    "tls",
    "backups",
    "bootstrap",
    "standby",
)


def _order(data: dict[str, Any]) -> None:
    def ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
        return {
            **{k: mapping[k] for k in order if k in mapping},
            **{k: v for k, v in mapping.items() if k not in order},
        }

    for key, order in (("metadata", METADATA_ORDER), ("spec", SPEC_ORDER)):
        if isinstance(data.get(key), dict):
            data[key] = ordered(data[key], order)
    reordered = ordered(data, TOP_ORDER)
    data.clear()
    data.update(reordered)


def to_yaml(converted: Converted, operator: str) -> str:
    """One converted spec as a YAML document, with a comment saying where it came from."""
    doc = converted.doc
    line, _ = doc.position(())
    header = f"# pgrender convert --from {operator}: {doc.file}, document {doc.index + 1} (line {line})\n"
    return header + _dump(converted.spec)


def _dump(value: Any) -> str:
    lines: list[str] = []
    _mapping(value, "", "", lines)
    return "\n".join(lines) + "\n"


def _mapping(mapping: dict[str, Any], pad: str, first: str, lines: list[str]) -> None:
    """Like emit.dump, but in the order the keys were put (emit sorts them, as Kubernetes objects want)."""
    from pgrender.emit import _inline, _scalar

    inner = pad + "  "
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            lines.append(f"{first}{_scalar(str(key))}:")
            _mapping(value, inner, inner, lines)
        elif isinstance(value, list) and value:
            lines.append(f"{first}{_scalar(str(key))}:")
            _sequence(value, pad, pad, lines)
        else:
            lines.append(f"{first}{_scalar(str(key))}: {_inline(value, len(inner))}")
        first = pad


def _sequence(items: list[Any], pad: str, first: str, lines: list[str]) -> None:
    from pgrender.emit import _inline

    inner = pad + "  "
    for item in items:
        if isinstance(item, dict) and item:
            _mapping(item, inner, f"{first}- ", lines)
        elif isinstance(item, list) and item:
            _sequence(item, inner, f"{first}- ", lines)
        else:
            lines.append(f"{first}- {_inline(item, len(inner))}")
        first = pad


def stream(result: Result, operator: str) -> str:
    """Every converted spec as one YAML stream."""
    return "".join(f"---\n{to_yaml(c, operator)}" for c in result.clusters)


def file_names(result: Result) -> list[str]:
    """<name>.yaml per cluster, <namespace>-<name>.yaml where two share a name."""
    from pgrender.plan.names import cluster_directories

    return [f"{d}.yaml" for d in cluster_directories(lambda: (c.ident for c in result.clusters))]


def write_files(files: dict[Path, str], force: bool) -> None:
    """Write every file or none: each is staged beside its target, then renamed into place.

    An existing file is refused unless ``force``: a spec someone edited after an earlier conversion
    is not overwritten by accident.
    """
    import os
    import tempfile

    from pgrender.write import FILE_MODE, describe_os_error

    for path in files:
        if path.is_dir():
            raise OutputError(f"{path}: is a directory")
        if path.exists() and not force:
            raise OutputError(f"{path}: exists; remove it, choose another output, or pass --force to replace it")
    staged: list[tuple[Path, Path]] = []
    target = next(iter(files), Path("."))
    try:
        for target, text in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".pgrender", dir=target.parent)
            staged.append((Path(name), target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
            os.chmod(name, FILE_MODE)
        for name_, target in staged:
            os.replace(name_, target)
    except OSError as exc:
        for name_, _ in staged:
            name_.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write: {describe_os_error(exc)}") from exc
