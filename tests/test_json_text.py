"""json_text.indented: json.dumps(indent=2)'s exact text, without the reference cycle it leaves."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgrender.json_text import indented

CASES: list[Any] = [
    {},
    [],
    "text",
    None,
    {"b": 1, "a": [1, 2.5, True, None, "x"], "c": {}},
    {"postgresql": {"parameters": {"max_connections": 100, "wal_level": "logical"}}, "ttl": 30, "loop_wait": 10},
    [[], {}, [[]], {"k": []}],
    {"é": "ünïcode ☃", 'quote"d': "back\\slash", "tab\t": "line\nbreak", "\u2028": "\x00"},
    {"floats": [0.1, 1e100, -0.0, 1e-7, float("nan"), float("inf"), float("-inf")]},
    {"big": 10**40, "negative": -3, "bools": [False, True]},
    ("a", ("b",)),  # tuples are lists to json
    {10: "int keys", 9: "sorted as numbers"},  # json converts such keys: it writes the value itself
    {"nested": {2.5: "float key", 1.5: "another"}, "bool": {True: 1}},
]


@pytest.mark.parametrize("sort_keys", [True, False])
@pytest.mark.parametrize("value", CASES)
def test_the_text_is_json_dumps(value: Any, sort_keys: bool) -> None:
    assert indented(value, sort_keys) == json.dumps(value, indent=2, sort_keys=sort_keys)


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(plain, st.booleans())
def test_any_plain_value_is_json_dumps(value: Any, sort_keys: bool) -> None:
    assert indented(value, sort_keys) == json.dumps(value, indent=2, sort_keys=sort_keys)


def test_a_value_json_cannot_write_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        indented({"a": [object()]})


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize(
    "write, cycles",
    [
        (lambda v: json.dumps(v, indent=2, sort_keys=True), True),  # why json_text exists
        (lambda v: indented(v, sort_keys=True), False),
    ],
)
def test_writing_leaves_no_cycle_for_the_collector(write: Any, cycles: bool) -> None:
    value = CASES[5]
    with collector_off():
        for _ in range(10):
            write(value)
        assert (gc.collect() > 0) is cycles
