"""Objects to stable YAML: kind order, fixed key order, duplicate-id check, one trailing newline."""

from __future__ import annotations

import functools
import re
from typing import Any

from pgrender.errors import InternalError, PgrenderError
from pgrender.frozen import frozen
from pgrender.plan.names import kubernetes_name_problem
from pgrender.spec.limits import MAX_OBJECT_BYTES
from pgrender.text_memo import TextMemo

Manifest = dict[str, Any]

# kustomize's default order (SortOrderTransformer), extended with the kinds pgrender writes.
KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "SealedSecret",
    "ExternalSecret",
    "Issuer",
    "Certificate",
    "Service",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "Job",
    "CronJob",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "PodMonitor",
    "ServiceMonitor",
    "PrometheusRule",
)
KEY_ORDER = ("apiVersion", "kind", "metadata", "name", "namespace")

# A plain scalar is only written when YAML 1.1 and 1.2 both read it back as the same string.
_PLAIN = re.compile(
    r"^[A-Za-z0-9_/.$][A-Za-z0-9_./$()=,+@:-]*\Z"  # no blanks: ':' is safe, it is never followed by one
    r"|^[A-Za-z0-9_/.$][A-Za-z0-9_./$()=,+@ -]*[A-Za-z0-9_./$()]\Z"  # blanks, but then no ':'
)
_NOT_PLAIN = re.compile(
    r"^[0-9:._+-]+\Z"  # YAML 1.1 sexagesimal numbers, versions that a reader could take for numbers
    r"|^[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+\Z"  # exponents: ._e+1 is a float to YAML 1.2
    r"|^\d{4}-\d\d?-\d\d?"  # timestamps
    r"|.*:\Z"
)
_NUMBER_PREFIX = re.compile(r"^(0[xob]|[-+]?\.(inf|nan))", re.IGNORECASE)
_AMBIGUOUS = {
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ".inf", ".nan", "=", "<<",
}  # fmt: skip


@frozen
class Document:
    """One object and its YAML text."""

    manifest: Manifest
    text: str


def sort_key(manifest: Manifest) -> tuple[int, str, str]:
    kind = manifest.get("kind", "")
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    meta = manifest.get("metadata", {})
    return (rank, meta.get("namespace", ""), meta.get("name", ""))


def object_id(manifest: Manifest) -> tuple[str, str, str, str]:
    meta = manifest.get("metadata", {})
    return (
        manifest.get("apiVersion", ""),
        manifest.get("kind", ""),
        meta.get("namespace", ""),
        meta.get("name", ""),
    )


def order(manifests: list[Manifest]) -> list[Manifest]:
    """Sort objects by kind, namespace and name; refuse two objects with one identity, and a name
    the API server would refuse (the plan checks every name it decides, so either is a bug)."""
    seen: set[tuple[str, str, str, str]] = set()
    for m in manifests:
        ident = object_id(m)
        if ident in seen:
            raise InternalError(f"two objects with the same identity {'/'.join(ident)}")
        seen.add(ident)
        problem = kubernetes_name_problem(ident[1], ident[3])
        if problem:
            raise InternalError(f"{ident[1]} {ident[3]!r}: {problem}")
    return sorted(manifests, key=sort_key)


# Texts already written for objects of the render under way (transforms.flux_protection reads the
# text Flux will read): object id -> (the object, its text). Holding the object keeps its id from
# being reused; documents() empties it. A miss only costs writing the text again.
_written: dict[int, tuple[Manifest, str]] = {}


def text(manifest: Manifest) -> str:
    """The YAML text of ``manifest``, written once for the objects of the render under way."""
    hit = _written.get(id(manifest))
    if hit is not None and hit[0] is manifest:
        return hit[1]
    written = dump(manifest)
    _written[id(manifest)] = (manifest, written)
    return written


def documents(manifests: list[Manifest]) -> tuple[Document, ...]:
    """The objects in output order, each with its YAML text; one Kubernetes would refuse for its size
    is the spec's doing (spec.limits keeps the usual ones small), and is named."""
    try:
        out = tuple(Document(m, text(m)) for m in order(manifests))
    finally:
        _written.clear()
    for document in out:
        size = len(document.text.encode())
        if size > MAX_OBJECT_BYTES:
            kind, meta = document.manifest["kind"], document.manifest["metadata"]
            raise PgrenderError(
                f"{kind} {meta.get('namespace', '')}/{meta['name']} would be {size} bytes; Kubernetes stores at "
                f"most {MAX_OBJECT_BYTES} in one object: make what fills it smaller (parameters, pg_hba, labels)"
            )
    return out


def dump(value: Any) -> str:
    """Return one YAML document (no '---'), with keys in KEY_ORDER then alphabetical."""
    lines: list[str] = []
    if isinstance(value, dict) and value:
        _mapping(value, "", "", lines)
    elif isinstance(value, list) and value:
        _sequence(value, "", "", lines)
    else:
        lines.append(_inline(value, 0))
    return "\n".join(lines) + "\n"


_KEY_FIRST = frozenset(KEY_ORDER)


