"""Enums and topology keys of the scheduling specs (instances, pgBouncer)."""

from __future__ import annotations

from enum import StrEnum

HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEY = "topology.kubernetes.io/zone"


class AntiAffinity(StrEnum):
    """How strongly a cluster's database pods keep apart: preferred (the scheduler tries, and still
    places pods together when it must), required (never two on one topology domain: a pod waits
    for a free node instead), none (no anti-affinity)."""

    PREFERRED = "preferred"
    REQUIRED = "required"
    NONE = "none"


class AntiAffinityScope(StrEnum):
    """Which pods repel each other: cluster (all database pods of the cluster) or instanceSet (only
    the pods of one instance set)."""

    CLUSTER = "cluster"
    INSTANCE_SET = "instanceSet"
