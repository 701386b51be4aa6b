"""Refuse to write plaintext secret material where git would pick it up.

Where the bytes land decides: the output path with every symlink resolved, because write() writes
through a symlink and git never follows one (a link in a work tree is committed as a link, not as
the files it points to). That path is in a git work tree when it or a parent holds ``.git`` (a
directory, or a file for worktrees and submodules). Finding that needs no git, so a missing git
cannot hide a work tree. Whether the path is ignored only git can say (.gitignore files,
core.excludesFile, info/exclude, the index), so it is asked; when git is missing or refuses to
answer (exit 128, e.g. "detected dubious ownership"), the path counts as not ignored and the write
is refused with the reason: failing open here would commit keys.

The verdict (``refusal``) imports no pgrender module, nor subprocess, shutil or pathlib: a no-op
render (record.py) asks it too. There, importing those three cost about 10 ms, four times what git
itself takes to answer (issue 17, benchmarks/noop_bench.py in a plain install: a no-op of 20 specs
38 ms, 25 ms with a provider that needs no git check), so git is found on PATH and started with
os.posix_spawn, its standard error read from a pipe.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing; mypy reads the name the same
if TYPE_CHECKING:
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


def work_tree(path: str) -> str | None:
    """The nearest directory at or above the absolute ``path`` holding ``.git``; None outside every work tree."""
    while True:
        if os.path.lexists(os.path.join(path, ".git")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def refuse_plaintext_in_git(output: Path) -> None:
    """Raise OutputError unless ``output`` (resolved) lies outside every git work tree or is git-ignored."""
    reason = refusal(output)
    if reason is not None:
        from pgrender.errors import OutputError

        raise OutputError(reason)


def refusal(output: Path | str) -> str | None:
    """Why plaintext Secrets may not be written to ``output``; None when they may."""
    real = os.path.realpath(output)
    root = work_tree(real)
    if root is None:
        return None
    where = f"{output}: lies in the git work tree {root}" + (f" (as {real})" if real != os.path.abspath(output) else "")
    git = _on_path("git")
    if git is None:
        return (
            f"{where}, git is not on PATH to say whether it is git-ignored, and the derived provider writes "
            f"plaintext Secrets; install git, or {what_to_do()}"
        )
    # The trailing slash lets directory-only patterns ("/rendered/") match a directory not yet made.
    # check-ignore also answers "not ignored" for a directory holding tracked files.
    code, stderr = _run([git, "-C", root, "check-ignore", "-q", "--", f"{os.path.relpath(real, root)}/"])
    if code == 0:
        return None
    if code == 1:
        return (
            f"{where} and is not git-ignored (or git tracks files in it), and the derived provider writes "
            f"plaintext Secrets; {what_to_do()}"
        )
    said = next((line for line in stderr.splitlines() if line.strip()), f"exit {code}")
    return (
        f"{where}, git could not say whether it is git-ignored ({said.removeprefix('fatal: ')}), and the "
        f"derived provider writes plaintext Secrets; fix what git reports, or {what_to_do()}"
    )


def _on_path(name: str) -> str | None:
    """The executable ``name`` on PATH, as shutil.which finds it."""
    for directory in os.get_exec_path():
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return candidate
    return None


def _run(argv: list[str]) -> tuple[int, str]:
    """The exit code and standard error of ``argv``, run without the GIT_* redirects; standard input
    and output are /dev/null."""
    env = {k: v for k, v in os.environ.items() if k not in GIT_REDIRECTS}
    read, write = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, write, 2)]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
        os.close(null)
    with open(read, "rb") as errors:
        stderr = errors.read()  # to its end: git has exited or closed it
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stderr.decode(errors="replace")
