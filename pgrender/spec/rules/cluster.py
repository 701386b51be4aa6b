"""Checks of the cluster spec's own fields (spec.imageContract, spec.imagePullSecrets,
spec.acknowledgedChanges)."""

from __future__ import annotations

from pgrender.patterns import Pattern

VERSION_PLACEHOLDER = "{version}"
# binDir reaches the reconcile Job's shell script and patroni.yaml; patroni is the pods' command.
# Both are held to characters no shell or YAML reader treats specially, so that no quoting can be
# forgotten, and {version} is substituted by plain replacement: never str.format on user text.
_PATH_CHARACTERS = Pattern(r"[A-Za-z0-9._/-]")
_PROGRAM_NAME = Pattern(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*\Z")
_PATH_HINT = "expected an absolute path of letters, digits, '.', '_', '-' and '/'"


def _check_absolute_path(value: str, placeholder: str | None) -> None:
    """ValueError naming what is wrong with ``value`` as an absolute path; ``placeholder`` may appear in it."""
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path; {_PATH_HINT}")
    plain = value.replace(placeholder, "") if placeholder else value
    bad = sorted({ch for ch in plain if not _PATH_CHARACTERS.fullmatch(ch)})
    if bad:
        only = f", with {placeholder} as the only placeholder" if placeholder else ""
        raise ValueError(f"{value!r}: {', '.join(map(repr, bad))} not allowed; {_PATH_HINT}{only}")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r}: '..' is not allowed; {_PATH_HINT}")


def check_bin_dir(value: str) -> str:
    _check_absolute_path(value, VERSION_PLACEHOLDER)
    return value


def check_program(value: str) -> str:
    if not value.startswith("/") and not _PROGRAM_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a program name or an absolute path; expected a name of letters, digits, "
            "'.', '_', '+' and '-' (looked up on PATH), or an absolute path"
        )
    if value.startswith("/"):
        _check_absolute_path(value, None)
    return value


# An id `pgrender diff` gives a change it holds back (remove-instance:hippo-a-0, major-version:15-16).
_CHANGE_ID = Pattern(r"^[a-z][a-z-]*:[^\s]+\Z")


def check_change_id(value: str) -> str:
    if len(value) > 253 or not _CHANGE_ID.match(value):
        raise ValueError(
            f"{value!r} is not a change id; expected what `pgrender diff` prints, such as remove-instance:hippo-a-0"
        )
    return value


def check_pull_secrets_once(value: list[str]) -> list[str]:
    twice = sorted({name for name in value if value.count(name) > 1})
    if twice:
        raise ValueError(f"{', '.join(map(repr, twice))} named more than once")
    return value
