"""The repository config, pgrender.yaml: where specs are, where output goes, how to validate."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator

from pgrender import __version__, globs
from pgrender.errors import Problem, SpecError
from pgrender.load import Document, load_file
from pgrender.plan.defaults import RESERVED_ROLE_PREFIX, SUPERUSER
from pgrender.providers import DEFAULT_SECRETS_PROVIDER, SECRETS_PROVIDERS
from pgrender.spec import cron
from pgrender.spec.base import DNSLabel, DNSSubdomain, ProviderName, StrictModel
from pgrender.spec.limits import MAX_USERS
from pgrender.spec.problems import problems_of
from pgrender.spec.users import InfrastructureRole, InfrastructureRoleSpec

CONFIG_FILE = "pgrender.yaml"
DEFAULT_KUBERNETES_VERSION = "1.30"


# A Go duration as ExternalSecret's refreshInterval takes it ("0": fetch once).
_GO_DURATION = re.compile(r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)\Z")
REMOTE_KEY_FIELDS = ("namespace", "cluster", "name", "property")


class SecretStoreRef(StrictModel):
    """The SecretStore or ClusterSecretStore every ExternalSecret reads from."""

    kind: Literal["ClusterSecretStore", "SecretStore"] = "ClusterSecretStore"
    """ClusterSecretStore (one store for every namespace) or SecretStore (in the cluster's namespace)."""
    name: DNSSubdomain = "pgrender"
    """The store's name."""


def _remote_key_template(value: str) -> str:
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


def _refresh_interval(value: str) -> str:
    if not _GO_DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration; expected a Go duration such as 1h, 15m or 1h30m, or 0")
    return value


def _schedule(value: str | None) -> str | None:
    if value is not None:
        cron.parse(value)
    return value


RemoteKeyTemplate = Annotated[str, AfterValidator(_remote_key_template)]


class ExternalSecretsSettings(StrictModel):
    """secrets.external: the ExternalSecrets of the `external` provider (External Secrets Operator)."""

    store: SecretStoreRef = Field(default_factory=SecretStoreRef, description="Where the values are read from.")
    api_version: Literal["external-secrets.io/v1", "external-secrets.io/v1beta1"] = Field(
        default="external-secrets.io/v1",
        description="external-secrets.io/v1 (ESO 0.16.2 and later; 0.17 serves nothing else), or "
        "external-secrets.io/v1beta1 (ESO before 0.16.2).",
    )
    refresh_interval: Annotated[str, AfterValidator(_refresh_interval)] = Field(
        default="1h", description="How often ESO reads the store again (a Go duration)."
    )
    remote_key: RemoteKeyTemplate = Field(
        default="{namespace}/{cluster}/{name}",
        description="The store's key of each value: {namespace}, {cluster}, {name} (a user, or _pgrender_*), "
        "{property}.",
    )
    property: RemoteKeyTemplate = Field(
        default="{property}", description="The property within the key (password, ca.crt, ...); same fields."
    )
    password_sync: Annotated[str | None, AfterValidator(_schedule)] = Field(
        default="*/5 * * * *",
        description="Schedule of the CronJob that sets passwords changed in the store; null: none "
        "(bump a user's passwordRotation instead).",
    )


class SealedConfig(StrictModel):
    """secrets.sealed: what the `sealed` provider seals for."""

    certificate: str = Field(
        description="The sealed-secrets controller's certificate (PEM, from `kubeseal --fetch-cert`), relative "
        "to this file; never fetched.",
        min_length=1,
    )


class SecretsConfig(StrictModel):
    """How passwords, keys and certificates reach the cluster (README, "Secrets in git")."""

    provider: Annotated[str, ProviderName("secrets", SECRETS_PROVIDERS)] = Field(
        default=DEFAULT_SECRETS_PROVIDER,
        description="How Secrets reach the cluster: derived (plaintext Secrets derived from the root key, "
        "for output that is never committed), existing (no Secrets written; you create them, e.g. from "
        "`render --only-secrets`), sealed (Bitnami SealedSecrets, for committed output) or external "
        "(ExternalSecrets of External Secrets Operator reading a store). --secrets-provider overrides it.",
    )
    key_file: str | None = Field(default=None, description="Root key file; else PGRENDER_KEY.")
    sealed: SealedConfig | None = Field(default=None, description="For provider sealed.")
    external: ExternalSecretsSettings = Field(
        default_factory=ExternalSecretsSettings, description="For provider external."
    )


class RepositoryConfig(StrictModel):
    """pgrender.yaml at a repository or Argo CD application root."""

    api_version: str = Field(default="pgrender.io/v1alpha1", pattern=r"^pgrender\.io/v1alpha1$")
    """pgrender.io/v1alpha1, the version of this file's format."""
    kind: str = Field(default="RenderConfig", pattern="^RenderConfig$")
    """RenderConfig."""
    specs: list[str] = Field(
        default_factory=lambda: ["*.pgcluster.yaml"], min_length=1, examples=[["clusters/**/*.pgcluster.yaml"]]
    )
    """Glob patterns of the spec files, relative to this file (** matches directories); used when a command
    names no files."""
    output: str = Field(default="rendered", examples=["rendered"])
    """The directory rendered output goes to (and `diff` and `lint` read), relative to this file; -o overrides it."""
    namespace: DNSLabel | None = Field(default=None, description="For specs without metadata.namespace.")
    # The pattern is for editors (JSON Schema); the validator gives the message people read.
    kubernetes_version: str = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        json_schema_extra={"pattern": r"^v?1\.[0-9]+(\.[0-9]+)?$"},
        examples=["1.30"],
    )
    """The Kubernetes version `pgrender lint` checks the output against (1.MINOR); --kubernetes-version overrides it."""
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    """Which secrets provider writes the Secrets, and its settings."""
    required_version: str | None = Field(
        default=None,
        description="The pgrender releases this repository is rendered with, a PEP 440 specifier such as ==0.1.0 "
        "or ~=0.1.0: every command refuses to run as another version.",
    )

    @field_validator("required_version")
    @classmethod
    def _specifier(cls, value: str | None) -> str | None:
        if value is not None:
            _specifier_set(value)
        return value

    infrastructure_roles: list[InfrastructureRoleSpec] = Field(
        default=[],
        max_length=MAX_USERS,
        description="Roles made in every cluster rendered with this file (monitoring, backup tools, admins), "
        "each with its Secret <cluster>-pguser-<name> and the same password in every cluster.",
    )

    @field_validator("infrastructure_roles")
    @classmethod
    def _distinct(cls, roles: list[InfrastructureRoleSpec]) -> list[InfrastructureRoleSpec]:
        names = [role.name for role in roles]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
        reserved = [n for n in names if n == SUPERUSER or n.startswith(RESERVED_ROLE_PREFIX)]
        if reserved:
            raise ValueError(f"{reserved[0]!r} is reserved: pgrender manages the superuser and replication roles")
        return roles

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        parts = value.removeprefix("v").split(".")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts) or parts[0] != "1":
            raise ValueError(f"{value!r} is not a Kubernetes version; expected 1.MINOR such as 1.30")
        return ".".join(parts[:2])


