"""Spec of the web interface: spec.userInterface.pgAdmin (PGO's pgAdmin 4)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from pgrender.spec.base import UID_MAX, DNSSubdomain, Image, StrictModel
from pgrender.spec.instances import ResourcesSpec, VolumeSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.network_policy import PeerSpec
from pgrender.spec.rules.user_interface import check_settings, check_settings_once
from pgrender.spec.scheduling import SchedulingSpec
from pgrender.spec.services import ServiceSpec
from pgrender.spec.tls import SecretKey


class SecretSettingSpec(StrictModel):
    """A key of a Secret in the cluster's namespace, whose value a pgAdmin setting takes."""

    secret_name: DNSSubdomain
    """The Secret (made outside pgrender: an LDAP bind password is not derived)."""
    key: SecretKey
    """The key whose value the setting takes, as text."""


class PgAdminSpec(StrictModel):
    """pgAdmin 4 for the cluster, as PGO's spec.userInterface.pgAdmin: every database user logs in as
    <user>@pgo with its own database password and finds the cluster among its servers; an
    Administrator login, admin@pgrender, manages pgAdmin (its password in Secret <cluster>-pgadmin)."""

    data_volume: VolumeSpec
    """pgAdmin's claim <cluster>-pgadmin (logins, saved queries, preferences), such as {size: 1Gi}."""
    image: Image | None = Field(default=None, examples=["dpage/pgadmin4:9.18"])
    """The pgAdmin 4 image: pgAdmin's official one (pgAdmin 8 or later at /pgadmin4, /venv/bin/python3 with
    gunicorn); default dpage/pgadmin4:9.18."""
    settings: dict[str, str | int | bool | list[str]] = Field(
        default={},
        max_length=200,
        examples=[{"MAX_LOGIN_ATTEMPTS": 5, "AUTHENTICATION_SOURCES": ["ldap", "internal"]}],
        description="pgAdmin settings (config.py's names, upper case), written into its config_system.py; "
        "not those pgrender sets itself (SERVER_MODE, DATA_DIR, SHARED_STORAGE, ...).",
    )
    secret_settings: dict[str, SecretSettingSpec] = Field(
        default={},
        max_length=20,
        examples=[{"LDAP_BIND_PASSWORD": {"secretName": "pgadmin-ldap", "key": "password"}}],
        description="pgAdmin settings whose values are secrets (PGO's config.ldapBindPassword): each read from "
        "a Secret's key, mounted into pgAdmin's pod, never written into a ConfigMap.",
    )
    password_rotation: int = Field(
        default=0,
        ge=0,
        le=1_000_000,
        description="Raise it for a new password of the Administrator login admin@pgrender; pgAdmin takes "
        "it when its pod restarts, which the new Secret makes happen.",
    )
    allow_from: list[PeerSpec] = Field(
        default=[],
        max_length=50,
        description="Who may connect to pgAdmin's port 5050 when NetworkPolicies are written (an ingress "
        "controller's pods, say). Empty: nobody but kubectl port-forward.",
    )
    resources: ResourcesSpec | None = Field(
        default=None,
        description="pgAdmin's requests and limits; default: requests cpu 50m, memory 256Mi, limit memory 512Mi.",
    )
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    """Service <cluster>-pgadmin, port 5050 (PGO's spec.userInterface.pgAdmin.service)."""
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    run_as_user: int = Field(default=5050, ge=1, le=UID_MAX)
    """User id pgAdmin runs as; 5050 is the official image's pgadmin user."""
    run_as_group: int = Field(default=5050, ge=1, le=UID_MAX)
    """Group id pgAdmin runs as, and the group of its claim (fsGroup)."""

    _settings = field_validator("settings", "secret_settings")(check_settings)
    _once = model_validator(mode="after")(check_settings_once)


class UserInterfaceSpec(StrictModel):
    """Web interfaces to the cluster."""

    pg_admin: PgAdminSpec | None = Field(default=None, alias="pgAdmin")
    """pgAdmin 4: StatefulSet, Service, ConfigMap, Secret and claim <cluster>-pgadmin; none unless set."""
