"""``@frozen``: a frozen dataclass that is cheap to define.

Why. dataclasses compiles each generated method of each class from source when the class is defined:
``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and, frozen, ``__setattr__`` and ``__delattr__``.
pgrender defines about 90 frozen dataclasses (the plan, the builders' inputs), about 70 of them on
a render's start-up path. Compiling their methods cost about 26 ms of a 160 ms cold render (issue 17,
dataclasses' ``_create_fn`` timed), the largest single part of pgrender's own start-up.

What. ``@frozen`` lets dataclasses collect the fields (``dataclasses.fields``, ``replace`` and
``is_dataclass`` work as on any dataclass) and compiles nothing at definition:

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
``__post_init__`` and fields with ``init=False`` or ``kw_only``. (An ``InitVar`` would get no
parameter, so constructing the class fails.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")
Maker = Callable[[tuple[Any, ...], object], Callable[..., None]]


class _Factory:
    """The default of a parameter whose field has a default factory (dataclasses shows the same)."""

    def __repr__(self) -> str:
        return "<factory>"


FACTORY = _Factory()


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[T]) -> type[T]:
    if "__post_init__" in vars(cls):
        raise TypeError(f"@frozen {cls.__qualname__}: __post_init__ is not called; use @dataclass")
    if not cls.__doc__:
        cls.__doc__ = cls.__name__  # dataclasses would build one from the signature, with inspect
    made = dataclasses.dataclass(init=False, eq=False, repr=False)(cls)
    fields = dataclasses.fields(made)  # type: ignore[arg-type]
    defaults = tuple(
        f.default if f.default_factory is dataclasses.MISSING else f.default_factory
        for f in fields
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    )
    init = maker(shape(made))(defaults, FACTORY)
    init.__qualname__ = f"{made.__qualname__}.__init__"
    shared = {
        "__init__": init,
        "_frozen_key": staticmethod(_getter(tuple(f.name for f in fields if f.compare))),
        "_frozen_shown": tuple(f.name for f in fields if f.repr),
        "__eq__": _eq,
        "__hash__": _hash,
        "__repr__": _repr,
        "__setattr__": _refuse_set,
        "__delattr__": _refuse_delete,
    }
    for name, value in shared.items():
        setattr(made, name, value)
    return made


def shape(cls: type) -> str:
    """The fields in order, each ``name``, ``name=`` (a default) or ``name()`` (a default factory)."""
    parts = []
    for f in dataclasses.fields(cls):
        if not f.init or f.kw_only is True:
            raise TypeError(f"@frozen {cls.__qualname__}.{f.name}: init=False and kw_only fields are not supported")
        if f.default_factory is not dataclasses.MISSING:
            parts.append(f"{f.name}()")
        elif f.default is not dataclasses.MISSING:
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
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
