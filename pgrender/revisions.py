"""Rendered output as committed at a git revision, read with git ls-tree and cat-file (nothing is checked out)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pgrender.errors import PgrenderError


def read_revision(directory: Path, rev: str) -> dict[str, str]:
    """Relative path → text of every file below ``directory`` in the tree of ``rev``.

    Raises PgrenderError when git is missing, ``rev`` names no commit, or nothing is tracked there.
    """
    git = shutil.which("git")
    if git is None:
        raise PgrenderError("--rev reads the output from git, and git is not on PATH")
    where = Path(os.path.abspath(directory))
    start = next((p for p in (where, *where.parents) if p.is_dir()), Path("/"))
    top = _git(git, start, "rev-parse", "--show-toplevel")
    if top is None:
        raise PgrenderError(f"{directory}: not in a git work tree, so --rev has no history to read")
    root = Path(os.path.realpath(top.strip()))
    try:
        rel = Path(os.path.realpath(where)).relative_to(root).as_posix()
    except ValueError:
        raise PgrenderError(f"{directory}: lies outside the git work tree {root}") from None
    commit = _git(git, root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if commit is None:
        raise PgrenderError(f"{rev!r} is not a commit git knows in {root}")
    prefix = "" if rel == "." else rel + "/"
    listing = _git(git, root, "ls-tree", "-r", "-z", "--full-tree", commit.strip(), "--", prefix or ".")
    blobs = []
    for entry in (listing or "").split("\0"):
        if not entry:
            continue
        info, path = entry.split("\t", 1)
        mode, kind, sha = info.split()
        if kind == "blob" and mode != "120000":  # not symlinks (git stores their target), not submodules
            blobs.append((path.removeprefix(prefix), sha))
    if not blobs:
        raise PgrenderError(
            f"{directory} is not tracked at {rev} (git has no files there); commit the rendered output, "
            "or compare two directories: pgrender diff OLD NEW"
        )
    batch = subprocess.run(
        [git, "-C", str(root), "cat-file", "--batch"],
        input="".join(f"{sha}\n" for _, sha in blobs).encode(),
        capture_output=True,
        check=True,
    ).stdout
    out: dict[str, str] = {}
    position = 0
    for rel_path, _ in blobs:
        header_end = batch.index(b"\n", position)
        size = int(batch[position:header_end].split()[2])
        start_of_data = header_end + 1
        out[rel_path] = batch[start_of_data : start_of_data + size].decode("utf-8", errors="replace")
        position = start_of_data + size + 1
    return out


def _git(git: str, cwd: Path, *args: str) -> str | None:
    """git's standard output, or None when it fails."""
    done = subprocess.run([git, "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None
