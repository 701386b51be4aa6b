"""The command lines pgrender runs without click.

Why. Importing click takes about 7 ms of a 100 ms cold render (issue 17: with inspect, uuid and
platform, which only click needs on that path, measured by leaving them out), and every render,
validate and Argo CD refresh pays it though none of them needs help text or shell completion.

What. ``parse`` reads a command line with the table pgrender.cli_compile generates from cli.py's
click declarations (cli_table.py) and follows click's parser: options anywhere among the arguments,
``--`` ending them, ``--name=value``, ``-oVALUE`` and ``-o=VALUE`` (the value ``=VALUE``), a value
option taking the next word whatever it is, the last of an option given twice, and the checks of
click's string, choice, path and registry types. Whatever it does not take exactly as click would
(help, shell completion, an unknown or malformed option, a missing value, a value click refuses)
gives None, and the command line goes to click (pgrender.cli), which says what is wrong.
tests/test_direct.py compares ``parse`` with click on generated command lines.

A command's UsageError is also click's to report, with the command's usage: ``main`` runs the
same command line through click, which raises it again (commands check their arguments before they
print or write anything).
"""

from __future__ import annotations

import os
import stat

from pgrender.cli_table import COMMANDS, GROUPS, HELP

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: a no-op run (record.py) parses here
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, NoReturn


def parse(argv: list[str], environ: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """The function of pgrender.commands and its parameters, as click would call it; None for click."""
    if any(k.startswith("_") and k.endswith("_COMPLETE") and v for k, v in environ.items()):
        return None  # click's shell completion
    words: tuple[str, ...] = ()
    rest = list(argv)
    while rest and (*words, rest[0]) in GROUPS:
        words = (*words, rest.pop(0))
    if not rest or (*words, rest[0]) not in COMMANDS:
        return None
    entry = COMMANDS[(*words, rest.pop(0))]
    given = _options(rest, entry)
    if given is None:
        return None
    values, positional = given
    arguments = entry["arguments"]
    for name, nargs in arguments:
        if nargs == -1:
            values[name] = tuple(positional)
            positional = []
        elif positional:
            values[name] = positional.pop(0)
    if positional:
        return None  # click: unexpected extra arguments
    params: dict[str, Any] = {}
    for name, default in entry["defaults"].items():
        value = values.get(name, default)
        if name in entry["required"] and value in (None, ()):
            return None
        kind = entry["types"][name]
        for one in value if isinstance(value, tuple) else () if value is None else (value,):
            if not _accepts(kind, one):
                return None
        params[name] = value
    return entry["function"], params


def _options(rest: list[str], entry: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """The options' values and the positional words, as click's parser reads them; None for click."""
    values: dict[str, Any] = {}
    positional: list[str] = []
    while rest:
        word = rest.pop(0)
        if word == "--":
            positional += rest
            break
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        given = _option(word, rest, entry)
        if given is None:
            return None
        for name, value in given:
            if name in entry["multiple"]:
                values[name] = (*values.get(name, ()), value)
            else:
                values[name] = value  # click keeps the last
    return values, positional


def _option(word: str, rest: list[str], entry: dict[str, Any]) -> list[tuple[str, Any]] | None:
    """The parameters an option word sets, with their values (the next word taken from ``rest`` when
    the option needs it); None for what click must answer: help, an unknown or malformed option."""
    options: dict[str, str] = entry["options"]
    flags: tuple[str, ...] = entry["flags"]
    long, equals, attached = word.partition("=")
    if _is_long(long) and (long in options or long in HELP):
        name = options.get(long)
        if name is None:
            return None  # help
        if name in flags:
            return None if equals else [(name, True)]
        if equals:
            return [(name, attached)]
        return [(name, rest.pop(0))] if rest else None  # click: the option requires an argument
    if word.startswith("--"):
        return None  # no such option
    found: list[tuple[str, Any]] = []
    for i, letter in enumerate(word[1:], start=2):  # a cluster of short options: -xy, -oVALUE
        short = f"-{letter}"
        name = options.get(short)
        if name is None or not _is_short(short):
            return None  # help, or no such option
        if name in flags:
            found.append((name, True))
            continue
        if i < len(word):
            found.append((name, word[i:]))
        elif rest:
            found.append((name, rest.pop(0)))
        else:
            return None
        break
    return found


def _is_long(option: str) -> bool:
    """click's parser: a long option is any but a dash and one letter."""
    return not _is_short(option)


def _is_short(option: str) -> bool:
    return len(option) == 2 and option[0] == "-" and option[1] != "-"


def _accepts(kind: tuple[Any, ...], value: str) -> bool:
    """Whether click's type of a parameter takes ``value`` as it is given."""
    if kind[0] in ("string", "flag"):
        return True
    if kind[0] == "choice":
        return value in kind[1]
    if kind[0] == "registry":
        from importlib import import_module

        module, _, attribute = kind[1].partition(":")
        return value in getattr(import_module(module), attribute)
    _, file_okay, dir_okay, allow_dash, readable = kind
    if file_okay and allow_dash and value == "-":
        return True
    try:
        st = os.stat(value)
    except OSError:
        return True  # click.Path without exists=True takes a path that is not there
    except ValueError:
        return False  # a NUL in the path: click's to report
    if (not file_okay and stat.S_ISREG(st.st_mode)) or (not dir_okay and stat.S_ISDIR(st.st_mode)):
        return False
    return not readable or os.access(value, os.R_OK)


def main(argv: list[str]) -> NoReturn:
    """Run a command line: here when ``parse`` takes it, else through click."""
    from pgrender import commands

    parsed = parse(argv, os.environ)
    if parsed is None:
        _click()
    function, params = parsed
    commands.leave(lambda: _run(getattr(commands, function), params))


def _run(command: Any, params: dict[str, Any]) -> None:
    """What click's standalone mode and cli._Commands do around a command, for the same outcomes."""
    from pgrender import commands
    from pgrender.errors import PgrenderError, UsageError

    commands.starting()
    try:
        command(**params)
    except UsageError:
        _click()
    except PgrenderError:
        raise  # as through click: a command reports its own, and one that escapes is not caught there
    except KeyboardInterrupt:
        commands.interrupted()
    except BrokenPipeError:
        commands.broken_pipe()
    except Exception:
        commands.internal_error()


def _click() -> NoReturn:
    from pgrender.cli import main

    main()
    raise AssertionError("cli.main leaves the process")  # pragma: no cover
