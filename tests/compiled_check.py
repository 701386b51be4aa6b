"""The compiled spec models (pgrender/spec/plain.py) held to pydantic's: conftest.py routes every
spec the suite validates through ``agreeing``, so each test's spec is a case too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from pgrender.spec import compiled, plain

DUMPS: tuple[dict[str, Any], ...] = (
    {},
    {"by_alias": True},
    {"by_alias": True, "exclude_none": True, "exclude_defaults": True},
    {"by_alias": True, "exclude_none": True, "mode": "json"},
)


def agreeing(model: str, data: Any) -> Any:
    """pgrender.spec.validated, checked: where the compiled validator accepts, pydantic accepts and
    makes the same objects; where pydantic refuses, the compiled validator declined."""
    try:
        got = compiled.VALIDATORS[model](data)
    except Exception:
        got = None
    try:
        made = plain.pydantic_model(compiled.MODELS[model]).model_validate(data)
    except ValidationError:
        assert got is None, f"the compiled {model} accepted what pydantic refuses: {data!r}"
        raise
    if got is None:
        return plain.from_model(made, compiled.CLASSES)
    assert_same(got, made)
    return got  # what pgrender.spec.validated gives: the tests run on the compiled objects


def assert_same(got: Any, made: Any, path: str = "") -> None:
    """``got`` (Plain objects) holds what ``made`` (pydantic's) holds: types, values, fields set, dumps."""
    if isinstance(made, BaseModel):
        assert type(got).__name__ == type(made).__name__, path
        assert got.model_fields_set == made.model_fields_set, path
        for name in type(made).model_fields:
            assert_same(getattr(got, name), getattr(made, name), f"{path}.{name}")
        if not path:
            for options in DUMPS:
                assert _same_dump(got.model_dump(**options), made.model_dump(**options)), options
    elif isinstance(made, list | dict):
        assert type(got) is type(made) and len(got) == len(made), path
        pairs = zip(got, made, strict=True) if isinstance(made, list) else ((got[k], made[k]) for k in made)
        assert isinstance(made, list) or list(got) == list(made), path
        for n, (a, b) in enumerate(pairs):
            assert_same(a, b, f"{path}[{n}]")
    else:
        assert _same_dump(got, made), (path, got, made)


def _same_dump(got: Any, made: Any) -> bool:
    """``got == made``, with the type of each value (a float is not an int) and NaN equal to NaN."""
    if isinstance(made, dict):
        return isinstance(got, dict) and list(got) == list(made) and all(_same_dump(got[k], made[k]) for k in made)
    if isinstance(made, list):
        return isinstance(got, list) and len(got) == len(made) and all(map(_same_dump, got, made))
    return type(got) is type(made) and (got == made or (got != got and made != made))
