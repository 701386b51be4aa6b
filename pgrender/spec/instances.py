"""Spec of instance sets: spec.instances[]."""

from __future__ import annotations

from pydantic import Field

from pgrender.spec.base import DNSLabel, Quantity, StrictModel
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


class VolumeSpec(StrictModel):
    """A PersistentVolumeClaim pgrender writes as its own object, so its size can grow in git."""

    size: Quantity
    storage_class_name: str | None = None


class InstanceSetSpec(StrictModel):
    """A set of identical Postgres instances; each instance is one StatefulSet with one pod."""

    name: DNSLabel
    replicas: int = Field(default=1, ge=1, le=99, description="Default 1, or the preset's count.")
    resources: ResourcesSpec | None = None
    data_volume: VolumeSpec
    wal_volume: VolumeSpec | None = None
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
