"""Certificate validity warnings: the same lines from validate, render, check and `cmp generate`,
for derived certificates not yet valid, expired and ending soon (pgrender/validity.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import GOLDEN_KEY, base_spec, run_cli

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
ENV = {"PGRENDER_ALLOW_TEST_KEY": "1"}


def _days(n: int) -> str:
    return (NOW + dt.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(n: int) -> str:
    return (NOW + dt.timedelta(days=n)).strftime("%Y-%m-%d")


# spec.tls fields → the warnings every command prints (cluster db/hippo of base_spec)
CASES = [
    ("valid", {"notBefore": _days(-1)}, []),
    (
        "not-yet-valid",
        {"notBefore": _days(3)},
        [
            f"leaf certificates not valid before {_date(3)}",
            f"CA not valid before {_date(3)}",
        ],
    ),
    ("leaves-ending", {"notBefore": _days(-100), "validityDays": 130}, [f"leaf certificates expire on {_date(30)}"]),
    ("leaves-expired", {"notBefore": _days(-100), "validityDays": 90}, [f"leaf certificates expired on {_date(-10)}"]),
    (
        "ca-ending",
        {"notBefore": _days(-100), "validityDays": 110, "caValidityDays": 120},
        [
            f"leaf certificates expire on {_date(10)}",
            f"CA expires on {_date(20)}",
        ],
    ),
]


def _spec(write_spec: Callable[..., Path], tls: dict[str, object]) -> Path:
    spec = base_spec()
    spec["spec"]["tls"] = tls
    return write_spec(spec)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize(("tls", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_command_warns_alike(
    write_spec: Callable[..., Path], tmp_path: Path, tls: dict[str, object], expected: list[str]
) -> None:
    path = _spec(write_spec, tls)
    out = tmp_path / "out"
    results = {
        "validate": run_cli("validate", str(path)),
        "render": run_cli("render", str(path), "-o", str(out), "--key-file", str(GOLDEN_KEY), env=ENV),
        "check": run_cli("check", str(path), "-o", str(out), "--key-file", str(GOLDEN_KEY), env=ENV),
        "diff": run_cli("diff", str(path), "-o", str(out), "--key-file", str(GOLDEN_KEY), env=ENV),
    }
    for command, result in results.items():
        assert result.exit_code == 0, (command, result.stderr)
        warnings = _warnings(result.stderr)
        assert len(warnings) == len(expected), (command, warnings)
        for line, part in zip(warnings, expected, strict=True):
            assert line.startswith("warning: ") and part in line, (command, line)
    assert len({tuple(_warnings(r.stderr)) for r in results.values()}) == 1


def test_warnings_stay_out_of_the_rendered_stream(write_spec: Callable[..., Path]) -> None:
    """With --stdout the YAML stream is what Argo CD or kubectl reads: the warning goes to stderr."""
    path = _spec(write_spec, {"notBefore": _days(-100), "validityDays": 90})
    result = run_cli("render", str(path), "--stdout", "--key-file", str(GOLDEN_KEY), env=ENV)
    assert result.exit_code == 0
    assert "expired on" in result.stderr and "expired on" not in result.stdout
    assert result.stdout.startswith("---\n") or result.stdout.startswith("apiVersion")
