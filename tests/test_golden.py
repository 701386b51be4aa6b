"""Golden tests: every case renders byte for byte as committed; error cases fail exactly as committed."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.golden_cases import Case, cases, convert_cases, diff_cases, run, run_convert, run_diff


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_golden(case: Case, tmp_path: Path) -> None:
    output = tmp_path / "out"
    outcome = run(case, output)
    if case.is_error:
        assert outcome.exit_code == 2, outcome.stderr
        assert outcome.stderr == (case.directory / "expected.err").read_text()
        assert not output.exists(), "an error case must write nothing"
        return
    assert outcome.exit_code == 0, outcome.stderr
    expected_dir = case.directory / "expected"
    expected = {str(p.relative_to(expected_dir)): p.read_bytes() for p in expected_dir.rglob("*") if p.is_file()}
    assert sorted(outcome.files) == sorted(expected), "file names differ (run `make golden` and review)"
    diffs = []
    for name, content in sorted(expected.items()):
        if outcome.files[name] != content:
            diffs.extend(
                difflib.unified_diff(
                    content.decode().splitlines(keepends=True),
                    outcome.files[name].decode().splitlines(keepends=True),
                    f"expected/{name}",
                    f"actual/{name}",
                )
            )
    assert not diffs, "".join(diffs)


@pytest.mark.parametrize("case", diff_cases(), ids=lambda c: c.name)
def test_golden_diff(case: Path, tmp_path: Path) -> None:
    """`pgrender diff` between the renderings of old.yaml and new.yaml prints exactly expected.txt."""
    assert run_diff(case, tmp_path) == (case / "expected.txt").read_text()


@pytest.mark.parametrize("case", convert_cases(), ids=lambda c: c.name)
def test_golden_convert(case: Path) -> None:
    """`pgrender convert` of input.yaml prints exactly expected.yaml, and expected.err on stderr."""
    stdout, stderr = run_convert(case)
    assert stderr == (case / "expected.err").read_text()
    assert stdout == (case / "expected.yaml").read_text()
