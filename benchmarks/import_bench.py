"""Start-up of the render path without pydantic: importing the modules a render runs (spec rules,
plan, builders, transforms, emit, write, the CLI) against the same plus the spec models, which is
what validating with pydantic adds to every cold command until the compiled validators replace it.
Each is a whole process, against `python -c pass`, timed interleaved.
"""

from __future__ import annotations

import sys

from benchmarks.common import Command, Row, interleaved

RENDER_PATH = (
    "pgrender.cli",
    "pgrender.cmp",
    "pgrender.components",
    "pgrender.config",
    "pgrender.emit",
    "pgrender.plan",
    "pgrender.plans",
    "pgrender.record",
    "pgrender.render",
    "pgrender.transforms",
    "pgrender.write",
)
MODELS = ("pgrender.spec.cluster", "pgrender.spec.repository")


def rows(quick: bool = False) -> list[Row]:
    runs = 5 if quick else 15
    commands = {
        "python": Command([sys.executable, "-c", "pass"]),
        "render path": Command([sys.executable, "-c", f"import {', '.join(RENDER_PATH)}"]),
        "with models": Command([sys.executable, "-c", f"import {', '.join(RENDER_PATH + MODELS)}"]),
    }
    median = interleaved(commands, runs)
    return [
        Row("import the render path (no pydantic)", median["render path"], "`python -c pass`", median["python"]),
        Row(
            "import the render path and the spec models (pydantic)",
            median["with models"],
            "`python -c pass`",
            median["python"],
        ),
        Row(
            "import the render path and the spec models (pydantic)",
            median["with models"],
            "the render path alone",
            median["render path"],
        ),
    ]


if __name__ == "__main__":
    for row in rows(quick="--quick" in sys.argv):
        print(row.line())
