"""Spec of instance sets: spec.instances[]."""

from __future__ import annotations

from pydantic import Field, model_validator

from pgrender.spec.base import DNSLabel, DNSSubdomain, Quantity, StrictModel
from pgrender.spec.containers import MAX_CONTAINERS, ContainerSpec, InitContainerSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.rules.instances import check_requests_within_limits, check_unique_containers
from pgrender.spec.scheduling import SchedulingSpec


class ResourceList(StrictModel):
    """Kubernetes resource amounts (cpu, memory, ephemeral-storage)."""

    cpu: Quantity | None = None
    """CPU in cores: 1, 0.5 or 500m (millicores)."""
    memory: Quantity | None = None
    """Memory in bytes with a suffix: 512Mi, 4Gi."""
    ephemeral_storage: Quantity | None = Field(default=None, alias="ephemeral-storage")
    """Node-local scratch disk (logs, emptyDir volumes), such as 1Gi."""


class ResourcesSpec(StrictModel):
    """Container resources, as in a Kubernetes container."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None

    _requests_within_limits = model_validator(mode="after")(check_requests_within_limits)


class VolumeSpec(StrictModel):
    """A PersistentVolumeClaim pgrender writes as its own object, so its size can grow in git."""

    size: Quantity
    """The claim's requested size, such as 10Gi; raising it grows the claim in place (the StorageClass
    needs allowVolumeExpansion: true), at least 1Mi."""
    storage_class_name: DNSSubdomain | None = Field(
        default=None, description="A StorageClass name; leave it out for the cluster's default class."
    )


class WALVolumeSpec(VolumeSpec):
    """The claim of the write-ahead log, apart from the data (PGO's walVolumeClaimSpec)."""

    retire: bool = Field(
        default=False,
        description="true: the WAL volume on its way out. Each member moves its pg_wal back onto its data "
        "volume when it restarts (the rollout restarts them one at a time) and keeps the claim mounted "
        "meanwhile; new members put their WAL on the data volume. Once every member runs so, remove "
        'walVolume (README, "Removing a WAL volume"); the claims stay until you delete them.',
    )


class InstanceSetSpec(StrictModel):
    """A set of identical Postgres instances; each instance is one StatefulSet with one pod."""

    name: DNSLabel
    """The set's name; its instances are the StatefulSets <cluster>-<name>-0, -1, ..."""
    replicas: int = Field(default=1, ge=1, le=99, description="Default 1, or the preset's count.")
    resources: ResourcesSpec | None = Field(
        default=None,
        description="The database container's requests and limits; what is left out comes from the preset's "
        "defaults (README, Resources). A CPU limit is written only when given.",
    )
    data_volume: VolumeSpec
    """Each instance's data directory claim (volume pgdata, mounted at /pgdata)."""
    wal_volume: WALVolumeSpec | None = None
    """A separate claim for the write-ahead log (volume pgwal, at /pgwal); default: WAL stays on the data volume."""
    scheduling: SchedulingSpec = Field(default_factory=SchedulingSpec)
    """Where the set's pods may run: anti-affinity, node affinity, tolerations, spread."""
    metadata: MetadataSpec = Field(default_factory=MetadataSpec)
    """Labels and annotations of the set's StatefulSets, pods and claims."""
    sidecars: list[ContainerSpec] = Field(
        default=[],
        max_length=MAX_CONTAINERS,
        description="Containers of your own in each database pod, after pgrender's "
        '(README, "Sidecars and init containers").',
    )
    init_containers: list[InitContainerSpec] = Field(
        default=[], max_length=MAX_CONTAINERS, description="Init containers of your own in each database pod."
    )

    _unique_containers = model_validator(mode="after")(check_unique_containers)
