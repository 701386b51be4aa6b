"""``@frozen``: a frozen dataclass that is cheap to define, made without the dataclasses module.

Why. dataclasses compiles each generated method of each class from source when the class is defined:
``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and, frozen, ``__setattr__`` and ``__delattr__``.
pgrender defines about 90 frozen dataclasses (the plan, the builders' inputs), about 70 of them on
a render's start-up path. Compiling their methods cost about 26 ms of a 160 ms cold render (issue 17,
dataclasses' ``_create_fn`` timed). Collecting the fields with dataclasses, without compiling, still
cost about 5 ms for 72 classes, and importing dataclasses imports inspect (with ast, dis and
tokenize): together about 7 ms of a 100 ms cold render, measured by leaving each out. So ``@frozen``
collects the fields itself, and no module on the render path imports dataclasses.

What. ``@frozen`` reads the class's annotations (and the fields of @frozen bases) as dataclasses
does, and compiles nothing at definition:

- ``field(default=..., default_factory=..., compare=..., repr=...)``, ``fields(cls_or_instance)``,
  ``replace(instance, **changes)`` and ``FrozenInstanceError`` stand in for dataclasses' own, with
  the same behaviour for what they accept (tests/test_frozen.py defines classes both ways and
  compares them).
- ``__eq__``, ``__hash__`` and ``__repr__`` are shared by every class and read the class's fields
  with an attrgetter: equality and hash over the fields compared, in order; ``Name(field=value, ...)``
  over the fields shown.
- ``__setattr__`` and ``__delattr__`` are shared and refuse with FrozenInstanceError, as a frozen
  dataclass does.
- ``__init__`` depends only on the fields' names and which have a default or a default factory: the
  class's *shape*, such as ``name,labels=,annotations()``. ``pgrender/frozen_inits.py`` holds one
  compiled ``__init__`` maker for each shape pgrender's classes have, generated ahead of time by
  ``python -m pgrender.frozen_compile`` (``make schema``); Python loads it from its bytecode cache.
  A shape not there (a class just edited, a test's class) is compiled here from the same source
  text, so both ways give the same ``__init__``; tests/test_frozen.py checks the file is current.

What it refuses, because the generated ``__init__`` would not do what a dataclass does:
``__post_init__``, ``InitVar`` fields, a required field after one with a default, a mutable
default (as dataclasses does), and a field made by ``dataclasses.field`` (whose settings this module
does not read). ``field`` takes no ``init`` or ``kw_only``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
Maker = Callable[[tuple[Any, ...], object], Callable[..., None]]


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a @frozen instance (dataclasses raises its own, alike)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Factory:
    """The default of a parameter whose field has a default factory (dataclasses shows the same)."""

    def __repr__(self) -> str:
        return "<factory>"


FACTORY = _Factory()


class Field:
    """One field of a @frozen class: what ``field()`` says about it, and its name once collected."""

    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any, default_factory: Any, compare: bool, repr: bool) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr

    def named(self, name: str) -> Field:
        made = Field(self.default, self.default_factory, self.compare, self.repr)
        made.name = name
        return made

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"


@overload
def field(*, default: T, compare: bool = True, repr: bool = True) -> T: ...
@overload
def field(*, default_factory: Callable[[], T], compare: bool = True, repr: bool = True) -> T: ...
@overload
def field(*, compare: bool = True, repr: bool = True) -> Any: ...
def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    """A field's default or default factory, and whether it is compared and shown (dataclasses.field)."""
    return Field(default, default_factory, compare, repr)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    if "__post_init__" in vars(cls):
        raise TypeError(f"@frozen {cls.__qualname__}: __post_init__ is not called; use @dataclass")
    if not cls.__doc__:
        cls.__doc__ = cls.__name__  # dataclasses would build one from the signature, with inspect
    found = _collect(cls)
    defaults = tuple(
        f.default if f.default_factory is MISSING else f.default_factory
        for f in found
        if f.default is not MISSING or f.default_factory is not MISSING
    )
    init = maker(shape(cls, found))(defaults, FACTORY)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    shared = {
        "__frozen_fields__": found,
        "__match_args__": tuple(f.name for f in found),
        "__init__": init,
        "_frozen_key": staticmethod(_getter(tuple(f.name for f in found if f.compare))),
        "_frozen_shown": tuple(f.name for f in found if f.repr),
        "__eq__": _eq,
        "__hash__": _hash,
        "__repr__": _repr,
        "__setattr__": _refuse_set,
        "__delattr__": _refuse_delete,
    }
    for name, value in shared.items():
        setattr(cls, name, value)
    return cls


