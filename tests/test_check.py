"""check: re-renders in memory and compares with the output directory; exit 1 with a unified diff (a patch
`git apply` can apply) for changed, missing and no longer rendered files, 0 when current, never writes; json and
github formats. And the CI samples in integrations/ci, which run validate, check and lint: their scripts pass on a
current repository and fail on a stale one."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT, run_cli

CONFIG = "apiVersion: pgrender.io/v1alpha1\nkind: RenderConfig\nsecrets: {provider: existing}\n"
SPEC = "minimal.pgcluster.yaml"
PVC = "persistentvolumeclaim-minimal-instance1-0-pgdata.yaml"
SERVICE = "service-minimal-pods.yaml"
CI = ROOT / "integrations" / "ci"

Snapshot = dict[str, tuple[bytes, int]]


def snapshot(directory: Path) -> Snapshot:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A repository root (the working directory): pgrender.yaml with provider existing and one spec."""
    (tmp_path / "pgrender.yaml").write_text(CONFIG)
    shutil.copyfile(EXAMPLES / "minimal.yaml", tmp_path / SPEC)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def current(repo: Path) -> Path:
    """The repository with its output rendered."""
    result = run_cli("render", "--write")
    assert result.exit_code == 0, result.stderr
    return repo


def test_current_output_exits_0(current: Path) -> None:
    result = run_cli("check")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "rendered: up to date\n"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def add_obsolete_object(rendered: Path) -> None:
    """What an earlier rendering leaves behind when a spec no longer produces an object: a file it still lists."""
    (rendered / "configmap-old.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\n")
    edit(rendered / "kustomization.yaml", "resources:\n", "resources:\n- configmap-old.yaml\n")


STALENESS: list[tuple[str, Callable[[Path], None], dict[str, list[str]]]] = [
    (
        "spec-changed",
        lambda r: edit(r / SPEC, "size: 1Gi", "size: 2Gi"),
        {"changed": [PVC], "missing": [], "obsolete": []},
    ),
    (
        "file-edited",
        lambda r: edit(r / "rendered" / SERVICE, "clusterIP: None", "clusterIP: 10.0.0.1"),
        {"changed": [SERVICE], "missing": [], "obsolete": []},
    ),
    (
        "file-deleted",
        lambda r: (r / "rendered" / SERVICE).unlink(),
        {"changed": [], "missing": [SERVICE], "obsolete": []},
    ),
    (
        "no-longer-rendered",
        lambda r: add_obsolete_object(r / "rendered"),
        {"changed": ["kustomization.yaml"], "missing": [], "obsolete": ["configmap-old.yaml"]},
    ),
]


def unlisted(rendered: Path) -> None:
    """A rendered file its kustomization no longer lists: there, but not written by a previous run."""
    edit(rendered / "kustomization.yaml", f"- {SERVICE}\n", "")


# More states of an output directory, for what compare reads from the guard's read (read_output).
OUTPUT_STATES: list[tuple[str, Callable[[Path], None]]] = [
    *((s[0], s[1]) for s in STALENESS),
    ("current", lambda r: None),
    (
        "listed-not-there",
        lambda r: edit(r / "rendered" / "kustomization.yaml", "resources:\n", "resources:\n- gone.yaml\n"),
    ),
    ("foreign-at-a-rendered-path", lambda r: unlisted(r / "rendered")),
    ("foreign-elsewhere", lambda r: (r / "rendered" / "notes.txt").write_text("mine\n")),
    ("all-gone", lambda r: shutil.rmtree(r / "rendered")),
]


@pytest.mark.parametrize("change", [s[1] for s in OUTPUT_STATES], ids=[s[0] for s in OUTPUT_STATES])
def test_compare_from_the_guards_read_finds_what_reading_the_files_finds(
    current: Path, change: Callable[[Path], None]
) -> None:
    from pgrender.check import compare, read_output

    assert run_cli("render", "-o", "fresh").exit_code == 0
    expected = read_output(Path("fresh"))
    change(current)
    from_files: list[str] = []
    from_guard: list[str] = []
    staleness = compare(expected, Path("rendered"), from_files.append)
    assert compare(expected, Path("rendered"), from_guard.append, read_output(Path("rendered"))) == staleness
    assert from_guard == from_files


