"""Writable scratch space under a read-only root filesystem: /tmp, and /dev/shm for PostgreSQL."""

from __future__ import annotations

from pgrender.plan import ClusterPlan, InstancePlan
from pgrender.pod import PodPart, empty_dir


def database_scratch(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    """/tmp (sockets, pgpass) and a memory-backed /dev/shm for PostgreSQL's shared memory."""
    return PodPart(
        volumes=(empty_dir("tmp", size_limit="64Mi"), empty_dir("dshm", medium="Memory")),
        mounts=({"name": "tmp", "mountPath": "/tmp"}, {"name": "dshm", "mountPath": "/dev/shm"}),
    )


def job_scratch(plan: ClusterPlan) -> PodPart:
    return PodPart(volumes=(empty_dir("tmp", size_limit="16Mi"),), mounts=({"name": "tmp", "mountPath": "/tmp"},))
