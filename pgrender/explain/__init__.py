"""`pgrender explain [FIELD.PATH]`, like `kubectl explain`: a field's type, default, allowed
values, bounds, description and sub-fields, read from the same JSON Schema editors use
(pgrender.schema), and the objects the field ends up in.

Which objects a field ends up in is measured, not listed: the reference cluster
(reference.yaml, where every optional part is present) is built once as it is and once per
changed value of each setting under the field (another enum member, the other boolean, a
number within bounds, the schema's example); the objects that differ are the answer. A table
kept by hand would drift from the builders; this cannot.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from pgrender.errors import PgrenderError
from pgrender.frozen import frozen

Schema = dict[str, Any]
Path_ = tuple[str, ...]
MAX_CHANGES = 60  # settings tried under one field: a whole `spec` would take seconds, for little news


@frozen
class Field:
    """A field of the schema, with its reference resolved."""

    path: Path_
    node: Schema  # the field's own schema, $ref and nullable unions resolved
    required: bool
    nullable: bool


def explain(path_text: str, config: bool = False, measure: bool = True) -> str:
    """The text `pgrender explain` prints for ``path_text`` (dot-separated; '' for the top);
    ``measure``: also the objects a spec field ends up in."""
    root = _schema(config)
    found = lookup(root, path_text)
    lines = [f"FIELD:    {'.'.join(found.path) or root['title']} <{type_name(root, found.node)}>"]
    if found.required:
        lines.append("REQUIRED: yes")
    default = _default(found)
    if default is not None:
        lines.append(f"DEFAULT:  {default}")
    allowed = choices(root, found.node)
    if allowed:
        lines.append(f"ALLOWED:  {' | '.join(map(str, allowed))}")
    bounds = _bounds(found.node)
    if bounds:
        lines.append(f"BOUNDS:   {bounds}")
    if found.node.get("examples"):
        lines.append(f"EXAMPLE:  {', '.join(map(_shown, found.node['examples']))}")
    description = found.node.get("description") or _resolved(root, found.node).get("description")
    if description:
        lines += ["", "DESCRIPTION:", *_indented(description)]
    fields = _properties(root, found.node)
    if fields:
        lines += ["", "FIELDS:"]
        required = set(_resolved(root, _object(root, found.node)).get("required", []))
        for name, sub in fields.items():
            mark = " -required-" if name in required else ""
            lines.append(f"  {name} <{type_name(root, sub)}>{mark}")
    if measure and not config and found.path[:1] == ("spec",):
        objects = ends_up_in(found.path)
        lines += ["", "ENDS UP IN (measured on the reference cluster hippo, namespace db):"]
        lines += [f"  {o}" for o in objects] if objects else ["  (nothing measured: no value to try for this field)"]
    return "\n".join(lines) + "\n"


def lookup(root: Schema, path_text: str) -> Field:
    """The field at ``path_text``; PgrenderError naming the nearest field when there is none.
    List items are stepped into by themselves (instances.name, or instances[].name)."""
    parts = tuple(p.removesuffix("[]") for p in path_text.split(".") if p) if path_text else ()
    node: Schema = root
    required = False
    nullable = False
    walked: list[str] = []
    for part in parts:
        node = _items(root, node)
        props = _properties(root, node)
        if part not in props:
            where = ".".join(walked) or "the top level"
            raise PgrenderError(_unknown(part, where, list(props)))
        required = part in _resolved(root, _object(root, node)).get("required", [])
        node, nullable = _field(root, props[part])
        walked.append(part)
    return Field(tuple(walked), node, required, nullable)


def _unknown(part: str, where: str, allowed: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(part, allowed, n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(allowed)}"
    return f"{where} has no field {part!r}{hint}" if allowed else f"{where} has no fields"


def _field(root: Schema, node: Schema) -> tuple[Schema, bool]:
    """A property's schema with a nullable union (X or null) reduced to X, the property's own
    keys (description, default) kept over the referenced schema's."""
    members = node.get("anyOf")
    nullable = False
    if members:
        kept = [m for m in members if m.get("type") != "null"]
        nullable = len(kept) < len(members)
        if len(kept) == 1:
            own = {k: v for k, v in node.items() if k != "anyOf"}
            return {**_resolved(root, kept[0]), **own}, nullable
    return ({**_resolved(root, node), **{k: v for k, v in node.items() if k != "$ref"}}, nullable)


