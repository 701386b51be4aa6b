"""Rendered output as committed at a git revision, read with git ls-tree and cat-file (nothing is checked out)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from pgrender.errors import PgrenderError
from pgrender.write import SpooledTexts


def read_revision(directory: Path, rev: str) -> SpooledTexts:
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
    return _spooled(git, root, blobs)


# A file larger than this is not read: a rendered file holds one object, which Kubernetes takes up
# to about 1.5 MiB (etcd's request limit). A larger blob committed there is read as a line saying so.
MAX_FILE_BYTES = 16 << 20
TOO_LARGE = f"# larger than {MAX_FILE_BYTES >> 20} MiB: not a file pgrender writes, and not read\n"


def _spooled(git: str, root: Path, blobs: list[tuple[str, str]]) -> SpooledTexts:
    """The blobs' texts, read from one git cat-file --batch a blob at a time into SpooledTexts (as
    the output in the work tree is read: check.read_output), a directory's files together: a
    fleet's output at a revision is hundreds of megabytes, which were held whole, twice."""
    files = SpooledTexts()
    with tempfile.TemporaryFile() as names:  # git's input from a file: no pipe to fill both ways
        names.write("".join(f"{sha}\n" for _, sha in blobs).encode())
        names.seek(0)
        with subprocess.Popen(
            [git, "-C", str(root), "cat-file", "--batch"], stdin=names, stdout=subprocess.PIPE
        ) as git_:
            stream = git_.stdout
            assert stream is not None
            # In path order, as ls-tree lists them: a directory's files one after another.
            files.add_in_order((rel, _blob(stream)) for rel, _ in blobs)
    if git_.returncode != 0:
        raise PgrenderError(f"git cat-file failed (exit {git_.returncode}) reading the output at the revision")
    return files


def _blob(stream: IO[bytes]) -> str:
    """The next blob of a cat-file --batch output: its header, its bytes and the line break after."""
    header = stream.readline().split()
    if len(header) != 3:
        raise PgrenderError(f"git cat-file: unexpected answer {b' '.join(header)[:100]!r}")
    size = int(header[2])
    if size > MAX_FILE_BYTES:
        left = size + 1  # its bytes and the line break after them, passed over a piece at a time
        while left and (piece := stream.read(min(left, 1 << 20))):
            left -= len(piece)
        return TOO_LARGE
    data = stream.read(size)
    stream.read(1)
    return data.decode("utf-8", errors="replace")


def _git(git: str, cwd: Path, *args: str) -> str | None:
    """git's standard output, or None when it fails."""
    done = subprocess.run([git, "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None
