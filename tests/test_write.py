"""write: atomic replacement of a kustomize base; unchanged files keep their inodes; foreign files are never deleted."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import pgrender.write
from pgrender import spill
from pgrender.errors import OutputError
from pgrender.render import Request, render
from pgrender.write import KUSTOMIZATION, file_mode, files, kustomization, owned_files, write
from tests.conftest import EXAMPLES, GOLDEN_KEY, run_cli, traced_peak


def base(*names: str) -> dict[str, str]:
    files = {n: f"# {n}\n" for n in names}
    files["kustomization.yaml"] = kustomization(list(names))
    return files


def test_replaces_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "base"
    write(out, base("b.yaml", "a.yaml"))
    assert (out / "kustomization.yaml").read_text().splitlines()[-2:] == ["- a.yaml", "- b.yaml"]
    write(out, base("c.yaml"))
    assert sorted(p.name for p in out.iterdir()) == ["c.yaml", "kustomization.yaml"]
    assert [p.name for p in tmp_path.iterdir()] == ["base"], "no temporary directories are left behind"


def test_refuses_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    (out / "notes.md").write_text("mine")
    with pytest.raises(OutputError, match=r"notes\.md"):
        write(out, base("b.yaml"))
    assert (out / "notes.md").read_text() == "mine" and (out / "a.yaml").exists()


def test_refuses_a_non_empty_directory_without_kustomization(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("precious")
    with pytest.raises(OutputError):
        write(tmp_path, base("a.yaml"))


def test_a_tree_of_foreign_files_is_refused_without_walking_all_of_it(tmp_path: Path) -> None:
    """`-o /` or `-o ~`: the refusal came after listing every file below (and /proc's); it comes
    after write.FOREIGN_COUNTED. A link that loops is a file pgrender did not write, not an error."""
    for i in range(3):
        (tmp_path / f"d{i}").mkdir()
        for j in range(600):
            (tmp_path / f"d{i}" / f"f{j:03d}").write_text("")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    with pytest.raises(OutputError, match=r"did not write \(.* and over 996 more\); move"):
        write(tmp_path, base("a.yaml"))
    shutil.rmtree(tmp_path / "d1")
    shutil.rmtree(tmp_path / "d2")  # 600 files and the two links: each counted
    with pytest.raises(OutputError, match=r"\(d0/f000, d0/f001, d0/f002, d0/f003, d0/f004 and 597 more\)"):
        write(tmp_path, base("a.yaml"))


def test_nested_bases_are_owned(tmp_path: Path) -> None:
    content = {f"one/{k}": v for k, v in base("a.yaml").items()}
    content["kustomization.yaml"] = kustomization(["one"])
    write(tmp_path / "out", content)
    assert owned_files(tmp_path / "out") == {"kustomization.yaml", "one/kustomization.yaml", "one/a.yaml"}


@pytest.mark.parametrize(
    ("entries", "owned"),
    [
        (["a.yaml", "one"], {"a.yaml", "one/kustomization.yaml", "one/b.yaml"}),
        (['"a.yaml"', "./one/", "one//b.yaml"], {"a.yaml", "one/kustomization.yaml", "one/b.yaml"}),
        (["missing.yaml", "/abs/c.yaml", "../up.yaml", "one/../../up"], {"missing.yaml"}),  # outside: never pgrender's
        ([".", "one", "one/..", "loop"], {"one/kustomization.yaml", "one/b.yaml"}),  # each directory read once
    ],
)  # fmt: skip
def test_owned_files_are_the_kustomizations_and_what_they_list(
    tmp_path: Path, entries: list[str], owned: set[str]
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "kustomization.yaml").write_text("resources:\n- b.yaml\n- ..\n")
    (tmp_path / "loop").symlink_to(".")
    (tmp_path / "kustomization.yaml").write_text("resources:\n" + "".join(f"- {e}\n" for e in entries))
    assert owned_files(tmp_path) == {"kustomization.yaml", *owned}


def nested(*clusters: str) -> dict[str, str]:
    """The multi-cluster layout: one base per cluster directory and a top-level kustomization listing them."""
    content = {f"{c}/{k}": v.replace("#", f"# {c}") for c in clusters for k, v in base("a.yaml", "b.yaml").items()}
    content["kustomization.yaml"] = kustomization(list(clusters))
    return content


def stamps(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Relative path → (inode, mtime, ctime) of every file under ``directory``."""
    out = {}
    for p in directory.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(directory))] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return out


