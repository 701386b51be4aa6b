"""Spec of Patroni and PostgreSQL settings: spec.patroni."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from pgrender.spec.base import StrictModel
from pgrender.spec.limits import MAX_HBA_RULES, MAX_PARAMETERS

ParameterValue = str | int | float | bool


class PatroniSpec(StrictModel):
    """Replication behaviour, PostgreSQL parameters and extra pg_hba rules."""

    synchronous_mode: bool = False
    synchronous_mode_strict: bool = False
    leader_lease_duration_seconds: int = Field(default=30, ge=5, le=3600)
    sync_period_seconds: int = Field(default=10, ge=1, le=600)
    parameters: dict[str, ParameterValue] = Field(default={}, max_length=MAX_PARAMETERS)
    pg_hba: list[str] = Field(default=[], alias="pgHBA", max_length=MAX_HBA_RULES)
    dynamic_configuration: dict[str, Any] = Field(
        default={},
        description="More of Patroni's dynamic configuration (maximum_lag_on_failover, synchronous_node_count, "
        "postgresql.use_slots, postgresql.parameters, ...), merged into what pgrender writes; settings with "
        'a field of their own are refused (README, "Patroni dynamic configuration").',
    )

    @model_validator(mode="after")
    def _timing(self) -> PatroniSpec:
        # Patroni's rule is ttl >= loop_wait + 2 * retry_timeout; retry_timeout is derived from both.
        if self.leader_lease_duration_seconds < self.sync_period_seconds + 2:
            raise ValueError(
                "leaderLeaseDurationSeconds must exceed syncPeriodSeconds by at least 2 seconds, "
                "or the leader loses its lease between two loops"
            )
        return self
