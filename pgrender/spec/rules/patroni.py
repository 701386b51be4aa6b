"""Checks of spec.patroni."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgrender.spec.patroni import PatroniSpec

ParameterValue = str | int | float | bool


def check_timing(patroni: PatroniSpec) -> PatroniSpec:
    # Patroni's rule is ttl >= loop_wait + 2 * retry_timeout; retry_timeout is derived from both.
    if patroni.leader_lease_duration_seconds < patroni.sync_period_seconds + 2:
        raise ValueError(
            "leaderLeaseDurationSeconds must exceed syncPeriodSeconds by at least 2 seconds, "
            "or the leader loses its lease between two loops"
        )
    return patroni
