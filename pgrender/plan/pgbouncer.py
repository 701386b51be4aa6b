"""The pgBouncer plan: names, selectors, settings, scheduling, its Service and its auth user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgrender.errors import Problem
from pgrender.plan import defaults, hosts, labels, secret_keys
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.scheduling import SchedulingPlan, resolve_scheduling
from pgrender.plan.services import ServicePlan, resolve_service
from pgrender.spec import SourcedCluster
from pgrender.spec.pgbouncer import PgBouncerSpec, PoolMode

PATH = ("spec", "proxy", "pgBouncer")


@dataclass(frozen=True)
class PgBouncerPlan:
    name: str
    replicas: int
    image: str
    run_as_user: int | None  # None (spec.openshift): the SCC assigns them
    run_as_group: int | None
    pool_mode: PoolMode
    max_client_connections: int
    default_pool_size: int
    # pgBouncer's max_prepared_statements, rendered for transaction and statement pools when not 0
    max_prepared_statements: int
    port: int
    settings: tuple[tuple[str, str], ...]
    resources: dict[str, Any]
    scheduling: SchedulingPlan
    service: ServicePlan
    metadata: ComponentMeta
    labels: dict[str, str]
    selector: dict[str, str]
    host: str
    server_host: str
    server_port: int
    auth_user: str
    auth_password_subject: str  # the SecretInput subject of the auth user's password
    auth_file: str  # pgBouncer's auth_file, in its mounted Secret
    disruption_budget: str | None
    sync_wave: int

    @property
    def tracks_prepared_statements(self) -> bool:
        """Whether clients' protocol-level prepared statements work through the pool as on the server:
        a session pool keeps a client on one server connection; a transaction or statement pool does
        when pgBouncer tracks them (max_prepared_statements, pgBouncer 1.21+)."""
        return self.pool_mode == PoolMode.SESSION or self.max_prepared_statements > 0

    @property
    def jdbc_parameters(self) -> tuple[str, ...]:
        """pgJDBC's server-side statements (after prepareThreshold executions, 5) break a transaction
        or statement pool that does not track them: prepareThreshold=0 keeps them unnamed."""
        return () if self.tracks_prepared_statements else ("prepareThreshold=0",)


def _setting_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def resolve_pgbouncer(
    sourced: SourcedCluster,
    spec: PgBouncerSpec,
    names: Names,
    *,
    server_port: int,
    sync_wave: int,
    problems: list[Problem],
) -> PgBouncerPlan:
    cluster = sourced.cluster.metadata
    pgbouncer_labels = labels.common(cluster.name, labels.COMPONENT_PGBOUNCER)
    selector = {labels.CLUSTER_LABEL: cluster.name, labels.COMPONENT_LABEL: labels.COMPONENT_PGBOUNCER}
    name = names.pgbouncer
    return PgBouncerPlan(
        name=name,
        replicas=spec.replicas,
        image=spec.image or defaults.PGBOUNCER_IMAGE,
        run_as_user=spec.run_as_user,
        run_as_group=spec.run_as_group,
        pool_mode=spec.pool_mode,
        max_client_connections=spec.max_client_connections,
        default_pool_size=spec.default_pool_size,
        max_prepared_statements=spec.max_prepared_statements,
        port=spec.port,
        settings=tuple(sorted((k, _setting_text(v)) for k, v in spec.config.global_.items())),
        resources=spec.resources.model_dump(by_alias=True, exclude_none=True) if spec.resources else {},
        scheduling=resolve_scheduling(
            spec.scheduling,
            anti_affinity=spec.scheduling.pod_anti_affinity.type,
            anti_affinity_selector=selector,
            spread_selector=selector,
        ),
        service=resolve_service(
            sourced,
            (*PATH, "service"),
            spec.service,
            name=names.pgbouncer_service,
            port_name="pgbouncer",
            port=spec.port,
            selector=selector,
            labels=pgbouncer_labels,
            problems=problems,
        ),
        metadata=resolve_metadata(sourced, (*PATH, "metadata"), spec.metadata, problems),
        labels=pgbouncer_labels,
        selector=selector,
        host=hosts.client_host(names.pgbouncer_service, cluster.namespace, sourced.cluster.spec.connectivity.dns),
        server_host=hosts.service_host(names.primary_service, cluster.namespace),
        server_port=server_port,
        auth_user=defaults.PGBOUNCER_USER,
        auth_password_subject="pgbouncer-auth",
        auth_file=f"{defaults.PGBOUNCER_SECRET_DIR}/{secret_keys.PGBOUNCER_AUTH_FILE}",
        disruption_budget=name if spec.replicas > 1 else None,
        sync_wave=sync_wave,
    )
