"""cli: exit codes 0/1/2, nothing written on error, secrets never in messages, output formats."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pgrender import cmp
from pgrender.cli import cli
from pgrender.record import RECORD
from pgrender.secrets import keys
from pgrender.spec.instances import InstanceSetSpec
from tests.conftest import EXAMPLES, GOLDEN_KEY, run_cli


def test_render_writes_a_base(tmp_path: Path) -> None:
    result = run_cli("render", str(EXAMPLES / "hippo.yaml"), "-o", str(tmp_path / "o"), "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    resources = yaml.safe_load((tmp_path / "o" / "kustomization.yaml").read_text())["resources"]
    assert resources == sorted(
        p.name for p in (tmp_path / "o").iterdir() if p.name not in ("kustomization.yaml", RECORD)
    )


def test_stdout_is_one_stream_without_kustomization() -> None:
    result = run_cli("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert "Kustomization" not in kinds and kinds[0] == "ServiceAccount" and len(kinds) == 24


def test_no_key_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    result = run_cli("render", str(EXAMPLES / "hippo.yaml"), "-o", str(tmp_path / "o"), env={"PGRENDER_KEY": ""})
    assert result.exit_code == 2
    assert "no root key" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_spec_problems_come_before_a_missing_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "hippo.yaml").read_text().replace("postgresVersion: 16", "postgresVersion: 9"))
    result = run_cli("render", str(bad), "--stdout", env={"PGRENDER_KEY": ""})
    assert result.exit_code == 2
    assert "spec.postgresVersion" in result.stderr and "no root key" not in result.stderr


def test_problems_are_reported_by_stage_across_files(tmp_path: Path) -> None:
    """Each document's own problems, unreadable YAML, the schema or the rules across its fields, are
    reported together across files (one document hides nothing in the others); the rules across
    clusters come once every document is valid."""
    hippo = (EXAMPLES / "hippo.yaml").read_text()
    (tmp_path / "a.yaml").write_text(hippo.replace("postgresVersion: 16", "postgresVersion: 9"))
    (tmp_path / "b.yaml").write_text("a: [\n")
    (tmp_path / "c.yaml").write_text(hippo.replace("replicas: 2", "replicas: many"))
    files = [str(tmp_path / n) for n in ("a.yaml", "b.yaml", "c.yaml")]

    def problem_files() -> list[str]:
        result = run_cli("render", *files, "--stdout", "--key-file", str(GOLDEN_KEY))
        assert result.exit_code == 2 and result.stdout == ""
        return [line.split(":")[0] for line in result.stderr.splitlines() if ".yaml:" in line]

    assert problem_files() == files
    # a rule across the fields of one document (strict synchronous mode needs two members)
    (tmp_path / "c.yaml").write_text(
        hippo.replace("replicas: 2", "replicas: 1").replace(
            "spec:\n", "spec:\n  patroni: {synchronousMode: true, synchronousModeStrict: true}\n", 1
        )
    )
    assert problem_files() == files
    (tmp_path / "c.yaml").write_text(hippo.replace("replicas: 2", "replicas: many"))
    (tmp_path / "b.yaml").write_text(hippo.replace("name: hippo", "name: other", 1))
    assert problem_files() == [files[0], files[2]]
    (tmp_path / "a.yaml").write_text(hippo)
    (tmp_path / "c.yaml").write_text(hippo)
    assert problem_files() == [files[2]]  # the same cluster twice: a rule across clusters


def test_key_from_environment(tmp_path: Path) -> None:
    key = GOLDEN_KEY.read_text().strip()
    result = run_cli("render", str(EXAMPLES / "minimal.yaml"), "--stdout", env={"PGRENDER_KEY": key})
    assert result.exit_code == 0


def test_failed_render_leaves_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run_cli("render", str(EXAMPLES / "hippo.yaml"), "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "hippo.yaml").read_text().replace("size: 1Gi", "size: lots"))
    result = run_cli("render", str(bad), "-o", str(out), "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


INSTANCE_SET_FIELDS = ", ".join(field.alias or name for name, field in InstanceSetSpec.model_fields.items())


def test_validate_formats(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "hippo.yaml").read_text().replace("replicas: 2", "replicas: 2\n      colour: red"))
    text = run_cli("validate", str(bad))
    assert text.exit_code == 2
    message = "unknown field 'colour'; expected one of " + INSTANCE_SET_FIELDS
    assert text.stderr == f"{bad}:13:7: spec.instances[0].colour: {message}\n"
    github = run_cli("validate", "--format", "github", str(bad))
    assert github.stderr.startswith(f"::error file={bad},line=13,col=7::spec.instances[0].colour: ")
    as_json = json.loads(run_cli("validate", "--format", "json", str(bad)).stderr)
    assert as_json == [
        {
            "file": str(bad),
            "line": 13,
            "column": 7,
            "path": "spec.instances[0].colour",
            "message": message,
        }
    ]
    assert run_cli("validate", str(EXAMPLES / "hippo.yaml")).exit_code == 0


def test_problem_list_is_capped(tmp_path: Path) -> None:
    users = "".join(f"    - name: User{i}\n" for i in range(60))
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "minimal.yaml").read_text() + "  users:\n" + users)
    result = run_cli("validate", str(bad))
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 51 and lines[-1] == "... and 10 more"


def test_usage_errors_exit_2() -> None:
    assert run_cli("render", str(EXAMPLES / "hippo.yaml")).exit_code == 2
    assert run_cli("frobnicate").exit_code == 2


def test_keygen(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    assert run_cli("keygen", "-o", str(path)).exit_code == 0
    assert len(path.read_text().strip()) == 64 and path.stat().st_mode & 0o777 == 0o600
    again = run_cli("keygen", "-o", str(path))
    assert again.exit_code == 2 and "never overwritten" in again.stderr


def test_keygen_creates_missing_directories_private(tmp_path: Path) -> None:
    """The README's first usage line writes into ~/.config/pgrender, which a fresh account lacks."""
    tmp_path.chmod(0o755)
    path = tmp_path / "config" / "pgrender" / "root.key"
    result = run_cli("keygen", "-o", str(path))
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{64}\n", path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [stat.S_IMODE(d.stat().st_mode) for d in (path.parent.parent, path.parent)] == [0o700, 0o700]
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # directories that existed keep their mode


