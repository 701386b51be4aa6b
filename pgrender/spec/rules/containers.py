"""Checks of a user's own containers (sidecars, init containers) and the container mixin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pgrender.spec.containers import ContainerSpec, EnvVarSpec, InitContainerSpec

MAX_CONTAINERS = 20  # of each kind, per pod: well above what a pod carries; keeps the pod spec small


class _Dumpable(Protocol):
    def model_dump(self, *, by_alias: bool, exclude_none: bool, mode: str) -> dict[str, Any]: ...


class Container:
    """What code outside the spec asks of a container, for the model and its compiled twin alike."""

    def manifest(self: _Dumpable) -> dict[str, Any]:
        """The container as given, in Kubernetes' spelling."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def check_one_value(value: list[EnvVarSpec] | None) -> list[EnvVarSpec] | None:
    for var in value or []:
        if var.value is not None and var.value_from is not None:
            raise ValueError(f"env {var.name!r}: value and valueFrom cannot both be set")
    return value


def unique_names(containers: list[ContainerSpec], init_containers: list[InitContainerSpec]) -> None:
    """Container names are unique within a pod, init containers included."""
    names = [c.name for c in [*containers, *init_containers]]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"container names must be unique in the pod: {', '.join(map(repr, twice))} used twice")
