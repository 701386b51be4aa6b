"""Kustomize base on disk: one file per object, a sorted kustomization.yaml, atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path

from pgrender import emit
from pgrender.errors import OutputError
from pgrender.render import ClusterOutput, Rendering

KUSTOMIZATION = "kustomization.yaml"


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
    dirs = []
    names = [c.name for c in rendering.clusters]
    for cluster in rendering.clusters:
        directory = cluster.name if names.count(cluster.name) == 1 else f"{cluster.namespace}-{cluster.name}"
        dirs.append(directory)
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
    """Replace ``directory`` with exactly ``content``, atomically.

    Files are written to a temporary sibling directory which is then renamed into place, so a
    failed run leaves the previous output untouched. A directory holding files pgrender did not
    write is refused rather than overwritten.
    """
    import shutil  # here, not at the top: `render --stdout` starts faster without them
    import tempfile

    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a directory")
    if target.is_dir():
        present = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
        foreign = sorted(present - owned_files(target))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise OutputError(
                f"{target}: holds files pgrender did not write ({shown}); move them or choose another output directory"
            )
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        for rel, text in sorted(content.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            os.chmod(path, 0o644)
        os.chmod(staging, 0o755)
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
