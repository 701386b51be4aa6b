"""Checks of pgrender.yaml (the repository config): secrets settings, infrastructure roles, versions."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

from pgrender import __version__
from pgrender.patterns import Pattern
from pgrender.spec import cron

if TYPE_CHECKING:
    from pgrender.spec.users import InfrastructureRoleSpec

DEFAULT_KUBERNETES_VERSION = "1.30"
DEFAULT_SPECS = ("*.pgcluster.yaml",)


# A Go duration as ExternalSecret's refreshInterval takes it ("0": fetch once).
GO_DURATION = Pattern(r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)\Z")
REMOTE_KEY_FIELDS = ("namespace", "cluster", "name", "property")


def check_remote_key_template(value: str) -> str:
    """A template of str.format fields among REMOTE_KEY_FIELDS (e.g. "{namespace}/{cluster}/{name}")."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a template: {exc}") from None
    bad = [
        "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        for _, name, spec, conversion in parsed
        if name is not None and (name not in REMOTE_KEY_FIELDS or spec or conversion)
    ]
    if bad or not value:
        raise ValueError(
            f"{value!r} has {', '.join(bad) if bad else 'nothing'}; expected text and the plain fields "
            f"{', '.join('{' + f + '}' for f in REMOTE_KEY_FIELDS)}"
        )
    return value


def check_refresh_interval(value: str) -> str:
    if not GO_DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration; expected a Go duration such as 1h, 15m or 1h30m, or 0")
    return value


def check_schedule(value: str | None) -> str | None:
    if value is not None:
        cron.parse(value)
    return value


def default_specs() -> list[str]:
    return list(DEFAULT_SPECS)


def check_required_version(value: str | None) -> str | None:
    if value is not None:
        specifier_set(value)
    return value


def check_distinct_roles(roles: list[InfrastructureRoleSpec]) -> list[InfrastructureRoleSpec]:
    names = [role.name for role in roles]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
    # Here, not at the top: importing pgrender.plan (its package) would put the plan on validate's path.
    from pgrender.plan.defaults import RESERVED_ROLE_PREFIX, SUPERUSER

    reserved = [n for n in names if n == SUPERUSER or n.startswith(RESERVED_ROLE_PREFIX)]
    if reserved:
        raise ValueError(f"{reserved[0]!r} is reserved: pgrender manages the superuser and replication roles")
    return roles


def check_path(value: str) -> str:
    """A path pgrender.yaml names (specs, output, keyFile, certificate): the operating system takes
    no NUL byte in one."""
    if "\0" in value:
        raise ValueError("a path cannot hold a NUL byte (\\0)")
    return value


def check_kubernetes_version(value: str) -> str:
    parts = value.removeprefix("v").split(".")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts) or parts[0] != "1":
        raise ValueError(f"{value!r} is not a Kubernetes version; expected 1.MINOR such as 1.30")
    return ".".join(parts[:2])


def specifier_set(text: str) -> Any:
    """requiredVersion as a packaging SpecifierSet. packaging is imported here only: a config without
    requiredVersion, like every render without a config, starts without it."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        specifiers = SpecifierSet(text)
    except InvalidSpecifier:
        specifiers = None
    if not specifiers:  # unparsable, or empty (which would allow any version)
        raise ValueError(
            f"{text!r} is not a version specifier; expected a PEP 440 specifier such as =={__version__} or "
            f"~={__version__}"
        )
    return specifiers
