"""Refuse to write plaintext secret material where git would pick it up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pgrender.errors import OutputError


def refuse_plaintext_in_git(output: Path) -> None:
    """Raise OutputError when ``output`` lies in a git work tree and is not git-ignored."""
    git = shutil.which("git")
    if git is None:
        return
    probe = output.resolve()
    while not probe.exists():
        probe = probe.parent
    inside = subprocess.run(
        [git, "-C", str(probe), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return
    # The trailing slash lets directory-only patterns ("/rendered/") match a directory not yet made.
    ignored = subprocess.run(
        [git, "-C", str(probe), "check-ignore", "-q", f"{output.resolve()}/"],
        capture_output=True,
        check=False,
    )
    if ignored.returncode == 0:
        return
    raise OutputError(
        f"{output}: is inside a git work tree and not git-ignored, and the derived provider writes "
        "plaintext Secrets; git-ignore the directory, render with --stdout for Argo CD, or pass "
        "--allow-secrets-in-git for a published test key"
    )