def identity(directory: Path) -> dict[str, tuple[int, int]]:
    """Inode and mtime per file: what a hard link keeps (a link count change moves the ctime)."""
    return {rel: (ino, mtime) for rel, (ino, mtime, _) in stamps(directory).items()}


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@pytest.mark.parametrize("content", [base("b.yaml", "a.yaml"), nested("one", "two")], ids=["flat", "nested"])
def test_identical_content_touches_nothing(tmp_path: Path, content: dict[str, str]) -> None:
    out = tmp_path / "base"
    write(out, content)
    before, directory = stamps(out), out.stat()
    write(out, dict(content))
    assert stamps(out) == before
    after = out.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        directory.st_ino,
        directory.st_mtime_ns,
        directory.st_ctime_ns,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


def test_rendering_again_touches_nothing(tmp_path: Path) -> None:
    """The reported fault, end to end: two clusters, one directory each, rendered twice."""
    out = tmp_path / "o"
    args = ("render", str(EXAMPLES / "hippo.yaml"), str(EXAMPLES / "trio.yaml"), "-o", str(out))
    assert run_cli(*args, "--key-file", str(GOLDEN_KEY)).exit_code == 0
    assert {p.name for p in out.iterdir() if p.is_dir()} == {"hippo", "trio"}
    before, inode = stamps(out), out.stat().st_ino
    assert run_cli(*args, "--key-file", str(GOLDEN_KEY)).exit_code == 0
    assert stamps(out) == before and out.stat().st_ino == inode


@pytest.mark.parametrize(
    ("content", "changed"),
    [(base("a.yaml", "b.yaml"), "a.yaml"), (nested("one", "two"), "two/b.yaml")],
    ids=["flat", "nested"],
)
def test_only_changed_files_are_replaced(tmp_path: Path, content: dict[str, str], changed: str) -> None:
    out = tmp_path / "base"
    write(out, content)
    before = identity(out)
    write(out, {**content, changed: "# new\n"})
    assert (out / changed).read_text() == "# new\n"
    after = identity(out)
    assert after.pop(changed)[0] != before.pop(changed)[0]
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


# (content, what changes, whether it takes one rename): one file differing, in its size or only in
# its bytes or its mode, is renamed into place; two (even of unchanged sizes) are swapped in a new tree.
ONE_OR_MORE = [
    (nested("one", "two"), {"two/b.yaml": "# longer than it was\n"}, True),
    (nested("one", "two"), {"one/a.yaml": "# one a.yaml\n".replace("a", "z")}, True),
    (nested("one", "two"), {"one/a.yaml": "# one z.yaml\n", "two/b.yaml": "# two z.yaml\n"}, False),
    (nested("one", "two"), {"one/a.yaml": "# one a.yaml\n", "two/b.yaml": "# longer than it was\n"}, True),
]


