"""README's YAML is what pgrender reads: every block parses with pgrender's loader (libyaml's
rules: a `:` inside a plain scalar of a flow mapping is an error there), and every whole
PostgresCluster and RenderConfig it shows is valid. Blocks that show part of a spec are read only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pgrender import load, plans
from pgrender.config import load_config
from pgrender.errors import Problem
from tests.conftest import EXAMPLES

README = EXAMPLES.parent / "README.md"
BLOCKS = [
    (README.read_text()[: m.start()].count("\n") + 2, m.group(1))
    for m in re.finditer(r"^```ya?ml\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
]


def test_the_readme_has_yaml_blocks() -> None:
    assert len(BLOCKS) > 20


@pytest.mark.parametrize(("line", "text"), BLOCKS, ids=[f"line-{line}" for line, _ in BLOCKS])
def test_every_yaml_block_parses(tmp_path: Path, line: int, text: str) -> None:
    path = tmp_path / "block.yaml"
    path.write_text(text)
    problems: list[Problem] = []
    assert list(load.iter_documents([str(path)], problems)), f"README line {line}: no document"
    assert [p.message for p in problems] == []


WHOLE = [(line, text) for line, text in BLOCKS if re.search(r"^kind: (PostgresCluster|RenderConfig)$", text, re.M)]


@pytest.mark.parametrize(("line", "text"), WHOLE, ids=[f"line-{line}" for line, _ in WHOLE])
def test_every_whole_spec_and_config_is_valid(tmp_path: Path, line: int, text: str) -> None:
    path = tmp_path / "pgrender.yaml"
    path.write_text(text)
    if "kind: RenderConfig" in text:
        assert load_config(path) is not None
    else:
        assert len(plans.validate((str(path),))) == 1
