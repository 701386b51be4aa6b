"""What the compiled spec (pgrender/spec/compiled.py) is made of: plain classes in place of the
pydantic models, and the validators that fill them, without importing pydantic.

Why. Importing pydantic and building the 75 spec models cost about two thirds of a cold render
(issue 17: about 200 of 300 ms), on every run, for every spec, valid or not. pgrender.spec.compile
reads the models' pydantic core schemas ahead of time and writes compiled.py: one Plain subclass per
model and one validator per model, combined from the functions below, calling the same check
functions the models call (their modules import without pydantic).

The strict subset. A validator here accepts only what it can decide exactly as pydantic would,
which is what a YAML spec holds: a str where a str is expected, an int (not a bool) where an int is,
camelCase keys. Anything else (a value pydantic would coerce, a key given by its Python name, a
missing field, a check that raises) raises ``Declined`` (or the check's ValueError), and
pgrender.spec.validated asks pydantic: pydantic accepts and its model is converted
(``from_model``), or it refuses with its own messages. So an invalid spec is reported exactly as
before, and a valid one yields the same values, defaults and fields set as pydantic's model
(tests/test_compiled.py; and every spec the test suite validates, through tests/compiled_check.py).
Hand-written rather than a library's: what is needed is pydantic's own behaviour, without pydantic.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, NamedTuple

from pgrender.patterns import Pattern

Validator = Callable[[Any], Any]


class Declined(Exception):
    """The value is outside the strict subset: pydantic decides (and reports) instead."""


class Field(NamedTuple):
    """One field of a Plain class, as pydantic's FieldInfo gives it (the parts pgrender reads)."""

    name: str
    alias: str
    validator: Validator  # of a given value
    default: Callable[[], Any] | None  # the default, validated (validate_default), or None: required


class Plain:
    """A spec object: the fields of the pydantic model it stands for, immutable, with the parts of
    pydantic's BaseModel API that pgrender uses (model_fields_set, model_fields, model_dump)."""

    __slots__ = ("model_fields_set",)
    model_fields: ClassVar[dict[str, Field]] = {}
    model_fields_set: set[str]

    def __setattr__(self, name: str, value: object) -> None:
        raise TypeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"{type(self).__name__} is immutable")

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*self.model_fields, "model_fields_set")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.model_fields)

    def __eq__(self, other: object) -> bool:
        # pydantic compares the type and the fields' values, not which fields were given.
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.model_fields)
        return f"{type(self).__name__}({fields})"

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return ((name, getattr(self, name)) for name in self.model_fields)

    def model_dump(
        self,
        *,
        by_alias: bool = False,
        exclude_none: bool = False,
        exclude_defaults: bool = False,
        mode: str = "python",
    ) -> dict[str, Any]:
        """pydantic's model_dump for these options: the fields in order, nested objects as dicts."""
        out: dict[str, Any] = {}
        for name, field in self.model_fields.items():
            value = getattr(self, name)
            if exclude_none and value is None:
                continue
            if exclude_defaults and field.default is not None and value == field.default():
                continue
            out[field.alias if by_alias else name] = _dumped(value, by_alias, exclude_none, exclude_defaults, mode)
        return out


def _dumped(value: Any, by_alias: bool, exclude_none: bool, exclude_defaults: bool, mode: str) -> Any:
    if isinstance(value, Plain):
        options = {"by_alias": by_alias, "exclude_none": exclude_none, "exclude_defaults": exclude_defaults}
        return value.model_dump(**options, mode=mode)
    if isinstance(value, list | tuple):
        return [_dumped(v, by_alias, exclude_none, exclude_defaults, mode) for v in value]
    if isinstance(value, dict):
        return {k: _dumped(v, by_alias, exclude_none, exclude_defaults, mode) for k, v in value.items()}
    if mode == "json":  # as pydantic writes these in JSON mode (tests/compiled_check.py holds the two)
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, float):
            return value if math.isfinite(value) else None  # its ser_json_inf_nan="null"
        if isinstance(value, dt.datetime | dt.date):  # a timestamp in a container's fields, given as is
            text = value.isoformat()  # pydantic's ISO 8601 writes UTC as "Z"; YAML's offsets are whole minutes
            return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value


# The validators, one factory per kind of pydantic core schema that the models use. Each returns a
# function of the given value; compiled.py composes them.


def string(min_length: int | None = None, max_length: int | None = None, pattern: str | None = None) -> Validator:
    search = Pattern(pattern).search if pattern is not None else None

    def check(value: Any) -> str:
        if type(value) is not str:
            raise Declined
        if (min_length is not None and len(value) < min_length) or (max_length is not None and len(value) > max_length):
            raise Declined
        if search is not None and search(value) is None:
            raise Declined
        return value

    return check


