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


def test_frozen_inits_is_current() -> None:
    from pgrender import frozen_compile

    assert frozen_compile.source(frozen_compile.shapes()) == frozen_compile.TARGET.read_text(), "run `make schema`"


SHAPES = [
    # (annotations, defaults, shape)
    ({"a": "int"}, {}, "a"),
    ({"a": "int", "b": "int"}, {"b": 7}, "a,b="),
    ({"a": "int", "b": "dict[str, int]"}, {"b": lambda: dataclasses.field(default_factory=dict)}, "a,b()"),
    ({"self": "int", "b": "int"}, {"b": lambda: None}, "self,b="),
]


@pytest.mark.parametrize(("annotations", "defaults", "expected"), SHAPES, ids=[s[2] for s in SHAPES])
def test_shape_names_the_fields_and_their_defaults(
    annotations: dict[str, str], defaults: dict[str, Any], expected: str
) -> None:
    from pgrender.frozen import shape

    cls, _ = _both({"__annotations__": annotations, **defaults})
    assert shape(cls) == expected


def test_a_generated_init_and_one_compiled_at_definition_behave_alike() -> None:
    """The same shape made from frozen_inits and compiled from init_source: same signature, same values."""
    import inspect

    from pgrender.frozen import FACTORY, init_source
    from pgrender.frozen_inits import MAKERS

    text = next(t for t in MAKERS if "()" in t and "=" in t)  # a default and a default factory
    namespace: dict[str, Any] = {"__frozen_set__": object.__setattr__}
    exec(init_source(text, "make"), namespace)
    defaults = tuple(
        (lambda: ["made"]) if part.endswith("()") else f"default {i}"
        for i, part in enumerate(text.split(","))
        if part.endswith(("=", "()"))
    )
    generated, compiled = MAKERS[text](defaults, FACTORY), namespace["make"](defaults, FACTORY)
    assert inspect.signature(generated) == inspect.signature(compiled)
    required = [p for p in text.split(",") if not p.endswith(("=", "()"))]
    made = []
    for init in (generated, compiled):
        obj = type("Bare", (), {})()
        init(obj, *range(len(required)))
        made.append(vars(obj))
    assert made[0] == made[1] and ["made"] in made[0].values() and made[0][required[0]] == 0


REFUSED = [
    # (class body, message)
    ({"__annotations__": {"a": "int"}, "__post_init__": lambda: lambda self: None}, "__post_init__"),
    ({"__annotations__": {"a": "int"}, "a": lambda: dataclasses.field(init=False, default=1)}, "init=False"),
    ({"__annotations__": {"a": "int"}, "a": lambda: dataclasses.field(kw_only=True)}, "kw_only"),
    ({"__annotations__": {"a": "int", "b": "int"}, "a": lambda: 1}, "non-default argument 'b'"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED, ids=[r[1] for r in REFUSED])
def test_what_frozen_refuses(body: dict[str, Any], message: str) -> None:
    namespace = {k: v() for k, v in body.items() if k != "__annotations__"}
    with pytest.raises(TypeError, match=message):
        frozen(type("Example", (), {"__annotations__": dict(body["__annotations__"]), **namespace}))


def test_deleting_a_field_is_refused() -> None:
    cls, _ = _both({"__annotations__": {"a": "int"}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        del cls(1).a
