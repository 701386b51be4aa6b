"""Kustomize base on disk: one file per object, a sorted kustomization.yaml, atomic replacement.

Unchanged files are never rewritten: a run that changes nothing touches nothing, and a run that
changes some files hard-links the others into the new tree, so inodes and mtimes say what changed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pgrender import emit
from pgrender.errors import OutputError
from pgrender.plan.names import cluster_directories
from pgrender.render import ClusterOutput, Rendering

KUSTOMIZATION = "kustomization.yaml"
FILE_MODE = 0o644
DIR_MODE = 0o755


def file_name(manifest: emit.Manifest) -> str:
    """<kind>-<name>.yaml, lower case: unique within a cluster, as emit refuses duplicate ids."""
    return f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"


def kustomization(resources: list[str]) -> str:
    return emit.dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": sorted(resources),
        }
    )


def cluster_files(cluster: ClusterOutput) -> dict[str, str]:
    files = {file_name(d.manifest): d.text for d in cluster.documents}
    files[KUSTOMIZATION] = kustomization(list(files))
    return files


def files(rendering: Rendering) -> dict[str, str]:
    """Relative path → content. One cluster: a flat base; several: one directory per cluster."""
    if len(rendering.clusters) == 1:
        return cluster_files(rendering.clusters[0])
    out: dict[str, str] = {}
    dirs = cluster_directories([(c.namespace, c.name) for c in rendering.clusters])
    for cluster, directory in zip(rendering.clusters, dirs, strict=True):
        for name, text in cluster_files(cluster).items():
            out[f"{directory}/{name}"] = text
    out[KUSTOMIZATION] = kustomization(dirs)
    return out


def stream(rendering: Rendering) -> str:
    """All objects of all clusters as one YAML stream, without a kustomization object."""
    return "".join(part for c in rendering.clusters for d in c.documents for part in ("---\n", d.text))


def owned_files(directory: Path) -> set[str]:
    """Files a previous run wrote: each kustomization.yaml and the resources it lists."""
    owned: set[str] = set()
    pending = [Path(".")]
    while pending:
        rel = pending.pop()
        kfile = directory / rel / KUSTOMIZATION
        if not kfile.is_file():
            continue
        owned.add(str(rel / KUSTOMIZATION))
        for line in kfile.read_text(encoding="utf-8").splitlines():
            if line.startswith("- "):
                entry = line[2:].strip().strip('"')
                if (directory / rel / entry).is_dir():
                    pending.append(rel / entry)
                else:
                    owned.add(str(rel / entry))
    return {str(Path(p)) for p in owned}


def write(directory: str | Path, content: dict[str, str]) -> None:
    """Replace ``directory`` with exactly ``content``, atomically, leaving unchanged files alone.

    When the directory already holds exactly ``content`` (same owned paths, bytes and modes), nothing
    is touched. Otherwise the new tree is built in a temporary sibling directory and swapped into
    place by rename, so the directory is always either the old complete tree or the new one and a
    failed run leaves the previous output untouched. A file whose bytes did not change is hard-linked
    into the new tree, so it keeps its inode and mtime and editors do not reload it (the link count
    change moves its ctime, so git re-reads it once and finds it unchanged). A directory holding files
    pgrender did not write is refused rather than overwritten.
    """
    import shutil  # here, not at the top: `render --stdout` starts faster without them
    import tempfile

    target = Path(directory)
    wanted = {str(Path(rel)): text.encode("utf-8") for rel, text in content.items()}
    owned: set[str] = set()
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a directory")
    if target.is_dir():
        owned = owned_files(target)
        present = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
        foreign = sorted(present - owned)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputError(
                f"{target}: holds files pgrender did not write ({shown}); move them or choose another output directory"
            )
        if (
            owned == set(wanted)
            and stat.S_IMODE(target.stat().st_mode) == DIR_MODE
            and all(_holds(target / rel, data, FILE_MODE) for rel, data in wanted.items())
        ):
            return
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        for rel, data in sorted(wanted.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            _stage(target / rel if rel in owned else None, path, data, FILE_MODE)
        os.chmod(staging, DIR_MODE)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=parent))
            os.rename(target, retired / "out")
            try:
                os.rename(staging, target)
            except OSError:
                os.rename(retired / "out", target)
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _holds(path: Path, data: bytes, mode: int) -> bool:
    """Whether ``path`` is a regular file (not a symlink) with exactly ``data`` and permission bits ``mode``."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode or st.st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _stage(old: Path | None, new: Path, data: bytes, mode: int) -> None:
    """Put ``data`` at ``new``: a hard link to ``old`` when that already holds it, else a fresh file.

    The link is checked after it is made, through the staging path, so a file replaced between the
    check and the link can never slip into the new tree with the wrong bytes.
    """
    if old is not None:
        try:
            os.link(old, new, follow_symlinks=False)
        except OSError:
            pass  # EXDEV, EPERM, EMLINK, a file system without hard links, or a vanished file: write a copy
        else:
            if _holds(new, data, mode):
                return
            new.unlink()  # only the staging name goes: the old tree keeps the file
    new.write_bytes(data)
    os.chmod(new, mode)