def integer(ge: int | None = None, le: int | None = None) -> Validator:
    def check(value: Any) -> int:
        if type(value) is not int or (ge is not None and value < ge) or (le is not None and value > le):
            raise Declined
        return value

    return check


def number() -> Validator:
    def check(value: Any) -> float:
        if type(value) is not float or value != value:  # NaN: pydantic's own rules decide
            raise Declined
        return value

    return check


def boolean() -> Validator:
    def check(value: Any) -> bool:
        if type(value) is not bool:
            raise Declined
        return value

    return check


def timestamp() -> Validator:
    def check(value: Any) -> dt.datetime:
        if type(value) is not dt.datetime:
            raise Declined
        return value

    return check


def anything() -> Validator:
    return lambda value: value


def literal(*expected: Any) -> Validator:
    def check(value: Any) -> Any:
        for candidate in expected:
            if type(value) is type(candidate) and value == candidate:
                return candidate
        raise Declined

    return check


def member(cls: type[enum.Enum]) -> Validator:
    by_value = {m.value: m for m in cls}

    def check(value: Any) -> enum.Enum:
        if type(value) is cls:
            return value
        found = by_value.get(value) if type(value) is str else None
        if found is None:
            raise Declined
        return found

    return check


def nullable(inner: Validator) -> Validator:
    return lambda value: None if value is None else inner(value)


def sequence(item: Validator, min_length: int | None = None, max_length: int | None = None) -> Validator:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Declined
        if (min_length is not None and len(value) < min_length) or (max_length is not None and len(value) > max_length):
            raise Declined
        return [item(v) for v in value]

    return check


def mapping(key: Validator, item: Validator, max_length: int | None = None) -> Validator:
    def check(value: Any) -> dict[Any, Any]:
        if not isinstance(value, dict) or (max_length is not None and len(value) > max_length):
            raise Declined
        return {key(k): item(v) for k, v in value.items()}

    return check


def one_of(*choices: Validator) -> Validator:
    """pydantic's smart union, where exactly one choice takes the value; any other case is pydantic's."""

    def check(value: Any) -> Any:
        taken = []
        for choice in choices:
            try:
                taken.append(choice(value))
            except Declined:
                continue
        if len(taken) != 1:
            raise Declined
        return taken[0]

    return check


def before(function: Callable[[Any], Any], inner: Validator) -> Validator:
    return lambda value: inner(function(value))


def after(inner: Validator, function: Callable[[Any], Any]) -> Validator:
    return lambda value: function(inner(value))


class Model:
    """The validator of a Plain class: a mapping of camelCase keys, every required one given."""

    def __init__(self, cls: type[Plain], fields: tuple[Field, ...]) -> None:
        self.cls = cls
        self.fields = fields
        self.aliases = frozenset(f.alias for f in fields)
        cls.model_fields = {f.name: f for f in fields}

    def __call__(self, value: Any) -> Plain:
        if type(value) is self.cls:
            return value  # made already (the plan passes spec objects on): taken as it is, as pydantic does
        if not isinstance(value, dict) or not self.aliases.issuperset(value):
            raise Declined  # extra keys are refused, Python names accepted: both pydantic's to say
        obj = object.__new__(self.cls)
        given = set()
        for field in self.fields:
            if field.alias in value:
                given.add(field.name)
                result = field.validator(value[field.alias])
            elif field.default is not None:
                result = field.default()
            else:
                raise Declined
            object.__setattr__(obj, field.name, result)
        object.__setattr__(obj, "model_fields_set", given)
        return obj


def pydantic_model(path: str) -> Any:
    """The pydantic model at ``path`` (module.qualname), imported now."""
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def from_model(model: Any, classes: dict[str, type[Plain]]) -> Any:
    """The Plain objects of a pydantic model (one pydantic accepted outside the strict subset):
    the same values and fields set, nested models converted by ``classes`` (module.qualname)."""
    from pydantic import BaseModel

    if isinstance(model, BaseModel):
        cls = classes[f"{type(model).__module__}.{type(model).__qualname__}"]
        obj = object.__new__(cls)
        for name in cls.model_fields:
            object.__setattr__(obj, name, from_model(getattr(model, name), classes))
        object.__setattr__(obj, "model_fields_set", set(model.model_fields_set))
        return obj
    if isinstance(model, list):
        return [from_model(v, classes) for v in model]
    if isinstance(model, dict):
        return {k: from_model(v, classes) for k, v in model.items()}
    return model
