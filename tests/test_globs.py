"""pgrender.globs matches spec globs without glob (which imports re): the same matches as
glob.glob(pattern, recursive=True), on a tree of hidden names, links to a directory and a file, a
dangling link and names holding * and ?, for generated patterns of *, ? and **. (No link loop: glob
follows one until the path is too long, which, with two ** in a pattern, takes minutes.)"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgrender import globs

NAMES = ["a", "b", "ab", "ba", ".h", "x.yaml", "y.pgcluster.yaml", ".z.yaml", "st*r", "q?", "a.b.c"]
PARTS = [
    "*",
    "?",
    "**",
    "a",
    "a*",
    "*a",
    "*.yaml",
    "?b",
    ".*",
    "*b*",
    "a*b",
    "*.pgcluster.yaml",
    "st*r",
    "?*?",
    "",
    "[ab]*",
    "[!a]?",
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Files and directories three deep, hidden ones, links to a directory and a file, a dangling link."""
    top = tmp_path_factory.mktemp("globs")
    for first in NAMES[:6]:
        for second in NAMES:
            path = top / first / second
            path.parent.mkdir(parents=True, exist_ok=True)
            if second in ("a", ".h"):
                (path / "x.yaml").parent.mkdir(exist_ok=True)
                (path / "x.yaml").write_text("")
                (path / ".z.yaml").write_text("")
            else:
                path.write_text("")
    for name in NAMES[6:]:
        (top / name).write_text("")
    (top / "b" / "to-a").symlink_to(top / "a")
    (top / "b" / "to-file").symlink_to(top / "x.yaml")
    (top / "ba" / "dangling.yaml").symlink_to(top / "nowhere")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(top)
        yield top


# At most two ** in a pattern (each multiplies the directories the next part is matched in), and
# none starting at / (the whole file system).
patterns = (
    st.lists(st.sampled_from(PARTS), min_size=1, max_size=4)
    .filter(lambda parts: parts.count("**") <= 2 and parts[0] != "")
    .map("/".join)
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=patterns, absolute=st.booleans())
def test_globs_match_what_glob_matches(tree: Path, pattern: str, absolute: bool) -> None:
    if absolute:
        pattern = os.path.join(tree, pattern)
    ours, glob_s = globs.matches(pattern), glob.glob(pattern, recursive=True)
    assert sorted(m for m in ours if m) == sorted(m for m in glob_s if m), pattern


@pytest.mark.parametrize(
    ("name", "part", "fits"),
    [
        ("abc", "abc", True),
        ("abc", "ab", False),
        ("abc", "a?c", True),
        ("abc", "*", True),
        ("", "*", True),
        ("abc", "a*c", True),
        ("ac", "a*c", True),
        ("abcbd", "a*b*d", True),
        ("abcbd", "a*b?d", False),
        ("abcbdd", "a*b?d", True),
        ("abcd", "a*d*d", False),
        ("aXbXc", "*X*X*", True),
        ("aXb", "*X*X*", False),
        ("abab", "*ab", True),
        ("ab", "a**b", True),
        ("a", "a*a", False),
    ],
)
def test_a_part_fits_a_name_as_fnmatch_says(name: str, part: str, fits: bool) -> None:
    import fnmatch

    assert globs._fits(name, part) is fits is fnmatch.fnmatchcase(name, part)


@settings(max_examples=2000, deadline=None)
@given(name=st.text("ab?*.", max_size=8), part=st.text("ab?*.", max_size=6))
def test_a_part_fits_a_name_as_fnmatch_says_on_any_text(name: str, part: str) -> None:
    import fnmatch

    assert globs._fits(name, part) is fnmatch.fnmatchcase(name, part)


@pytest.mark.parametrize("pattern", ["[ab]/x.yaml", "**/[!x]*.yaml", "b*/[a-z]*", "[", "a/[*.yaml"])
def test_a_pattern_with_a_bracket_matches_what_glob_matches(tree: Path, pattern: str) -> None:
    """Matched here too (fnmatch for the part): glob itself would go round a link loop without end."""
    assert sorted(globs.matches(pattern)) == sorted(glob.glob(pattern, recursive=True))


def test_links_back_up_are_not_walked_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two links to the parent (d/a -> .., d/b -> ..) doubled glob's walk at every level, to the
    kernel's path limit (minutes): ** does not go round a link into a directory it is inside."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").symlink_to("..")
    (tmp_path / "d" / "b").symlink_to("..")
    (tmp_path / "d" / "c.pgcluster.yaml").write_text("")
    (tmp_path / "m.pgcluster.yaml").write_text("")
    calls = 0
    names = globs._names

    def counted(directory: str, dirs_only: bool) -> list[str]:
        nonlocal calls
        calls += 1
        return names(directory, dirs_only)

    monkeypatch.setattr(globs, "_names", counted)
    for pattern in ("**/*.pgcluster.yaml", "**/[cm].pgcluster.yaml"):
        assert globs.spec_files(str(tmp_path), [pattern]) == ["d/c.pgcluster.yaml", "m.pgcluster.yaml"]
    assert calls < 40
