"""Pod parts: the volumes, mounts, environment and sidecars that components contribute to pods.

The database pod and every Job pod are assembled from the parts registered here, in order, so
backups, an exporter or a user's sidecar add a volume or a container with a new module and one
line, without editing the builders that make the pods.
"""

from __future__ import annotations

from collections.abc import Callable

from pgrender.plan import ClusterPlan, InstancePlan
from pgrender.pod import PodPart, assemble
from pgrender.pod_parts.client_tls import client_tls
from pgrender.pod_parts.data_volumes import data_volumes
from pgrender.pod_parts.exporter import database_exporter
from pgrender.pod_parts.patroni_config import patroni_config
from pgrender.pod_parts.pgbackrest import database_pgbackrest
from pgrender.pod_parts.scratch import database_scratch, job_scratch
from pgrender.pod_parts.server_tls import server_tls
from pgrender.pod_parts.tls_reload import database_tls_reload

DatabasePart = Callable[[ClusterPlan, InstancePlan], PodPart]
JobPart = Callable[[ClusterPlan], PodPart]

# Parts of every database pod (StatefulSet <c>-<set>-<n>), in order.
DATABASE_POD_PARTS: tuple[DatabasePart, ...] = (
    data_volumes,
    patroni_config,
    server_tls,
    database_scratch,
    database_pgbackrest,
    database_tls_reload,
    database_exporter,
)
# Parts of every Job pod pgrender writes (after the Job's own), in order.
JOB_POD_PARTS: tuple[JobPart, ...] = (
    client_tls,
    job_scratch,
)


def database_pod(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    return assemble([part(plan, instance) for part in DATABASE_POD_PARTS])


def job_pod(plan: ClusterPlan) -> PodPart:
    return assemble([part(plan) for part in JOB_POD_PARTS])
