"""What every benchmark shares: whole processes timed interleaved with their baselines, medians, rows.

Every figure is a ratio to a baseline timed in the same run, so the numbers mean the same on a
laptop and on a loaded CI runner; absolute times are printed only beside their baseline.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "tests" / "golden.key"
# As on a user's machine: bytecode is cached (some CI images set PYTHONDONTWRITEBYTECODE). The
# published test key is refused unless PGRENDER_ALLOW_TEST_KEY=1 says it is meant.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PGRENDER_ALLOW_TEST_KEY": "1"}


@dataclass(frozen=True)
class Row:
    """One figure beside its baseline; ``target`` is the ratio it should stay within (None: shown only)."""

    name: str
    value: float
    baseline_name: str
    baseline: float
    unit: str = "ms"
    target: float | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")

    def line(self) -> str:
        verdict = ""
        if self.target is not None:
            verdict = f"  [target <= {self.target:g}x: {'met' if self.ratio <= self.target else 'NOT met'}]"
        return (
            f"{self.name}: {self.value:.2f} {self.unit} = {self.ratio:.2f}x {self.baseline_name} "
            f"({self.baseline:.2f} {self.unit}){verdict}"
        )


@dataclass(frozen=True)
class Command:
    argv: Sequence[str]
    cwd: Path = ROOT
    env: Mapping[str, str] | None = None  # added to ENV


def interleaved(commands: Mapping[str, Command], runs: int) -> dict[str, float]:
    """Median wall time (ms) of each command, run ``runs`` times in turn (after one warm-up round),
    so a slow moment of the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(
                command.argv,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=command.cwd,
                env={**ENV, **(command.env or {})},
            )
            if round_:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


@contextmanager
def plain_install() -> Iterator[str]:
    """The python of a plain install: the wheel in a fresh virtualenv, whose `python -c pass` imports
    no editable-install finder (the development virtualenv's imports pathlib, re and importlib.util,
    about 25 ms, which every pgrender process and every `python -c pass` of it pays). The
    virtualenv's pip is brought up to date first, as pre-commit's virtualenvs and `pip install
    --upgrade pip` have it: the console script an older pip writes imports re (5 to 7 ms). Installing
    the wheel's dependencies takes a minute and the package index."""
    with tempfile.TemporaryDirectory(prefix="plain-install-") as tmp:
        wheels, venv = Path(tmp) / "dist", Path(tmp) / "venv"
        wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)]
        subprocess.run(wheel, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "venv", "--upgrade-deps", str(venv)], check=True, capture_output=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *map(str, wheels.glob("*.whl"))]
        subprocess.run(pip, check=True, capture_output=True)
        yield str(venv / "bin" / "python")
