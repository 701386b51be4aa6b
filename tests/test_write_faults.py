"""write under faults: strace kills a real `pgrender render -o` at every file-system syscall of the write.

Each point starts from a copy of a previous output (the old tree) in a git repository that ignores
/out/, runs the render under `strace -e inject=<syscall>:signal=KILL:when=<n>`, and checks that
out is exactly the old or the new tree (bytes and modes), that git has nothing to add (a work
directory left behind is covered by its own .gitignore), and that one more write leaves exactly the
new tree and nothing beside it. The points are the invocations of each syscall from the first one
that touches the output's parent on, counted in one traced run with the same inputs; every point
must kill the render, so a count that drifted fails instead of testing less.

A kill stops the render as it enters the syscall, so it leaves the state that all syscalls before
it made: a kill at an opening for reading (the imports, the old tree read back, a staged link
checked) leaves what a kill at the next change leaves, and is not made. Of the changes, each site (a
syscall with its arguments, the name of the file it works on left out: "link an unchanged file into
the new tree", "write a Secret with mode 0600") is killed at its first two invocations and its last:
the one file after another loops of staging and cleanup repeat a site whose kill leaves the same
kind of state, and the last one is where the loop meets the next step.

The same injection also makes a syscall fail (ENOSPC, EROFS), takes renameat2's exchange away to
test the two-rename fallback, and holds one render up (a delayed syscall) while a second one starts.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from pgrender import write
from pgrender.render import Request, render
from tests.conftest import GOLDEN_KEY, base_spec
from tests.runtime.conftest import require_runtime

STRACE = shutil.which("strace")
GIT = shutil.which("git")
# Every syscall that changes the file system or the lock; a kill at a read-only one leaves the
# same state as a kill at the next one of these. "?": unknown on this architecture, skip it.
SYSCALLS = (
    "openat",
    "write",
    "mkdir",
    "mkdirat",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "chmod",
    "fchmod",
    "fchmodat",
    "flock",
)
RENAMES = ("rename", "renameat")
LINE = re.compile(r"(\w+)\(")
KEY = ("--key-file", str(GOLDEN_KEY))
# Syscall counts must not change between runs: no bytecode written, no GIT_* from a calling hook.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTHON")) or k == "PYTHONPATH"}
ENV |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}

# Runs the command line after it with SIGINT's default action.
INTERRUPTIBLE = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
]

Snapshot = dict[str, tuple[int, bytes]]


def snapshot(directory: Path) -> Snapshot | None:
    """Relative path → (mode, bytes) of everything below ``directory`` (directories end in /)."""
    if not os.path.lexists(directory):
        return None
    out: Snapshot = {"/": (stat.S_IMODE(directory.lstat().st_mode), b"")}
    for path in sorted(directory.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(directory))
        if stat.S_ISDIR(st.st_mode):
            out[rel + "/"] = (stat.S_IMODE(st.st_mode), b"")
        else:
            out[rel] = (stat.S_IMODE(st.st_mode), path.read_bytes())
    return out


@dataclass(frozen=True)
class Point:
    """The ``n``-th invocation of ``syscall`` in a traced render, and how strace showed it."""

    syscall: str
    n: int
    line: str


@dataclass
class Scene:
    """Two specs, the old output in a git repository that ignores it, and the expected trees."""

    root: Path
    template: Path
    old_spec: Path
    new_spec: Path
    new_content: dict[str, str]
    old: Snapshot
    new: Snapshot
    counted: dict[tuple[str, ...], list[Point]] = field(default_factory=dict)

    def copy(self) -> Path:
        (self.root / "points").mkdir(exist_ok=True)
        point = Path(tempfile.mkdtemp(dir=self.root / "points"))
        shutil.copytree(self.template, point, symlinks=True, dirs_exist_ok=True)
        return point

    def render(self, point: Path, spec: Path | None = None) -> list[str]:
        """The console script rendering ``spec`` (the new one) into ``point``/out."""
        output = str(point / "out")
        return [sys.executable, "-m", "pgrender", "render", str(spec or self.new_spec), "-o", output, *KEY]

    def strace(self, traced: Iterable[str], inject: Iterable[str] = (), trace: str = os.devnull) -> list[str]:
        """strace stopping at the ``traced`` syscalls only, and injecting faults into them."""
        options = ["-e", "trace=" + ",".join("?" + s for s in traced)]
        for spec in inject:
            options += ["-e", f"inject={spec}"]
        # Without -f: the git child of the git check is not traced, so it never counts nor is killed.
        # (strace 6.1 injects nothing with --seccomp-bpf and a trace set, so each syscall stops.)
        return [STRACE or "strace", "-qq", "-o", trace, *options]

    def run(
        self, point: Path, traced: Iterable[str], inject: Iterable[str] = (), trace: str = os.devnull
    ) -> subprocess.CompletedProcess[str]:
        """Render the new spec into ``point``/out under strace, with SIGINT's default action (a
        background job is started with it ignored, and Python then ignores it too)."""
        command = [*INTERRUPTIBLE, *self.strace(traced, inject, trace), *self.render(point)]
        return subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=self.root, check=False)

    def points(self, inject: tuple[str, ...] = ()) -> list[Point]:
        """Every invocation of a syscall in SYSCALLS from the first one that touches the output's parent on."""
        if inject not in self.counted:
            self.counted[inject] = self._points(inject)
        return self.counted[inject]

    def _points(self, inject: tuple[str, ...]) -> list[Point]:
        point = self.copy()
        trace = point.parent / (point.name + ".trace")
        done = self.run(point, SYSCALLS, inject, trace=str(trace))
        assert done.returncode == 0, done.stderr
        assert snapshot(point / "out") == self.new
        lines = trace.read_text().splitlines()
        shutil.rmtree(point)
        trace.unlink()
        seen: Counter[str] = Counter()
        out = []
        for line in lines:
            match = LINE.match(line)
            if match:
                seen[match[1]] += 1
                if out or f'"{point}"' in line or f'"{point}/' in line:
                    out.append(Point(match[1], seen[match[1]], line.replace(str(point), "<point>")))
        assert out, "the traced run never touched the output's parent"
        return out

    def check(
        self, point: Path, result: subprocess.CompletedProcess[str], gap_ok: bool = False, killed: bool = True
    ) -> tuple[str, str | None]:
        """The state a killed render left (old, new, or gap: no output) and what is wrong, if anything."""
        if killed and result.returncode not in (-9, 137):
            return "finished", f"not killed (exit {result.returncode}): {result.stderr[-300:]}"
        state = snapshot(point / "out")
        label = "old" if state == self.old else "new" if state == self.new else "gap" if state is None else "mixed"
        if label == "mixed" or (label == "gap" and not gap_ok):
            return label, "the output is neither the old nor the new tree"
        if label == "gap":
            retired = [p / "old" for p in point.glob(".out.pgrender-*") if (p / "old").is_dir()]
            if len(retired) != 1 or snapshot(retired[0]) != self.old:
                return label, "no output and no complete old tree to put back"
        status = subprocess.run(
            ["git", "-C", str(point), "status", "--porcelain", "--untracked-files=all"],
            capture_output=True,
            text=True,
            env=ENV,
            check=True,
        ).stdout.splitlines()
        # A kill between creating the work directory's .gitignore and writing its one line leaves it
        # empty, and git sees it; that file holds nothing, and no rendered file is ever seen.
        empty = r"\?\? \.out\.pgrender-\w{8}/\.gitignore"
        if any(not re.fullmatch(empty, line) or (point / line[3:]).stat().st_size for line in status):
            return label, f"git would commit: {status[:3]}"
        write.write(point / "out", self.new_content)
        if snapshot(point / "out") != self.new:
            return label, "the next write did not leave the new tree"
        left = sorted(os.listdir(point))
        if left != [".git", "out"]:
            return label, f"the next write left {left}"
        return label, None


