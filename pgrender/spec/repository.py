"""The repository config's models (pgrender.yaml, kind RenderConfig); pgrender.config loads it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from pgrender.providers import DEFAULT_SECRETS_PROVIDER, SECRETS_PROVIDERS
from pgrender.spec.base import DNSLabel, DNSSubdomain, ProviderName, StrictModel
from pgrender.spec.limits import MAX_USERS
from pgrender.spec.rules.repository import (
    DEFAULT_KUBERNETES_VERSION,
    check_distinct_roles,
    check_kubernetes_version,
    check_path,
    check_refresh_interval,
    check_remote_key_template,
    check_required_version,
    check_schedule,
    default_specs,
)
from pgrender.spec.users import InfrastructureRoleSpec


class SecretStoreRef(StrictModel):
    """The SecretStore or ClusterSecretStore every ExternalSecret reads from."""

    kind: Literal["ClusterSecretStore", "SecretStore"] = "ClusterSecretStore"
    """ClusterSecretStore (one store for every namespace) or SecretStore (in the cluster's namespace)."""
    name: DNSSubdomain = "pgrender"
    """The store's name."""


RemoteKeyTemplate = Annotated[str, AfterValidator(check_remote_key_template)]
FilePath = Annotated[str, AfterValidator(check_path)]


class ExternalSecretsSettings(StrictModel):
    """secrets.external: the ExternalSecrets of the `external` provider (External Secrets Operator)."""

    store: SecretStoreRef = Field(default_factory=SecretStoreRef, description="Where the values are read from.")
    api_version: Literal["external-secrets.io/v1", "external-secrets.io/v1beta1"] = Field(
        default="external-secrets.io/v1",
        description="external-secrets.io/v1 (ESO 0.16.2 and later; 0.17 serves nothing else), or "
        "external-secrets.io/v1beta1 (ESO before 0.16.2).",
    )
    refresh_interval: Annotated[str, AfterValidator(check_refresh_interval)] = Field(
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
    password_sync: Annotated[str | None, AfterValidator(check_schedule)] = Field(
        default="*/5 * * * *",
        description="Schedule of the CronJob that sets passwords changed in the store; null: none "
        "(bump a user's passwordRotation instead).",
    )


class SealedConfig(StrictModel):
    """secrets.sealed: what the `sealed` provider seals for."""

    certificate: FilePath = Field(
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
    key_file: FilePath | None = Field(default=None, description="Root key file; else PGRENDER_KEY.")
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
    specs: list[FilePath] = Field(
        default_factory=default_specs, min_length=1, examples=[["clusters/**/*.pgcluster.yaml"]]
    )
    """Glob patterns of the spec files, relative to this file (** matches directories); used when a command
    names no files."""
    output: FilePath = Field(default="rendered", examples=["rendered"])
    """The directory rendered output goes to (and `diff` and `lint` read), relative to this file; in a git
    repository, inside it (links followed); -o overrides it."""
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

    _specifier = field_validator("required_version")(check_required_version)

    infrastructure_roles: list[InfrastructureRoleSpec] = Field(
        default=[],
        max_length=MAX_USERS,
        description="Roles made in every cluster rendered with this file (monitoring, backup tools, admins), "
        "each with its Secret <cluster>-pguser-<name> and the same password in every cluster.",
    )

    _distinct = field_validator("infrastructure_roles")(check_distinct_roles)
    _version = field_validator("kubernetes_version")(check_kubernetes_version)