@pytest.mark.parametrize(("change", "expected"), [s[1:] for s in STALENESS], ids=[s[0] for s in STALENESS])
def test_stale_output_exits_1_and_writes_nothing(
    current: Path, change: Callable[[Path], None], expected: dict[str, list[str]]
) -> None:
    change(current)
    before = snapshot(current)
    result = run_cli("check", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report.pop("changes")  # what the change means for the cluster: test_check_classifies_the_changes
    assert report == {"directory": "rendered", "stale": True, **expected}
    assert snapshot(current) == before


# What `check` says each stale output means for the running cluster (pgrender.changes): (class, name, path).
CLASSIFIED = {
    "spec-changed": [("live", "minimal-instance1-0-pgdata", "spec.resources.requests.storage")],
    "file-edited": [("refused", "minimal-pods", "spec.clusterIP")],
    "file-deleted": [("live", "minimal-pods", "")],
    "no-longer-rendered": [("no-op", "kustomization.yaml", ""), ("live", "old", "")],
}


@pytest.mark.parametrize(("change", "expected"), [s[1:] for s in STALENESS], ids=[s[0] for s in STALENESS])
def test_check_classifies_the_changes(
    current: Path, change: Callable[[Path], None], expected: dict[str, list[str]], request: pytest.FixtureRequest
) -> None:
    change(current)
    case = request.node.callspec.id
    report = json.loads(run_cli("check", "--format", "json").stdout)
    assert [(c["class"], c["name"], c["path"]) for c in report["changes"]] == CLASSIFIED[case]
    text = run_cli("check").stdout
    for cls, name, _ in CLASSIFIED[case]:
        assert re.search(rf"^{cls}: \S+ (\S+/)?{re.escape(name)}\b", text, re.MULTILINE), text


@pytest.mark.parametrize(("change", "expected"), [s[1:] for s in STALENESS], ids=[s[0] for s in STALENESS])
def test_text_summary_counts(current: Path, change: Callable[[Path], None], expected: dict[str, list[str]]) -> None:
    change(current)
    result = run_cli("check")
    assert result.exit_code == 1
    assert result.stderr == (
        f"rendered: stale: {len(expected['changed'])} changed, {len(expected['missing'])} missing, "
        f"{len(expected['obsolete'])} no longer rendered; run `pgrender render --write`\n"
    )


def test_nothing_rendered_yet_is_all_missing(repo: Path) -> None:
    result = run_cli("check", "--format", "json")
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)["missing"]) == 17
    assert not (repo / "rendered").exists()


def test_on_one_pipe_the_summary_follows_the_whole_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    """pre-commit (and many CI logs) read standard output and error from one pipe: a line for standard
    error (check's summary) comes after what standard output still buffers (the diff's end), not in the
    middle of one of its lines. Both streams here write into one pipe-like sink, buffered as a pipe is."""
    from pgrender.commands import echo

    pipe: list[bytes] = []

    class Pipe(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            pipe.append(bytes(data))
            return len(data)

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(Pipe(), 8192), write_through=False))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(io.BufferedWriter(Pipe(), 8192), write_through=False))
    sys.stdout.write("+++ b/rendered/statefulset-minimal-instance1-0.yaml\n")  # as write.copy does: no flush
    echo("rendered: stale", err=True)
    sys.stdout.flush()
    assert b"".join(pipe) == b"+++ b/rendered/statefulset-minimal-instance1-0.yaml\nrendered: stale\n"


@pytest.mark.parametrize(("change", "expected"), [s[1:] for s in STALENESS], ids=[s[0] for s in STALENESS])
def test_the_diff_is_a_patch_that_brings_the_output_up_to_date(
    current: Path, change: Callable[[Path], None], expected: dict[str, list[str]]
) -> None:
    change(current)
    diff = run_cli("check").stdout
    for name in (*expected["changed"], *expected["missing"]):
        assert f"+++ b/rendered/{name}\n" in diff
    for name in expected["obsolete"]:
        assert f"--- a/rendered/{name}\n+++ /dev/null\n" in diff
    (current / "fix.patch").write_text(diff)
    subprocess.run(["git", "apply", "fix.patch"], cwd=current, check=True, capture_output=True)
    (current / "fix.patch").unlink()
    assert run_cli("check").exit_code == 0