def _keys(mapping: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return _key_order(tuple(mapping))


@functools.lru_cache(maxsize=4096)
def _key_order(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each key in order, with its text as YAML. Builders make the same shapes over and over: the
    order of a set of keys, and how each is written, is worked out once."""
    ordered = sorted(keys)
    return tuple(
        (k, _scalar(str(k)))
        for k in (*(k for k in KEY_ORDER if k in keys), *(k for k in ordered if k not in _KEY_FIRST))
    )


# Writers of a non-empty mapping or sequence whose lines are indented by `pad`; the first line
# starts with `first` instead, which is how a mapping or sequence nests inside a "- " item.


def _mapping(mapping: dict[str, Any], pad: str, first: str, lines: list[str]) -> None:
    inner = pad + "  "
    for key, written in _keys(mapping):
        value = mapping[key]
        kind = type(value)
        if kind is str and "\n" not in value:  # most values: skip _inline
            text = _scalar(value) if len(value) <= CACHED_SCALAR else _one_line(value)
            lines.append(f"{first}{written}: {text}")
        elif kind is dict and value:
            lines.append(f"{first}{written}:")
            _mapping(value, inner, inner, lines)
        elif kind is list and value:
            lines.append(f"{first}{written}:")
            _sequence(value, pad, pad, lines)  # kubectl style: list items at the key's indentation
        else:
            lines.append(f"{first}{written}: {_inline(value, len(inner))}")
        first = pad


def _sequence(items: list[Any], pad: str, first: str, lines: list[str]) -> None:
    inner = pad + "  "
    for item in items:
        kind = type(item)
        if kind is dict and item:
            _mapping(item, inner, f"{first}- ", lines)
        elif kind is list and item:
            _sequence(item, inner, f"{first}- ", lines)
        else:
            lines.append(f"{first}- {_inline(item, len(inner))}")
        first = pad


def _inline(value: Any, indent: int) -> str:
    if type(value) is str:
        if "\n" in value:
            return long_text(value, indent) if len(value) >= LONG_TEXT else _text(value, indent)
        return _scalar(value) if len(value) <= CACHED_SCALAR else _one_line(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # YAML's names for these, not Python's (which read back as strings)
            return ".nan"
        if value in (_INF, -_INF):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)  # YAML 1.1 reads an exponent as a float only after a dot: 1.0e+18
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, str):
        return _inline(str(value), indent)
    raise InternalError(f"cannot write a {type(value).__name__} to YAML")


_INF = float("inf")


def _text(text: str, indent: int) -> str:
    """A string of several lines: a literal block where it keeps the text, else one quoted line."""
    return _block(text, indent) if _block_safe(text) else _one_line(text)


# The scripts and SQL in ConfigMaps are the same in most clusters of a fleet: each is written once at
# its indentation (about 30 KB a cluster; 3% of a batch's CPU went on checking and indenting them),
# and held within LONG_TEXTS_HELD bytes (text_memo.py). Shorter ones than LONG_TEXT cost less to
# write than to look up.
LONG_TEXT = 512
LONG_TEXTS_HELD = 1 << 20
long_text = TextMemo(_text, LONG_TEXTS_HELD)


# Scalars up to this long are cached: names, labels and keys recur in every object of a cluster.
# Longer ones (Secret data in base64, certificates, digests) are each new: cached, they only held
# 2.5 MB of a fleet's render once the cache was full, and pushed the short ones out.
CACHED_SCALAR = 80


# What recurs across a fleet's clusters is a few hundred scalars; the rest (about 35 a cluster) are
# its own names. 300 bench clusters hit the cache as often with 1024 entries as with 8192, which
# held 1.2 MB more at the peak of 3000 clusters to --stdout.
@functools.lru_cache(maxsize=2048)
def _scalar(text: str) -> str:
    return _one_line(text)


def _one_line(text: str) -> str:
    """A one-line scalar as YAML: plain where every YAML reader takes it for this string, else quoted."""
    if _PLAIN.match(text) and not _NOT_PLAIN.match(text) and text.lower() not in _AMBIGUOUS and not _numeric(text):
        return text
    return _quoted(text)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _numeric(text: str) -> bool:
    """Whether a YAML reader could take the text for a number."""
    if text[0] not in "0123456789+-.":
        return text.lower() in ("inf", "nan", "infinity")
    try:
        float(text.replace("_", ""))
    except ValueError:
        return bool(_NUMBER_PREFIX.match(text))
    return True


def _quoted(text: str) -> str:
    """A double-quoted scalar. Python's printable set lies inside YAML's and leaves out what YAML 1.1
    readers take for line breaks (NEL, LS, PS) and the byte order mark; all else is escaped."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(_escape(ch) for ch in text) + '"'


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _block_safe(text: str) -> bool:
    # A literal block keeps text as is, except trailing blanks (editors strip them), a first line
    # starting with a blank (it would need an indentation indicator) and control characters.
    # Substring tests, not a regex: the scripts and configurations are tens of kilobytes, and a
    # regex trying each position was 3% of a batch's CPU.
    return (
        text[:1] not in ("", "\n", " ", "\t")
        and " \n" not in text
        and "\t\n" not in text
        and not text.endswith((" ", "\t"))
        and text.replace("\n", "").isprintable()
    )


def _block(text: str, indent: int) -> str:
    if text.endswith("\n\n"):
        return _quoted(text)
    chomp = "" if text.endswith("\n") else "-"
    body = text[:-1] if text.endswith("\n") else text
    pad = " " * indent
    return f"|{chomp}\n" + "\n".join([pad + line if line else "" for line in body.split("\n")])
