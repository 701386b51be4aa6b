"""write: atomic replacement of a kustomize base; foreign files are never deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgrender.errors import OutputError
from pgrender.write import kustomization, owned_files, write


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
