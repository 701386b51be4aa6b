"""Pod parts: the volumes, mounts, environment and sidecars that components contribute to pods.

The database pod and every Job pod are assembled from the parts registered here, in order, so
backups, an exporter or a user's sidecar add a volume or a container with a new module and one
line, without editing the builders that make the pods.
"""

from __future__ import annotations

from collections.abc import Callable

from pgrender.plan import ClusterPlan, InstancePlan, PgBouncerPlan
from pgrender.pod import PodPart, assemble, pull_secrets
from pgrender.pod_parts.client_tls import client_tls
from pgrender.pod_parts.data_volumes import data_volumes
from pgrender.pod_parts.exporter import database_exporter
from pgrender.pod_parts.patroni_config import patroni_config
from pgrender.pod_parts.pgbackrest import database_pgbackrest
from pgrender.pod_parts.scratch import database_scratch, job_scratch
from pgrender.pod_parts.server_tls import server_tls
from pgrender.pod_parts.tls_reload import database_tls_reload
from pgrender.pod_parts.user_containers import database_user_containers, pgbouncer_user_containers

DatabasePart = Callable[[ClusterPlan, InstancePlan], PodPart]
JobPart = Callable[[ClusterPlan], PodPart]
PgBouncerPart = Callable[[ClusterPlan, PgBouncerPlan], PodPart]


def database_pull_secrets(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    return PodPart(pod_fields=tuple(pull_secrets(plan).items()))


def pgbouncer_pull_secrets(plan: ClusterPlan, pgbouncer: PgBouncerPlan) -> PodPart:
    return PodPart(pod_fields=tuple(pull_secrets(plan).items()))


# Parts of every database pod (StatefulSet <c>-<set>-<n>), in order.
DATABASE_POD_PARTS: tuple[DatabasePart, ...] = (
    data_volumes,
    patroni_config,
    server_tls,
    database_scratch,
    database_pgbackrest,
    database_tls_reload,
    database_exporter,
    database_pull_secrets,
    # Last: a user's containers come after pgrender's (main container, then pgrender's sidecars).
    database_user_containers,
)
# Parts of every pgBouncer pod, after its own containers (pgBouncer, the TLS reloader), in order.
PGBOUNCER_POD_PARTS: tuple[PgBouncerPart, ...] = (
    pgbouncer_pull_secrets,
    pgbouncer_user_containers,
)
# Parts of every Job pod pgrender writes (after the Job's own), in order; job_pod_fields() gives
# every Job pod its pull secrets.
JOB_POD_PARTS: tuple[JobPart, ...] = (
    client_tls,
    job_scratch,
)


def database_pod(plan: ClusterPlan, instance: InstancePlan) -> PodPart:
    return assemble([part(plan, instance) for part in DATABASE_POD_PARTS])


def job_pod(plan: ClusterPlan) -> PodPart:
    return assemble([part(plan) for part in JOB_POD_PARTS])


def pgbouncer_pod(plan: ClusterPlan, pgbouncer: PgBouncerPlan) -> PodPart:
    return assemble([part(plan, pgbouncer) for part in PGBOUNCER_POD_PARTS])
