"""pydantic's validation errors as pgrender's problems: the position in the YAML, the field path,
and a message that says what was expected, what was found, and the nearest allowed name.

Shared by the spec (PostgresCluster) and the repository configuration (pgrender.yaml). The
models are walked to know what a place allows, so "did you mean" and the list of allowed fields
come from the same models that validate, never from a second list. pydantic is imported only where
an error is explained: SourcedCluster.problem cuts echoes on the render path too.
"""

from __future__ import annotations

import enum
import itertools
import re
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pgrender.errors import Problem
from pgrender.load import MAX_SHOWN, Document, format_path, shorten
from pgrender.patterns import Pattern

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
_NO_INPUT = object()
# More allowed fields than this are not listed in a message, which stays one readable line (a spec has 25).
MAX_LISTED = 12


def problems_of(
    doc: Document, exc: ValidationError, model: type[BaseModel], missing: Mapping[Loc, str] | None = None
) -> list[Problem]:
    """One problem per error of ``exc``, raised validating ``doc`` against ``model``; ``missing``
    says more than "required field is missing" for the fields it names."""
    out = []
    for err in exc.errors(include_url=False):
        loc, reached = _data_path(doc.data, err["loc"], err.get("input", _NO_INPUT))
        line, col = doc.position(loc)
        message = (missing or {}).get(loc) if err["type"] == "missing" else None
        message = _cut(message or _message(err, loc, model), loc, reached)
        out.append(Problem(doc.file, line, col, format_path(loc), message))
    return out


def cut_echoes(message: str, path: Loc, doc: Document) -> str:
    """``message`` about the field at ``path`` of ``doc`` with the long values it quotes cut."""
    return _cut(message, path, _walk(doc.data, path, frozenset())[2])


def kind_of(value: Any) -> str:
    """What a YAML reader calls the value found."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return type(value).__name__


def _found(value: Any) -> str:
    """The value found, shown when it is one short scalar (a name, a number), else its kind."""
    if value is _NO_INPUT:
        return ""
    if isinstance(value, str):
        return f"; found {value!r}"
    if isinstance(value, bool) or value is None:
        return f"; found {kind_of(value)}"
    if isinstance(value, int | float):
        return f"; found {value}"
    return f"; found {kind_of(value)}"


def _data_path(data: Any, loc: Loc, given: Any) -> tuple[Loc, Any]:
    """The path in the document that pydantic's ``loc`` points at, and the data there.

    pydantic adds the member of a union to ``loc`` ("str", "int", "function-after[...]"), which
    a key in the document may also be called. A part is a key when the data has it at that point;
    one that looks like a union member and is also a key is settled by the error's input, which is
    the data the path ends at.
    """
    path, ambiguous, reached = _walk(data, loc, frozenset())
    if not ambiguous or given is _NO_INPUT or reached is given:
        return path, reached
    for size in range(1, len(ambiguous) + 1):
        for members in itertools.combinations(ambiguous, size):
            other, _, other_reached = _walk(data, loc, frozenset(members))
            if other_reached is given:
                return other, other_reached
    return path, reached


def _walk(data: Any, loc: Loc, members: frozenset[int]) -> tuple[Loc, list[int], Any]:
    """Follow ``loc`` through ``data``, dropping union members (and the parts at ``members``).
    Return the path, the parts that could be either, and the data the path reaches."""
    path: list[str | int] = []
    ambiguous = []
    here = data
    found = True  # so far the path is in the data; past a missing field, nothing is
    for i, part in enumerate(loc):
        looks_like_member = isinstance(part, str) and (part in _MEMBER_NAMES or "[" in part)
        if i in members:
            continue
        if found and isinstance(here, dict) and part in here:
            if looks_like_member:
                ambiguous.append(i)
            path.append(part)
            here = here[part]
        elif found and isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            path.append(part)
            here = here[part]
        elif not looks_like_member:
            path.append(part)  # a required field that is missing
            found = False
    return tuple(path), ambiguous, here


_MEMBER_NAMES = frozenset({"str", "int", "float", "bool"})


# pydantic's wording names Python types ("instance of ObjectMeta"); people wrote YAML.
_EXPECTED = {
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "int_parsing_size": "expected a whole number of at most 19 digits",  # pydantic's 64-bit bound
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "datetime_type": "expected a timestamp such as 2026-01-01T00:00:00Z",
    "datetime_parsing": "expected a timestamp such as 2026-01-01T00:00:00Z",
    "datetime_from_date_parsing": "expected a timestamp such as 2026-01-01T00:00:00Z",
}

# Bounds, in the same "expected …" form; ctx holds the bound.
_BOUNDS = {
    "greater_than_equal": "expected a number of at least {ge}",
    "greater_than": "expected a number greater than {gt}",
    "less_than_equal": "expected a number of at most {le}",
    "less_than": "expected a number less than {lt}",
    "too_short": "expected at least {min_length} item(s)",
    "too_long": "expected at most {max_length} item(s)",
    "string_too_short": "expected at least {min_length} character(s)",
    "string_too_long": "expected at most {max_length} characters",
    "string_pattern_mismatch": "expected text matching {pattern}",
}


def _message(err: Any, loc: Loc, model: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx", {})
    given = err.get("input", _NO_INPUT)
    if kind == "extra_forbidden":
        return _unknown_field(loc, model)
    if kind == "missing":
        return "required field is missing"
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected', '')}{_found(given)}{_nearest(given, _choices(model, loc))}"
    if kind in ("too_short", "too_long"):
        return _BOUNDS[kind].format(**ctx) + f"; found {ctx.get('actual_length')}"
    if kind in ("string_too_short", "string_too_long"):
        return _BOUNDS[kind].format(**ctx) + (f"; found {len(given)}" if isinstance(given, str) else "")
    if kind == "string_pattern_mismatch" and _literal_pattern(ctx["pattern"]) is not None:
        return f"expected {_literal_pattern(ctx['pattern'])!r}{_found(given)}"
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**ctx) + _found(given)
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        return f"expected a string; found the number {given} (YAML reads it as a number: put it in quotes)"
    if kind in _EXPECTED:
        return _EXPECTED[kind] + _found(given)
    msg: str = err["msg"]
    return msg.removeprefix("Value error, ")


def _literal_pattern(pattern: str) -> str | None:
    """The one text an anchored pattern without wildcards matches (^RenderConfig$), else None."""
    inner = pattern.removeprefix("^").removesuffix("$")
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    plain = re.sub(r"\\(.)", r"\1", inner)
    return plain if re.escape(plain) == inner or re.escape(plain).replace("\\/", "/") == inner else None


def _unknown_field(loc: Loc, model: type[BaseModel]) -> str:
    name = loc[-1]
    allowed = _allowed_fields(model, loc[:-1])
    message = f"unknown field {name!r}"
    if not allowed:
        return message + " (check the spelling; see schemas/ for the allowed fields)"
    nearest = _nearest(name, allowed)
    if nearest:
        return message + nearest
    if len(allowed) <= MAX_LISTED:
        return message + "; expected one of " + ", ".join(allowed)
    return message + " (check the spelling; see schemas/ for the allowed fields)"


def _nearest(given: Any, allowed: list[str]) -> str:
    """'; did you mean …?' for the allowed name closest to ``given`` (spelling, case), or ''."""
    if not isinstance(given, str) or not allowed:
        return ""
    import difflib  # only a spec with a problem pays for it (tests/test_startup.py)

    by_case = [a for a in allowed if a.lower() == given.lower()]
    close = by_case or difflib.get_close_matches(given, allowed, n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close else ""


def _allowed_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the mapping at ``loc`` allows (their YAML names), or [] when not a model."""
    found = _model_in(_annotation_at(model, loc))
    if found is None:
        return []
    return [field.alias or name for name, field in found.model_fields.items()]