def _collect(cls: type) -> tuple[Field, ...]:
    """The fields of ``cls`` in dataclasses' order: its @frozen bases' (the farthest first), then its
    own annotations' (a ClassVar is not a field). Sets each class attribute to its default, as
    dataclasses does, or removes it when there is none."""
    collected: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in vars(base).get("__frozen_fields__", ()):
            collected[f.name] = f
    own = cls.__annotations__  # its own only (Python 3.10 and later), not its bases'
    for name, value in vars(cls).items():
        if isinstance(value, Field) and name not in own:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    for name, annotation in own.items():
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        if text.startswith(("InitVar", "dataclasses.InitVar")):
            raise TypeError(f"@frozen {cls.__qualname__}.{name}: InitVar fields are not supported")
        value = vars(cls).get(name, MISSING)
        if type(value).__module__ == "dataclasses" and type(value).__name__ == "Field":
            raise TypeError(f"@frozen {cls.__qualname__}.{name}: use pgrender.frozen.field, not dataclasses.field")
        made = (value if isinstance(value, Field) else Field(value, MISSING, True, True)).named(name)
        if made.default is not MISSING and type(made.default).__hash__ is None:
            raise ValueError(
                f"mutable default {type(made.default)} for field {name} is not allowed: use default_factory"
            )
        if isinstance(value, Field):
            if made.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, made.default)
        collected[name] = made  # a field redefined keeps its base's place, as in dataclasses
    return tuple(collected.values())


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a @frozen class or instance, in order (dataclasses.fields)."""
    found: tuple[Field, ...] | None = getattr(obj, "__frozen_fields__", None)
    if found is None:
        raise TypeError("must be called with a @frozen class or instance")
    return found


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a @frozen instance with ``changes`` (dataclasses.replace)."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj) if f.name not in changes}
    return type(obj)(**values, **changes)


def shape(cls: type, found: tuple[Field, ...] | None = None) -> str:
    """The fields in order, each ``name``, ``name=`` (a default) or ``name()`` (a default factory)."""
    parts = []
    for f in fields(cls) if found is None else found:
        if f.default_factory is not MISSING:
            parts.append(f"{f.name}()")
        elif f.default is not MISSING:
            parts.append(f"{f.name}=")
        elif parts and parts[-1][-1] in "=)":
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            parts.append(f.name)
    return ",".join(parts)


def maker(shape_text: str) -> Maker:
    """The ``__init__`` maker of a shape: the generated one, else compiled now from the same text."""
    from pgrender.frozen_inits import MAKERS

    found = MAKERS.get(shape_text)
    if found is None:
        namespace: dict[str, Any] = {"__frozen_set__": object.__setattr__}
        exec(init_source(shape_text, "make"), namespace)
        found = MAKERS[shape_text] = namespace["make"]
    return found


def init_source(shape_text: str, name: str) -> str:
    """Python source of a function ``name(defaults, factory)`` that returns the shape's ``__init__``.

    ``defaults`` holds each default value or factory in field order. The names the body uses besides
    the fields' own are dunder names, so no field can hide them.
    """
    params: list[str] = []
    body: list[str] = []
    defaults: list[str] = []
    for part in shape_text.split(",") if shape_text else ():
        field = part.rstrip("=()")
        value = field
        if part != field:
            default = f"__frozen_d{len(defaults)}__"
            defaults.append(default)
            if part.endswith("()"):
                params.append(f"{field}=__frozen_factory__")
                value = f"{default}() if {field} is __frozen_factory__ else {field}"
            else:
                params.append(f"{field}={default}")
        else:
            params.append(field)
        body.append(f"        __frozen_set__(__frozen_self__, {field!r}, {value})\n")
    unpack = f"    {', '.join(defaults)}{',' * (len(defaults) == 1)} = __frozen_defaults__\n" if defaults else ""
    return (
        f"def {name}(__frozen_defaults__, __frozen_factory__):\n{unpack}"
        f"    def __init__({', '.join(['__frozen_self__', *params])}):\n"
        + ("".join(body) or "        pass\n")
        + "    return __init__\n"
    )


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of ``names`` as a tuple (attrgetter of one name gives the value alone)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _eq(self: Any, other: Any) -> Any:  # bool, or NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self._frozen_key(self) == other._frozen_key(other)


def _hash(self: Any) -> int:
    return hash(self._frozen_key(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._frozen_shown)
    return f"{self.__class__.__qualname__}({shown})"


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")
