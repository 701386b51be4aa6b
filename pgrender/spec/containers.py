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
from pgrender.spec.rules.containers import MAX_CONTAINERS, Container, check_one_value, unique_names

__all__ = ["MAX_CONTAINERS", "ContainerSpec", "EnvVarSpec", "InitContainerSpec", "VolumeMountSpec", "unique_names"]


class EnvVarSpec(StrictModel):
    """An environment variable of the container, as in Kubernetes: value or valueFrom."""

    name: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    """The variable's name."""
    value: str | None = None
    """Its value, as given."""
    value_from: dict[str, Any] | None = None
    """Where its value comes from (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef), as in Kubernetes."""


class VolumeMountSpec(StrictModel):
    """A mount of one of the pod's volumes that pgrender offers (README, "Sidecars and init containers")."""

    name: str
    """A volume the pod offers (database pods: pgdata, and pgwal with walVolume); others are refused."""
    mount_path: str = Field(pattern=r"^/")
    """Where the volume appears in the container (an absolute path)."""
    read_only: bool | None = None
    """true: mounted read-only."""
    recursive_read_only: Literal["Disabled", "IfPossible", "Enabled"] | None = None
    """With readOnly, whether submounts are read-only too: Disabled (no), IfPossible (where the runtime
    can), Enabled (or the container fails to start)."""
    sub_path: str | None = None
    """A path inside the volume to mount instead of its root."""
    sub_path_expr: str | None = None
    """Like subPath, with $(VAR) expanded from the container's environment."""
    mount_propagation: Literal["None", "HostToContainer", "Bidirectional"] | None = None
    """How mounts propagate: None (not at all), HostToContainer (host mounts reach the container),
    Bidirectional (both ways; needs a privileged container)."""


class ContainerSpec(Container, StrictModel):
    """A container as in a Kubernetes pod spec (the fields of core/v1 Container), checked for what pgrender
    needs: a name of its own in the pod, an image reference, mounts of volumes the pod has."""

    name: DNSLabel = Field(max_length=63)
    """The container's name, unique in the pod; pgrender's own containers' names are taken."""
    image: Image = Field(examples=["busybox:1.36"])
    """The container's image reference."""
    command: list[str] | None = None
    """The entrypoint; default: the image's."""
    args: list[str] | None = None
    """Arguments to the entrypoint; default: the image's."""
    working_dir: str | None = None
    """The container's working directory; default: the image's."""
    ports: list[dict[str, Any]] | None = None
    """Ports the container exposes (name, containerPort, protocol), as in Kubernetes."""
    env: list[EnvVarSpec] | None = None
    """Environment variables of the container."""
    env_from: list[dict[str, Any]] | None = None
    """Secrets and ConfigMaps whose keys become environment variables (secretRef, configMapRef, prefix)."""
    resources: dict[str, Any] | None = None
    """Requests and limits as in Kubernetes; default: pgrender's user-container defaults (README, Resources)."""
    resize_policy: list[dict[str, Any]] | None = None
    """Whether a resources change restarts the container (in-place resize), as in Kubernetes."""
    volume_mounts: list[VolumeMountSpec] | None = None
    """Volumes of the pod this container mounts."""
    liveness_probe: dict[str, Any] | None = None
    """A probe whose failure restarts the container, as in Kubernetes."""
    readiness_probe: dict[str, Any] | None = None
    """A probe whose failure marks the pod not ready, as in Kubernetes."""
    startup_probe: dict[str, Any] | None = None
    """A probe that holds the other probes back until it succeeds, as in Kubernetes."""
    lifecycle: dict[str, Any] | None = None
    """postStart and preStop hooks, as in Kubernetes."""
    termination_message_path: str | None = None
    """File the container writes its termination message to; default /dev/termination-log."""
    termination_message_policy: Literal["File", "FallbackToLogsOnError"] | None = None
    """File (the message is read from terminationMessagePath) or FallbackToLogsOnError (the log's tail
    when that file is empty and the container failed)."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    """Always (pull on every start), IfNotPresent (pull when the node lacks it) or Never (only the node's
    copy); default: Always for :latest or no tag, else IfNotPresent."""
    security_context: dict[str, Any] | None = None
    """The container's securityContext, as in Kubernetes, passed through as given (pgrender's own
    containers follow the restricted Pod Security Standard)."""
    stdin: bool | None = None
    """Keep a stdin open for the container (rarely needed)."""
    stdin_once: bool | None = None
    """Close stdin after the first attach ends."""
    tty: bool | None = None
    """Allocate a terminal for the container."""

    _one_value = field_validator("env")(check_one_value)


class InitContainerSpec(ContainerSpec):
    """An init container; restartPolicy: Always makes it a native sidecar (Kubernetes 1.29+), which starts
    before the main container and keeps running beside it."""

    restart_policy: Literal["Always"] | None = None
    """Always: a native sidecar that keeps running beside the main containers; leave it out for an init
    container that runs to completion before them."""