def _choices(model: type[BaseModel], loc: Loc) -> list[str]:
    """The allowed text values of an enum or Literal field at ``loc``."""
    values: list[str] = []
    for member in _members(_annotation_at(model, loc)):
        if typing.get_origin(member) is Literal:
            values += [v for v in typing.get_args(member) if isinstance(v, str)]
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            values += [m.value for m in member if isinstance(m.value, str)]
    return values


def _annotation_at(model: type[BaseModel], loc: Loc) -> Any:
    """The type annotation of the field at ``loc`` (a data path), or None when it cannot be told."""
    here: Any = model
    for part in loc:
        here = _step(here, part)
        if here is None:
            return None
    return here


def _step(annotation: Any, part: str | int) -> Any:
    from pydantic import BaseModel  # imported already: this runs for a ValidationError only

    for member in _members(annotation):
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(part, str):
            for name, field in member.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
        elif origin in (list, tuple) and isinstance(part, int):
            return typing.get_args(member)[0]
        elif origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
    return None


def _members(annotation: Any) -> list[Any]:
    """``annotation`` without Annotated and Optional, its union members one by one."""
    if typing.get_origin(annotation) is Annotated:
        return _members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [] if annotation is None or annotation is type(None) else [annotation]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    from pydantic import BaseModel  # imported already: this runs for a ValidationError only

    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


# A quoted word too long to show: a name, or one made from a name ("hippo-reconcile-1a2b3c").
# Without whitespace inside, it cannot be the text between two quotes of a message.
_LONG_WORD = Pattern(f"'[^'\\s]{{{MAX_SHOWN + 1},}}'|\"[^\"\\s]{{{MAX_SHOWN + 1},}}\"")


def _cut(message: str, path: Loc, here: Any) -> str:
    """``message`` with the long values it quotes cut. The checks quote what they refuse with
    repr(): the value at ``path``, its last key, the keys and values of a mapping there (labels,
    settings), or a name made from them; a spec may hold one thousands of characters long."""
    echoed: list[Any] = [path[-1]] if path else []
    if isinstance(here, dict):
        echoed += [*here, *here.values()]
    elif isinstance(here, list):
        echoed += here
    else:
        echoed.append(here)
    for text in echoed:
        if isinstance(text, str) and len(text) > MAX_SHOWN:
            message = message.replace(repr(text), repr(shorten(text)))
    return _LONG_WORD.sub(lambda m: m[0][0] + shorten(m[0][1:-1]) + m[0][0], message)