def test_a_large_diff_goes_through_a_file_and_is_the_same_patch(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check's diff is written as each file is compared, to memory and past SPOOL_IN_MEMORY to a
    temporary file (a fleet's is hundreds of megabytes), then shown whole."""
    from pgrender import write

    held = run_cli("check").stdout
    monkeypatch.setattr(write, "SPOOL_IN_MEMORY", 100)
    spilled: list[object] = []
    spool_file = write._spool_file
    monkeypatch.setattr(write, "_spool_file", lambda memory: spilled.append(1) or spool_file(memory))
    assert run_cli("check").stdout == held and held.count("+++ b/rendered/") == 17 and spilled == [1]


@pytest.mark.parametrize(
    "command",
    [("render", "--write", "--exit-code"), ("check", "--format", "json")],
    ids=["render --exit-code", "check json"],
)
def test_no_diff_is_made_where_none_is_shown(
    repo: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    """`render --exit-code` and check's json give the counts only: no diff is made (into a new
    output directory, 3000 clusters' diff peaked at 760 MB)."""
    from pgrender import check

    def refused(*args: Any) -> list[str]:
        raise AssertionError("a diff was made")

    monkeypatch.setattr(check, "_file_diff", refused)
    result = run_cli(*command)
    if "json" in command:
        missing = len(json.loads(result.stdout)["missing"])
    else:
        missing = int(re.findall(r"\((\d+) created", result.stderr)[0])
    assert result.exit_code == 1 and missing == 17


@pytest.mark.parametrize("command", [("check",), ("check", "--format", "json"), ("render", "--write", "--exit-code")])
def test_a_listed_file_that_is_not_there_is_no_crash(current: Path, command: tuple[str, ...]) -> None:
    """A kustomization listing a file no render makes and that is not there (edited by hand, the
    file deleted): the kustomization is stale, nothing is obsolete, and no internal error."""
    listing = current / "rendered" / "kustomization.yaml"
    listing.write_text(listing.read_text() + "- gone.yaml\n")
    result = run_cli(*command)
    assert result.exit_code == 1 and "internal error" not in result.stderr
    if "json" in command:
        found = json.loads(result.stdout)
        assert found["changed"] == ["kustomization.yaml"] and found["obsolete"] == []
    elif command[0] == "check":
        assert "+++ b/rendered/kustomization.yaml" in result.stdout and "a/rendered/gone.yaml" not in result.stdout
    else:
        assert "(0 created, 1 changed, 0 removed)" in result.stderr
        assert run_cli("check").exit_code == 0


@pytest.mark.parametrize("command", [("check",), ("diff",), ("render", "--write", "--exit-code")])
def test_a_kustomization_that_is_not_utf8_is_stale_not_a_crash(current: Path, command: tuple[str, ...]) -> None:
    """A byte that is not UTF-8 in a kustomization (edited in another encoding) was a
    UnicodeDecodeError: the kustomization is read as check reads every file, and is stale."""
    listing = current / "rendered" / "kustomization.yaml"
    listing.write_bytes(listing.read_bytes() + b"# caf\xe9\n")
    result = run_cli(*command)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.exit_code == (0 if command == ("diff",) else 1), result.stderr
    if command[0] == "render":
        assert "(0 created, 1 changed, 0 removed)" in result.stderr
        assert run_cli("check").exit_code == 0


def test_a_file_name_cannot_start_a_line_of_its_own(current: Path) -> None:
    """A file named with a line break and a workflow command: GitHub Actions would read the second
    line as an annotation (or ::stop-commands::). Such a name is printed quoted, with its escapes."""
    name = "x.yaml\n::error title=spoof::injected"
    (current / "rendered" / name).write_text("")
    for command in (("check",), ("render", "--write")):
        result = run_cli(*command)
        assert result.exit_code in (1, 2), result.stderr
        output = result.stdout + result.stderr
        assert not any(line.startswith("::") for line in output.splitlines()), output
        assert '"x.yaml\\n::error title=spoof::injected"' in output


def test_an_unreadable_output_file_is_named_not_a_crash(current: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare() (check, render --exit-code) reads a file the guard did not (it reads only what
    the kustomizations list): unreadable, it is an OutputError naming it (exit 2), not a crash."""
    from pgrender import check
    from pgrender.errors import OutputError

    def refused(path: str) -> str:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(check, "_read", refused)
    expected = {SERVICE: "# another text\n"}
    with pytest.raises(OutputError, match=rf"^rendered: cannot compare: Permission denied \(rendered/{SERVICE}\)"):
        check.compare(expected, Path("rendered"))


def test_github_format_annotates_every_stale_file(current: Path) -> None:
    edit(current / SPEC, "size: 1Gi", "size: 2Gi")
    (current / "rendered" / SERVICE).unlink()
    result = run_cli("check", "--format", "github")
    assert result.exit_code == 1
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert annotations == [
        *(
            f"::error file=rendered/{name}::rendered output is stale; run pgrender render --write"
            for name in (PVC, SERVICE)
        ),
        f"::notice file=rendered/{SERVICE},title=live::Service default/minimal-pods: created",
        f"::notice file=rendered/{PVC},title=live::PersistentVolumeClaim default/minimal-instance1-0-pgdata "
        "spec.resources.requests.storage: the volume grows from 1Gi to 2Gi online; needs a storage class with "
        "allowVolumeExpansion: true (else Kubernetes refuses it)",
    ]


def test_json_format_when_current(current: Path) -> None:
    result = run_cli("check", "--format", "json")
    assert json.loads(result.stdout) == {
        "directory": "rendered",
        "stale": False,
        "changed": [],
        "missing": [],
        "obsolete": [],
        "changes": [],
    }


def test_explicit_specs_and_output_without_a_config(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = (str(EXAMPLES / "hippo.yaml"), "--key-file", str(GOLDEN_KEY))
    assert run_cli("check", *args, "-o", str(out)).exit_code == 1
    assert run_cli("render", *args, "-o", str(out)).exit_code == 0
    assert run_cli("check", *args, "-o", str(out)).exit_code == 0


def test_golden_bases_are_current() -> None:
    """check against the committed golden output: the same comparison CI makes on a user's repository."""
    for name in ("hippo", "pooled"):
        result = run_cli(
            "check",
            str(EXAMPLES / f"{name}.yaml"),
            "-o",
            str(ROOT / "golden" / name / "expected"),
            "--key-file",
            str(GOLDEN_KEY),
        )
        assert result.exit_code == 0, result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give SPEC files, or run where a pgrender.yaml is"),
        ((str(EXAMPLES / "hippo.yaml"),), "give -o/--output DIR or a pgrender.yaml"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("check", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_derived_provider_needs_the_key(current: Path) -> None:
    result = run_cli("check", "--secrets-provider", "derived", env={"PGRENDER_KEY": ""})
    assert result.exit_code == 2
    assert "no root key" in result.stderr


def test_a_bad_spec_exits_2(current: Path) -> None:
    edit(current / SPEC, "size: 1Gi", "size: lots")
    result = run_cli("check")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{SPEC}:13:9: spec.instances[0].dataVolume.size: 'lots'")


def test_foreign_files_in_the_output_are_reported(current: Path) -> None:
    (current / "rendered" / "NOTES.md").write_text("hand-written\n")
    assert run_cli("render", "--write").exit_code == 2
    assert run_cli("check").exit_code != 0


# The CI samples ------------------------------------------------------------------------------------------------

WORKFLOW: dict[Any, Any] = yaml.safe_load((CI / "github-actions.yml").read_text())
GITLAB: dict[str, Any] = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
PGRENDER_COMMAND = re.compile(r"(?<![\w-])pgrender\s+[a-z][^;&|\n]*")


def workflow_steps() -> list[dict[str, Any]]:
    (job,) = WORKFLOW["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def gitlab_script() -> list[str]:
    (job,) = GITLAB.values()
    script: list[str] = job["script"]
    return script


def commands(scripts: list[str]) -> list[str]:
    return [c.strip() for script in scripts for c in PGRENDER_COMMAND.findall(script)]


def test_github_workflow_triggers_and_setup() -> None:
    """PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on"."""
    assert set(WORKFLOW[True]) == {"pull_request", "push"}
    uses = [s["uses"].split("@")[0] for s in workflow_steps() if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python"]
    installs = [i for i, s in enumerate(workflow_steps()) if "pip install" in s.get("run", "")]
    runs = [i for i, s in enumerate(workflow_steps()) if PGRENDER_COMMAND.search(s.get("run", ""))]
    assert len(installs) == 1 and installs[0] < min(runs)


def test_ci_samples_install_the_lint_extra_that_lint_needs() -> None:
    (job,) = GITLAB.values()
    installs = [s["run"] for s in workflow_steps() if "pip install" in s.get("run", "")]
    installs += [s for s in job["before_script"] if "pip install" in s]
    assert len(installs) == 2 and all('"pgrender[lint] @ git+' in s for s in installs)


def test_github_workflow_runs_validate_check_and_lint_as_annotations() -> None:
    assert commands([s.get("run", "") for s in workflow_steps()]) == [
        "pgrender validate --format github",
        "pgrender check --format github",
        "pgrender lint --format github",
        "pgrender lint --kubeconform --format github",
    ]


def test_gitlab_job_runs_validate_check_and_lint() -> None:
    assert commands(gitlab_script()) == [
        "pgrender validate",
        "pgrender check",
        "pgrender lint",
        "pgrender lint --kubeconform",
    ]


@pytest.mark.parametrize(
    "scripts",
    [
        [s["run"] for s in workflow_steps() if "--kubeconform" in s.get("run", "")],
        [s for s in gitlab_script() if "--kubeconform" in s],
    ],
    ids=["github", "gitlab"],
)
def test_kubeconform_runs_only_when_the_binary_is_present(scripts: list[str]) -> None:
    (script,) = scripts
    assert script.index("command -v kubeconform") < script.index("pgrender lint --kubeconform")


def ci_shell_scripts(which: str) -> list[str]:
    """The sample's scripts that run pgrender (not the install step), each as the CI runs it."""
    if which == "github":
        return [s["run"] for s in workflow_steps() if PGRENDER_COMMAND.search(s.get("run", ""))]
    return [s for s in gitlab_script() if PGRENDER_COMMAND.search(s)]


def run_ci_scripts(which: str, repo: Path, without_kubeconform: bool = True) -> list[subprocess.CompletedProcess[str]]:
    """bash -e per script (GitHub's default shell), with this interpreter's pgrender first on PATH."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "pgrender").is_file(), "pgrender's console script is expected beside the interpreter"
    path = [str(bin_dir)] + [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if without_kubeconform:
        path = [p for p in path if not (Path(p) / "kubeconform").exists()]
    env = {**os.environ, "PATH": os.pathsep.join(path)}
    return [
        subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True, text=True, check=False)
        for script in ci_shell_scripts(which)
    ]


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_ci_scripts_pass_on_a_current_repository(current: Path, which: str) -> None:
    results = run_ci_scripts(which, current)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert "kubeconform" in results[-1].stdout + results[-1].stderr


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_ci_scripts_fail_on_a_stale_repository(current: Path, which: str) -> None:
    edit(current / SPEC, "size: 1Gi", "size: 2Gi")
    results = run_ci_scripts(which, current)
    assert [r.returncode for r in results] == [0, 1, 0, 0]
    assert f"+++ b/rendered/{PVC}" in results[1].stdout


def test_the_output_is_read_while_no_run_replaces_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_output holds the write lock, shared: a run replacing the directory (holding it,
    exclusive) makes the reader wait, where a file vanished between the listing and the read, and a
    render beside another failed ("cannot write: No such file or directory ... reading the previous
    output")."""
    import fcntl

    from pgrender import check, write
    from pgrender.errors import OutputError

    out = tmp_path / "out"
    assert run_cli("render", str(EXAMPLES / "hippo.yaml"), "-o", str(out), "--key-file", str(GOLDEN_KEY)).exit_code == 0
    monkeypatch.setattr(write, "LOCK_TIMEOUT", 0.2)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another pgrender run"):
            check.read_output(out)
    finally:
        os.close(fd)
    assert "kustomization.yaml" in check.read_output(out)


@pytest.mark.parametrize(
    "data",
    [b"", b"a: 1\n", b"a\r\nb\r\n", b"a\rb\r", b"a\r\r\nb\n\r", "ü\n".encode() * 40000, b"\xff\xfe bad\n", b"\xc3"],
    ids=["empty", "plain", "crlf", "cr", "mixed", "large", "invalid", "cut"],
)
def test_output_files_are_read_as_text_mode_reads_them(tmp_path: Path, data: bytes) -> None:
    """check._read (without a file object) gives what open() in text mode gives: UTF-8 with each
    undecodable byte replaced, and every line ending read as a newline."""
    from pgrender import check

    path = tmp_path / "file.yaml"
    path.write_bytes(data)
    with open(path, encoding="utf-8", errors="replace") as file:
        assert check._read(str(path)) == file.read()
