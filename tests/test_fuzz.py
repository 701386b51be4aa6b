"""The seeded mutation fuzzer (tests/fuzz.py): a few hundred seeds here, thousands with `make fuzz`.

A failing seed reproduces on its own: `pytest tests/test_fuzz.py -k 'seed-123'`, and
`python -m tests.fuzz 123` prints its input.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz import check, make_case

CASES = int(os.environ.get("PGRENDER_FUZZ_CASES", "300"))
FIRST = int(os.environ.get("PGRENDER_FUZZ_FIRST", "0"))


@pytest.mark.parametrize("seed", range(FIRST, FIRST + CASES), ids=lambda s: f"seed-{s}")
def test_promises_hold_for_a_mutated_spec(seed: int, tmp_path: Path) -> None:
    case = make_case(seed)
    assert check(case, tmp_path) == [], case.describe()


def test_seeds_are_reproducible() -> None:
    assert [make_case(s).text for s in (0, 1, 2)] == [make_case(s).text for s in (0, 1, 2)]
