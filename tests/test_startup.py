"""Start-up path: what `pgrender render --stdout` of one cluster must not import (cold-start time)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT

PROBE = """
import contextlib, io, json, sys
sys.argv = ["pgrender", "render", sys.argv[1], "--stdout", "--key-file", sys.argv[2]]
from pgrender import cli
with contextlib.redirect_stdout(io.StringIO()):
    try:
        cli.cli()
    except SystemExit as exc:
        assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)))
"""

# Each is several milliseconds of a cold render and has no use in it. (cryptography.x509 is on the
# path: certificate encoding is a security boundary it owns, which is worth its import time.)
NOT_ON_THE_RENDER_PATH = (
    "concurrent.futures",  # the SCRAM pool starts with a second cluster
    "jsonschema",
    "kubernetes_validate",
    "subprocess",  # git checks are for output directories only
    "difflib",
    "pgrender.check",
    "pgrender.config",
    "pgrender.lint",
)


def test_one_cluster_to_stdout_imports_only_what_it_uses() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(EXAMPLES / "hippo.yaml"), str(GOLDEN_KEY)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    modules = set(json.loads(result.stdout))
    assert "pgrender.spec" in modules and "pgrender.secrets.x509" in modules
    assert sorted(m for m in NOT_ON_THE_RENDER_PATH if m in modules) == []
