"""emit: YAML that reads back exactly, in kind order, keys in a fixed order, no duplicate ids."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pgrender import emit, write
from pgrender.errors import InternalError
from pgrender.render import ClusterOutput, Rendering

scalars = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["yes", "no", "on", "off", "null", "~", "1e3", "0x1f", "017", "1:20", "2026-01-01",
                     "a: b", "- x", "#c", "*a", "&a", "!t", "%x", "@x", "`x", "|", ">", "'", '"', "  ", "a\n b",
                     "._e+1", "-._e-1", "1_0e5", ".inf", "-inf", "nan"]),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=10), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), documents, max_size=5))
def test_dump_reads_back_identically(value: dict[str, Any]) -> None:
    text = emit.dump(value)
    assert yaml.safe_load(text) == value  # YAML 1.1 reader (kubectl, Argo CD, Flux)
    assert YAML(typ="safe", pure=True).load(text) == value  # YAML 1.2 reader
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_key_order_and_block_scalars() -> None:
    text = emit.dump({"spec": {"b": 1, "a": 2}, "kind": "K", "metadata": {"x": 1, "name": "nm"}, "apiVersion": "v1",
                      "data": {"f": "line1\nline2\n"}})  # fmt: skip
    assert text == (
        "apiVersion: v1\nkind: K\nmetadata:\n  name: nm\n  x: 1\ndata:\n  f: |\n    line1\n    line2\n"
        "spec:\n  a: 2\n  b: 1\n"
    )


def obj(kind: str, name: str, namespace: str = "ns") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}}


def test_order_by_kind_then_name() -> None:
    ordered = emit.order([obj("StatefulSet", "a"), obj("Service", "b"), obj("Secret", "z"), obj("Secret", "a")])
    assert [(o["kind"], o["metadata"]["name"]) for o in ordered] == [
        ("Secret", "a"),
        ("Secret", "z"),
        ("Service", "b"),
        ("StatefulSet", "a"),
    ]


def test_duplicate_identity_is_refused() -> None:
    with pytest.raises(InternalError, match="same identity"):
        emit.order([obj("Secret", "a"), obj("Secret", "a")])


def test_stream_has_no_kustomization() -> None:
    documents = tuple(emit.Document(m, emit.dump(m)) for m in (obj("Secret", "a"), obj("Service", "b")))
    text = write.stream(Rendering((ClusterOutput("c", "ns", documents),)))
    assert [d["kind"] for d in yaml.safe_load_all(text)] == ["Secret", "Service"]


def test_a_name_the_api_server_refuses_is_a_bug() -> None:
    with pytest.raises(InternalError, match="Secret 'a_b'"):
        emit.order([obj("Secret", "a_b")])


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["CronJob", "StatefulSet", "Job"], ["StatefulSet", "Job", "CronJob"]),
        (["PrometheusRule", "NetworkPolicy", "PodMonitor"], ["NetworkPolicy", "PodMonitor", "PrometheusRule"]),
        (["Unknown", "ConfigMap"], ["ConfigMap", "Unknown"]),
    ],
)
def test_kind_order(kinds: list[str], expected: list[str]) -> None:
    assert [m["kind"] for m in emit.order([obj(k, "a") for k in kinds])] == expected


def test_only_short_scalars_are_cached() -> None:
    """Names and keys recur and are cached; a long value (Secret data, a certificate) is each new."""
    emit._scalar.cache_clear()
    emit._key_order.cache_clear()  # which holds each shape's keys written: they are made once
    long, short = "x" * (emit.CACHED_SCALAR + 1), "x" * emit.CACHED_SCALAR
    assert emit.dump({"data": long, "items": [long]}) == f"data: {long}\nitems:\n- {long}\n"
    assert emit._scalar.cache_info().currsize == 2  # the keys
    emit.dump({"name": short})
    assert emit._scalar.cache_info().currsize == 4


def test_a_float_that_is_no_number_is_written_as_yaml_names_it() -> None:
    text = emit.dump({"a": float("nan"), "b": float("inf"), "c": float("-inf")})
    assert text == "a: .nan\nb: .inf\nc: -.inf\n"
    for read in (yaml.safe_load(text), YAML(typ="safe", pure=True).load(text)):
        assert read["a"] != read["a"] and read["b"] == float("inf") and read["c"] == float("-inf")


SCRIPT = "#!/bin/sh\n" + "echo one line of a script\n" * 30  # past emit.LONG_TEXT
BLOCK = "".join(f"    {line}\n" for line in SCRIPT.splitlines())
# a value -> its text (None: only read back), how many written texts are held, how many were written
LONG_TEXTS = [
    ({"data": {"a.sh": SCRIPT}}, f"data:\n  a.sh: |\n{BLOCK}", 1, 1),
    (
        {"data": {"a.sh": SCRIPT}, "items": [{"args": [SCRIPT]}]},
        f"data:\n  a.sh: |\n{BLOCK}items:\n- args:\n  - |\n{BLOCK}",
        1,
        1,
    ),
    ({"data": {"a.sh": SCRIPT}, "items": [[{"args": [SCRIPT]}]]}, None, 2, 2),  # a deeper one: a second indentation
    ({"data": {"a.sh": SCRIPT + " "}}, None, 1, 1),  # a trailing blank: not a block, one quoted line
    ({"data": {"a.sh": SCRIPT + "\n"}}, None, 1, 1),  # a blank last line: quoted too
    ({"data": {"a.sh": "x\n" * (emit.LONG_TEXTS_HELD // 2)}}, None, 0, 2),  # too large to be held: written each time
]


@pytest.mark.parametrize(("value", "expected", "held", "written"), LONG_TEXTS, ids=range(len(LONG_TEXTS)))
def test_a_long_text_is_written_once_and_reads_back(
    value: dict[str, Any], expected: str | None, held: int, written: int
) -> None:
    """The scripts a fleet's clusters share are written once at each indentation, and read back."""
    emit.long_text.clear()
    first, again = emit.dump(value), emit.dump(value)
    assert first == again and (expected is None or first == expected)
    assert yaml.safe_load(first) == value == YAML(typ="safe", pure=True).load(first)
    assert (len(emit.long_text), emit.long_text.misses) == (held, written)
