"""pgrender.direct parses the usual command lines as click does, and hands click the rest.

The property: whenever direct.parse takes a command line, click (with the same declarations) calls
the same function of pgrender.commands with the same parameters. Command lines are generated from
each command's own options, values of every kind, help, `--`, unknown options and malformed ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgrender import cli, cli_compile, commands, direct
from pgrender.cli_table import COMMANDS, LEFT_TO_CLICK

ROOT = Path(__file__).resolve().parent.parent
HIPPO = ROOT / "examples" / "hippo.yaml"
KEY = ROOT / "tests" / "golden.key"


def test_cli_table_is_current() -> None:
    assert cli_compile.source() == cli_compile.TARGET.read_text(), "run `make schema`"


def test_every_command_is_parsed_directly() -> None:
    assert LEFT_TO_CLICK == ()
    assert {" ".join(words) for words in COMMANDS} >= {"render", "validate", "check", "cmp generate", "diff"}


UNSUPPORTED = [
    # (a parameter direct does not parse, so its command is left to click)
    ("an environment variable", lambda c: c.option("--key", envvar="KEY")),
    ("a count", lambda c: c.option("-v", count=True)),
    ("an on/off pair", lambda c: c.option("--color/--no-color")),
    ("an integer", lambda c: c.option("--n", type=int)),
    ("a path that must exist", lambda c: c.option("--p", type=c.Path(exists=True))),
    ("a callback", lambda c: c.option("--x", callback=lambda ctx, param, value: value)),
]


@pytest.mark.parametrize("declare", [u[1] for u in UNSUPPORTED], ids=[u[0] for u in UNSUPPORTED])
def test_a_parameter_direct_does_not_parse_leaves_its_command_to_click(declare: Any) -> None:
    import click

    command = click.command("example")(declare(click)(lambda **params: None))
    with pytest.raises(cli_compile.Unsupported):
        cli_compile._entry(command)


def test_two_arguments_of_which_one_takes_any_number_are_left_to_click() -> None:
    import click

    command = click.command("example")(click.argument("a", nargs=-1)(click.argument("b")(lambda **params: None)))
    with pytest.raises(cli_compile.Unsupported, match="any number"):
        cli_compile._entry(command)


# The working directory of the generated command lines: f a file, d a directory, m nothing.
@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("direct")
    (root / "f").write_text("")
    (root / "d").mkdir()
    return root


def _click(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, Any]] | None:
    """The function click calls for ``argv`` and its parameters; None when click calls none."""
    called: list[tuple[str, dict[str, Any]]] = []
    for entry in COMMANDS.values():
        name = entry["function"]
        monkeypatch.setattr(commands, name, lambda name=name, **params: called.append((name, params)))
    try:
        cli.cli.main(args=list(argv), prog_name="pgrender", standalone_mode=False)
    except Exception:  # click's usage errors, and whatever a bad line makes it raise
        return None
    finally:
        monkeypatch.undo()
    return called[0] if called else None


VALUES = ["x", "", "-", "f", "d", "m", "d/", "text", "json", "github", "bogus", "derived", "sealed", "pgo", "=x"]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    words = draw(st.sampled_from(sorted(COMMANDS)))
    entry = COMMANDS[words]
    options = sorted(entry["options"])
    word = st.one_of(
        st.sampled_from(options or ["--none"]),
        st.sampled_from(VALUES),
        st.sampled_from(["--", "-h", "--help", "--bogus", "-x", "-5", "--stdout=1", "--output=", "-ox", "-o=x"]),
        st.builds(lambda o, v: f"{o}={v}", st.sampled_from(options or ["--none"]), st.sampled_from(VALUES)),
        st.builds(lambda o, v: f"{o}{v}", st.sampled_from(options or ["-n"]), st.sampled_from(VALUES)),
    )
    return [*words, *draw(st.lists(word, max_size=7))]


@pytest.fixture
def inside(place: Path) -> Iterator[Path]:
    before = os.getcwd()
    os.chdir(place)
    try:
        yield place
    finally:
        os.chdir(before)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_what_direct_parses_click_parses_alike(argv: list[str], inside: Path) -> None:
    parsed = direct.parse(argv, {})
    if parsed is not None:
        with pytest.MonkeyPatch.context() as monkeypatch:
            assert _click(argv, monkeypatch) == parsed, argv


PARSED = [
    # (command line, function, parameters that differ from the defaults)
    (["render", "a.yaml", "--stdout"], "render", {"specs": ("a.yaml",), "to_stdout": True}),
    (["render", "-o", "out", "a.yaml", "b.yaml"], "render", {"output": "out", "specs": ("a.yaml", "b.yaml")}),
    (["render", "--write", "--exit-code"], "render", {"write_config": True, "exit_code": True}),
    (["render", "-oout", "--", "-a.yaml"], "render", {"output": "out", "specs": ("-a.yaml",)}),
    (["render", "--output=out", "-o", "again"], "render", {"output": "again"}),
    (["render", "-", "--stdout", "--format", "json"], "render", {"specs": ("-",), "to_stdout": True, "fmt": "json"}),
    (
        ["render", "--secrets-provider", "sealed", "--stdout"],
        "render",
        {"secrets_provider": "sealed", "to_stdout": True},
    ),
    (["validate", "--namespace", "-h"], "validate", {"namespace": "-h"}),
    (["check", "--config", "pgrender.yaml"], "check", {"config_path": "pgrender.yaml"}),
    (["cmp", "generate"], "cmp_generate", {}),
    (["diff", "--rev", "HEAD~1", "--rev", "HEAD"], "diff", {"revs": ("HEAD~1", "HEAD")}),
    (["schema"], "schema", {}),
    (["explain", "spec.instances"], "explain", {"field": "spec.instances"}),
]


@pytest.mark.parametrize(("argv", "function", "changed"), PARSED, ids=[" ".join(p[0]) for p in PARSED])
def test_the_usual_command_lines_are_parsed_here(
    argv: list[str], function: str, changed: dict[str, Any], inside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = next(e for e in COMMANDS.values() if e["function"] == function)
    expected = (function, {**entry["defaults"], **changed})
    assert direct.parse(argv, {}) == expected
    assert _click(argv, monkeypatch) == expected


LEFT = [
    # (command line, why click answers it)
    ([], "no command"),
    (["--version"], "the group's option"),
    (["render", "-h"], "help"),
    (["render", "--stdout", "--help"], "help"),
    (["render", "--bogus"], "no such option"),
    (["render", "--stdout=yes"], "a flag given a value"),
    (["render", "-o"], "a value missing"),
    (["render", "--format", "yaml"], "not a choice"),
    (["render", "--secrets-provider", "vault"], "not a registered provider"),
    (["render", "d"], "a spec that is a directory"),
    (["render", "-o", "f"], "an output directory that is a file"),
    (["convert", "a.yaml"], "a required option missing"),
    (["explain", "a", "b"], "an extra argument"),
    (["cmp"], "a group without its command"),
    (["cmp", "generate", "x"], "an extra argument"),
    (["frobnicate"], "no such command"),
]


@pytest.mark.parametrize(("argv", "why"), LEFT, ids=[p[1] for p in LEFT])
def test_what_click_answers(argv: list[str], why: str, inside: Path) -> None:
    assert direct.parse(argv, {}) is None


def test_shell_completion_is_clicks() -> None:
    assert direct.parse(["render", "--stdout"], {"_PGRENDER_COMPLETE": "bash_complete"}) is None


# Whole processes: the console script (direct) against the same command line through click.
CLICK = [sys.executable, "-c", "import sys; sys.argv[0] = 'pgrender'; from pgrender.cli import main; main()"]
ENV = {**os.environ, "PGRENDER_ALLOW_TEST_KEY": "1"}
PROCESSES = [
    ["render", str(HIPPO), "--stdout", "--key-file", str(KEY)],
    ["render", str(HIPPO), "--stdout", "--only-secrets", "--key-file", str(KEY)],
    ["validate", str(HIPPO)],
    ["validate", str(HIPPO), "--format", "json"],
    ["render", str(HIPPO)],  # a usage error: click reports it with the usage
    ["render", str(HIPPO), "--stdout"],  # no key: an error of the input, exit 2
    ["validate", str(ROOT / "tests")],  # a directory as a spec: click's error
    ["render", "--stdout", "--key-file", str(KEY), str(ROOT / "golden" / "error-invalid-values" / "spec.yaml")],
]


@pytest.mark.parametrize("argv", PROCESSES, ids=[" ".join(Path(a).name for a in p) for p in PROCESSES])
def test_a_command_line_gives_what_click_gives(argv: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "PGRENDER_KEY"}
    through = [sys.executable, "-m", "pgrender"]
    direct_run = subprocess.run([*through, *argv], capture_output=True, text=True, env=env, cwd=tmp_path)
    click_run = subprocess.run([*CLICK, *argv], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert (direct_run.returncode, direct_run.stdout) == (click_run.returncode, click_run.stdout)
    assert direct_run.stderr.replace("python -m pgrender", "pgrender") == click_run.stderr


# What happens around a command, through each path: (what the command does, exit status, stderr holds)
AROUND = [
    ("raise RuntimeError('boom')", 70, "this is a bug in pgrender, not a problem with your input"),
    ("raise KeyboardInterrupt", 1, "\nAborted!\n"),
    (
        "from pgrender import write; write.write('out', {'kustomization.yaml': 'resources:\\n- a.yaml\\n', "
        "'a.yaml': 'a: 1\\n'}); raise KeyboardInterrupt",
        1,
        "\npgrender: interrupted after the output was written: out holds this render's files in full",
    ),
    ("raise SystemExit(3)", 3, ""),
    ("print('out')", 0, ""),
]


@pytest.mark.parametrize(("body", "status", "said"), AROUND, ids=[a[0] for a in AROUND])
def test_around_a_command_direct_does_what_click_does(body: str, status: int, said: str, tmp_path: Path) -> None:
    patch = f"import pgrender.commands as c\ndef validate(**params):\n    {body}\nc.validate = validate\n"
    entries = {
        "direct": "from pgrender.direct import main; main(sys.argv[1:])",
        "click": "from pgrender.cli import main; main()",
    }
    runs = {
        path: subprocess.run(
            [sys.executable, "-c", f"import sys; sys.argv[0] = 'pgrender'\n{patch}{entry}", "validate"],
            capture_output=True,
            text=True,
            env=ENV,
            cwd=tmp_path,
        )
        for path, entry in entries.items()
    }
    for run in runs.values():
        assert run.returncode == status and said in run.stderr, run.stderr
    assert runs["direct"].stdout == runs["click"].stdout
    if status == 70:
        assert "RuntimeError: boom" in runs["direct"].stderr and "Traceback" in runs["direct"].stderr
    else:
        assert runs["direct"].stderr == runs["click"].stderr