def keygen(output: Path) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it: any traceback would be on stderr."""
    return subprocess.run(
        [sys.executable, "-m", "pgrender", "keygen", "-o", str(output)], capture_output=True, text=True, check=False
    )


def test_keygen_reports_a_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("not a directory\n")
    for output in (tmp_path / "config" / "root.key", tmp_path / "config" / "pgrender" / "root.key"):
        result = keygen(output)
        assert result.returncode == 2
        assert result.stderr.startswith(f"pgrender: {output}: ") and result.stderr.count("\n") == 1
        assert "Not a directory" in result.stderr and "Traceback" not in result.stderr
        assert result.stdout == ""  # a key that was not saved is not printed either
    assert (tmp_path / "config").read_text() == "not a directory\n"


def test_keygen_never_touches_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "root.key"
    path.write_text("the key in use\n")
    path.chmod(0o640)
    before = path.stat()
    result = keygen(path)
    assert result.returncode == 2 and "never overwritten" in result.stderr and "Traceback" not in result.stderr
    assert path.read_text() == "the key in use\n"
    after = path.stat()
    assert (after.st_mode, after.st_mtime_ns, after.st_ino) == (before.st_mode, before.st_mtime_ns, before.st_ino)


def test_refuses_plaintext_secrets_in_a_git_work_tree(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    args = ["render", str(EXAMPLES / "minimal.yaml"), "--key-file", str(GOLDEN_KEY), "-o"]
    refused = run_cli(*args, str(tmp_path / "deploy"))
    assert refused.exit_code == 2 and "git-ignore" in refused.stderr
    assert not (tmp_path / "deploy").exists()
    (tmp_path / ".gitignore").write_text("/rendered/\n")
    assert run_cli(*args, str(tmp_path / "rendered")).exit_code == 0


def test_schema_command(tmp_path: Path) -> None:
    assert run_cli("schema", "-o", str(tmp_path)).exit_code == 0
    assert json.loads((tmp_path / "postgrescluster-v1alpha1.json").read_text())["title"].startswith("pgrender")


# Command lines whose standard output is a pipe nobody reads any more (`| head`).
CLOSED_READER = [
    ("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY)),
    ("cmp", "parameters"),
]


@pytest.mark.parametrize("args", CLOSED_READER, ids=["render", "echo"])
def test_a_reader_gone_from_standard_output_ends_the_run_quietly(args: tuple[str, ...]) -> None:
    """Status 1 and nothing on standard error, as Python's documentation has it for EPIPE; not a bug
    report with a traceback."""
    read, written = os.pipe()
    os.close(read)
    try:
        command = [sys.executable, "-m", "pgrender", *args]
        done = subprocess.run(command, stdout=written, stderr=subprocess.PIPE, text=True, check=False)
    finally:
        os.close(written)
    assert (done.returncode, done.stderr) == (1, "")


# Command lines run with standard output or error closed by the caller (`>&-`): Python's is None.
CLOSED_STREAM = [
    (
        "stdout",
        ("render", str(EXAMPLES / "hippo.yaml"), "--stdout"),
        2,
        "cannot write to standard output: it is closed",
    ),
    ("stdout", ("render", str(EXAMPLES / "hippo.yaml"), "-o", "out"), 0, ""),  # prints to stderr only
    ("stdout", ("validate", str(EXAMPLES / "hippo.yaml")), 0, "1 cluster(s) valid"),
    ("stderr", ("validate", "nothere.yaml"), 2, ""),  # the message has nowhere to go; the status says it
]


@pytest.mark.parametrize(("closed", "args", "status", "said"), CLOSED_STREAM)
def test_a_closed_stream_is_no_traceback(
    tmp_path: Path, closed: str, args: tuple[str, ...], status: int, said: str
) -> None:
    fd = {"stdout": 1, "stderr": 2}[closed]
    key = ["--key-file", str(GOLDEN_KEY)] if args[0] == "render" else []
    command = [sys.executable, "-m", "pgrender", *args, *key]
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, check=False, preexec_fn=lambda: os.close(fd)
    )
    assert done.returncode == status, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY)), ("keygen",)],
    ids=["render", "keygen"],
)
def test_a_full_standard_output_is_said_so(args: tuple[str, ...]) -> None:
    """Standard output on a full disk (/dev/full): said so, exit 2; it was blamed on /tmp."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "pgrender", *args], stdout=full, stderr=subprocess.PIPE, text=True, check=False
        )
    assert (done.returncode, done.stderr) == (2, "pgrender: cannot write to standard output: No space left on device\n")


