"""Byte-identical output across processes and PYTHONHASHSEED values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT


def render_in_process(seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    specs = [str(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    return subprocess.run(
        [sys.executable, "-m", "pgrender", "render", *specs, "--stdout", "--key-file", str(GOLDEN_KEY)],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    ).stdout


def test_two_processes_two_hash_seeds() -> None:
    first, second = render_in_process("1"), render_in_process("4242")
    assert first == second
    assert first.count(b"\nkind: StatefulSet\n") >= len(list(EXAMPLES.glob("*.yaml")))


def test_a_batch_renders_each_cluster_as_it_would_alone(tmp_path: Path) -> None:
    """Verifiers computed on the thread pool land in their own cluster's Secrets."""
    from pgrender import write
    from pgrender.render import Rendering, Request, render

    hippo = (EXAMPLES / "hippo.yaml").read_text()
    specs = []
    for i in range(8):
        path = tmp_path / f"c{i}.yaml"
        users = "".join(f"    - name: user{u}\n      databases: [db{u}]\n" for u in range(1 + i % 3))
        path.write_text(hippo.replace("name: hippo", f"name: c{i}", 1) + f"  users:\n{users}")
        specs.append(str(path))
    together = render(Request(tuple(specs), key_file=str(GOLDEN_KEY)))
    alone = [render(Request((spec,), key_file=str(GOLDEN_KEY))).clusters[0] for spec in specs]
    assert write.stream(together) == "".join(write.stream(Rendering((c,))) for c in alone)


def test_sealed_output_given_the_same_previous_output_is_the_same_in_every_process() -> None:
    """Sealing is random; what pgrender keeps is not: rendered against its committed output, the sealed golden case
    is its committed output, byte for byte, whatever the hash seed and time zone (see secrets/sealed.py)."""
    case = ROOT / "golden" / "sealed-pooled"
    expected = case / "expected"

    def render(seed: str, zone: str) -> bytes:
        args = ["render", str(case / "spec.yaml"), "--stdout", "--key-file", str(GOLDEN_KEY)]
        args += ["--config", str(case / "pgrender.yaml"), "--previous", str(expected)]
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": zone}
        return subprocess.run(
            [sys.executable, "-m", "pgrender", *args], check=True, capture_output=True, env=env
        ).stdout

    first, second = render("1", "UTC"), render("4242", "Asia/Kathmandu")
    assert first == second
    committed = [p.read_text() for p in expected.iterdir() if p.name != "kustomization.yaml"]
    text = first.decode()
    assert all(f"---\n{document}" in text for document in committed)
    assert len(text) == sum(len(f"---\n{document}") for document in committed)
