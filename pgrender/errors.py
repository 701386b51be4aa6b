"""Exceptions: PgrenderError for what users can act on (SpecError carries every Problem found in
the input), and InternalError for pgrender's own inconsistencies."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from pgrender.frozen import frozen


class UsageError(Exception):
    """A command line that does not make sense: click reports it with the command's usage, exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PgrenderError(Exception):
    """A failure a user can act on; the CLI prints it without a traceback and exits 2."""


@frozen
class Problem:
    """One thing wrong with the input; line and column are 1-based, 0 when unknown. Problems sort
    by their fields in order (file, line, column, path, message), as the reports list them."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __lt__(self, other: Any) -> Any:  # bool, or NotImplemented for another class
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _ORDER(self) < _ORDER(other)


_ORDER = attrgetter("file", "line", "column", "path", "message")


class SpecError(PgrenderError):
    """Every problem found in the input, collected before anything is written."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(sorted(set(problems)))
        super().__init__(f"{len(self.problems)} problem(s) in the input")


class RootKeyError(PgrenderError):
    """The root key needed to derive secrets is missing or malformed."""


class OutputError(PgrenderError):
    """The output location cannot be written safely."""


class ChangeRefusedError(PgrenderError):
    """The new output changes a running cluster in a way Kubernetes or PostgreSQL refuses (a claim
    shrinking or changing its storage class, a major version bump); nothing is written."""


class InternalError(Exception):
    """pgrender contradicted itself (two objects with one identity, a value it cannot write): a bug.

    Not a PgrenderError: the CLI prints a traceback and exits 70 (EX_SOFTWARE), never the exit 2
    and one-line message that belong to users' mistakes.
    """
