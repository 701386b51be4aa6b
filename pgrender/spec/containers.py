"""Spec of a user's own containers: sidecars and init containers of the database and pgBouncer pods.

They are Kubernetes containers, written as in a pod spec. pgrender checks what it must to put them
in its pods (the name, the image, which of the pod's volumes they mount) and that every field is
one a container has, and passes the values through as given; `pgrender lint` checks them against
Kubernetes' schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from pgrender.spec.base import DNSLabel, Image, StrictModel

MAX_CONTAINERS = 20  # of each kind, per pod: well above what a pod carries; keeps the pod spec small


class EnvVarSpec(StrictModel):
    name: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str | None = None
    value_from: dict[str, Any] | None = None


class VolumeMountSpec(StrictModel):
    """A mount of one of the pod's volumes that pgrender offers (README, "Sidecars and init containers")."""

    name: str
    mount_path: str = Field(pattern=r"^/")
    read_only: bool | None = None
    recursive_read_only: Literal["Disabled", "IfPossible", "Enabled"] | None = None
    sub_path: str | None = None
    sub_path_expr: str | None = None
    mount_propagation: Literal["None", "HostToContainer", "Bidirectional"] | None = None


class ContainerSpec(StrictModel):
    """A container as in a Kubernetes pod spec (the fields of core/v1 Container), checked for what pgrender
    needs: a name of its own in the pod, an image reference, mounts of volumes the pod has."""

    name: DNSLabel = Field(max_length=63)
    image: Image
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[dict[str, Any]] | None = None
    env: list[EnvVarSpec] | None = None
    env_from: list[dict[str, Any]] | None = None
    resources: dict[str, Any] | None = None
    resize_policy: list[dict[str, Any]] | None = None
    volume_mounts: list[VolumeMountSpec] | None = None
    liveness_probe: dict[str, Any] | None = None
    readiness_probe: dict[str, Any] | None = None
    startup_probe: dict[str, Any] | None = None
    lifecycle: dict[str, Any] | None = None
    termination_message_path: str | None = None
    termination_message_policy: Literal["File", "FallbackToLogsOnError"] | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    security_context: dict[str, Any] | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None

    @field_validator("env")
    @classmethod
    def _one_value(cls, value: list[EnvVarSpec] | None) -> list[EnvVarSpec] | None:
        for var in value or []:
            if var.value is not None and var.value_from is not None:
                raise ValueError(f"env {var.name!r}: value and valueFrom cannot both be set")
        return value

    def manifest(self) -> dict[str, Any]:
        """The container as given, in Kubernetes' spelling."""
        out: dict[str, Any] = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return out


class InitContainerSpec(ContainerSpec):
    """An init container; restartPolicy: Always makes it a native sidecar (Kubernetes 1.29+), which starts
    before the main container and keeps running beside it."""

    restart_policy: Literal["Always"] | None = None


def unique_names(containers: list[ContainerSpec], init_containers: list[InitContainerSpec]) -> None:
    """Container names are unique within a pod, init containers included."""
    names = [c.name for c in [*containers, *init_containers]]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"container names must be unique in the pod: {', '.join(map(repr, twice))} used twice")
