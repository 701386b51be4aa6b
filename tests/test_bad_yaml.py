"""YAML that must be refused, never crash: each case exits 2 with `file:line:col: path: message`,
prints nothing on stdout and no traceback. What once crashed the interpreter (deep nesting, alias
bombs, recursive anchors) runs in a subprocess with a timeout, so that a crash fails one test."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from pgrender import load
from pgrender.errors import SpecError
from tests.conftest import run_cli

# A valid spec; line 12 is the first line after it, where the cases add their fields.
SPEC = """\
apiVersion: pgrender.io/v1alpha1
kind: PostgresCluster
metadata:
  name: {name}
  namespace: db
spec:
  postgresVersion: 16
  instances:
    - name: instance1
      dataVolume:
        size: 1Gi
"""


def spec(extra: str = "", name: str = "hippo") -> str:
    return SPEC.format(name=name) + extra


def billion_laughs() -> str:
    """The classic: nine levels of ten aliases each, under 1 KB, 10**9 strings once expanded."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def alias_chain(size: int = 8000) -> str:
    """Each anchor holds its predecessor twice, as many times as fit in ``size`` bytes: the
    expansion doubles with every line and nests one level deeper."""
    lines = ["k0: &a0 [x, x]"]
    while True:
        line = f"k{len(lines)}: &a{len(lines)} [*a{len(lines) - 1}, *a{len(lines) - 1}]"
        if sum(len(x) + 1 for x in lines) + len(line) + 1 > size:
            return "\n".join(lines) + "\n"
        lines.append(line)


