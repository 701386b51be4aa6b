"""gitcheck: plaintext Secrets never land in a git work tree unless git says the place is ignored."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pgrender.errors import OutputError
from pgrender.gitcheck import refuse_plaintext_in_git, work_tree
from tests.conftest import EXAMPLES, GOLDEN_KEY, run_cli

# CI installs git (scripts/setup-system.sh --runtime); there a missing git fails, elsewhere it skips.
pytestmark = pytest.mark.skipif(shutil.which("git") is None and os.environ.get("CI") != "true", reason="needs git")


def git(repo: Path, *args: str) -> str:
    """git without the caller's GIT_* variables (pytest may run inside a git hook)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work tree that ignores /rendered/."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / ".gitignore").write_text("/rendered/\n")
    return path


def render(output: Path) -> tuple[int, str]:
    result = run_cli("render", str(EXAMPLES / "minimal.yaml"), "--key-file", str(GOLDEN_KEY), "-o", str(output))
    return result.exit_code, result.stderr


def test_an_ignored_directory_is_allowed_and_others_are_refused(repo: Path) -> None:
    refuse_plaintext_in_git(repo / "rendered")
    for output in (repo / "deploy", repo / "a" / "b" / "c", repo):
        with pytest.raises(OutputError, match="is not git-ignored"):
            refuse_plaintext_in_git(output)


def test_outside_every_work_tree_nothing_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    refuse_plaintext_in_git(tmp_path / "out")


def test_a_work_tree_is_found_without_git(repo: Path, tmp_path: Path) -> None:
    """.git is a directory in a clone, a file in a linked worktree or a submodule."""
    assert work_tree(str(repo / "rendered" / "x")) == str(repo)
    linked = tmp_path / "linked"
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    git(repo, "worktree", "add", "-q", str(linked))
    assert (linked / ".git").is_file() and work_tree(str(linked / "deploy")) == str(linked)
    with pytest.raises(OutputError, match=f"lies in the git work tree {linked} and is not git-ignored"):
        refuse_plaintext_in_git(linked / "deploy")
    assert work_tree(str(tmp_path / "elsewhere")) is None


@pytest.mark.parametrize("output", ["rendered", "deploy"])
def test_without_git_on_path_a_work_tree_is_refused(repo: Path, monkeypatch: pytest.MonkeyPatch, output: str) -> None:
    """Fail closed: even an ignored directory, since only git can say that it is ignored."""
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    code, stderr = render(repo / output)
    assert code == 2 and "git is not on PATH to say whether it is git-ignored" in stderr
    assert "install git" in stderr and not (repo / output).exists()


def fake_git(directory: Path, stderr: str, code: int) -> None:
    directory.mkdir()
    (directory / "git").write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(stderr)} >&2\nexit {code}\n")
    (directory / "git").chmod(0o755)


def test_a_git_that_refuses_to_answer_means_refused(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_git(tmp_path / "bin", f"fatal: detected dubious ownership in repository at '{repo}'", 128)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    code, stderr = render(repo / "rendered")
    assert code == 2 and not (repo / "rendered").exists()
    assert f"git could not say whether it is git-ignored (detected dubious ownership in repository at '{repo}')" in (
        stderr
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository to another user")
def test_a_repository_of_another_user_means_refused(repo: Path) -> None:
    """git's own safe.directory check, for real: the repository belongs to someone else."""
    for path in (repo, repo / ".git", *(repo / ".git").rglob("*")):
        os.lchown(path, 12345, 12345)
    code, stderr = render(repo / "rendered")
    assert code == 2 and "dubious ownership" in stderr and not (repo / "rendered").exists()


def test_a_symlink_out_of_the_repository_commits_only_the_link(repo: Path, tmp_path: Path) -> None:
    """Git stores the link, not what it points to; the write must keep the link, not replace it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "deploy").symlink_to(outside)
    code, stderr = render(repo / "deploy")
    assert code == 0, stderr
    assert (repo / "deploy").is_symlink() and (outside / "secret-minimal-patroni.yaml").is_file()
    assert git(repo, "status", "--porcelain", "--untracked-files=all").splitlines() == ["?? .gitignore", "?? deploy"]


def test_a_symlink_into_the_repository_is_judged_where_it_points(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "into-deploy").symlink_to(repo / "deploy")
    (tmp_path / "into-rendered").symlink_to(repo / "rendered")
    code, stderr = render(tmp_path / "into-deploy")
    assert code == 2 and f"(as {repo / 'deploy'}) and is not git-ignored" in stderr
    assert not (repo / "deploy").exists()
    assert render(tmp_path / "into-rendered")[0] == 0 and (repo / "rendered" / "kustomization.yaml").is_file()


def test_an_ignored_directory_with_tracked_files_is_refused(repo: Path) -> None:
    (repo / "rendered").mkdir()
    (repo / "rendered" / "secret-old.yaml").write_text("committed before the ignore rule\n")
    git(repo, "add", "-f", "rendered/secret-old.yaml")
    with pytest.raises(OutputError, match=r"is not git-ignored \(or git tracks files in it\)"):
        refuse_plaintext_in_git(repo / "rendered")
