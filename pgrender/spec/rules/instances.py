"""Checks of spec.instances[] and container resources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from pgrender.spec.rules.base import quantity_bytes
from pgrender.spec.rules.containers import unique_names

if TYPE_CHECKING:
    from pgrender.spec.containers import ContainerSpec, InitContainerSpec
    from pgrender.spec.instances import ResourcesSpec

# ResourceList's fields, and their keys where the camelCase alias is not the key.
RESOURCE_FIELDS = ("cpu", "memory", "ephemeral_storage")
RESOURCE_KEYS = {"cpu": "cpu", "memory": "memory", "ephemeral_storage": "ephemeral-storage"}


def check_requests_within_limits(resources: ResourcesSpec) -> ResourcesSpec:
    # The API server refuses a container whose request exceeds its limit.
    if resources.requests and resources.limits:
        for name in RESOURCE_FIELDS:
            request, limit = getattr(resources.requests, name), getattr(resources.limits, name)
            if request is not None and limit is not None and quantity_bytes(request) > quantity_bytes(limit):
                alias = RESOURCE_KEYS[name]
                raise ValueError(f"requests.{alias} {request} is more than limits.{alias} {limit}")
    return resources


class _Pod(Protocol):
    @property
    def sidecars(self) -> list[ContainerSpec]: ...
    @property
    def init_containers(self) -> list[InitContainerSpec]: ...


Pod = TypeVar("Pod", bound=_Pod)


def check_unique_containers(pod: Pod) -> Pod:
    """An instance set's or pgBouncer's containers have names of their own."""
    unique_names(pod.sidecars, pod.init_containers)
    return pod
