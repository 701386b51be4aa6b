"""load.py: YAML to plain data with positions; every unreadable input is one clear Problem."""

from __future__ import annotations

import contextlib
import gc
import sys
import tracemalloc
from pathlib import Path

import pytest

from pgrender.errors import SpecError
from pgrender.load import format_path, iter_text, load_file, load_text


def problems_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_text(text, "s.yaml")
    return [f"{p.line}:{p.column}: {p.message}" for p in info.value.problems]


def test_positions_point_at_keys_and_items() -> None:
    (doc,) = load_text("a:\n  b:\n    - x\n    - y: 1\n", "s.yaml")
    assert doc.data == {"a": {"b": ["x", {"y": 1}]}}
    assert doc.position(("a", "b")) == (2, 3)
    assert doc.position(("a", "b", 1, "y")) == (4, 7)
    assert doc.position(("a", "b", 1, "missing")) == (4, 7)  # nearest existing ancestor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "2:1: duplicate key: each key may appear once per mapping"),
        ("a: [1\n", "invalid YAML"),
        ("# only a comment\n", "no YAML document found"),
        ("a: &x [1]\nb: *y\n", "invalid YAML"),
    ],
    ids=["duplicate-key", "unclosed-flow", "empty", "unknown-alias"],
)
def test_bad_yaml_is_one_clear_problem(text: str, expected: str) -> None:
    (message,) = problems_of(text)
    assert expected in message


def test_duplicate_key_message_never_repeats_values() -> None:
    (message,) = problems_of("password: hunter2\npassword: swordfish\n")
    assert "hunter2" not in message and "swordfish" not in message


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    (message,) = problems_of("\n".join(lines) + "\n")
    assert "alias bomb" in message


def test_several_documents_keep_their_index() -> None:
    docs = load_text("a: 1\n---\n---\nb: 2\n", "s.yaml")
    assert [(d.index, d.data) for d in docs] == [(0, {"a": 1}), (2, {"b": 2})]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "file not found"), (b"\xff\xfe\x00", "not UTF-8 text")],
    ids=["missing", "binary"],
)
def test_unreadable_files(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "spec.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SpecError) as info:
        load_file(path)
    (problem,) = info.value.problems
    assert problem.file == str(path) and expected in problem.message


def test_directory_is_not_a_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="problem"):
        load_file(tmp_path)


def test_timestamps_become_utc() -> None:
    (doc,) = load_text("t: 2026-01-01T02:00:00+02:00\n", "s.yaml")
    assert doc.data["t"].isoformat() == "2026-01-01T00:00:00+00:00"


def test_format_path_uses_yaml_spelling() -> None:
    assert format_path(("spec", "instances", 0, "dataVolume", "size")) == "spec.instances[0].dataVolume.size"


def test_specs_are_yaml_1_2_even_under_a_1_1_directive() -> None:
    (doc,) = load_text("a: yes\nb: on\nc: 0o17\nd: 017\n", "s.yaml")
    assert doc.data == {"a": "yes", "b": "on", "c": 15, "d": 17}
    (old,) = load_text("%YAML 1.1\n---\na: yes\nb: on\n", "s.yaml")
    assert old.data == {"a": "yes", "b": "on"}


def test_aliases_are_copies_with_the_anchors_positions() -> None:
    (doc,) = load_text("a: &x {b: [1]}\nc: *x\n", "s.yaml")
    assert doc.data == {"a": {"b": [1]}, "c": {"b": [1]}}
    assert doc.data["a"]["b"] is not doc.data["c"]["b"]  # changing one leaves the other alone
    assert doc.position(("c",)) == (2, 1)
    assert doc.position(("c", "b", 0)) == (1, 12)  # where the value is written


def test_reading_goes_on_after_a_document_that_cannot_be_parsed() -> None:
    docs = []
    with pytest.raises(SpecError) as info:
        for doc in iter_text("a: 1\n---\nb: [\n---\nc: 3\n", "s.yaml"):
            docs.append(doc)
    assert [(d.index, d.data) for d in docs] == [(0, {"a": 1}), (2, {"c": 3})]
    assert docs[1].position(("c",)) == (5, 1)
    assert [(p.line, p.column) for p in info.value.problems] == [(4, 1)]


# A large file of documents, the first one readable or not (then reading resumes after it).
@pytest.mark.parametrize("first", ["a: 0\n", "b: [\n"], ids=["readable", "resumed-after"])
def test_a_large_files_text_is_held_once_while_it_is_read(first: str) -> None:
    """The parser is handed the text a piece at a time: given the string, it held a UTF-8 copy
    of it whole, and io.StringIO (for reading on after a bad document) four bytes a character."""
    text = first + "".join(f"---\nname: c{i:05d}\nvalue: {'x' * 200}\n" for i in range(10_000))
    list(iter_text("a: 0\n", "warm.yaml"))  # the parser imported before memory is counted
    tracemalloc.start()
    try:
        documents = iter_text(text, "s.yaml")
        next(documents)
        held, _ = tracemalloc.get_traced_memory()
        for _ in documents:
            pass
    except SpecError:
        pass
    finally:
        tracemalloc.stop()
    assert held < len(text) // 4  # the text is the caller's; the parser holds a piece of it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: ._\nb: 0x_\nc: 2001-13-45\nd: -_\n", {"a": "._", "b": "0x_", "c": "2001-13-45", "d": "-_"}),
        ("a: <<\nb: =\n", {"a": "<<", "b": "="}),
        ("a: !!str 1\nb: !!float 1\nd: !!int '7'\n", {"a": "1", "b": 1.0, "d": 7}),
    ],
    ids=["looks-like-a-number", "merge-and-value-as-values", "core-tags"],
)
def test_scalars_read_by_yaml_1_2_core_schema(text: str, expected: dict[str, object]) -> None:
    """What ruamel's patterns take for a number but cannot build is a string, as in the core schema."""
    (doc,) = load_text(text, "s.yaml")
    assert doc.data == expected


@pytest.mark.parametrize(
    "text", ["a: 1\n", "a: [\n", "a: 1\n---\nb: [\n---\nc: 3\n"], ids=["read", "refused", "resumed"]
)
def test_each_files_parser_is_let_go_when_it_is_read(text: str) -> None:
    """Without the cyclic collector (a render holds it back: tuning.tuned): ruamel's YAML().parse
    left each file's parser in reference cycles, and a fleet of one spec a file grew by its buffers
    (70 KB a file)."""
    from _ruamel_yaml import CParser

    gc.disable()
    try:
        for i in range(20):
            with contextlib.suppress(SpecError):
                list(iter_text(text, f"c{i}.yaml"))
        alive = sum(isinstance(o, CParser) for o in gc.get_objects())
    finally:
        gc.enable()
    assert alive == 0


def test_without_libyaml_ruamels_own_parser_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ruamel.yaml.clib is not installed (it is for CPython alone)."""
    text = "a: &x [1, {b: 2}]\nc: *x\n---\nd: |\n  e\n"
    expected = [(d.index, d.data, d.positions) for d in load_text(text, "s.yaml")]
    monkeypatch.setitem(sys.modules, "_ruamel_yaml", None)  # import raises ImportError
    assert [(d.index, d.data, d.positions) for d in load_text(text, "s.yaml")] == expected