def content(spec: dict[str, object], path: Path) -> dict[str, str]:
    path.write_text(yaml.safe_dump(spec))
    return write.files(render(Request((str(path),), key_file=str(GOLDEN_KEY))))


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """A change of files of every kind: some created, some removed, some changed, the rest linked."""
    root = tmp_path_factory.mktemp("faults")
    new = base_spec()
    new["spec"]["instances"][0]["replicas"] = 1  # two files fewer
    new["spec"]["users"] = [{"name": "app"}]  # a Secret more, one fewer, changed files; the rest are linked
    return make_scene(root, content(base_spec(), root / "old.yaml"), new)


@pytest.fixture(scope="module")
def one_file_scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    """The output as the new spec renders it but one file, edited: that file alone is renamed back."""
    root = tmp_path_factory.mktemp("faults-one-file")
    old_content = content(base_spec(), root / "old.yaml")
    edited = next(rel for rel in sorted(old_content) if rel.startswith("configmap-"))
    return make_scene(root, {**old_content, edited: old_content[edited] + "# edited\n"}, base_spec())


def make_scene(root: Path, old_content: dict[str, str], new: dict[str, object]) -> Scene:
    if STRACE is None or GIT is None:
        require_runtime(["strace and git"])
    assert STRACE is not None
    probe = subprocess.run([STRACE, "-qq", "-o", os.devnull, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        require_runtime([f"strace able to trace here ({probe.stderr.decode().strip()})"])
    new_content = content(new, root / "new.yaml")
    template = root / "template"
    subprocess.run(["git", "init", "-q", "--template=", str(template)], check=True)
    (template / ".git" / "info").mkdir(exist_ok=True)
    (template / ".git" / "info" / "exclude").write_text("/out/\n")
    write.write(template / "out", old_content)
    old_tree = snapshot(template / "out")
    expected = root / "expected"
    write.write(expected, new_content)
    new_tree = snapshot(expected)
    assert old_tree is not None and new_tree is not None and old_tree != new_tree
    scene = Scene(root, template, root / "old.yaml", root / "new.yaml", new_content, old_tree, new_tree)
    # strace counts each syscall from the process's start, so the traced renders must import the same
    # way every time: a module whose bytecode another test process writes between the counting run
    # and a fault's run would shift every later count (and the fault would hit an import). One
    # render writing bytecode first leaves none of the modules a render imports without it.
    point = scene.copy()
    warm = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(scene.render(point), env=warm, cwd=root, check=True, capture_output=True)
    shutil.rmtree(point)
    return scene


def kill_everywhere(
    scene: Scene, points: list[Point], gap_ok: bool = False, no_exchange: str | None = None
) -> tuple[Counter[str], list[str]]:
    """Kill a render at each point: the states left, and the problems."""

    def one(point: Point) -> tuple[str, str | None]:
        directory = scene.copy()
        traced, inject = [point.syscall], [f"{point.syscall}:signal=KILL:when={point.n}"]
        if no_exchange:
            traced.append("renameat2")
            inject.append(no_exchange)
        state, problem = scene.check(directory, scene.run(directory, traced, inject), gap_ok)
        shutil.rmtree(directory)
        return state, None if problem is None else f"kill at {point.syscall} #{point.n}: {problem}"

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(one, points))
    return Counter(state for state, _ in outcomes), [problem for _, problem in outcomes if problem]


# openat's flags that can change a file; without them the opening only reads.
WRITING = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def changes(point: Point) -> bool:
    """Whether ``point`` can change the file system or the lock (an openat only with a writing flag)."""
    return point.syscall != "openat" or WRITING.search(point.line) is not None


def site(point: Point) -> str:
    """The syscall and its arguments with the file it works on left out: the same step for another file."""

    def shape(match: re.Match[str]) -> str:
        text = match[1]
        if "/" not in text:  # a name in a directory given by descriptor (unlinkat): dot files are steps of their own
            return match[0] if text.startswith(".") else '"*"'
        text = re.sub(r"\.out\.pgrender-\w{8}", ".out.pgrender-*", text)
        return '"' + re.sub(r"/(out|new)/[^/.][^/]*$", r"/\1/*", text) + '"'

    arguments = re.sub(r"\)\s+= .*$", ")", point.line)
    if point.syscall == "write":  # the bytes (cut by strace) and their length
        arguments = re.sub(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?, \d+', "<bytes>", arguments)
    return QUOTED.sub(shape, arguments)


def sites(points: list[Point]) -> list[Point]:
    """The points that change something, each site at its first two invocations and its last."""
    changing = [p for p in points if changes(p)]
    seen = Counter(site(p) for p in changing)
    count: Counter[str] = Counter()
    chosen = []
    for point in changing:
        key = site(point)
        count[key] += 1
        if count[key] <= 2 or count[key] == seen[key]:
            chosen.append(point)
    return chosen


def test_a_kill_at_any_syscall_leaves_the_old_or_the_new_tree(scene: Scene) -> None:
    points = scene.points()
    assert sum("RENAME_EXCHANGE" in p.line for p in points) == 1, "the swap is one renameat2(RENAME_EXCHANGE)"
    chosen = sites(points)
    # Every kind of change the write makes is killed: a step the shapes above lost would show here.
    kinds = ("flock", "chmod", "openat", "fchmod", "write", "linkat", "unlink", "renameat2", "unlinkat", "rmdir")
    assert {p.syscall for p in chosen} >= set(kinds)
    assert len({site(p) for p in chosen}) > 15 and len(points) > 60
    states, problems = kill_everywhere(scene, chosen)
    assert not problems, f"{len(problems)} of {len(chosen)} points:\n" + "\n".join(problems[:10])
    assert states["old"] and states["new"], states


def test_a_kill_at_any_syscall_of_a_one_file_write_leaves_the_old_or_the_new_tree(one_file_scene: Scene) -> None:
    """One file differs: it is made in the work directory and renamed over the old one, and no other
    file is linked, nor the tree exchanged."""
    points = one_file_scene.points()
    assert not any("RENAME_EXCHANGE" in p.line or p.syscall == "linkat" for p in points)
    chosen = sites(points)
    assert {p.syscall for p in chosen} >= {"flock", "openat", "fchmod", "write", "rename", "unlinkat", "rmdir"}
    states, problems = kill_everywhere(one_file_scene, chosen)
    assert not problems, f"{len(problems)} of {len(chosen)} points:\n" + "\n".join(problems[:10])
    assert states["old"] and states["new"], states


def test_without_exchange_a_kill_between_the_renames_is_repaired_by_the_next_run(scene: Scene) -> None:
    """Where renameat2 cannot exchange, two renames swap the trees and the next run repairs a gap."""
    (exchange,) = [p for p in scene.points() if "RENAME_EXCHANGE" in p.line]
    no_exchange = f"renameat2:error=ENOSYS:when={exchange.n}"
    points = [p for p in scene.points((no_exchange,)) if p.syscall in (*RENAMES, "rmdir")]
    if not any(p.syscall in RENAMES for p in points):
        pytest.skip("os.rename is renameat2 on this architecture: the two renames cannot be told apart")
    assert sum(p.syscall in RENAMES for p in points) == 2, points
    states, problems = kill_everywhere(scene, points, gap_ok=True, no_exchange=no_exchange)
    assert not problems, "\n".join(problems)
    assert states["gap"] == 1, states


@pytest.mark.parametrize("which", ["exchange", "two-renames", "one-file"])
def test_ctrl_c_at_any_syscall_says_whether_the_output_was_written(which: str, request: pytest.FixtureRequest) -> None:
    """SIGINT at each step of the write, as a terminal's Ctrl-C: before the new tree (or file) is in
    place, "Aborted!" and the old tree; after it (the previous tree being deleted, the summary being
    printed), that the output was written, and the new tree. Both exit 1, leave nothing git would
    commit, and the next write leaves exactly the new tree. Where renameat2 cannot exchange, a
    Ctrl-C between the two renames puts the old tree back (it was left aside, and the output gone,
    until the next run)."""
    scene: Scene = request.getfixturevalue("one_file_scene" if which == "one-file" else "scene")
    no_exchange: tuple[str, ...] = ()
    if which == "two-renames":
        (exchange,) = [p for p in scene.points() if "RENAME_EXCHANGE" in p.line]
        no_exchange = (f"renameat2:error=ENOSYS:when={exchange.n}",)
    # strace injects one thing at a call: the exchange refused, no SIGINT there.
    chosen = [p for p in sites(scene.points(no_exchange)) if not (no_exchange and p.syscall == "renameat2")]

    def one(point: Point) -> tuple[str, str | None]:
        directory = scene.copy()
        out = str(directory / "out")
        traced, inject = [point.syscall], [f"{point.syscall}:signal=INT:when={point.n}"]
        if no_exchange:
            traced.append("renameat2")
            inject += no_exchange
        result = scene.run(directory, traced, inject)
        state, problem = scene.check(directory, result, killed=False)
        written = f"\npgrender: interrupted after the output was written: {out} holds this render's files in full"
        if result.returncode != 1:
            problem = f"exit {result.returncode}: {result.stderr[-300:]}"
        elif result.stderr == "\nAborted!\n":
            problem = problem or (None if state == "old" else f"Aborted! with the {state} tree")
        elif written in result.stderr and result.stderr.endswith(")\n") and "Aborted!" not in result.stderr:
            problem = problem or (None if state == "new" else f"said written with the {state} tree")
        else:
            problem = f"neither Aborted! nor written: {result.stderr[-300:]}"
        shutil.rmtree(directory)
        return state, None if problem is None else f"SIGINT at {point.syscall} #{point.n}: {problem}"

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        outcomes = list(pool.map(one, chosen))
    problems = [problem for _, problem in outcomes if problem]
    assert not problems, f"{len(problems)} of {len(chosen)} points:\n" + "\n".join(problems[:10])
    states = Counter(state for state, _ in outcomes)
    assert states["old"] and states["new"], states


def test_a_failing_syscall_is_a_one_line_error_and_leaves_the_old_tree(scene: Scene) -> None:
    """A real errno from the kernel's side (disk full on write, read-only file system elsewhere), at the
    first and the last invocation of each syscall: exit 2 with one line and the old tree, or, where
    pgrender can go around the failure (copy instead of link, cleanup left to the next run), exit 0."""
    points = [p for p in scene.points() if not re.match(r"write\([12],", p.line)]  # not stdout or stderr
    first = [p for i, p in enumerate(points) if all(q.syscall != p.syscall for q in points[:i])]
    last = [p for i, p in enumerate(points) if all(q.syscall != p.syscall for q in points[i + 1 :])]
    chosen = list(dict.fromkeys(first + last))

    def one(point: Point) -> str | None:
        directory = scene.copy()
        code = "ENOSPC" if point.syscall == "write" else "EROFS"
        result = scene.run(directory, [point.syscall], [f"{point.syscall}:error={code}:when={point.n}"])
        state = snapshot(directory / "out")
        problem = None
        if result.returncode == 2:
            lines = result.stderr.splitlines()
            if len(lines) != 1 or not lines[0].startswith(f"pgrender: {directory / 'out'}: cannot write: "):
                problem = f"not one clear line: {result.stderr[-500:]}"
            elif state != scene.old:
                problem = "the old tree was changed"
            elif sorted(os.listdir(directory)) != [".git", "out"]:
                problem = f"left {sorted(os.listdir(directory))}"
        elif result.returncode != 0 or state != scene.new:
            problem = (
                f"exit {result.returncode} and {'the new' if state == scene.new else 'not the new'} tree: "
                f"{result.stderr[-300:]}"
            )
        if problem is None:
            problem = scene.check(directory, result, killed=False)[1]
        shutil.rmtree(directory)
        return None if problem is None else f"{code} at {point.syscall} #{point.n}: {problem}"

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        problems = [p for p in pool.map(one, chosen) if p]
    assert len(chosen) > 15 and not problems, "\n".join(problems)


def test_a_render_started_during_another_one_waits_for_it_and_wins(scene: Scene) -> None:
    """The first render is held up halfway through staging (strace delays one write by 2 s); the
    second, started then, must wait for it rather than interleave, and so it has the last word."""
    staging = [p for p in scene.points() if p.syscall == "write"][1]
    directory = scene.copy()
    delayed = [*scene.strace(["write"], [f"write:delay_enter=2s:when={staging.n}"]), *scene.render(directory)]
    first = subprocess.Popen(delayed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    while not [name for name in os.listdir(directory) if name.startswith(".out.")]:
        assert first.poll() is None, first.communicate()
        time.sleep(0.01)
    second = subprocess.run(scene.render(directory, scene.old_spec), capture_output=True, text=True, env=ENV)
    assert first.wait() == 0 and second.returncode == 0, (first.communicate(), second.stderr)
    assert snapshot(directory / "out") == scene.old, "the render that started last wrote last"
    assert sorted(os.listdir(directory)) == [".git", "out"]