def deep_alias(depth: int) -> str:
    """An anchor nested ``depth`` levels deep, aliased as often as 8 KB allow: every copy made
    paths ``depth`` long (900 deep once took 3 s and 800 MB before it was refused)."""
    return f"a: &a {'[' * depth}x{']' * depth}\nb: [" + ",".join(["*a"] * ((7900 - 2 * depth) // 3)) + "]\n"


DEEP_PATH = load.format_path((0,) * 63)  # cut: 63 levels of [0] are longer than a message shows

# (id, file content, expected start of the only line on stderr, after "<file>:")
CRASHES = [
    # 27,500 `[` in 55 KB segfaulted the interpreter; 987 gave a RecursionError.
    ("flow-27500", "[" * 27_500 + "]" * 27_500, f"1:65: {DEEP_PATH}: nested deeper than 64 levels"),
    ("flow-987", "[" * 987 + "]" * 987, f"1:65: {DEEP_PATH}: nested deeper than 64 levels"),
    ("flow-mapping", "{a: " * 20_000 + "1" + "}" * 20_000, "1:257: " + ".".join("a" * 63) + ": nested deeper"),
    ("block-sequence", "- " * 20_000 + "x\n", f"1:129: {DEEP_PATH}: nested deeper than 64 levels"),
    ("billion-laughs", billion_laughs(), "5:38: a4[7]: aliases expand to more than 100000 nodes in this file"),
    ("alias-chain-8kb", alias_chain(), "15:18: k14[1]: aliases expand to more than 100000 nodes in this file"),
    ("deep-alias-bomb", deep_alias(900), f"1:70: {load.format_path(('a', *[0] * 62))}: nested deeper than 64"),
    ("self-reference", "a: &x {b: *x}\n", "1:11: a.b: an alias (*) refers to a node that contains it"),
    ("self-reference-list", "a: &x [1, *x]\n", "1:11: a[1]: an alias (*) refers to a node that contains it"),
    (
        "deep-alias",
        "a: &x " + "[" * 40 + "]" * 40 + "\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        "2:34: b",
    ),
]


def validate_in_subprocess(path: Path, *options: str) -> str:
    """`pgrender validate` in a process of its own; return stderr once it has failed as it should."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pgrender", "validate", *options, str(path)], capture_output=True, text=True, timeout=120
    )
    assert time.perf_counter() - started < 60, "refused, but far too slowly"
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout == "" and "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CRASHES], ids=[c[0] for c in CRASHES])
def test_crashes_are_positioned_problems(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(content)
    (line,) = validate_in_subprocess(path).splitlines()
    assert line.startswith(f"{path}:{expected}")


@pytest.mark.parametrize(
    "content", [billion_laughs(), alias_chain(), deep_alias(60)], ids=["billion-laughs", "chain", "deep-alias"]
)
def test_alias_bombs_stop_before_they_grow(content: str) -> None:
    """The budget is checked before an alias is copied: time and memory stay those of at most
    100,000 nodes, at most 64 levels deep."""
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load.load_text(content, "s.yaml")
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    (problem,) = info.value.problems
    assert "an alias bomb?" in problem.message and problem.line > 0
    assert elapsed < 5  # about 0.1 s; tracemalloc slows it down, and CI machines are shared
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB"


def test_deep_nesting_stops_the_parser_early(tmp_path: Path) -> None:
    """libyaml slows down with every open flow collection (minutes for 100,000 `[`): reading stops
    at the limit, and goes on with the next document."""
    path = tmp_path / "s.yaml"
    path.write_text("[" * 100_000 + "\n---\n" + spec("  nodeCount: none\n"))
    started = time.perf_counter()
    lines = validate_in_subprocess(path).splitlines()
    assert time.perf_counter() - started < 10  # about 0.3 s, most of it starting Python
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:1:65", DEEP_PATH],
        [f"{path}:14:3", "spec.nodeCount"],
    ]


# (id, file content, expected start of the first line on stderr, after "<file>:")
REFUSED = [
    # Explicit tags whose value does not fit once raised KeyError or ValueError.
    ("bool-maybe", spec("  nodeCount: !!bool maybe\n"), "12:14: spec.nodeCount: the value does not fit its tag !!bool"),
    ("int-nope", spec("  nodeCount: !!int nope\n"), "12:14: spec.nodeCount: the value does not fit its tag !!int"),
    (
        "float-nope",
        spec("  nodeCount: !!float nope\n"),
        "12:14: spec.nodeCount: the value does not fit its tag !!float",
    ),
    (
        "timestamp-month-13",
        spec("  nodeCount: !!timestamp 2001-13-45\n"),
        "12:14: spec.nodeCount: the value does not fit its tag !!timestamp: expected a date",
    ),
    ("int-5000-digits", spec("  nodeCount: !!int " + "1" * 5000 + "\n"), "12:14: spec.nodeCount: the value does not"),
    # Tags outside the core schema were built (bytes, sets) or silently ignored.
    ("binary", spec("  image: !!binary aGVsbG8=\n"), "12:10: spec.image: tag !!binary on a scalar is not supported"),
    ("set", spec("  image: !!set {a: null}\n"), "12:10: spec.image: tag !!set on a mapping is not supported"),
    ("local-tag", spec("  instances2: !mine [1]\n"), "12:15: spec.instances2: a local tag on a list is not supported"),
    # Plain scalars that ruamel's patterns take for numbers or dates, and its constructors refuse.
    ("plain-dot-underscore", spec("  nodeCount: ._\n"), "12:3: spec.nodeCount: expected a whole number"),
    ("plain-hex-underscore", spec("  nodeCount: 0x_\n"), "12:3: spec.nodeCount: expected a whole number"),
    ("plain-bad-date", spec("  nodeCount: 2001-13-45\n"), "12:3: spec.nodeCount: expected a whole number"),
    # Keys that look like pydantic's union members were dropped from the path, or crashed.
    ("key-str", spec("str: 1\n"), "12:1: str: unknown field 'str'"),
    ("key-int", spec("int: 1\n"), "12:1: int: unknown field 'int'"),
    ("key-float", spec("float: 1\n"), "12:1: float: unknown field 'float'"),
    ("key-bool", spec("bool: 1\n"), "12:1: bool: unknown field 'bool'"),
    ("key-bracket", spec('"a[0]": 1\n'), "12:1: a[0]: unknown field 'a[0]'"),
    ("nested-key-int", spec("  int: 1\n"), "12:3: spec.int: unknown field 'int'"),
    ("nested-key-str", spec("      str: 1\n"), "12:7: spec.instances[0].str: unknown field 'str'"),
    (
        "union-member-named-like-a-key",
        spec("  patroni:\n    parameters:\n      work_mem: {str: 1}\n"),
        "14:7: spec.patroni.parameters.work_mem: ",
    ),
    (
        "key-named-like-a-union-member",
        spec("  patroni:\n    parameters:\n      str: [1]\n"),
        "14:7: spec.patroni.parameters.str: ",
    ),
    # Characters YAML cannot hold had no position.
    ("control-character", spec('  image: "a\x01b"\n'), "12:12: invalid YAML: control character U+0001 is not allowed"),
    ("delete-character", spec("  image: a\x7fb\n"), "12:11: invalid YAML: control character U+007F is not allowed"),
    # Text that is not all ASCII is checked for the rest of YAML's excluded set too.
    ("c1-control", spec("  image: é\x80\n"), "12:11: invalid YAML: control character U+0080 is not allowed"),
    ("noncharacter", spec("  image: é\ufffe\n"), "12:11: invalid YAML: control character U+FFFE is not allowed"),
    ("c0-among-non-ascii", spec("  image: é\x01\n"), "12:11: invalid YAML: control character U+0001 is not allowed"),
    # Anchors and aliases.
    (
        "duplicate-anchor",
        spec("  image: &x a\n  cluster_domain: &x b\n"),
        "13:19: spec.cluster_domain: duplicate anchor: first defined at",
    ),
    (
        "undefined-alias",
        spec("  image: *nowhere\n"),
        "12:10: spec.image: invalid YAML: an alias (*) names no anchor (&) defined before it",
    ),
    ("merge-key", spec("  <<: {image: a}\n"), "12:3: spec: merge keys (<<) are not supported"),
    ("mapping-key", spec("  ? [a]\n  : 1\n"), "12:5: spec: keys must be scalars"),
    # Long values are cut where they are echoed.
    ("long-invalid-name", spec(name="X" * 5000), "4:3: metadata.name: '" + "X" * 79 + "…' is not a valid name"),
    ("long-valid-name", spec(name="x" * 5000), "4:3: metadata.name: Job name '" + "x" * 79 + "…' is 5021 characters"),
    # A plain key holds at most 1024 characters: this one is written as an explicit key.
    (
        "long-key",
        spec("  ? " + "k" * 5000 + "\n  : 1\n"),
        "12:5: spec." + "k" * 79 + "…: unknown field '" + "k" * 79 + "…'",
    ),
    (
        "long-alias",
        spec("  image: *" + "y" * 5000 + "\n"),
        "12:10: spec.image: invalid YAML: an alias (*) names no anchor (&) defined before it",
    ),
    (
        "long-tag",
        spec("  image: !" + "t" * 5000 + " a\n"),
        "12:10: spec.image: a local tag on a scalar is not supported",
    ),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_yaml_is_a_positioned_problem(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(content)
    result = run_cli("validate", str(path))
    assert result.exit_code == 2, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:{expected}"), lines[0][:500]
    assert all(len(line) < len(str(path)) + 400 for line in lines), "a long value was not cut"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (spec("  image: a\xffb\n").encode("latin-1"), "12:11: not UTF-8 text: byte 0xFF cannot be decoded"),
        (b"\xff\xfe\x00a\x00:\x00", "1:1: not UTF-8 text: byte 0xFF cannot be decoded (a binary file?)"),
        (b"a: 1\nb: \xc3(\n", "2:4: not UTF-8 text: byte 0xC3 cannot be decoded"),
    ],
    ids=["latin-1", "utf-16", "truncated-sequence"],
)
def test_bytes_that_are_not_utf8_are_positioned(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    result = run_cli("validate", str(path))
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{path}:{expected}")


# Document 250 of a 500-document file: (id, its text, where its problem is, relative to its first
# line, and how the problem starts).
BAD_DOCUMENTS = [
    ("unclosed-flow", "metadata: [a,\n", (1, 1), "invalid YAML: while parsing a flow node"),
    ("tab-indent", "metadata:\n\tname: x\n", (1, 1), "invalid YAML"),
    ("unclosed-quote", 'a: "open\n', (1, 1), "invalid YAML: while scanning a quoted scalar"),
    ("deep-nesting", "a: " + "[" * 30_000 + "\n", (0, 67), "nested deeper than 64 levels"),
    ("alias-bomb", billion_laughs(), (4, 38), "aliases expand to more than 100000 nodes"),
    ("self-reference", "a: &x {b: *x}\n", (0, 11), "an alias (*) refers to a node that contains it"),
    ("bad-tag-value", "a: !!int nope\n", (0, 4), "the value does not fit its tag !!int"),
    ("control-character", 'a: "\x02"\n', (0, 5), "invalid YAML: control character U+0002"),
]
DOCUMENT_LINES = len(spec("  nodeCount: none\n").splitlines()) + 1  # and its `---`


@pytest.mark.parametrize(("bad", "where", "message"), [c[1:] for c in BAD_DOCUMENTS], ids=[c[0] for c in BAD_DOCUMENTS])
def test_one_bad_document_hides_no_other_problem(
    tmp_path: Path, bad: str, where: tuple[int, int], message: str
) -> None:
    """Document 250 of 500 cannot be read; each of the other 499 has one schema problem. (In a
    subprocess: deep nesting once crashed the interpreter.)"""
    documents = [spec("  nodeCount: none\n", name=f"c{i}") for i in range(500)]
    documents[250] = bad
    path = tmp_path / "s.yaml"
    path.write_text("".join(f"---\n{d}" for d in documents))
    problems = json.loads(validate_in_subprocess(path, "--format", "json"))
    schema = [p for p in problems if p["path"] == "spec.nodeCount"]
    assert len(schema) == 499 and len({p["line"] for p in schema}) == 499
    (other,) = [p for p in problems if p["path"] != "spec.nodeCount"]
    first_line = 250 * DOCUMENT_LINES + 2
    assert (other["line"], other["column"]) == (first_line + where[0], where[1])
    assert other["message"].startswith(message)


def test_not_utf8_in_one_document_hides_no_other_problem(tmp_path: Path) -> None:
    documents = [spec("  nodeCount: none\n", name=f"c{i}").encode() for i in range(500)]
    documents[250] = b"metadata: {name: \xe9}\n"
    path = tmp_path / "s.yaml"
    path.write_bytes(b"".join(b"---\n" + d for d in documents))
    result = run_cli("validate", "--format", "json", str(path))
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    problems = json.loads(result.stderr)
    assert len([p for p in problems if p["path"] == "spec.nodeCount"]) == 499
    others = [(p["line"], p["column"], p["message"]) for p in problems if p["path"] != "spec.nodeCount"]
    assert others == [
        (250 * DOCUMENT_LINES + 2, 18, "not UTF-8 text: byte 0xE9 cannot be decoded (save the file as UTF-8)")
    ]


@pytest.mark.parametrize("args", [("/dev/zero",), ("--config", "/dev/zero", "s.yaml")], ids=["spec", "config"])
def test_a_file_that_never_ends_is_read_no_further_than_the_limit(args: tuple[str, ...]) -> None:
    """A device or a pipe with no end (/dev/zero, /dev/urandom) named as a spec or config: it was
    read whole, gigabytes a second, until memory ran out. Reading stops one byte past the limit."""
    tracemalloc.start()
    try:
        result = run_cli("validate", *args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.exit_code == 2
    assert f"/dev/zero: file is larger than {load.MAX_FILE_BYTES} bytes" in result.stderr
    assert peak < 3 * load.MAX_FILE_BYTES, f"{peak / 1e6:.0f} MB"
