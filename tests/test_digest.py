"""digest.canonical is json.dumps(sort_keys, no blanks) byte for byte: digests name Jobs and annotate
pod templates, so any other form would roll every pod once (pgrender/digest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgrender import digest


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Text(str):
    pass


class Mapping(dict[str, Any]):
    pass


LONG = "#!/bin/sh\n" + "echo 'é \u2028 \\ \" \t \x7f \ud800'\n" * 40  # past digest.LONG_STRING

CASES = [
    "plain",
    LONG,
    "x" * (digest.LONG_STRINGS_HELD + 1),  # too long to be held
    ["name", {"b": LONG, "a": "short", "c": LONG}],  # a ConfigMap's data at the second level
    {"data": {"script": LONG}, "template": {"spec": {"containers": [{"args": [LONG]}]}}},
    {"z": 1, "a": 2.5, "m": None, "t": True, "n": float("nan"), "i": float("inf"), "big": 2**70},
    {10: "a", 9: LONG},  # keys json sorts as numbers, then turns into strings
    {"t": ("a", LONG)},  # a tuple is a list to json
    [Text(LONG), Mapping(b=LONG, a=1)],  # subclasses
    [1e-05, -0.0, 1e16],
    {},
    [],
    [[[[LONG]]]],
    {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "ports": [{"port": 5432}]}]}},
    {"data": {"a.sh": "short", "b": ["x", LONG]}},  # a long string past the levels written here
    [(LONG,), Mapping(a=LONG)],  # a tuple and a subclass holding one: json's to write
]


@pytest.mark.parametrize("value", CASES, ids=range(len(CASES)))
def test_canonical_is_json_dumps(value: Any) -> None:
    assert digest.canonical(value) == dumps(value)
    assert digest.canonical(value) == dumps(value)  # the second time from the cache


def test_what_json_refuses_is_refused() -> None:
    for value in ({1: "a", "2": "b"}, [{"a": object()}], {"b": LONG, "a": {1, 2}}):
        with pytest.raises(TypeError):
            dumps(value)
        with pytest.raises(TypeError):
            digest.canonical(value)


def test_a_long_string_is_escaped_once() -> None:
    digest.escaped.clear()
    for _ in range(3):
        digest.digest(["name", {"script": LONG}])
    assert (digest.escaped.misses, digest.escaped.hits, len(digest.escaped)) == (1, 2, 1)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.text(min_size=digest.LONG_STRING, max_size=digest.LONG_STRING + 40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_canonical_is_json_dumps_for_any_value(value: Any) -> None:
    assert digest.canonical(value) == dumps(value)