@pytest.mark.parametrize(("content", "changes", "renamed"), ONE_OR_MORE, ids=["size", "bytes", "two", "one-of-two"])
def test_one_changed_file_is_renamed_into_place_and_nothing_else_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: dict[str, str], changes: dict[str, str], renamed: bool
) -> None:
    out = tmp_path / "base"
    write(out, content)
    before = stamps(out)
    links = spy(monkeypatch, "link")
    write(out, {**content, **changes})
    assert tree(out) == {rel: text.encode() for rel, text in {**content, **changes}.items()}
    after = stamps(out)
    differ = sorted(rel for rel, text in changes.items() if content[rel] != text)
    assert all(after.pop(rel)[0] != before.pop(rel)[0] for rel in differ)
    if renamed:  # no link was made: the others keep even their ctime
        assert not links and after == before
    else:
        assert len(links) == len(content)  # the new tree: each old file linked, the changed ones then replaced
        assert {rel: stamp[:2] for rel, stamp in after.items()} == {rel: stamp[:2] for rel, stamp in before.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


def test_a_file_in_the_place_of_one_is_not_renamed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory (or a symlink) where a file belongs, with every other file as it should be:
    the tree is swapped, not a rename tried over it."""
    out = tmp_path / "base"
    content = nested("one")
    write(out, content)
    (out / "one" / "a.yaml").unlink()
    (out / "one" / "a.yaml").symlink_to(out / "one" / "b.yaml")
    links = spy(monkeypatch, "link")
    write(out, content)
    assert tree(out) == {rel: text.encode() for rel, text in content.items()} and links
    assert not (out / "one" / "a.yaml").is_symlink()


def test_a_failed_rename_of_one_file_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "base"
    content = nested("one", "two")
    write(out, content)
    before, ids = tree(out), stamps(out)
    fail_at(monkeypatch, "rename", 1, errno.EIO)
    with pytest.raises(OutputError, match=r"cannot write: Input/output error .*; the output directory is as it was"):
        write(out, {**content, "two/a.yaml": "# changed\n"})
    monkeypatch.undo()
    assert tree(out) == before and stamps(out) == ids
    assert [p.name for p in tmp_path.iterdir()] == ["base"], "no work directory is left"


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[object]:
    """Record the calls of ``os.<name>``."""
    real = getattr(os, name)
    calls: list[object] = []

    def recorded(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, recorded)
    return calls


@pytest.mark.parametrize(
    ("content", "smaller"),
    [(base("a.yaml", "b.yaml"), base("a.yaml")), (nested("one", "two"), nested("one"))],
    ids=["flat", "nested"],
)
def test_removed_files_go_and_the_rest_keep_their_inodes(
    tmp_path: Path, content: dict[str, str], smaller: dict[str, str]
) -> None:
    out = tmp_path / "base"
    write(out, content)
    before = identity(out)
    write(out, smaller)
    assert tree(out) == {rel: text.encode() for rel, text in smaller.items()}
    kept = sorted(rel for rel, text in smaller.items() if content[rel] == text)
    assert kept and {rel: identity(out)[rel] for rel in kept} == {rel: before[rel] for rel in kept}


@pytest.mark.parametrize("content", [base("a.yaml", "b.yaml", "c.yaml"), nested("one", "two")], ids=["flat", "nested"])
def test_a_failure_midway_leaves_the_previous_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: dict[str, str]
) -> None:
    out = tmp_path / "base"
    write(out, content)
    before, ids = tree(out), identity(out)
    calls = fail_at(monkeypatch, "write", 3, errno.ENOSPC)  # the work directory's .gitignore, then two files
    changed = {
        rel: text if Path(rel).name == "kustomization.yaml" else text + "# changed\n" for rel, text in content.items()
    }
    with pytest.raises(OutputError, match=r"cannot write: No space left on device .*; the output directory is as"):
        write(out, changed)
    assert len(calls) == 3
    assert tree(out) == before and identity(out) == ids
    assert [p.name for p in tmp_path.iterdir()] == ["base"], "no staging or retired directory is left"


def fail_at(monkeypatch: pytest.MonkeyPatch, name: str, n: int, code: int) -> list[object]:
    """Make the ``n``-th call of ``os.<name>`` fail with ``code``; returns the calls seen."""
    real = getattr(os, name)
    calls: list[object] = []

    def failing(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == n:
            raise OSError(code, os.strerror(code), str(args[0]) if name != "write" else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, failing)
    return calls


@pytest.mark.parametrize(
    ("name", "n", "code", "message"),
    [
        ("write", 2, errno.ENOSPC, "No space left on device"),
        ("write", 2, errno.EDQUOT, "Disk quota exceeded"),
        ("mkdir", 2, errno.EROFS, "Read-only file system"),  # the work directory (1: the parent, which exists)
        ("open", 1, errno.EACCES, "Permission denied"),  # the parent directory, for the lock
        ("fchmod", 1, errno.EPERM, "Operation not permitted"),
    ],
)
def test_file_system_errors_are_output_errors_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, n: int, code: int, message: str
) -> None:
    """Disk full, quota, read-only: a clear error (exit 2 in the CLI), never a traceback; nothing changes."""
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    before, ids = tree(out), identity(out)
    fail_at(monkeypatch, name, n, code)
    with pytest.raises(OutputError, match=rf"^{re.escape(str(out))}: cannot write: {message}"):
        write(out, base("a.yaml", "b.yaml"))
    monkeypatch.undo()
    assert tree(out) == before and identity(out) == ids
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


def test_a_full_disk_in_the_cli_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A real EFBIG from the kernel (RLIMIT_FSIZE; Python ignores SIGXFSZ), through the console script."""
    out = tmp_path / "out"
    render = [sys.executable, "-m", "pgrender", "render", "-o", str(out), "--key-file", str(GOLDEN_KEY)]
    subprocess.run([*render, str(EXAMPLES / "minimal.yaml")], check=True, capture_output=True)
    before = tree(out)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    result = subprocess.run(
        [*render, str(EXAMPLES / "hippo.yaml")], capture_output=True, text=True, preexec_fn=small_files, check=False
    )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.startswith(f"pgrender: {out}: cannot write: File too large (") and result.stderr.count("\n") == 1
    )
    assert tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_falls_back_to_copies_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    out = tmp_path / "base"
    write(out, base("a.yaml", "b.yaml"))
    monkeypatch.setattr(os, "link", no_links)
    write(out, {**base("a.yaml", "b.yaml"), "a.yaml": "# new\n"})
    assert tree(out) == {k: v.encode() for k, v in {**base("a.yaml", "b.yaml"), "a.yaml": "# new\n"}.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


def modes(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): stat.S_IMODE(p.lstat().st_mode) for p in [directory, *directory.rglob("*")]}


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o077])
def test_secrets_are_0600_and_directories_0700_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    content = {**nested("one"), "one/secret-one-pguser-app.yaml": "# secret\n", "secret-x.yaml": "# secret\n"}
    content["kustomization.yaml"] = kustomization(["one", "secret-x.yaml"])
    old = os.umask(umask)
    try:
        write(tmp_path / "base", content)
    finally:
        os.umask(old)
    assert modes(tmp_path / "base") == {
        ".": 0o700,
        "kustomization.yaml": 0o644,
        "secret-x.yaml": 0o600,
        "one": 0o700,
        "one/kustomization.yaml": 0o644,
        "one/a.yaml": 0o644,
        "one/b.yaml": 0o644,
        "one/secret-one-pguser-app.yaml": 0o600,
    }


