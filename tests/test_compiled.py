"""The compiled spec models (pgrender/spec/plain.py, compiled.py): current, equal to pydantic's
within the strict subset, pydantic's verdict outside it, and a compiler that refuses what it cannot
decide. Every spec the rest of the suite validates is checked against pydantic too (conftest.py,
tests/compiled_check.py)."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import AfterValidator, ConfigDict, Field

from pgrender.spec import compile as compiler
from pgrender.spec import compiled, plain, validated
from pgrender.spec.base import StrictModel
from tests.compiled_check import assert_same
from tests.conftest import BASE_SPEC, EXAMPLES, GOLDEN

# The valid ones: golden/error-* hold invalid specs, which pydantic reports (tests/test_golden.py).
VALID_GOLDEN = (p for p in GOLDEN.glob("*/spec.yaml") if not p.parent.name.startswith("error-"))
SPECS = sorted([*EXAMPLES.glob("*.yaml"), *VALID_GOLDEN])


def test_compiled_is_current() -> None:
    assert compiler.compile_models(compiler.roots()) == compiler.TARGET.read_text(), "run `make schema`"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_is_decided_without_pydantic(path: Any) -> None:
    from pgrender.load import load_file

    for doc in load_file(path):
        data = copy.deepcopy(doc.data)
        data["metadata"].setdefault("namespace", "default")
        got = compiled.VALIDATORS["PostgresCluster"](data)
        made = plain.pydantic_model(compiled.MODELS["PostgresCluster"]).model_validate(data)
        assert_same(got, made)


# Values pydantic takes outside the strict subset: the compiled validator declines them, and
# validated() gives pydantic's objects, the same as for the value written plainly.
@pytest.mark.parametrize(
    ("where", "given", "plainly"),
    [
        (("spec", "port"), "5433", 5433),  # a number in a string
        (("spec", "instances", 0, "replicas"), 2.0, 2),  # a whole float
        (("spec", "openshift"), "true", True),  # a bool in a string
        (("spec", "instances", 0, "data_volume"), {"size": "1Gi"}, None),  # the Python name of dataVolume
    ],
)  # fmt: skip
def test_outside_the_strict_subset_pydantic_decides(where: tuple[Any, ...], given: Any, plainly: Any) -> None:
    loose, strict = copy.deepcopy(BASE_SPEC), copy.deepcopy(BASE_SPEC)
    *parents, key = where
    _at(loose, parents)[key] = given
    if plainly is None:  # a key renamed: the strict spec keeps the alias
        del _at(loose, parents)["dataVolume"]
    else:
        _at(strict, parents)[key] = plainly
    with pytest.raises(plain.Declined):
        compiled.VALIDATORS["PostgresCluster"](loose)
    assert_same(validated("PostgresCluster", loose), _made(strict))


def _at(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


def _made(data: Any) -> Any:
    return plain.pydantic_model(compiled.MODELS["PostgresCluster"]).model_validate(data)


def test_plain_objects_are_immutable_values() -> None:
    cluster = compiled.VALIDATORS["PostgresCluster"](copy.deepcopy(BASE_SPEC))
    with pytest.raises(TypeError, match="immutable"):
        cluster.spec.port = 1  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(cluster))
    assert again == cluster and hash(again.spec.rollout) == hash(cluster.spec.rollout)
    assert again.spec.model_fields_set == {"postgres_version", "instances"}
    assert repr(cluster.spec.rollout) == repr(_made(copy.deepcopy(BASE_SPEC)).spec.rollout)


# Models using what the compiler does not decide as pydantic does: it refuses them by name.
class _Exclusive(StrictModel):
    n: int = Field(gt=0)


class _Stripped(StrictModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    s: str


class _Multiline(StrictModel):
    s: str = Field(pattern="^a$|^b$")


class _Digits(StrictModel):
    s: str = Field(pattern=r"^\d+$")  # Rust's \d and Python's differ beyond ASCII


class _Lambda(StrictModel):
    s: Annotated[str, AfterValidator(lambda v: v)]


class _Tuple(StrictModel):
    t: tuple[int, int]


class _LeftToRight(StrictModel):
    u: int | str = Field(union_mode="left_to_right")


class _Fine(StrictModel):
    kind: Literal["a", "b"] = "a"


@pytest.mark.parametrize(
    ("model", "refusal"),
    [
        (_Exclusive, "['gt'] not compiled"),
        (_Stripped, "config"),
        (_Multiline, "a trailing $ are compiled"),
        (_Digits, "only ASCII, punctuation escapes"),
        (_Lambda, "not reachable by name"),
        (_Tuple, "'tuple' is not compiled"),
        (_LeftToRight, "union mode 'left_to_right'"),
    ],
)  # fmt: skip
def test_the_compiler_refuses_what_it_cannot_decide(model: type, refusal: str) -> None:
    with pytest.raises(compiler.CompileError, match=refusal.replace("[", r"\[").replace("$", r"\$")):
        compiler.compile_models((model,))


def test_the_compiler_compiles_a_plain_model() -> None:
    text = compiler.compile_models((_Fine,))
    namespace: dict[str, Any] = {}
    exec(compile(text, "compiled", "exec"), namespace)  # the compiler's own output
    made = namespace["VALIDATORS"]["_Fine"]({})
    assert (made.kind, made.model_fields_set) == ("a", set())
    with pytest.raises(plain.Declined):
        namespace["VALIDATORS"]["_Fine"]({"kind": "c"})


# A container's fields are passed through as given: what the YAML loader makes of a scalar (a float,
# YAML's .inf and .nan, a timestamp) is dumped in JSON mode as pydantic dumps it.
@pytest.mark.parametrize(
    "value",
    [1.5, -0.0, 1e300, float("inf"), float("nan"), dt.date(2026, 1, 1), dt.datetime(2026, 1, 1, 5, 6, 7, 8),
     dt.datetime(2026, 1, 1, 1, 2, 3, 500000), dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
     dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(0))),
     dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     dt.datetime(2026, 1, 1, tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30)))],
    ids=repr,
)  # fmt: skip
def test_a_containers_scalars_are_dumped_as_pydantic_dumps_them(value: Any) -> None:
    data = copy.deepcopy(BASE_SPEC)
    probe = {"timeoutSeconds": value, "grpc": {"port": [value]}}  # passed through as given, nested too
    data["spec"]["instances"][0]["sidecars"] = [{"name": "side", "image": "busybox:1.36", "livenessProbe": probe}]
    got = compiled.VALIDATORS["PostgresCluster"](copy.deepcopy(data))
    assert_same(got, _made(data))  # every dump, JSON mode included
    dumped = got.spec.instances[0].sidecars[0].manifest()["livenessProbe"]
    assert dumped["grpc"]["port"] == [dumped["timeoutSeconds"]]


def test_a_float_in_a_containers_fields_is_rendered(tmp_path: Any) -> None:
    from tests.conftest import GOLDEN_KEY, run_cli

    spec = copy.deepcopy(BASE_SPEC)
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 10, "timeoutSeconds": 1.5}
    spec["spec"]["instances"][0]["sidecars"] = [{"name": "side", "image": "busybox:1.36", "livenessProbe": probe}]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = run_cli("render", str(tmp_path / "spec.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr  # was an internal error (exit 70)
    assert "timeoutSeconds: 1.5\n" in result.stdout
