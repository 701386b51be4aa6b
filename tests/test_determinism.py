"""Byte-identical output across processes and PYTHONHASHSEED values."""

from __future__ import annotations

import os
import subprocess
import sys

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
