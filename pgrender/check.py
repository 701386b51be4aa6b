"""Compare a rendering with what is on disk: unified diffs, missing files, files no longer wanted.

A file that holds a Secret is never diffed: the diff goes to CI logs, and a Secret's lines are its
passwords, URIs and private keys. For such a file the diff carries one line per Secret naming the
keys that changed, were added or were removed, and no value in any form.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pgrender.frozen import frozen
from pgrender.record import RECORD, differing, in_order, open_regular, read_open
from pgrender.write import Names, SpooledTexts, files_below, owned_files, printable, reading

SECRET_FIELDS = ("data", "stringData")
SECRET_KINDS = ("Secret", "SealedSecret")
# What an output file that is a link, a FIFO or a device reads as (_read): never its target's bytes.
NOT_A_FILE = "# not a regular file (a link?): pgrender writes none, and reads nothing through it\n"
# How a Secret is recognised in a file that is not valid YAML (hand-edited, truncated): its kind line.
_SECRET_KIND_LINE = re.compile(r"^\s*kind\s*:\s*[\"']?(Sealed)?Secret[\"']?\s*(#.*)?$", re.MULTILINE)


@frozen
class Staleness:
    changed: tuple[str, ...]
    missing: tuple[str, ...]
    obsolete: tuple[str, ...]
    foreign: tuple[str, ...]

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.obsolete or self.foreign)

    def summary(self, directory: Path) -> str:
        if not self.stale:
            return f"{directory}: up to date"
        foreign = (
            f"; files pgrender did not write, which render --write refuses: {', '.join(map(printable, self.foreign))}"
            if self.foreign
            else ""
        )
        return (
            f"{directory}: stale: {len(self.changed)} changed, {len(self.missing)} missing, "
            f"{len(self.obsolete)} no longer rendered; run `pgrender render --write`{foreign}"
        )


def read_output(directory: Path, failure: str = "cannot read") -> SpooledTexts:
    """What a previous run wrote into ``directory`` (relative path → text, spooled as a render's own
    output is: write.SpooledTexts); empty when it holds none.

    An OSError becomes an OutputError saying ``failure`` (render says it cannot write) and why.
    """
    from pgrender.errors import OutputError
    from pgrender.write import describe_os_error

    files = SpooledTexts()
    try:
        if not directory.is_dir():
            return files
        with reading(directory):
            return _read_output(directory, files)
    except OSError as exc:
        raise OutputError(
            f"{directory}: {failure}: {describe_os_error(exc)} (reading the previous output); nothing was changed"
        ) from exc


def _read_output(directory: Path, files: SpooledTexts) -> SpooledTexts:
    # A directory's files are held together (SpooledTexts.add_in_order): a fleet's are thousands.
    return files.add_in_order(_owned_texts(directory))


def _owned_texts(directory: Path) -> Iterator[tuple[str, str]]:
    """(relative path, text) of each file pgrender owns in ``directory``, in sorted order."""
    top = f"{directory}/"  # paths as strings: pathlib interns each part of one (write._replace)
    below_before, linked = "", False
    for rel in owned_files(directory):  # in sorted order: a directory's files one after another
        if not os.path.isfile(top + rel):
            continue
        below, slash, name = rel.partition("/")
        if not slash:
            yield rel, _read(top + rel)
            continue
        if below != below_before:
            below_before, linked = below, os.path.islink(top + below)  # its files are not read through it either
        # Deeper than a cluster's directory is not what pgrender writes: read through nothing there either.
        yield rel, NOT_A_FILE if linked or "/" in name else _read(top + rel)


def compare(
    expected: Mapping[str, str],
    directory: Path,
    diff: Callable[[str], object] | None = None,
    previous: Mapping[str, str] | None = None,
) -> Staleness:
    """Everything that differs between ``expected`` (path → text) and ``directory``; reads only.
    With ``diff``, a unified diff of each difference is written to it as it is found (a fleet's
    output missing is hundreds of megabytes of diff: held as pieces and joined, it peaked at 760 MB
    for 3000 clusters); `render --exit-code` counts the differences and shows none. ``previous``:
    what read_output(directory) gave in this run (for the guard), read from there rather than again
    from every file (a repository of 200 specs: 5000 files).

    An OSError (a file of the output that cannot be read) becomes an OutputError naming it."""
    from pgrender.errors import OutputError
    from pgrender.write import describe_os_error

    try:
        return _compare(expected, directory, diff, previous)
    except OSError as exc:
        raise OutputError(
            f"{directory}: cannot compare: {describe_os_error(exc)} (reading the output); nothing was changed"
        ) from exc


def _compare(
    expected: Mapping[str, str],
    directory: Path,
    diff: Callable[[str], object] | None,
    previous: Mapping[str, str] | None,
) -> Staleness:
    top = f"{directory}/"  # paths as strings: pathlib interns each part of one (write._replace)
    # The files a previous run wrote that are there: previous holds exactly those (read_output).
    present: Mapping[str, str] | Names = (
        previous if previous is not None else owned_files(directory) if directory.is_dir() else Names()
    )
    below = files_below(directory) if directory.is_dir() else ()
    foreign = tuple(sorted(rel for rel in below if rel not in present and rel not in expected and rel != RECORD))
    changed: list[str] = []
    missing: list[str] = []
    obsolete: list[str] = []
    # With ``previous``, only the files that differ from it (record.differing: a directory at a time).
    for rel in in_order(expected) if previous is None else differing(previous, expected):
        if previous is not None and rel not in expected:
            obsolete.append(rel)
            continue
        old_text = previous.get(rel) if previous is not None else None
        if old_text is None and os.path.isfile(top + rel):  # also a file no previous run wrote
            old_text = _read(top + rel)
        if old_text is None:
            missing.append(rel)
        elif old_text == expected[rel]:
            continue
        else:
            changed.append(rel)
        if diff is not None:
            _write_diff(diff, top + rel, old_text, expected[rel])
    # In sorted order, as Names and read_output's are. A file a kustomization lists but that is not
    # there (a hand-edited one, or deleted) is not obsolete: its kustomization differs.
    if previous is None:
        obsolete = [rel for rel in present if rel not in expected and os.path.isfile(top + rel)]
    if diff is not None:
        for rel in obsolete:
            _write_diff(diff, top + rel, previous[rel] if previous is not None else _read(top + rel), None)
    return Staleness(tuple(changed), tuple(missing), tuple(obsolete), foreign)


def _write_diff(write: Callable[[str], object], name: str, old: str | None, new: str | None) -> None:
    for chunk in _file_diff(name, old, new):
        write(chunk if chunk.endswith("\n") else chunk + "\n\\ No newline at end of file\n")


def _read(path: str) -> str:
    """The text of the file ``path``, as open() in text mode reads it: UTF-8, an undecodable byte
    replaced, each line ending (CRLF, CR) read as "\n". Read without a file object
    (record.read_open): a fleet's output is tens of thousands of files.

    A link (or a FIFO, a device) reads as NOT_A_FILE, never as what it points at: pgrender writes
    none, and check prints the old text of a changed file in its diff, into CI logs. A link committed
    into the output, to the root key or a token file, would have printed that file."""
    fd = open_regular(path, follow=False)
    if fd is None:
        return NOT_A_FILE
    try:
        text = read_open(fd).decode("utf-8", "replace")
    finally:
        os.close(fd)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _file_diff(name: str, old: str | None, new: str | None) -> list[str]:
    """A unified diff from ``old`` to ``new`` (None: no such file); for a Secret, a summary instead."""
    old_documents, new_documents = _documents(old), _documents(new)
    if _holds_secret(old, old_documents) or _holds_secret(new, new_documents):
        return [_secret_summary(name, old_documents, new_documents)]
    old_lines = old.splitlines(keepends=True) if old is not None else []
    new_lines = new.splitlines(keepends=True) if new is not None else []
    to = f"b/{printable(name)}" if new is not None else "/dev/null"
    return list(difflib.unified_diff(old_lines, new_lines, f"a/{printable(name)}", to))


def _documents(text: str | None) -> list[Any] | None:
    """The YAML documents of ``text`` (no file: none); None when it is not valid YAML."""
    if text is None:
        return []
    from pgrender import readback

    try:
        return readback.load_all(text)
    except Exception:  # the loader raises ValueError, KeyError and more besides YAMLError: all mean unreadable
        return None


def _holds_secret(text: str | None, documents: list[Any] | None) -> bool:
    """Whether a Secret is anywhere in the file: a document, or an item of one (a `kind: List`, as
    kustomize reads it, in a hand-edited file)."""
    if documents is None:
        return bool(_SECRET_KIND_LINE.search(text or ""))
    pending = list(documents)
    while pending:
        node = pending.pop()
        if _is_secret(node):
            return True
        pending.extend(node.values() if isinstance(node, dict) else node if isinstance(node, list) else ())
    return False


def _is_secret(document: Any) -> bool:
    """A Secret, or a SealedSecret: its ciphertexts are safe only sealed to the controller's key, and
    the certificate comes from the repository (pgrender.yaml), so a diff never shows them either."""
    return isinstance(document, dict) and document.get("kind") in SECRET_KINDS


def _secret_summary(name: str, old: list[Any] | None, new: list[Any] | None) -> str:
    """One line per Secret in the file: which keys changed, were added or removed; never a value.

    Not a digest of one either: a digest of a single password can be brute-forced from the log.
    """
    if old is None or new is None:
        return f"{name}: not valid YAML and holds a Secret, so no diff is shown; run `pgrender render --write`\n"
    old_secrets, new_secrets = _secrets(old), _secrets(new)
    lines = []
    for ident in sorted(set(old_secrets) | set(new_secrets)):
        kind = (new_secrets.get(ident) or old_secrets[ident])[1].get("kind", "Secret")
        what = f"{name}: {kind} {ident}"
        if ident not in old_secrets:
            lines.append(f"{what}: added, keys: {_names(new_secrets[ident][0])}")
        elif ident not in new_secrets:
            lines.append(f"{what}: no longer rendered, keys: {_names(old_secrets[ident][0])}")
        else:
            lines.append(f"{what}: {_changes(old_secrets[ident], new_secrets[ident])}")
    if not lines:  # the Secret is inside another object (a List's items): no diff, and nothing named
        return f"{name}: holds a Secret inside another object, so no diff is shown; run `pgrender render --write`\n"
    return "".join(f"{line} (values are not shown)\n" for line in lines)


Values = dict[str, bytes | str]
SecretParts = tuple[Values, dict[str, Any]]  # the effective data, and every other field


def _secrets(documents: list[Any]) -> dict[str, SecretParts]:
    """namespace/name → Secret parts, for the Secrets among ``documents``."""
    out: dict[str, SecretParts] = {}
    for index, document in enumerate(documents):
        if not _is_secret(document):
            continue
        meta = document.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        ident = f"{meta.get('namespace', '')}/{meta.get('name', f'(document {index})')}".lstrip("/")
        if document.get("kind") == "SealedSecret":  # its values: spec.encryptedData (ciphertexts)
            spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
            sealed = spec.get("encryptedData")
            rest = {**document, "spec": {k: v for k, v in spec.items() if k != "encryptedData"}}
            values: Values = {str(k): repr(v) for k, v in sealed.items()} if isinstance(sealed, dict) else {}
            out[ident] = (values, rest)
            continue
        # data or stringData that is not a mapping compares as a whole, with the other fields.
        rest = {k: v for k, v in document.items() if k not in SECRET_FIELDS or not isinstance(v, dict)}
        out[ident] = (_effective_data(document), rest)
    return out


def _effective_data(secret: dict[str, Any]) -> Values:
    """What the API server would store: data decoded, with stringData over it. A malformed value is
    kept as it is, so that it still compares (and is still never printed)."""
    out: Values = {}
    data, string_data = secret.get("data"), secret.get("stringData")
    for key, value in data.items() if isinstance(data, dict) else ():
        try:
            out[str(key)] = base64.b64decode(value, validate=True) if isinstance(value, str) else repr(value)
        except (binascii.Error, ValueError):
            out[str(key)] = repr(value)
    for key, value in string_data.items() if isinstance(string_data, dict) else ():
        out[str(key)] = value.encode() if isinstance(value, str) else repr(value)
    return out


def _changes(old: SecretParts, new: SecretParts) -> str:
    (old_data, old_rest), (new_data, new_rest) = old, new
    parts = []
    changed = sorted(k for k in old_data.keys() & new_data.keys() if old_data[k] != new_data[k])
    added = sorted(new_data.keys() - old_data.keys())
    removed = sorted(old_data.keys() - new_data.keys())
    for label, keys in (("keys changed", changed), ("added", added), ("removed", removed)):
        if keys:
            parts.append(f"{label}: {', '.join(keys)}")
    others = sorted(k for k in old_rest.keys() | new_rest.keys() if old_rest.get(k) != new_rest.get(k))
    if others:
        parts.append(f"other fields changed: {', '.join(others)}")
    return "; ".join(parts) if parts else "only the formatting of its file changed"


def _names(values: Values) -> str:
    return ", ".join(sorted(values)) or "none"
