"""write: atomic replacement of a kustomize base; unchanged files keep their inodes; foreign files are never deleted."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pgrender.errors import OutputError
from pgrender.write import kustomization, owned_files, write
from tests.conftest import EXAMPLES, GOLDEN_KEY, run_cli


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


def test_nested_bases_are_owned(tmp_path: Path) -> None:
    content = {f"one/{k}": v for k, v in base("a.yaml").items()}
    content["kustomization.yaml"] = kustomization(["one"])
    write(tmp_path / "out", content)
    assert owned_files(tmp_path / "out") == {"kustomization.yaml", "one/kustomization.yaml", "one/a.yaml"}


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
    real = os.chmod
    calls = []

    def fail_on_the_second(path: str | Path, mode: int) -> None:
        """os.chmod follows every fresh file write: fail while staging the second changed file."""
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, mode)

    monkeypatch.setattr(os, "chmod", fail_on_the_second)
    changed = {
        rel: text if Path(rel).name == "kustomization.yaml" else text + "# changed\n" for rel, text in content.items()
    }
    with pytest.raises(OSError, match="No space"):
        write(out, changed)
    assert len(calls) == 2
    assert tree(out) == before and identity(out) == ids
    assert [p.name for p in tmp_path.iterdir()] == ["base"], "no staging or retired directory is left"


def test_falls_back_to_copies_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    out = tmp_path / "base"
    write(out, base("a.yaml", "b.yaml"))
    monkeypatch.setattr(os, "link", no_links)
    write(out, {**base("a.yaml", "b.yaml"), "a.yaml": "# new\n"})
    assert tree(out) == {k: v.encode() for k, v in {**base("a.yaml", "b.yaml"), "a.yaml": "# new\n"}.items()}
    assert [p.name for p in tmp_path.iterdir()] == ["base"]


def test_modes_are_restored_even_when_bytes_are_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "base"
    write(out, nested("one"))
    (out / "one" / "a.yaml").chmod(0o600)
    out.chmod(0o700)
    write(out, nested("one"))
    assert (out / "one" / "a.yaml").stat().st_mode & 0o777 == 0o644 and out.stat().st_mode & 0o777 == 0o755
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
