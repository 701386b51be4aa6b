"""Refuse to write plaintext secret material where git would pick it up.

Where the bytes land decides: the output path with every symlink resolved, because write() writes
through a symlink and git never follows one (a link in a work tree is committed as a link, not as
the files it points to). That path is in a git work tree when it or a parent holds ``.git`` (a
directory, or a file for worktrees and submodules). Finding that needs no git, so a missing git
cannot hide a work tree. Whether the path is ignored only git can say (.gitignore files,
core.excludesFile, info/exclude, the index), so it is asked; when git is missing or refuses to
answer (exit 128, e.g. "detected dubious ownership"), the path counts as not ignored and the write
is refused with the reason: failing open here would commit keys.

The verdict (``refusal``) imports no pgrender module: a no-op render (record.py) asks it too, and
pgrender.errors alone costs 9 ms there (dataclasses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

WHAT_TO_DO = (
    "git-ignore the directory, render with --stdout for Argo CD, {committable}, "
    "or pass --allow-secrets-in-git for a published test key"
)


def what_to_do() -> str:
    """The ways out, naming the pgrender.yaml setting of every provider whose output can be committed."""
    from pgrender.providers import SECRETS_PROVIDERS, secrets_provider

    committable = [secrets_provider(name) for name in SECRETS_PROVIDERS]
    choices = "; ".join(f"`{p.name}`: {p.summary}" for p in committable if not p.writes_plaintext)
    return WHAT_TO_DO.format(
        committable=f"or commit the output without plaintext: set `secrets.provider` in pgrender.yaml to one of "
        f"these ({choices})"
    )


# Variables that point git at another repository than the one found here.
GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE")


def work_tree(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` holding ``.git``; None outside every work tree."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def refuse_plaintext_in_git(output: Path) -> None:
    """Raise OutputError unless ``output`` (resolved) lies outside every git work tree or is git-ignored."""
    reason = refusal(output)
    if reason is not None:
        from pgrender.errors import OutputError

        raise OutputError(reason)


def refusal(output: Path) -> str | None:
    """Why plaintext Secrets may not be written to ``output``; None when they may."""
    real = Path(os.path.realpath(output))
    root = work_tree(real)
    if root is None:
        return None
    where = f"{output}: lies in the git work tree {root}" + (
        f" (as {real})" if real != Path(os.path.abspath(output)) else ""
    )
    git = shutil.which("git")
    if git is None:
        return (
            f"{where}, git is not on PATH to say whether it is git-ignored, and the derived provider writes "
            f"plaintext Secrets; install git, or {what_to_do()}"
        )
    rel = real.relative_to(root).as_posix()
    # The trailing slash lets directory-only patterns ("/rendered/") match a directory not yet made.
    # check-ignore also answers "not ignored" for a directory holding tracked files.
    answer = subprocess.run(
        [git, "-C", str(root), "check-ignore", "-q", "--", f"{rel}/"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in GIT_REDIRECTS},
        check=False,
    )
    if answer.returncode == 0:
        return None
    if answer.returncode == 1:
        return (
            f"{where} and is not git-ignored (or git tracks files in it), and the derived provider writes "
            f"plaintext Secrets; {what_to_do()}"
        )
    said = next((line for line in answer.stderr.splitlines() if line.strip()), f"exit {answer.returncode}")
    return (
        f"{where}, git could not say whether it is git-ignored ({said.removeprefix('fatal: ')}), and the "
        f"derived provider writes plaintext Secrets; fix what git reports, or {what_to_do()}"
    )
