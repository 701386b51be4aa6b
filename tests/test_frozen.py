"""@frozen behaves as @dataclass(frozen=True): each class below is defined both ways and compared."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from pgrender.frozen import frozen


def _both(body: dict[str, Any], bases: tuple[type, ...] = ()) -> tuple[type, type]:
    """The same class made by @frozen and by @dataclass(frozen=True)."""
    made = []
    for decorate in (frozen, dataclasses.dataclass(frozen=True)):
        namespace = {k: (v() if callable(v) else v) for k, v in body.items() if k != "__annotations__"}
        namespace["__annotations__"] = dict(body["__annotations__"])
        made.append(decorate(type("Example", bases, namespace)))
    return made[0], made[1]


CASES: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    ("no fields", {"__annotations__": {}}, ()),
    ("one field", {"__annotations__": {"a": "int"}}, (1,)),
    ("several", {"__annotations__": {"a": "int", "b": "str", "c": "tuple[int, ...]"}}, (1, "x", (2, 3))),
    (
        "a field not compared or shown",
        {
            "__annotations__": {"a": "int", "b": "str"},
            "b": lambda: dataclasses.field(default="s", compare=False, repr=False),
        },
        (1, "y"),
    ),
    ("a default", {"__annotations__": {"a": "int", "b": "int"}, "b": lambda: 7}, (1,)),
]


@pytest.mark.parametrize(("body", "args"), [(b, a) for _, b, a in CASES], ids=[c[0] for c in CASES])
def test_frozen_is_a_frozen_dataclass(body: dict[str, Any], args: tuple[Any, ...]) -> None:
    fast, plain = _both(body)
    a, b, other = fast(*args), fast(*args), plain(*args)
    assert a == b and hash(a) == hash(b) == hash(other) and repr(a) == repr(other)
    assert (a == other) is False  # another class: NotImplemented both ways, as dataclasses does
    assert dataclasses.is_dataclass(a) and [f.name for f in dataclasses.fields(a)] == [
        f.name for f in dataclasses.fields(other)
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.a = 2  # type: ignore[attr-defined]
    if args:
        changed = dataclasses.replace(a, a=args[0] + 1)
        assert changed != a and dataclasses.replace(other, a=args[0] + 1) != other
        assert (changed == a) == (dataclasses.replace(other, a=args[0] + 1) == other)


def test_a_field_not_compared_leaves_equality_and_hash() -> None:
    fast, _ = _both(CASES[3][1])
    assert fast(1, "x") == fast(1, "y") and hash(fast(1, "x")) == hash(fast(1, "y"))
    assert repr(fast(1, "x")) == "Example(a=1)"


def test_a_subclass_compares_its_own_and_inherited_fields() -> None:
    base = frozen(type("Base", (), {"__annotations__": {"a": "int"}}))
    sub = frozen(type("Sub", (base,), {"__annotations__": {"b": "int"}}))
    assert sub(1, 2) == sub(1, 2) != sub(1, 3) and sub(1, 2) != base(1)
    assert repr(sub(1, 2)) == "Sub(a=1, b=2)"


def test_an_instance_pickles() -> None:
    from pgrender.render import ClusterOutput  # what a worker process sends back (pgrender.fleet)

    value = ClusterOutput("hippo", "db", ())
    assert pickle.loads(pickle.dumps(value)) == value
