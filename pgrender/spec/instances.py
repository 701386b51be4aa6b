"""Spec of instance sets: spec.instances[]."""

from __future__ import annotations

from pydantic import Field, model_validator

from pgrender.spec.base import DNSLabel, DNSSubdomain, Quantity, StrictModel, quantity_bytes
from pgrender.spec.containers import MAX_CONTAINERS, ContainerSpec, InitContainerSpec, unique_names
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.scheduling import SchedulingSpec


class ResourceList(StrictModel):
    """Kubernetes resource amounts (cpu, memory, ephemeral-storage)."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(default=None, alias="ephemeral-storage")


class ResourcesSpec(StrictModel):
    """Container resources, as in a Kubernetes container."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourcesSpec:
        # The API server refuses a container whose request exceeds its limit.
        if self.requests and self.limits:
            for name in ResourceList.model_fields:
                request, limit = getattr(self.requests, name), getattr(self.limits, name)
                if request is not None and limit is not None and quantity_bytes(request) > quantity_bytes(limit):
                    alias = ResourceList.model_fields[name].alias or name
                    raise ValueError(f"requests.{alias} {request} is more than limits.{alias} {limit}")
        return self


class VolumeSpec(StrictModel):
    """A PersistentVolumeClaim pgrender writes as its own object, so its size can grow in git."""

    size: Quantity
    storage_class_name: DNSSubdomain | None = Field(
        default=None, description="A StorageClass name; leave it out for the cluster's default class."
    )


class InstanceSetSpec(StrictModel):
    """A set of identical Postgres instances; each instance is one StatefulSet with one pod."""

    name: DNSLabel
    replicas: int = Field(default=1, ge=1, le=99, description="Default 1, or the preset's count.")
    resources: ResourcesSpec | None = None
    data_volume: VolumeSpec
    wal_volume: VolumeSpec | None = None
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    sidecars: list[ContainerSpec] = Field(
        default=[],
        max_length=MAX_CONTAINERS,
        description="Containers of your own in each database pod, after pgrender's "
        '(README, "Sidecars and init containers").',
    )
    init_containers: list[InitContainerSpec] = Field(
        default=[], max_length=MAX_CONTAINERS, description="Init containers of your own in each database pod."
    )

    @model_validator(mode="after")
    def _unique_containers(self) -> InstanceSetSpec:
        unique_names(self.sidecars, self.init_containers)
        return self
