"""``@frozen``: a frozen dataclass that is cheaper to define.

Why. dataclasses compiles each generated method of each class from source when the class is defined:
``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and, frozen, ``__setattr__`` and ``__delattr__``.
pgrender defines about 90 frozen dataclasses (the plan, the builders' inputs), about 70 of them on
a render's start-up path, and their definition cost about 45 ms of a 180 ms cold render (issue 17,
measured with dataclasses._process_class timed). ``@frozen`` lets dataclasses generate
``__init__`` and the frozen ``__setattr__``/``__delattr__`` and gives every class the same
``__eq__``, ``__hash__`` and ``__repr__``, which read the class's fields with an attrgetter: the
same behaviour as ``@dataclass(frozen=True)`` (equality and hash over the fields compared, in
order; ``Name(field=value, ...)`` over the fields shown), about half the definition cost.
``dataclasses.fields``, ``replace`` and ``is_dataclass`` work as on any dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[T]) -> type[T]:
    made = dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)
    fields = dataclasses.fields(made)  # type: ignore[arg-type]
    shared = {
        "_frozen_key": staticmethod(_getter(tuple(f.name for f in fields if f.compare))),
        "_frozen_shown": tuple(f.name for f in fields if f.repr),
        "__eq__": _eq,
        "__hash__": _hash,
        "__repr__": _repr,
    }
    for name, value in shared.items():
        setattr(made, name, value)
    return made


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
