"""The Patroni plan: timing, synchronous mode, parameters (local and DCS-only) and pg_hba."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgrender.errors import Problem
from pgrender.plan import defaults, labels
from pgrender.plan.names import Names
from pgrender.plan.tls import SERVER_FILES
from pgrender.spec import SourcedCluster


@dataclass(frozen=True)
class ProbePlan:
    """Kubelet probe timing for the Patroni REST API, from Patroni's own loop and lease."""

    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@dataclass(frozen=True)
class PatroniPlan:
    scope: str
    ttl: int
    loop_wait: int
    retry_timeout: int
    synchronous_mode: bool
    synchronous_mode_strict: bool
    local_parameters: tuple[tuple[str, str], ...]
    dcs_parameters: tuple[tuple[str, str], ...]
    pg_hba: tuple[str, ...]
    labels: dict[str, str]
    role_label: str
    leader_label_value: str  # Patroni writes these on pods; the Services select on them
    follower_label_value: str
    scope_label: str
    restapi_user: str
    restapi_password_subject: str  # the SecretInput subject of the REST API password
    probe: ProbePlan
    member_api_hosts: tuple[str, ...]  # host:port of every member's REST API, as its certificate names it

    @property
    def dynamic_configuration(self) -> dict[str, Any]:
        """Patroni's dynamic (DCS) configuration: bootstrap.dcs in patroni.yaml, and what the
        reconcile Job writes with PUT /config afterwards, since Patroni reads bootstrap.dcs once."""
        return {
            "ttl": self.ttl,
            "loop_wait": self.loop_wait,
            "retry_timeout": self.retry_timeout,
            "synchronous_mode": self.synchronous_mode,
            "synchronous_mode_strict": self.synchronous_mode_strict,
            "postgresql": {
                "use_pg_rewind": True,
                "use_slots": True,
                "parameters": dict(self.dcs_parameters),
            },
        }


def _parameter_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def resolve_patroni(
    sourced: SourcedCluster, names: Names, synchronous: bool, member_api_hosts: tuple[str, ...], problems: list[Problem]
) -> PatroniPlan:
    spec = sourced.cluster.spec
    p = spec.patroni
    for key in p.parameters:
        if key in defaults.MANAGED_PARAMETERS:
            problems.append(
                sourced.problem(
                    ("spec", "patroni", "parameters", key),
                    f"{key!r} is managed by pgrender (TLS, ports, paths and replication depend on it)",
                )
            )
    merged = {**defaults.DEFAULT_PARAMETERS, **{k: _parameter_text(v) for k, v in p.parameters.items()}}
    managed = {
        "password_encryption": "scram-sha-256",
        "ssl": "on",
        "ssl_ca_file": SERVER_FILES.ca,
        "ssl_cert_file": SERVER_FILES.cert,
        "ssl_key_file": SERVER_FILES.key,
        "unix_socket_directories": defaults.SOCKET_DIR,
    }
    local = {k: v for k, v in {**merged, **managed}.items() if k not in defaults.DCS_PARAMETERS}
    dcs = {k: v for k, v in merged.items() if k in defaults.DCS_PARAMETERS}
    dcs["wal_level"] = "logical"

    for i, rule in enumerate(p.pg_hba):
        message = _check_hba_rule(rule)
        if message:
            problems.append(sourced.problem(("spec", "patroni", "pgHBA", i), message))

    su, repl = defaults.SUPERUSER, defaults.REPLICATION_USER
    hba = (
        f"local all {su} peer",
        f"hostssl replication {repl} all cert",
        f"hostssl postgres {repl} all cert",
        f"host all {repl} all reject",
        f"hostssl all {su} all cert",
        f"host all {su} all reject",
        *p.pg_hba,
        "hostssl all all all scram-sha-256",
        "host all all all reject",
    )
    ttl, loop_wait = p.leader_lease_duration_seconds, p.sync_period_seconds
    return PatroniPlan(
        scope=names.patroni_scope,
        ttl=ttl,
        loop_wait=loop_wait,
        retry_timeout=max(1, min(10, (ttl - loop_wait) // 2)),
        synchronous_mode=synchronous,
        synchronous_mode_strict=p.synchronous_mode_strict,
        local_parameters=tuple(sorted(local.items())),
        dcs_parameters=tuple(sorted(dcs.items())),
        pg_hba=hba,
        labels={labels.CLUSTER_LABEL: sourced.cluster.metadata.name},
        role_label=labels.ROLE_LABEL,
        leader_label_value=labels.ROLE_PRIMARY,
        follower_label_value=labels.ROLE_REPLICA,
        scope_label=labels.SCOPE_LABEL,
        restapi_user=defaults.PATRONI_RESTAPI_USER,
        restapi_password_subject="patroni-restapi",
        # A member that misses its lease for `ttl` is no longer ready; a probe every loop.
        probe=ProbePlan(loop_wait, max(1, loop_wait // 2), max(1, ttl // loop_wait)),
        member_api_hosts=member_api_hosts,
    )


_HBA_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")


def _check_hba_rule(rule: str) -> str | None:
    fields = rule.split()
    if not fields or fields[0] not in _HBA_TYPES:
        return f"expected a pg_hba rule starting with one of {', '.join(_HBA_TYPES)}"
    if len(fields) < (4 if fields[0] == "local" else 5):
        return "expected TYPE DATABASE USER [ADDRESS] METHOD"
    users = fields[2].split(",")
    if any(u in (defaults.SUPERUSER, defaults.REPLICATION_USER) for u in users):
        return "rules for the superuser and replication roles are managed by pgrender"
    method = fields[3] if fields[0] == "local" else fields[4]
    if fields[0] in ("host", "hostnossl", "hostnogssenc") and method != "reject":
        return f"{fields[0]!r} would allow connections without TLS; use hostssl (or method reject)"
    if method in ("password", "md5", "trust") and fields[0] != "local":
        return f"method {method!r} is weaker than scram-sha-256, which pgrender's passwords use"
    return None