def _resolved(root: Schema, node: Schema) -> Schema:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolved(root, target)


def _items(root: Schema, node: Schema) -> Schema:
    """A list's item schema (lists of lists never occur in the spec), else ``node``."""
    node = _resolved(root, node)
    return _resolved(root, node["items"]) if node.get("type") == "array" and "items" in node else node


def _object(root: Schema, node: Schema) -> Schema:
    return _items(root, node)


def _properties(root: Schema, node: Schema) -> dict[str, Schema]:
    return dict(_resolved(root, _object(root, node)).get("properties", {}))


def type_name(root: Schema, node: Schema) -> str:
    """object, []object, string, integer, boolean, map[string]string, …, or X | Y."""
    node = _field(root, node)[0]
    members = node.get("anyOf")
    if members:
        return " | ".join(type_name(root, m) for m in members if m.get("type") != "null")
    kind = node.get("type")
    if kind == "array":
        return "[]" + type_name(root, node.get("items", {}))
    if kind == "object" and "properties" not in node:
        values = node.get("additionalProperties")
        return f"map[string]{type_name(root, values)}" if isinstance(values, dict) else "object"
    if "enum" in node or "const" in node:
        return "string" if all(isinstance(v, str) for v in choices(root, node)) else "integer"
    return str(kind or "any")


def choices(root: Schema, node: Schema) -> list[Any]:
    node = _resolved(root, node)
    if "const" in node:
        return [node["const"]]
    return list(node.get("enum", []))


def _default(found: Field) -> str | None:
    if "default" not in found.node:
        return None
    value = found.node["default"]
    if value is None or value == [] or value == {}:
        return None
    return _shown(value)


