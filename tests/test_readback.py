"""readback: what emit.dump wrote is read back without a YAML library, as ruamel.yaml reads it; any
other text is left to ruamel.yaml (None), never read differently."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from pgrender import emit, readback
from tests.test_emit import documents as values

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = sorted(p for p in ROOT.glob("golden/*/expected/**/*.yaml") if p.name != "kustomization.yaml")


def typed(value: Any) -> Any:
    """``value`` with each scalar's type beside it: 1, 1.0 and True are equal, and must not pass for each other."""
    if isinstance(value, dict):
        return {typed(k): typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, repr(value) if isinstance(value, float) else value)  # nan != nan


def library(text: str) -> Any:
    """What ruamel.yaml's safe loader reads from ``text``, or the exception's type when it refuses it."""
    try:
        return typed(list(YAML(typ="safe").load_all(text)))
    except Exception as exc:  # the loader raises more than YAMLError
        return type(exc).__name__


def test_every_golden_file_is_read_back_as_the_library_reads_it() -> None:
    assert len(GOLDEN) > 700
    for path in GOLDEN:
        text = path.read_text()
        found = readback.documents(text)
        assert found is not None, path
        assert typed(found) == library(text), path


# An object: a map whose keys are names (apiVersion, kind, metadata, ...); below them, anything.
objects = st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,9}", fullmatch=True), values, min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(objects)
def test_whatever_emit_writes_of_an_object_is_read_back(value: dict[str, Any]) -> None:
    text = emit.dump(value)
    found = readback.documents(text)
    assert found is not None
    assert typed(found) == typed([value]) == library(text)


# Texts pgrender does not write, each read by ruamel.yaml (None here): hand edits and other writers.
NOT_WRITTEN = [
    "a: 1\n# a comment\n",
    "---\na: 1\n",
    "a: 1\n---\nb: 2\n",
    "a: 1",  # no final newline
    "a: 1\n\n",  # a blank line after
    "a: 1\r\n",
    "a: 1 \n",
    "a:\n    b: 1\n",  # a map indented by four
    "a:\n  - 1\n",  # a list indented under its key
    "a: {b: 1}\n",
    "a: [1, 2]\n",
    "a: 'b'\n",
    "a: yes\n",
    "a: on\n",
    "a: 010\n",
    "a: 0x1f\n",
    "a: 1_000\n",
    "a: 1e3\n",
    "a: nan\n",
    "a: 2026-01-01\n",
    "a: ~\n",
    "a: Null\n",
    "a: True\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: 1\na: 2\n",  # a duplicate key
    "b: 1\na: 2\n",  # keys out of emit's order
    'a: "\\u0041"\n',  # escaped where emit writes it as is
    'a: "\\ud83d\\ude00"\n',  # a surrogate pair, escaped
    'a: "b\\x"\n',
    'a: "b\n',
    "a: |\n  b\n\n",
    "a: |+\n  b\n",
    "a: >\n  b\n",
    "a: |2\n   b\n",
    "a: |\n\tb\n",
    " a: 1\n",
    "\ufeffa: 1\n",
    "",
    "\n",
    # What emit wrote before it was mended, each read by YAML otherwise (helper-35's review).
    "a: -inf\n",
    "a: ._e+1\n",
    # What emit writes, and YAML reads otherwise or refuses: no object is one.
    "- 1\n- 2\n",  # not a map
    "|-\na\nb\n",  # a literal block at the top
    "... x: 1\n",  # a document's end, to YAML
    "a: 1\n... x: 1\n",
    "a: 1\n--- x: 1\n",
    "k" * 1025 + ": 1\n",  # longer than YAML's limit of an implicit key
    "a:\n  " + "k" * 1025 + ": 1\n",
    '"' + "\u00e9" * 1023 + '": 1\n',
    "".join(f"{'  ' * d}a:\n" for d in range(498)) + "  " * 498 + "a: 1\n",  # deeper than the library goes
    "a:\n" + "- " * 498 + "x\n",
]


@pytest.mark.parametrize("text", NOT_WRITTEN, ids=lambda text: repr(text[:40]))
def test_a_text_emit_does_not_write_is_left_to_the_library(text: str) -> None:
    assert readback.documents(text) is None


# Texts emit writes at the edges of what is read here, each read as the library reads it.
AT_THE_EDGES = [
    "k" * 1023 + ": 1\n",  # within YAML's limit of an implicit key
    '"' + "\u00e9" * 1021 + '": 1\n',
    "a: .inf\nb: -.inf\nc: .nan\n",
    "".join(f"{'  ' * d}a:\n" for d in range(readback.MAX_DEPTH)) + "  " * readback.MAX_DEPTH + "a: 1\n",
]


@pytest.mark.parametrize("text", AT_THE_EDGES, ids=lambda text: repr(text[:40]))
def test_a_text_at_the_edges_is_read_here(text: str) -> None:
    assert emit.dump(readback.load_all(text)[0]) == text
    found = readback.documents(text)
    assert found is not None and typed(found) == library(text)


# Edits that make or break YAML syntax: a blank, a line break, an indicator, a quote, a digit.
SIGNIFICANT = [" ", "  ", "\n", ":", ": ", "-", "- ", '"', "\\", "#", "|", "'", "0", "1", ".", "{", "[", "&", "*", "!"]


def _edited(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        how = rng.randrange(3)
        if how == 0:
            text = text[:at] + rng.choice(SIGNIFICANT) + text[at:]
        elif how == 1:
            text = text[:at] + text[at + rng.randint(1, 3) :]
        else:
            text = text[:at] + rng.choice(SIGNIFICANT) + text[at + 1 :]
    return text


@pytest.mark.parametrize("seed", range(8))
def test_an_edited_text_is_read_as_the_library_reads_it_or_left_to_it(seed: int) -> None:
    rng = random.Random(seed)
    read_here = 0
    for _ in range(400):
        text = _edited(rng.choice(GOLDEN).read_text(), rng)
        found = readback.documents(text)
        if found is not None:
            read_here += 1
            assert typed(found) == library(text), text
    assert read_here > 0  # some edits keep the text emit's (a digit for a digit, a letter's case)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=5), st.randoms(use_true_random=False))
def test_an_edited_dump_is_read_as_the_library_reads_it_or_left_to_it(value: dict[str, Any], rng: Any) -> None:
    text = _edited(emit.dump(value), rng)
    found = readback.documents(text)
    if found is not None:
        assert typed(found) == library(text)
