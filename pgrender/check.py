"""Compare a rendering with what is on disk: unified diffs, missing files, files no longer wanted."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from pgrender.write import owned_files


@dataclass(frozen=True)
class Staleness:
    changed: tuple[str, ...]
    missing: tuple[str, ...]
    obsolete: tuple[str, ...]
    foreign: tuple[str, ...]
    diff: str

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.obsolete or self.foreign)

    def summary(self, directory: Path) -> str:
        if not self.stale:
            return f"{directory}: up to date"
        foreign = (
            f"; files pgrender did not write, which render --write refuses: {', '.join(self.foreign)}"
            if self.foreign
            else ""
        )
        return (
            f"{directory}: stale: {len(self.changed)} changed, {len(self.missing)} missing, "
            f"{len(self.obsolete)} no longer rendered; run `pgrender render --write`{foreign}"
        )


def compare(expected: dict[str, str], directory: Path) -> Staleness:
    """Everything that differs between ``expected`` (path → text) and ``directory``; reads only."""
    present = owned_files(directory) if directory.is_dir() else set()
    on_disk = (
        {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()} if directory.is_dir() else set()
    )
    foreign = tuple(sorted(on_disk - present - set(expected)))
    changed: list[str] = []
    missing: list[str] = []
    chunks: list[str] = []
    for rel in sorted(expected):
        path = directory / rel
        new = expected[rel].splitlines(keepends=True)
        if not path.is_file():
            missing.append(rel)
            old: list[str] = []
        else:
            old = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
            if old == new:
                continue
            changed.append(rel)
        chunks.extend(difflib.unified_diff(old, new, f"a/{directory}/{rel}", f"b/{directory}/{rel}"))
    obsolete = sorted(present - set(expected))
    for rel in obsolete:
        old = (directory / rel).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(old, [], f"a/{directory}/{rel}", "/dev/null"))
    text = "".join(c if c.endswith("\n") else c + "\n\\ No newline at end of file\n" for c in chunks)
    return Staleness(tuple(changed), tuple(missing), tuple(obsolete), foreign, text)
