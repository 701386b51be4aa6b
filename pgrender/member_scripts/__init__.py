"""Scripts the database container runs before Patroni, shipped in ConfigMap <c>-config and run with
the image's python3 (nothing of pgrender is imported there). text() reads one for the ConfigMap."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def text(name: str) -> str:
    # package data beside this module, read as a file (pgrender.plan.parameters says why)
    return (Path(__file__).parent / name).read_text(encoding="utf-8")