class LoadedConfig:
    """A repository config and the directory its relative paths start from."""

    def __init__(
        self,
        config: RepositoryConfig,
        root: Path,
        path: Path | None = None,
        positions: dict[tuple[str | int, ...], tuple[int, int]] | None = None,
    ) -> None:
        self.config = config
        self.root = root
        self.path = path or root / CONFIG_FILE
        self._positions = positions or {}

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
        return self.root / self.config.output

    def spec_files(self) -> list[str]:
        """Spec files matching the globs, sorted, relative to the working directory when possible."""
        found = globs.spec_files(str(self.root), self.config.specs)
        if not found:
            raise SpecError([Problem(str(self.path), 0, 0, "specs", f"no file matches {self.config.specs}")])
        return found

    def key_file(self) -> str | None:
        """Relative to the config file, like specs and output."""
        key = self.config.secrets.key_file
        return str(self.root / Path(key).expanduser()) if key else None

    def sealing_certificate(self) -> str | None:
        """secrets.sealed.certificate, relative to the config file."""
        sealed = self.config.secrets.sealed
        return str(self.root / Path(sealed.certificate).expanduser()) if sealed else None


def _specifier_set(text: str) -> Any:
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


def _require_version(document: Document, required: str) -> None:
    """Refuse to go on as a pgrender version the repository does not pin: output differs between versions."""
    specifiers = _specifier_set(required)
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
    return LoadedConfig(RepositoryConfig(), root)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a pgrender.yaml; problems carry file, line and field path."""
    (document, *rest) = load_file(path)
    if rest:
        raise SpecError([Problem(str(path), 0, 0, "", "expected one YAML document")])
    if not isinstance(document.data, dict):
        raise SpecError([Problem(str(path), 1, 1, "", "expected a mapping (RenderConfig)")])
    try:
        config = RepositoryConfig.model_validate(document.data)
    except ValidationError as exc:
        raise SpecError(problems_of(document, exc, RepositoryConfig)) from None
    if config.required_version is not None:
        _require_version(document, config.required_version)
    return LoadedConfig(config, Path(path).parent, Path(path), document.positions)


def find_config(explicit: str | None) -> LoadedConfig | None:
    """--config PATH, else ./pgrender.yaml when it exists."""
    if explicit:
        return load_config(explicit)
    candidate = Path(CONFIG_FILE)
    return load_config(candidate) if candidate.is_file() else None