def test_file_modes_follow_the_kind() -> None:
    assert file_mode("secret-hippo-pguser-hippo.yaml") == file_mode("one/secret-x.yaml") == 0o600
    assert file_mode("sealedsecret-hippo.yaml") == file_mode("configmap-secret-x.yaml") == 0o644


def test_modes_are_restored_even_when_bytes_are_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "base"
    content = {**nested("one"), "one/secret-x.yaml": "# secret\n"}
    content["one/kustomization.yaml"] = kustomization(["a.yaml", "b.yaml", "secret-x.yaml"])
    write(out, content)
    (out / "one" / "a.yaml").chmod(0o600)
    (out / "one" / "secret-x.yaml").chmod(0o644)  # as earlier versions wrote Secrets
    (out / "one").chmod(0o755)
    out.chmod(0o755)
    write(out, content)
    assert modes(out)["one/a.yaml"] == 0o644 and modes(out)["one/secret-x.yaml"] == 0o600
    assert modes(out)["."] == modes(out)["one"] == 0o700
    linked = (out / "one" / "b.yaml").stat()
    assert linked.st_mode & 0o777 == 0o644 and linked.st_nlink == 1, "the retired tree is gone"


def test_a_symlink_is_replaced_by_a_file(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    content = base("a.yaml")
    outside.write_text(content["a.yaml"])
    outside.chmod(0o644)
    out = tmp_path / "base"
    write(out, content)
    (out / "a.yaml").unlink()
    (out / "a.yaml").symlink_to(outside)
    write(out, content)
    assert not (out / "a.yaml").is_symlink() and (out / "a.yaml").read_text() == content["a.yaml"]
    assert outside.stat().st_nlink == 1


def test_a_symlinked_output_is_written_where_it_points_and_the_link_stays(tmp_path: Path) -> None:
    """Replacing the link with a directory would put the Secrets where the link is, which nobody checked."""
    real = tmp_path / "elsewhere" / "base"
    link = tmp_path / "repo" / "rendered"
    link.parent.mkdir()
    real.parent.mkdir()
    link.symlink_to(real)
    write(link, base("a.yaml"))
    write(link, base("b.yaml"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert tree(real) == {k: v.encode() for k, v in base("b.yaml").items()}
    assert os.listdir(link.parent) == ["rendered"] and os.listdir(real.parent) == ["base"]


def test_a_symlink_to_another_file_system_is_written_there(tmp_path: Path) -> None:
    """The reported traceback: staging beside the link's target, then renaming the link across devices."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system other than the temporary directory's")
    other = Path(tempfile.mkdtemp(dir=shm))
    try:
        link = tmp_path / "rendered"
        link.symlink_to(other / "base")
        write(link, base("a.yaml"))
        write(link, base("a.yaml", "b.yaml"))
        assert link.is_symlink() and tree(other / "base") == {
            k: v.encode() for k, v in base("a.yaml", "b.yaml").items()
        }
        assert os.listdir(tmp_path) == ["rendered"] and os.listdir(other) == ["base"]
    finally:
        shutil.rmtree(other)


def test_without_renameat2_exchange_two_renames_swap_the_trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgrender.write, "_exchange", lambda a, b: False)
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    write(out, base("b.yaml"))
    assert tree(out) == {k: v.encode() for k, v in base("b.yaml").items()}
    assert os.listdir(tmp_path) == ["base"]


def test_a_failed_second_rename_puts_the_old_tree_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgrender.write, "_exchange", lambda a, b: False)
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    before = tree(out)
    fail_at(monkeypatch, "rename", 2, errno.EIO)
    with pytest.raises(OutputError, match="Input/output error"):
        write(out, base("b.yaml"))
    assert tree(out) == before and os.listdir(tmp_path) == ["base"]


def test_when_the_old_tree_cannot_be_put_back_the_next_run_does_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgrender.write, "_exchange", lambda a, b: False)
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    before = tree(out)
    real = os.rename
    calls = []

    def second_and_third_fail(src: str | Path, dst: str | Path) -> None:
        calls.append(src)
        if len(calls) in (2, 3):
            raise OSError(errno.EIO, "Input/output error", str(src))
        real(src, dst)

    monkeypatch.setattr(os, "rename", second_and_third_fail)
    with pytest.raises(OutputError, match=r"could not be put back; it is in .*/\.base\.pgrender-\w{8}/old"):
        write(out, base("b.yaml"))
    assert not out.exists()
    monkeypatch.setattr(os, "rename", real)
    write(out, base("a.yaml"))  # what was there before: the next run puts it back and has nothing to do
    assert tree(out) == before and os.listdir(tmp_path) == ["base"]


def leave(parent: Path, name: str, files: dict[str, str]) -> Path:
    """A directory a killed run left behind."""
    for rel, text in files.items():
        (parent / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (parent / name / rel).write_text(text)
    return parent / name


@pytest.mark.parametrize("output_exists", [True, False], ids=["output", "no-output"])
def test_the_next_run_removes_what_killed_runs_left(tmp_path: Path, output_exists: bool) -> None:
    out = tmp_path / "base"
    if output_exists:
        write(out, base("a.yaml"))
    leave(tmp_path, ".base.pgrender-abcd1234", {".gitignore": "*\n", "new/secret-x.yaml": "key"})
    leave(tmp_path, ".base.pgrender-efgh5678", {})
    leave(tmp_path, ".base.x1y2z3_4", {"secret-x.yaml": "key"})  # earlier versions' staging
    leave(tmp_path, ".base.old.abcdefgh", {})  # and their retired tree, killed before the first rename
    kept = [
        leave(tmp_path, name, {"notes": "mine"})
        for name in (".base.notes", ".base.pgrender-short", ".other.pgrender-abcd1234", "base.pgrender-abcd1234")
    ]
    write(out, base("b.yaml"))
    assert tree(out) == {k: v.encode() for k, v in base("b.yaml").items()}
    assert sorted(os.listdir(tmp_path)) == sorted(["base", *(p.name for p in kept)])


@pytest.mark.parametrize(
    "retired", [".base.pgrender-abcd1234/old", ".base.old.abcd1234/out"], ids=["this-version", "earlier-versions"]
)
def test_an_output_lost_between_two_renames_is_put_back(tmp_path: Path, retired: str) -> None:
    """A kill between `rename(out, retired)` and `rename(staging, out)` left no output at all."""
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    before, ids = tree(out), identity(out)
    (tmp_path / retired).parent.mkdir()
    out.rename(tmp_path / retired)
    leave(tmp_path, ".base.pgrender-abcd1234" if "old." in retired else ".base.abcd1234", {"new/b.yaml": "x"})
    write(out, base("a.yaml"))
    assert tree(out) == before and identity(out) == ids, "put back, and nothing else to do"
    assert os.listdir(tmp_path) == ["base"]


def hold_lock(directory: Path) -> int:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_render_waits_for_another_one_writing_beside_it(tmp_path: Path) -> None:
    fd = hold_lock(tmp_path)
    threading.Timer(0.3, os.close, (fd,)).start()
    started = time.monotonic()
    write(tmp_path / "base", base("a.yaml"))
    assert time.monotonic() - started >= 0.25
    assert tree(tmp_path / "base") == {k: v.encode() for k, v in base("a.yaml").items()}


def test_a_render_gives_up_when_the_lock_is_held_too_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgrender.write, "LOCK_TIMEOUT", 0.2)
    out = tmp_path / "base"
    write(out, base("a.yaml"))
    before = tree(out)
    fd = hold_lock(tmp_path)
    try:
        with pytest.raises(OutputError, match=r"another pgrender run has been writing into .* for 0\.2 s"):
            write(out, base("b.yaml"))
    finally:
        os.close(fd)
    assert tree(out) == before


def test_concurrent_renders_into_one_directory_take_turns(tmp_path: Path) -> None:
    """Four console scripts started together, two specs: all succeed, and one complete tree is left."""
    out = tmp_path / "out"
    specs = [EXAMPLES / "hippo.yaml", EXAMPLES / "minimal.yaml"]
    expected = []
    for spec in specs:
        write(tmp_path / "expected" / spec.stem, files(render(Request((str(spec),), key_file=str(GOLDEN_KEY)))))
        expected.append(tree(tmp_path / "expected" / spec.stem))
    for _ in range(2):
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "pgrender", "render", str(spec), "-o", str(out), "--key-file", str(GOLDEN_KEY)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for spec in specs * 2
        ]
        for run in runs:
            _, stderr = run.communicate()
            assert run.returncode == 0, stderr
        assert tree(out) in expected
        assert sorted(os.listdir(tmp_path)) == ["expected", "out"]


def test_files_below_finds_what_rglob_finds(tmp_path: Path) -> None:
    """write.files_below (foreign files, stale ones) lists what Path.rglob("*") with is_file() did."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f.yaml").write_text("x")
    (tmp_path / "a" / ".hidden").write_text("z")
    (tmp_path / "g").write_text("y")
    (tmp_path / "link-to-file").symlink_to(tmp_path / "g")
    (tmp_path / "link-to-dir").symlink_to(tmp_path / "a")  # not entered
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    expected = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert set(pgrender.write.files_below(tmp_path)) == expected == {"a/b/f.yaml", "a/.hidden", "g", "link-to-file"}


NAMES = [
    ["a.yaml"],
    ["b/x.yaml", "a.yaml", "b/kustomization.yaml"],
    ["a/x.yaml", "a-b/x.yaml", "a/b/c.yaml", "a/b.yaml", "kustomization.yaml"],  # "a-b/" sorts before "a/"
    ["/abs/c.yaml", "../up.yaml", "./odd", "a//b"],  # what a hand-edited kustomization may list
    ["a\0b/x", "c/y", "a/z"],  # no file's path holds a NUL; the stores separate by it
    [],
]


IN_MEMORY = pytest.mark.parametrize("in_memory", [spill.IN_MEMORY, 0], ids=["memory", "file"])


@IN_MEMORY
@pytest.mark.parametrize("names", NAMES)
def test_names_are_a_set_iterated_in_sorted_order(
    names: list[str], monkeypatch: pytest.MonkeyPatch, in_memory: int
) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    held = pgrender.write.Names(names)
    assert list(held) == sorted(set(names)) and len(held) == len(set(names)) and held == set(names)
    assert all(name in held for name in names)
    for absent in ("b.yaml", "b/y.yaml", "a", "/a.yaml", "c/x.yaml", "a.yaml\nb/x.yaml", "", 7):
        assert absent in held if absent in names else absent not in held


@IN_MEMORY
def test_names_added_after_a_directory_is_sealed_join_it(monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    held = pgrender.write.Names(["c/b.yaml", "c/kustomization.yaml"])
    held.add("c/a.yaml")
    assert "c/a.yaml" in held and list(held) == ["c/a.yaml", "c/b.yaml", "c/kustomization.yaml"]
    held.seal()
    held.add("c/a.yaml")
    assert len(held) == 3 and list(held) == ["c/a.yaml", "c/b.yaml", "c/kustomization.yaml"]


@IN_MEMORY
@pytest.mark.parametrize("seed", range(40))
def test_names_are_the_set_their_adds_make(seed: int, monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    """Directories sealed in any order, sealed again, added to while open: as a set of the names."""
    import random

    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    rng = random.Random(seed)
    held, expected = pgrender.write.Names(), set()
    for _ in range(rng.randrange(1, 60)):
        directory = rng.choice(["a", "a-b", "b", "c/d", "", "z"])
        for _ in range(rng.randrange(1, 4)):
            rel = f"{directory}/f{rng.randrange(5)}.yaml" if directory else f"f{rng.randrange(3)}.yaml"
            held.add(rel)
            expected.add(rel)
        if rng.random() < 0.5:
            held.seal()
        if rng.random() < 0.2:
            assert list(held) == sorted(expected) and len(held) == len(expected)
    assert list(held) == sorted(expected) and len(held) == len(expected) and held == expected
    probes = {*expected, "a/f9.yaml", "q/f0.yaml", "f7.yaml", "a", "c/d"}
    assert {rel for rel in probes if rel in held} == expected


@pytest.mark.parametrize(("in_memory", "per_name"), [(spill.IN_MEMORY, 50), (0, 1)], ids=["memory", "file"])
def test_a_fleets_owned_files_are_held_a_directory_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: int, per_name: int
) -> None:
    """owned_files() of a previous output of 1000 clusters of 26 files: under 50 bytes a name, and
    past spill.IN_MEMORY under 1 (a set of the names held 11 MB at 3000 clusters, 140 bytes a name;
    a string for each directory's, 2.9 MB)."""
    import tracemalloc

    monkeypatch.setattr(spill, "IN_MEMORY", in_memory)
    directories = [f"cluster{i:05d}" for i in range(1000)]
    (tmp_path / KUSTOMIZATION).write_text(kustomization(directories))
    for directory in directories:
        (tmp_path / directory).mkdir()
        listed = [f"kind{k:02d}-{directory}-x.yaml" for k in range(25)]
        (tmp_path / directory / KUSTOMIZATION).write_text(kustomization(listed))
    owned_files(tmp_path)  # once before: what reading costs the first time is not the names
    tracemalloc.start()
    try:
        owned = owned_files(tmp_path)
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(owned) == 1 + 1000 * 26 and "cluster00999/kind24-cluster00999-x.yaml" in owned
    assert used / len(owned) < per_name
    if not in_memory:  # read a kustomization's last directory first: sorted in runs when iterated
        monkeypatch.setattr(spill, "RUN", 64)
        assert traced_peak(lambda: sum(1 for _ in owned)) < 40_000  # sorted() of the 1000: 139 KB
        assert list(owned) == sorted(owned)


def test_a_previous_outputs_names_are_the_renders(tmp_path: Path) -> None:
    """What owned_files() reads back of a render's output (the guard, --exit-code and the write
    compare by it) is every name collect() gave, in the order it gave them."""
    specs = tuple(str(EXAMPLES / name) for name in ("hippo.yaml", "minimal.yaml"))
    content, _ = pgrender.write.collect(render(Request(specs, key_file=str(GOLDEN_KEY))).clusters)
    write(tmp_path / "out", content)
    owned = owned_files(tmp_path / "out")
    assert sorted(owned) == list(content) and len(owned) > 20 and "minimal/kustomization.yaml" in owned


@pytest.mark.parametrize(
    "rel",
    ["a", "a/b.yaml", ".a", "a/.b", "a.", "/a", "a/../b", "..", "../a", "a/..", " a", "a /b", "a\\b",
     "a//b", "//a", "///a", "./a", "a/./b", "a/", "a/.", "a/b/", "./", ".", ""],
)  # fmt: skip
def test_a_name_is_normal_as_pathlib_has_it(rel: str) -> None:
    assert pgrender.write._normal(rel) == str(Path(rel))


def test_a_large_spooled_text_is_written_and_compared_a_piece_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text larger than SPOOL_PIECES (the record of a fleet's render) is never read whole: its
    bytes are written, and compared with the previous output's file, a piece at a time."""
    monkeypatch.setattr(pgrender.write, "SPOOL_IN_MEMORY", 0)
    monkeypatch.setattr(pgrender.write, "SPOOL_PIECES", 1000)
    large = "".join(f"line {i} ü\n" for i in range(1000))  # 10 KB, not ASCII: pieces cut characters
    reads: list[int] = []
    read = pgrender.write.SpooledTexts._read
    monkeypatch.setattr(
        pgrender.write.SpooledTexts, "_read", lambda self, where: reads.append(where) or read(self, where)
    )

    def spooled(text: str) -> pgrender.write.SpooledTexts:
        content = pgrender.write.SpooledTexts()
        for rel, held in {**base("small.yaml", "large.yaml"), "large.yaml": text}.items():
            content.add(rel, held)
        return content

    out = tmp_path / "base"
    write(out, spooled(large))
    assert (out / "large.yaml").read_bytes() == large.encode() and (out / "small.yaml").read_text() == "# small.yaml\n"
    assert max(where & ((1 << 40) - 1) for where in reads) == 1000
    before = identity(out)
    write(out, spooled(large))
    assert identity(out) == before  # compared a piece at a time, found the same
    changed = large[:-2] + "!\n"
    write(out, spooled(changed))
    assert (out / "large.yaml").read_bytes() == changed.encode()
    assert identity(out)["large.yaml"] != before["large.yaml"]


def test_writing_a_fleet_interns_no_name_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are strings in the write, not pathlib's, which interns each part of one (sys.intern):
    the interpreter's table of interned strings grew by every file name of a fleet, and kept its
    size. (Reading a previous output, owned_files, still makes Paths.)"""
    content = {f"c{i}/secret-c{i}-x.yaml": "# x\n" for i in range(200)}
    content |= {f"c{i}/{KUSTOMIZATION}": kustomization([f"secret-c{i}-x.yaml"]) for i in range(200)}
    content[KUSTOMIZATION] = kustomization([f"c{i}" for i in range(200)])
    interned: list[str] = []
    intern = sys.intern
    monkeypatch.setattr(sys, "intern", lambda name: interned.append(name) or intern(name))
    write(tmp_path / "out", content)
    assert not [name for name in interned if name.startswith("secret-")]
    assert len(list((tmp_path / "out").rglob("secret-*"))) == 200