def test_through_click_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through click's command group (what pgrender.direct hands it)."""
    read, written = os.pipe()
    os.close(read)
    with open(written, "w") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        with pytest.raises(SystemExit) as exited:
            cli.main(["render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY)])
        monkeypatch.undo()
    assert exited.value.code == 1


def test_a_broken_pipe_elsewhere_is_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    from pgrender import commands

    with pytest.raises(SystemExit) as exited:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            commands.broken_pipe()
    assert exited.value.code == commands.EX_SOFTWARE and "internal error" in capsys.readouterr().err


def test_console_entry_point_flushes_and_keeps_exit_codes(tmp_path: Path) -> None:
    """main() leaves with os._exit: output must be complete and exit codes unchanged."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pgrender", *args], capture_output=True, text=True, check=False)

    ok = run("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert ok.returncode == 0 and len(list(yaml.safe_load_all(ok.stdout))) == 24
    missing = run("render", str(tmp_path / "missing.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert missing.returncode == 2 and "file not found" in missing.stderr
    usage = run("render", str(EXAMPLES / "hippo.yaml"))
    assert usage.returncode == 2 and "give exactly one of" in usage.stderr
    out = tmp_path / "o"
    assert run("render", str(EXAMPLES / "hippo.yaml"), "-o", str(out), "--key-file", str(GOLDEN_KEY)).returncode == 0
    (out / "service-hippo-primary.yaml").write_text("changed\n")
    stale = run("check", str(EXAMPLES / "hippo.yaml"), "--output", str(out), "--key-file", str(GOLDEN_KEY))
    assert stale.returncode == 1, stale.stderr


# One rule for specs without metadata.namespace, at every door: --namespace, else pgrender.yaml's
# `namespace`, else a positioned error (Argo CD's plugin uses the destination: tests/test_cmp.py).
NAMESPACELESS = """\
apiVersion: pgrender.io/v1alpha1
kind: PostgresCluster
metadata:
  name: hippo
spec:
  postgresVersion: 16
  instances: [{name: a, replicas: 1, dataVolume: {size: 1Gi}}]
"""


@pytest.mark.parametrize(
    ("flag", "config", "spec_namespace", "expected"),
    [
        ("from-flag", None, None, "from-flag"),
        (None, "from-config", None, "from-config"),
        ("from-flag", "from-config", None, "from-flag"),
        ("from-flag", "from-config", "own", "own"),
    ],
)
@pytest.mark.parametrize("door", ["validate", "render", "check"])
def test_default_namespace(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    door: str,
    flag: str | None,
    config: str | None,
    spec_namespace: str | None,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (
        NAMESPACELESS.replace("  name: hippo\n", f"  name: hippo\n  namespace: {spec_namespace}\n")
        if spec_namespace
        else NAMESPACELESS
    )
    Path("hippo.pgcluster.yaml").write_text(text)
    Path("pgrender.yaml").write_text("output: rendered\n" + (f"namespace: {config}\n" if config else ""))
    Path(".gitignore").write_text("rendered/\n")
    args = ["--namespace", flag] if flag else []
    key = ["--key-file", str(GOLDEN_KEY)]
    if door == "validate":
        result = run_cli("validate", *args)
        assert result.exit_code == 0, result.stderr
        return
    assert run_cli("render", "--write", *args, *key).exit_code == 0
    namespaces = {yaml.safe_load(p.read_text())["metadata"].get("namespace") for p in Path("rendered").glob("*-*.yaml")}
    assert namespaces == {expected}
    if door == "check":
        result = run_cli("check", *args, *key)
        assert result.exit_code == 0, result.stderr + result.stdout


@pytest.mark.parametrize("door", [["validate"], ["render", "--stdout", "--key-file", str(GOLDEN_KEY)]])
def test_no_namespace_anywhere_is_a_positioned_error(tmp_path: Path, door: list[str]) -> None:
    spec = tmp_path / "hippo.yaml"
    spec.write_text(NAMESPACELESS)
    result = run_cli(*door, str(spec))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{spec}:3:1: metadata.namespace: required field is missing: set it here, or ")
    assert "namespace:` in pgrender.yaml or --namespace" in result.stderr


def test_an_internal_inconsistency_is_reported_as_a_bug_with_exit_70(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two builders claiming one object is pgrender's fault, not the user's: a traceback and exit 70."""
    from pgrender import components

    monkeypatch.setattr(components, "BUILDERS", (*components.BUILDERS, components.BUILDERS[0]))
    result = run_cli("render", str(EXAMPLES / "hippo.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "InternalError: two objects with the same identity" in result.stderr
    assert "this is a bug in pgrender, not a problem with your input" in result.stderr
    assert result.stdout == ""


# --- pgrender diff ----------------------------------------------------------------------------

TRIO = (EXAMPLES / "trio.yaml").read_text()
NO_AUDITORS = TRIO.replace("    - name: auditors\n      options: {login: false}\n", "")


def render_to(tmp_path: Path, name: str, text: str) -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    out = tmp_path / name
    result = run_cli("render", str(spec), "-o", str(out), "--key-file", str(GOLDEN_KEY))
    assert result.exit_code == 0, result.stderr
    return out


@pytest.mark.parametrize(
    ("new_text", "args", "code", "line"),
    [
        (NO_AUDITORS, (), 1, "risk: ConfigMap databases/trio-reconcile data[reconcile.sql]: user auditors removed"),
        (NO_AUDITORS, ("--acknowledge", "remove-user:auditors"), 0, "[remove-user:auditors, acknowledged]"),
        (
            NO_AUDITORS.replace("  patroni:\n", '  acknowledgedChanges: ["remove-user:auditors"]\n  patroni:\n'),
            (),
            0,
            "[remove-user:auditors, acknowledged]",
        ),
        (
            TRIO.replace("max_connections: 200", "max_connections: 300"),
            (),
            0,
            "restart: ConfigMap databases/trio-reconcile",
        ),
        (TRIO, (), 0, ""),
    ],
    ids=[
        "user-removed",
        "acknowledged-on-the-command-line",
        "acknowledged-in-the-spec",
        "postmaster-parameter",
        "same",
    ],
)
def test_diff_two_directories(tmp_path: Path, new_text: str, args: tuple[str, ...], code: int, line: str) -> None:
    old, new = render_to(tmp_path, "old", TRIO), render_to(tmp_path, "new", new_text)
    result = run_cli("diff", str(old), str(new), *args)
    assert result.exit_code == code, result.output
    assert line in result.stdout
    if not line:
        assert result.stdout == "" and result.stderr == "no changes\n"


def test_diff_text_groups_by_class_in_order(tmp_path: Path) -> None:
    new_text = NO_AUDITORS.replace("max_connections: 200", "max_connections: 300")
    result = run_cli("diff", str(render_to(tmp_path, "old", TRIO)), str(render_to(tmp_path, "new", new_text)))
    classes = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    order = ["no-op", "live", "restart", "job", "manual", "refused", "risk"]
    assert classes == sorted(classes, key=order.index)
    assert {"no-op", "restart", "job", "risk"} <= set(classes)


def test_diff_json_and_github(tmp_path: Path) -> None:
    old, new = render_to(tmp_path, "old", TRIO), render_to(tmp_path, "new", NO_AUDITORS)
    report = json.loads(run_cli("diff", str(old), str(new), "--format", "json").stdout)
    assert report["exit"] == 1
    [risk] = [f for f in report["findings"] if f["class"] == "risk"]
    assert risk == {
        "class": "risk",
        "kind": "ConfigMap",
        "namespace": "databases",
        "name": "trio-reconcile",
        "path": "data[reconcile.sql]",
        "message": risk["message"],
        "id": "remove-user:auditors",
        "acknowledged": False,
    }
    github = run_cli("diff", str(old), str(new), "--format", "github")
    assert github.exit_code == 1
    assert f"::error file={new}/configmap-trio-reconcile.yaml,title=risk%3A remove-user%3Aauditors::" in github.stdout
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in github.stdout.splitlines())


def test_github_annotations_escape_a_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named like the annotation's own properties (`,line=99::`) is escaped in file=, as diff's
    are: unescaped, GitHub pointed the annotation at file `evil`, line 99."""
    monkeypatch.chdir(tmp_path)
    name = "evil,line=99::x.yaml"
    (tmp_path / name).write_text((EXAMPLES / "minimal.yaml").read_text().replace("size: 1Gi", "size: 1 Gi"))
    result = run_cli("validate", name, "--format", "github")
    assert result.exit_code == 2
    assert result.stderr.startswith("::error file=evil%2Cline=99%3A%3Ax.yaml,line=")
    (tmp_path / name).write_text((EXAMPLES / "minimal.yaml").read_text())
    assert run_cli("render", name, "-o", "out,x::y", "--key-file", str(GOLDEN_KEY)).exit_code == 0
    (tmp_path / "out,x::y" / "service-minimal-pods.yaml").write_text("changed\n")
    check = run_cli("check", name, "-o", "out,x::y", "--key-file", str(GOLDEN_KEY), "--format", "github")
    assert "::error file=out%2Cx%3A%3Ay/service-minimal-pods.yaml::rendered output is stale" in check.stdout


def test_diff_github_points_a_removed_object_at_the_old_directory(tmp_path: Path) -> None:
    reporting = "    - name: reporting\n      databases: [payments]\n      options: {login: true, createdb: false}\n"
    assert reporting in TRIO
    old, new = render_to(tmp_path, "old", TRIO), render_to(tmp_path, "new", TRIO.replace(reporting, ""))
    removed = "secret-trio-pguser-reporting.yaml"
    assert (old / removed).is_file() and not (new / removed).exists()
    github = run_cli("diff", str(old), str(new), "--format", "github").stdout
    [secret] = [line for line in github.splitlines() if "Secret databases/trio-pguser-reporting:" in line]
    assert secret.startswith(f"::notice file={old}/{removed},title=live::")
    # What is still rendered is annotated where it is now.
    assert f"::error file={new}/configmap-trio-reconcile.yaml,title=risk%3A remove-user%3Areporting::" in github


def test_diff_never_prints_a_secret_value(tmp_path: Path) -> None:
    rotated = TRIO.replace("    - name: app\n", "    - name: app\n      passwordRotation: 1\n")
    old, new = render_to(tmp_path, "old", TRIO), render_to(tmp_path, "new", rotated)
    values = []
    for directory in (old, new):
        secret = yaml.safe_load((directory / "secret-trio-pguser-app.yaml").read_text())
        values += [base64.b64decode(v) for v in secret["data"].values() if len(v) > 8]
        values += [v.encode() for v in secret["data"].values() if len(v) > 8]
    for fmt in ("text", "json", "github"):
        result = run_cli("diff", str(old), str(new), "--format", fmt)
        assert "Secret databases/trio-pguser-app" in result.stdout or "trio-pguser-app" in result.stdout
        output = (result.stdout + result.stderr).encode()
        leaked = [v for v in values if v in output]
        assert not leaked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{old}", "{tmp}/nowhere"), "nowhere: no such directory"),
        (("{old}", "{old}/kustomization.yaml"), "kustomization.yaml: not a directory (OLD and NEW are rendered"),
        (("{tmp}",), "give two rendered directories OLD NEW"),
        (("{tmp}", "{old}"), "holds no rendered output"),
        (("--rev", "HEAD", "{old}"), "give no OLD NEW"),
    ],
)
def test_diff_user_errors_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    old = render_to(tmp_path, "old", TRIO)
    result = run_cli("diff", *(a.format(old=old, tmp=tmp_path) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


GIT_CONFIG = "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {provider: existing}\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True
    )


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with two commits of rendered output: trio, then trio without the user auditors."""
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q")
    (tmp_path / "pgrender.yaml").write_text(GIT_CONFIG)
    for text in (TRIO, NO_AUDITORS):
        (tmp_path / "trio.pgcluster.yaml").write_text(text)
        assert run_cli("render", "--write").exit_code == 0
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-qm", "render")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("--rev", "HEAD~1", "--rev", "HEAD"), 1, "[remove-user:auditors]"),
        (("--rev", "HEAD~1"), 1, "[remove-user:auditors]"),  # against the work tree
        (("--rev", "HEAD"), 0, ""),
        (("--rev", "no-such-rev"), 2, "'no-such-rev' is not a commit git knows"),
        (("--rev", "HEAD", "-o", "elsewhere"), 2, "elsewhere is not tracked at HEAD"),
    ],
)
def test_diff_revisions(history: Path, args: tuple[str, ...], code: int, expected: str) -> None:
    result = run_cli("diff", *args)
    assert result.exit_code == code, result.output
    assert expected in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_revision_is_read_as_committed(history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_revision streams git's blobs into spooled texts: every file as committed, with the
    directories of a fleet (a second cluster), a top-level file, and a file over the size read
    (here 100 KB) as a line saying so, the files after it read as they are."""
    from pgrender import revisions

    (history / "pooled.pgcluster.yaml").write_text((EXAMPLES / "pooled.yaml").read_text())
    assert run_cli("render", "--write").exit_code == 0
    (history / "rendered" / "trio" / "big.yaml").write_text("x" * 200_000 + "\n")
    git(history, "add", "-A")
    git(history, "commit", "-qm", "fleet")
    monkeypatch.setattr(revisions, "MAX_FILE_BYTES", 100_000)
    read = revisions.read_revision(Path("rendered"), "HEAD")
    on_disk = {
        p.relative_to(history / "rendered").as_posix(): p.read_text()
        for p in sorted((history / "rendered").rglob("*"))
        if p.is_file()
    }
    assert {"pooled", "trio"} <= {rel.split("/")[0] for rel in read}
    assert "kustomization.yaml" in read and "trio/big.yaml" in read
    assert dict(read) == {**on_disk, "trio/big.yaml": revisions.TOO_LARGE}
    assert run_cli("diff", "--rev", "HEAD").exit_code == 0


def test_diff_against_a_fresh_render(history: Path) -> None:
    (history / "trio.pgcluster.yaml").write_text(NO_AUDITORS.replace("max_connections: 200", "max_connections: 300"))
    result = run_cli("diff")
    assert result.exit_code == 0, result.output
    assert (
        "restart: ConfigMap databases/trio-reconcile data[patroni-dynamic.json].postgresql.parameters" in result.stdout
    )
    assert run_cli("check").exit_code == 1


@pytest.mark.parametrize(
    ("old", "new", "message", "ident"),
    [
        ("size: 20Gi", "size: 10Gi", "shrink-volume:trio-main-0-pgdata", "shrink-volume:trio-main-0-pgdata"),
        (
            "storageClassName: fast-ssd\n      walVolume",
            "storageClassName: slow\n      walVolume",
            "storage-class:trio-main-0-pgdata",
            "storage-class:trio-main-0-pgdata",
        ),
        (
            "postgresVersion: 17",
            "postgresVersion: 16",
            "create a new cluster at the new postgresVersion",
            "major-version:17-16",
        ),
        (
            "postgresVersion: 17",
            "postgresVersion: 18",
            "then raise postgresVersion with spec.upgrade.fromVersion",
            "major-version:17-18",
        ),
    ],
    ids=["shrink", "storage-class", "major-version", "major-version-18"],
)
def test_guards_refuse_and_write_nothing(history: Path, old: str, new: str, message: str, ident: str) -> None:
    from tests.test_check import snapshot

    before = snapshot(history / "rendered")
    (history / "trio.pgcluster.yaml").write_text(NO_AUDITORS.replace(old, new))
    for args in (("render", "--write"), ("render", "trio.pgcluster.yaml", "-o", "rendered"), ("check",)):
        result = run_cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and "nothing was written" in result.stderr
    assert snapshot(history / "rendered") == before
    # The guard is not acknowledgeable: Kubernetes or PostgreSQL would fail anyway.
    (history / "trio.pgcluster.yaml").write_text(
        NO_AUDITORS.replace(old, new).replace("  patroni:\n", f'  acknowledgedChanges: ["{ident}"]\n  patroni:\n')
    )
    result = run_cli("render", "--write")
    assert result.exit_code == 2 and ident in result.stderr


@pytest.mark.parametrize(
    ("command", "spec", "exit_code", "stderr"),
    [
        ("validate", "hippo", 0, "1 cluster(s) valid\n"),
        ("validate", "replicas-0", 2, "-:12:7: spec.instances[0].replicas: expected a number of at least 1; found 0\n"),
        ("validate", "empty", 2, "-: no YAML document found\n"),
    ],
    ids=["valid", "invalid", "empty"],
)
def test_standard_input_is_a_spec_file(command: str, spec: str, exit_code: int, stderr: str) -> None:
    hippo = (EXAMPLES / "hippo.yaml").read_text()
    text = {"hippo": hippo, "replicas-0": hippo.replace("replicas: 2", "replicas: 0"), "empty": ""}[spec]
    result = CliRunner().invoke(cli, [command, "-"], input=text.encode())
    assert (result.exit_code, result.stderr) == (exit_code, stderr)


def test_render_reads_a_spec_from_standard_input() -> None:
    hippo = (EXAMPLES / "hippo.yaml").read_text()
    env = {"PGRENDER_ALLOW_TEST_KEY": "1"}
    args = ["render", "--stdout", "--key-file", str(GOLDEN_KEY)]
    from_stdin = CliRunner().invoke(cli, [*args, "-"], input=hippo.encode(), env=env)
    from_file = CliRunner().invoke(cli, [*args, str(EXAMPLES / "hippo.yaml")], env=env)
    assert from_stdin.exit_code == 0, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout


# command → what its --help must name: every file and environment variable it reads
READS = [
    ("render", ["SPECS", "'-'", "pgrender.yaml", "PGRENDER_KEY", "PGRENDER_ALLOW_TEST_KEY", "secrets.keyFile"]),
    ("check", ["SPECS", "pgrender.yaml", "PGRENDER_KEY", "PGRENDER_ALLOW_TEST_KEY"]),
    ("validate", ["SPECS", "'-'", "pgrender.yaml", "Needs no key"]),
    ("diff", ["PATHS", "pgrender.yaml", "git"]),
    ("lint", ["PATHS", "'-'", "pgrender.yaml", "kubeconform"]),
    (
        "cmp generate",
        [
            "ARGOCD_APP_NAMESPACE",
            "ARGOCD_APP_PARAMETERS",
            "PARAM_SECRETS_PROVIDER",
            "PARAM_KEY_FILE",
            "ARGOCD_ENV_PGRENDER_SECRETS_PROVIDER",
            "ARGOCD_ENV_PGRENDER_KEY_FILE",
            "PGRENDER_KEY",
            "PGRENDER_ALLOW_TEST_KEY",
            "/var/run/pgrender/root.key",
        ],
    ),
]


@pytest.mark.parametrize(("command", "names"), READS, ids=[r[0] for r in READS])
def test_help_lists_what_each_command_reads(command: str, names: list[str]) -> None:
    result = run_cli(*command.split(), "--help")
    assert result.exit_code == 0
    missing = [name for name in names if name not in result.stdout]
    assert missing == []


def test_the_plugin_help_names_every_variable_the_plugin_reads() -> None:
    """Every environment variable name in cmp.py and the key module appears in `cmp generate --help`."""
    sources = (Path(cmp.__file__).read_text(), Path(keys.__file__).read_text())
    names = {n for text in sources for n in re.findall(r'"((?:ARGOCD|PGRENDER)_[A-Z_]+)"', text)}
    help_text = run_cli("cmp", "generate", "--help").stdout
    assert names and sorted(n for n in names if n not in help_text) == []


def test_ctrl_c_says_what_the_command_it_stops_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In one process (tests, library use), a render writes; a later command stopped by Ctrl-C wrote
    nothing, and says "Aborted!", not that the earlier render's output was written."""
    from pgrender import check

    spec, out = str(EXAMPLES / "minimal.yaml"), str(tmp_path / "out")
    key = ("--key-file", str(GOLDEN_KEY), "--allow-secrets-in-git")
    assert run_cli("render", spec, "-o", out, *key).exit_code == 0

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "read_output", interrupted)
    result = run_cli("check", spec, "-o", out, "--key-file", str(GOLDEN_KEY))
    assert (result.exit_code, result.stderr) == (1, "\nAborted!\n")


@pytest.mark.parametrize(
    "stopped",
    [
        "import pgrender.record as r\nr.answer = stop",  # reading the record, stat-ing the output
        "import pgrender.tuning as t\nt.command_process = stop",  # the record declined: the full path starts
    ],
    ids=["answering", "declined"],
)
def test_ctrl_c_before_the_command_runs_says_aborted(tmp_path: Path, stopped: str) -> None:
    """The console script's first steps (record.main): the command line parsed, the record read and
    every output file stat'ed (for a fleet, a moment a Ctrl-C can land in); where that does not answer,
    the full path imported. A Ctrl-C there gave a traceback (exit 130)."""
    script = f"def stop(*a):\n    raise KeyboardInterrupt\n{stopped}\nimport pgrender.record\npgrender.record.main()\n"
    done = subprocess.run([sys.executable, "-c", script, "check"], capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "\nAborted!\n")
