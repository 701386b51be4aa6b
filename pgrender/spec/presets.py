"""Presets: named starting points whose values explicit fields override."""

from __future__ import annotations

from enum import StrEnum

from pgrender.frozen import frozen
from pgrender.spec.rules.scheduling import AntiAffinity


class Preset(StrEnum):
    """Named defaults that explicit fields override: standard (2 instances, preferred anti-affinity,
    asynchronous replication, memory requests below limits) or premium (3 instances, required
    anti-affinity, synchronous replication, memory requests equal to limits). Either also brings the
    managed backup promises to every repository: a daily full backup where it has no schedules.full,
    retention and point-in-time recovery where it sets none (README, "Plans: what the presets promise").
    None by default."""

    STANDARD = "standard"
    PREMIUM = "premium"


@frozen
class PresetValues:
    replicas: int
    anti_affinity: AntiAffinity
    synchronous_mode: bool
    # Every container's memory request equals its limit (plan/resources.py says why).
    guaranteed_memory: bool


PRESETS: dict[Preset, PresetValues] = {
    Preset.STANDARD: PresetValues(
        replicas=2, anti_affinity=AntiAffinity.PREFERRED, synchronous_mode=False, guaranteed_memory=False
    ),
    Preset.PREMIUM: PresetValues(
        replicas=3, anti_affinity=AntiAffinity.REQUIRED, synchronous_mode=True, guaranteed_memory=True
    ),
}