def _shown(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _bounds(node: Schema) -> str:
    parts = []
    for key, word in (("minimum", ">="), ("maximum", "<="), ("minItems", "items >="), ("maxItems", "items <=")):
        if key in node:
            parts.append(f"{word} {node[key]}")
    for key, word in (("minLength", "length >="), ("maxLength", "length <=")):
        if key in node:
            parts.append(f"{word} {node[key]}")
    if "pattern" in node:
        parts.append(f"matches {node['pattern']}")
    return ", ".join(parts)


def _indented(text: str) -> list[str]:
    import textwrap

    out = []
    for paragraph in text.split("\n\n"):
        out += textwrap.wrap(" ".join(paragraph.split()), width=96, initial_indent="  ", subsequent_indent="  ")
        out.append("")
    return out[:-1]


# Ends up in ----------------------------------------------------------------------------------------


@functools.cache
def _schema(config: bool) -> Schema:
    """The JSON Schema of pgrender.yaml (``config``) or of the spec, made once per process."""
    from pgrender import schema

    return schema.config_schema() if config else schema.cluster_schema()


@functools.cache
def _reference() -> dict[str, Any]:
    from pgrender import load

    text = resources.files(__name__).joinpath("reference.yaml").read_bytes()
    (document,) = load.load_bytes(text, "reference.yaml")
    data: dict[str, Any] = document.data
    return data


def ends_up_in(path: Path_) -> list[str]:
    """'Kind/name' of every object of the reference cluster that changes with a setting under ``path``."""
    from pgrender import tuning

    root = _schema(False)
    base = _reference()
    changed: set[str] = set()
    with tuning.tuned() as pool:
        before = _objects(base, pool)
        if before is None:
            raise PgrenderError("internal error: explain's reference cluster does not validate (a pgrender bug)")
        for where, value in itertools.islice(_changes(root, path, base), MAX_CHANGES):
            spec = copy.deepcopy(base)
            after = _objects(spec, pool) if _put(spec, where, value) else None
            if after is not None:
                changed |= {_hashless(k) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    return sorted(changed)


# Jobs named by a digest of what they run (hippo-reconcile-1e8eb02d08): a changed one is one Job.
_DIGEST_SUFFIX = re.compile(r"-[0-9a-f]{10}$")


def _hashless(ident: str) -> str:
    return _DIGEST_SUFFIX.sub("-<digest>", ident)


def _objects(data: dict[str, Any], pool: Any) -> dict[str, Any] | None:
    """The reference cluster's finished objects by 'Kind/name', or None when the changed spec is
    not valid. Secrets are derived from a key made for this comparison only: it protects nothing."""
    import hashlib

    from pgrender import load, spec
    from pgrender.errors import SpecError
    from pgrender.plan import resolve
    from pgrender.render import cluster_objects

    try:
        plan = resolve(spec.validate(load.Document("reference.yaml", 0, data, {})))
    except SpecError:
        return None
    key = hashlib.sha256(b"pgrender explain: the reference cluster").digest()
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in cluster_objects(plan, key, pool)}


def _changes(root: Schema, path: Path_, data: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(data path, another value) for each setting under ``path`` that the reference has, or that
    can be added to it."""
    found = lookup(root, ".".join(path))
    where: tuple[str | int, ...] = ()
    here = data
    for part in path:  # into the reference's data, first item of every list
        if isinstance(here, list):
            if not here:
                return
            where, here = (*where, 0), here[0]
        here = here.get(part) if isinstance(here, dict) else None
        where = (*where, part)
    yield from _leaf_changes(root, found.node, where, here, depth=0)


def _leaf_changes(
    root: Schema, node: Schema, where: tuple[str | int, ...], current: Any, depth: int
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    node = _field(root, node)[0]
    if isinstance(current, list) and current and node.get("type") == "array":
        yield from _leaf_changes(root, node.get("items", {}), (*where, 0), current[0], depth + 1)
        return
    props = _resolved(root, node).get("properties")
    if props and depth < 6:
        for name, sub in props.items():
            value = current.get(name) if isinstance(current, dict) else None
            yield from _leaf_changes(root, sub, (*where, name), value, depth + 1)
        return
    other = _another(root, node, current)
    if other is not _NONE:
        yield where, other


_NONE = object()


def _another(root: Schema, node: Schema, current: Any) -> Any:
    """A valid value other than ``current`` for a leaf, or _NONE."""
    node = _resolved(root, node)
    if current is None:  # left out of the reference: it has the default, which would change nothing
        current = node.get("default")
    options = [c for c in choices(root, node) if c != current]
    if options:
        return options[0]
    kind = node.get("type")
    if kind == "boolean":
        return not bool(current if current is not None else node.get("default", False))
    if kind == "integer":
        now = current if isinstance(current, int) else node.get("default")
        low, high = node.get("minimum", 0), node.get("maximum", 2**31)
        for candidate in ((now + 1) if isinstance(now, int) else low, low, high):
            if low <= candidate <= high and candidate != now:
                return candidate
        return _NONE
    examples = [e for e in node.get("examples", []) if e != current]
    return examples[0] if examples else _NONE


def _put(data: dict[str, Any], where: tuple[str | int, ...], value: Any) -> bool:
    """Set ``value`` at ``where`` in ``data``, adding missing mappings; False when a list is in the way."""
    here: Any = data
    for part in where[:-1]:
        if isinstance(part, int):
            if not isinstance(here, list) or len(here) <= part:
                return False
            here = here[part]
        else:
            if not isinstance(here, dict):
                return False
            here = here.setdefault(part, {})
    if not isinstance(here, dict):
        return False
    here[where[-1]] = value
    return True
