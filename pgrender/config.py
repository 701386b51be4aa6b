"""The repository config, pgrender.yaml: where specs are, where output goes, how to validate.

Its models are in pgrender.spec.repository, imported (with pydantic) when a file is validated;
their names are still importable from here (PEP 562).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgrender import __version__, globs
from pgrender.errors import Problem, SpecError
from pgrender.load import Document, file_bytes, load_bytes
from pgrender.spec.rules.repository import DEFAULT_KUBERNETES_VERSION, specifier_set
from pgrender.spec.rules.users import InfrastructureRole

if TYPE_CHECKING:
    from pgrender.spec.repository import (
        ExternalSecretsSettings,
        RepositoryConfig,
        SealedConfig,
        SecretsConfig,
        SecretStoreRef,
    )

CONFIG_FILE = "pgrender.yaml"
_MODELS = frozenset({"ExternalSecretsSettings", "RepositoryConfig", "SealedConfig", "SecretsConfig", "SecretStoreRef"})

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_KUBERNETES_VERSION",
    "ExternalSecretsSettings",
    "LoadedConfig",
    "RepositoryConfig",
    "SealedConfig",
    "SecretStoreRef",
    "SecretsConfig",
    "default_config",
    "find_config",
    "load_config",
]


def __getattr__(name: str) -> Any:
    """The models, imported (with pydantic) when first asked for."""
    if name in _MODELS:
        return getattr(importlib.import_module("pgrender.spec.repository"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LoadedConfig:
    """A repository config and the directory its relative paths start from."""

    def __init__(
        self,
        config: RepositoryConfig,
        root: Path,
        path: Path | None = None,
        positions: dict[tuple[str | int, ...], tuple[int, int]] | None = None,
        digest: str | None = None,
    ) -> None:
        self.config = config
        self.root = root
        self.path = path or root / CONFIG_FILE
        self._positions = positions or {}
        # The SHA-256 (hex) of the bytes this config was read from: the record names what the render
        # read, not what the file holds by the time the record is made. None: not read from a file.
        self.digest = digest

    def infrastructure_roles(self) -> tuple[InfrastructureRole, ...]:
        """infrastructureRoles, each with the positions of its fields in this file."""
        return tuple(
            InfrastructureRole(
                role,
                i,
                str(self.path),
                tuple((p, at) for p, at in self._positions.items() if p[:2] == ("infrastructureRoles", i)),
            )
            for i, role in enumerate(self.config.infrastructure_roles)
        )

    @property
    def output(self) -> Path:
        """The output directory, inside the git repository that holds this file (links followed);
        SpecError otherwise, at the field. The config is the repository's, so a change to it (a pull
        request's) could make CI's render write anywhere the runner may, and check read there. Asked
        for only where -o names no directory: the command line is the user's own. A config in no
        repository is not held to one."""
        path = self.root / self.config.output
        top = _repository_top(self.root)
        if top is None:
            return path
        target = os.path.realpath(path)
        if os.path.commonpath([target, top]) == top:
            return path
        field = ("output",)
        line, column = self._positions.get(field, (0, 0))
        named = (
            repr(self.config.output) if field in self._positions else f"{self.config.output!r} (not set: the default)"
        )
        message = (
            f"{named} leads to {target}, outside the repository that holds this file ({top}), following links; "
            "pgrender.yaml names an output directory inside its repository only, so that a change to it cannot "
            "make a render write elsewhere. For a directory outside, pass -o/--output on the command line"
        )
        raise SpecError([Problem(str(self.path), line, column, "output", message)])

    def spec_files(self) -> list[str]:
        """Spec files matching the globs, sorted, relative to the working directory when possible."""
        found = globs.spec_files(str(self.root), self.config.specs)
        if not found:
            raise SpecError([Problem(str(self.path), 0, 0, "specs", f"no file matches {self.config.specs}")])
        return found

    def key_file(self) -> str | None:
        """Relative to the config file, like specs and output."""
        key = self.config.secrets.key_file
        return str(self.root / os.path.expanduser(key)) if key else None

    def sealing_certificate(self, read: bool = True) -> str | None:
        """secrets.sealed.certificate, relative to the config file. ``read``: the provider seals for
        it, so it must be a regular file (links followed) that reads without waiting: the repository
        names it, and a FIFO, /proc/self/fd/0 or /proc/kmsg would hold a render, or the Argo CD
        plugin, on a read. --sealing-certificate may name a pipe (<(kubeseal --fetch-cert))."""
        sealed = self.config.secrets.sealed
        if not sealed:
            return None
        path = str(self.root / os.path.expanduser(sealed.certificate))
        if read and not _reads_at_once(path):
            field = ("secrets", "sealed", "certificate")
            line, column = self._positions.get(field, (0, 0))
            message = (
                f"{sealed.certificate!r} is not a regular file that reads without waiting (a pipe, a socket, a "
                "device, a directory, or a file of /proc like one): pgrender.yaml names a certificate file; pass "
                "--sealing-certificate for another kind"
            )
            raise SpecError([Problem(str(self.path), line, column, ".".join(field), message)])
        return path


def _reads_at_once(path: str) -> bool:
    """Whether ``path`` is a regular file whose first byte reads without waiting; True also when it
    cannot be opened at all (missing, unreadable): the read of the certificate says why."""
    import stat

    from pgrender.record import open_regular

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a socket cannot even be opened
            return False
        fd = open_regular(path)
    except (OSError, ValueError):
        return True
    if fd is None:
        return False
    try:
        os.read(fd, 1)  # opened O_NONBLOCK: a file that would wait raises BlockingIOError
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        os.close(fd)
    return True


def _require_version(document: Document, required: str) -> None:
    """Refuse to go on as a pgrender version the repository does not pin: output differs between versions."""
    specifiers = specifier_set(required)
    if specifiers.contains(__version__, prereleases=True):
        return
    (only, *others) = list(specifiers)
    exact = only.version if not others and only.operator in ("==", "===") and "*" not in only.version else None
    wanted = exact or "X.Y.Z"
    line, column = document.position(("requiredVersion",))
    message = (
        f"this is pgrender {__version__}, and this repository requires pgrender{required}; install "
        f"{f'pgrender {exact}' if exact else 'a release that matches'} (pip install "
        f'"pgrender[lint] @ git+<your mirror of pgrender>@v{wanted}", pre-commit rev: v{wanted}, image '
        f'pgrender-cmp:{wanted}; README, "Installing a release") or change requiredVersion'
    )
    raise SpecError([Problem(document.file, line, column, "requiredVersion", message)])


def default_config(root: Path) -> LoadedConfig:
    from pgrender.spec import validated

    return LoadedConfig(validated("RepositoryConfig", {}), root)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a pgrender.yaml; problems carry file, line and field path."""
    import hashlib

    raw = file_bytes(path)
    (document, *rest) = load_bytes(raw, str(path))
    if rest:
        raise SpecError([Problem(str(path), 0, 0, "", "expected one YAML document")])
    if not isinstance(document.data, dict):
        raise SpecError([Problem(str(path), 1, 1, "", "expected a mapping (RenderConfig)")])
    from pgrender.spec import validated

    try:
        config = validated("RepositoryConfig", document.data)
    except Exception as exc:
        from pydantic import ValidationError  # only for a config pydantic refused

        if not isinstance(exc, ValidationError):
            raise
        from pgrender.spec.problems import problems_of
        from pgrender.spec.repository import RepositoryConfig

        raise SpecError(problems_of(document, exc, RepositoryConfig)) from None
    if config.required_version is not None:
        _require_version(document, config.required_version)
    return LoadedConfig(config, Path(path).parent, Path(path), document.positions, hashlib.sha256(raw).hexdigest())


def _repository_top(directory: Path) -> str | None:
    """The nearest directory at or above ``directory`` (links resolved) holding .git (a directory, or
    a file in a worktree or submodule); None: the config is in no git repository."""
    start = Path(os.path.realpath(directory))
    for candidate in (start, *start.parents):
        if os.path.lexists(candidate / ".git"):
            return str(candidate)
    return None


def find_config(explicit: str | None) -> LoadedConfig | None:
    """--config PATH, else ./pgrender.yaml when it exists."""
    if explicit:
        return load_config(explicit)
    candidate = Path(CONFIG_FILE)
    return load_config(candidate) if candidate.is_file() else None
