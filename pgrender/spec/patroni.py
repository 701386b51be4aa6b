"""Spec of Patroni and PostgreSQL settings: spec.patroni."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from pgrender.spec.base import DNSLabel, StrictModel
from pgrender.spec.limits import MAX_HBA_RULES, MAX_PARAMETERS
from pgrender.spec.rules.patroni import ParameterValue, check_timing

__all__ = ["ParameterValue", "PatroniSpec"]


class SwitchoverSpec(StrictModel):
    """A planned switchover, made once by the reconcile Job for each value of run (PGO's
    spec.patroni.switchover with its trigger annotation)."""

    run: int = Field(ge=1, le=1_000_000)
    """Raise it to switch over again. The reconcile Job records each run it made (table
    pgrender.switchovers in database postgres), so a later Job makes none twice."""
    target: DNSLabel | None = Field(default=None, examples=["hippo-instance1-1-0"])
    """The member that leads afterwards (a member's pod name, which is its Patroni name); nothing is
    done when it leads already. Default: an up-to-date replica (the synchronous standby in
    synchronous mode)."""


class PatroniSpec(StrictModel):
    """Replication behaviour, PostgreSQL parameters and extra pg_hba rules."""

    synchronous_mode: bool = False
    """true: Patroni's synchronous_mode, a commit waits for a replica to confirm it, and only a
    synchronous replica is promoted (no committed transaction lost on failover); default false, or true
    with preset premium."""
    synchronous_mode_strict: bool = False
    """true (with synchronousMode): writes stop while no replica can confirm them, rather than continue
    unprotected; needs more than one instance."""
    leader_lease_duration_seconds: int = Field(default=30, ge=5, le=3600)
    """Patroni's ttl: seconds the leader's lease lasts; a leader that cannot renew it within this time is
    replaced. At least syncPeriodSeconds + 2."""
    sync_period_seconds: int = Field(default=10, ge=1, le=600)
    """Patroni's loop_wait: seconds between two runs of Patroni's loop (and between readiness probes)."""
    parameters: dict[str, ParameterValue] = Field(
        default={}, max_length=MAX_PARAMETERS, examples=[{"max_connections": 200, "shared_buffers": "256MB"}]
    )
    """PostgreSQL settings (postgresql.conf), checked against postgresVersion's settings; the ones
    pgrender manages (TLS, archiving, wal_level, ...) are refused. Applied through Patroni; those that
    need a restart restart the members one at a time."""
    pg_hba: list[str] = Field(
        default=[], alias="pgHBA", max_length=MAX_HBA_RULES, examples=[["hostssl app app 10.0.0.0/8 scram-sha-256"]]
    )
    """Extra pg_hba.conf rules, one line each, after pgrender's own (superuser, replication) and before
    its closing hostssl ... scram-sha-256 and reject rules; TLS only (no trust, md5 or password)."""
    dynamic_configuration: dict[str, Any] = Field(
        default={},
        description="More of Patroni's dynamic configuration (maximum_lag_on_failover, synchronous_node_count, "
        "postgresql.use_slots, postgresql.parameters, ...), merged into what pgrender writes; settings with "
        'a field of their own are refused (README, "Patroni dynamic configuration").',
    )

    switchover: SwitchoverSpec | None = None
    """A switchover the reconcile Job makes once (for each run): to move the primary off a node before
    its maintenance, say."""

    _timing = model_validator(mode="after")(check_timing)
