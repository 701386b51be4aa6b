"""@frozen behaves as @dataclass(frozen=True): each class below is defined both ways and compared."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, ClassVar  # noqa: F401  (dataclasses finds ClassVar by name here)

import pytest

from pgrender import frozen as frozen_module
from pgrender.frozen import FrozenInstanceError, field, fields, frozen, replace


def _both(body: dict[str, Any], bases: tuple[type, ...] = ()) -> tuple[type, type]:
    """The same class made by @frozen and by @dataclass(frozen=True); a value that is a function is
    called with the module whose ``field`` it uses (pgrender.frozen's, else dataclasses')."""
    made = []
    for decorate, module in ((frozen, frozen_module), (dataclasses.dataclass(frozen=True), dataclasses)):
        namespace = {k: (v(module) if callable(v) else v) for k, v in body.items() if k != "__annotations__"}
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
            "b": lambda module: module.field(default="s", compare=False, repr=False),
        },
        (1, "y"),
    ),
    ("a default", {"__annotations__": {"a": "int", "b": "int"}, "b": 7}, (1,)),
    (
        "a default factory",
        {"__annotations__": {"a": "int", "b": "tuple[int, ...]"}, "b": lambda m: m.field(default_factory=tuple)},
        (1,),
    ),
    ("a ClassVar is not a field", {"__annotations__": {"a": "int", "b": "ClassVar[int]"}, "b": 3}, (1,)),
]


@pytest.mark.parametrize(("body", "args"), [(b, a) for _, b, a in CASES], ids=[c[0] for c in CASES])
def test_frozen_is_a_frozen_dataclass(body: dict[str, Any], args: tuple[Any, ...]) -> None:
    fast, plain = _both(body)
    a, b, other = fast(*args), fast(*args), plain(*args)
    assert a == b and hash(a) == hash(b) == hash(other) and repr(a) == repr(other)
    assert (a == other) is False  # another class: NotImplemented both ways, as dataclasses does
    assert [f.name for f in fields(a)] == [f.name for f in dataclasses.fields(other)]
    assert [f.name for f in fields(fast)] == [f.name for f in dataclasses.fields(plain)]
    assert fast.__match_args__ == plain.__match_args__  # type: ignore[attr-defined]
    assert {k: v for k, v in vars(fast).items() if k in body} == {k: v for k, v in vars(plain).items() if k in body}
    with pytest.raises(FrozenInstanceError):
        a.a = 2  # type: ignore[attr-defined]
    if args:
        changed = replace(a, a=args[0] + 1)
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
    ({"a": "int", "b": "dict[str, int]"}, {"b": lambda module: module.field(default_factory=dict)}, "a,b()"),
    ({"self": "int", "b": "int"}, {"b": None}, "self,b="),
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
    # (class body, error, message)
    ({"__annotations__": {"a": "int"}, "__post_init__": lambda self: None}, TypeError, "__post_init__"),
    ({"__annotations__": {"a": "int", "b": "int"}, "a": 1}, TypeError, "non-default argument 'b'"),
    ({"__annotations__": {"a": "InitVar[int]"}}, TypeError, "InitVar"),
    ({"__annotations__": {"a": "int"}, "a": dataclasses.field(default=1)}, TypeError, "not dataclasses.field"),
    ({"__annotations__": {"a": "list[int]"}, "a": []}, ValueError, "mutable default"),
    ({"__annotations__": {}, "a": field(default=1)}, TypeError, "no type annotation"),
]


@pytest.mark.parametrize(("body", "error", "message"), REFUSED, ids=[r[2] for r in REFUSED])
def test_what_frozen_refuses(body: dict[str, Any], error: type[Exception], message: str) -> None:
    namespace = {k: v for k, v in body.items() if k != "__annotations__"}
    with pytest.raises(error, match=message):
        frozen(type("Example", (), {"__annotations__": dict(body["__annotations__"]), **namespace}))


@pytest.mark.parametrize("setting", ["init", "kw_only"])
def test_field_takes_no_init_or_kw_only(setting: str) -> None:
    with pytest.raises(TypeError, match=setting):
        field(**{setting: False})


def test_a_field_redefined_keeps_its_place_and_takes_the_new_default() -> None:
    made = []
    for decorate in (frozen, dataclasses.dataclass(frozen=True)):
        base = decorate(type("Base", (), {"__annotations__": {"a": "int", "b": "int"}}))
        made.append(decorate(type("Sub", (base,), {"__annotations__": {"b": "int", "c": "int"}, "b": 1, "c": 2})))
    fast, plain = made
    assert [f.name for f in fields(fast)] == [f.name for f in dataclasses.fields(plain)] == ["a", "b", "c"]
    assert repr(fast(0)) == repr(plain(0)) == "Sub(a=0, b=1, c=2)"
    with pytest.raises(TypeError, match="non-default argument 'c'"):
        frozen(type("Again", (fast,), {"__annotations__": {"c": "int"}}))


def test_deleting_a_field_is_refused() -> None:
    cls, _ = _both({"__annotations__": {"a": "int"}})
    with pytest.raises(FrozenInstanceError):
        del cls(1).a


def test_replace_and_fields_refuse_what_is_not_frozen() -> None:
    with pytest.raises(TypeError, match="@frozen"):
        fields(object())
    cls, _ = _both({"__annotations__": {"a": "int"}})
    with pytest.raises(TypeError):
        replace(cls(1), b=2)


def test_the_render_path_imports_no_dataclasses() -> None:
    """What @frozen is for: a render's start-up imports neither dataclasses nor inspect."""
    import subprocess
    import sys

    code = "import sys, pgrender.render, pgrender.write; print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
