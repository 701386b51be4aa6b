"""Instance plans: one StatefulSet, pod and set of claims per instance, grouped by instance set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import field, frozen
from pgrender.plan import defaults, labels
from pgrender.plan.containers import UserContainersPlan, resolve_containers
from pgrender.plan.metadata import ComponentMeta, resolve_metadata
from pgrender.plan.names import Names
from pgrender.plan.resources import ContainerKind, ResourcesPlan, decide
from pgrender.plan.scheduling import SchedulingPlan, resolve_scheduling
from pgrender.spec import SourcedCluster
from pgrender.spec.limits import MAX_INSTANCES
from pgrender.spec.presets import PresetValues
from pgrender.spec.rules.base import quantity_bytes
from pgrender.spec.rules.scheduling import HOSTNAME_KEY, AntiAffinity, AntiAffinityScope

if TYPE_CHECKING:
    from pgrender.spec.instances import InstanceSetSpec


@frozen
class VolumePlan:
    name: str
    size: str
    storage_class: str | None


@frozen
class InstancePlan:
    """One Postgres instance: a StatefulSet with one pod and its own PVCs."""

    set_name: str
    ordinal: int
    name: str
    pod: str
    data_volume: VolumePlan
    wal_volume: VolumePlan | None
    resources: ResourcesPlan  # the database container's
    sync_wave: int
    labels: dict[str, str]
    selector: dict[str, str]
    metadata: ComponentMeta
    scheduling: SchedulingPlan
    containers: UserContainersPlan = field(default_factory=UserContainersPlan)


@frozen
class InstanceSetPlan:
    name: str
    instances: tuple[InstancePlan, ...]
    disruption_budget: str | None
    selector: dict[str, str]
    labels: dict[str, str]
    metadata: ComponentMeta


def resolve_instances(
    sourced: SourcedCluster,
    names: Names,
    preset: PresetValues | None,
    db_labels: dict[str, str],
    pod_selector: dict[str, str],
    problems: list[Problem],
) -> tuple[list[InstanceSetPlan], int]:
    """Every instance set and instance, in spec order; also the next free Argo CD sync wave.

    Each instance gets its own wave, so Argo CD creates a new cluster's members one after another
    (changes to running members are the reconcile Job's: the StatefulSets are OnDelete).
    """
    spec = sourced.cluster.spec
    sets: list[InstanceSetPlan] = []
    seen_sets: set[str] = set()
    wave = 1

    def replicas_of(s: InstanceSetSpec) -> int:
        return preset.replicas if preset and "replicas" not in s.model_fields_set else s.replicas

    total = sum(replicas_of(s) for s in spec.instances)
    if total > MAX_INSTANCES:  # checked before anything is made for them
        problems.append(
            sourced.problem(
                ("spec", "instances"), f"{total} instances in all; pgrender makes at most {MAX_INSTANCES} for a cluster"
            )
        )
        return [], wave
    for i, s in enumerate(spec.instances):
        replicas = replicas_of(s)
        anti = s.scheduling.pod_anti_affinity
        anti_type = (
            preset.anti_affinity
            if preset and ("scheduling" not in s.model_fields_set or "type" not in anti.model_fields_set)
            else anti.type
        )
        if (
            anti_type == AntiAffinity.REQUIRED
            and anti.topology_key == HOSTNAME_KEY
            and spec.node_count is not None
            and replicas > spec.node_count
        ):
            problems.append(
                sourced.problem(
                    ("spec", "instances", i, "replicas"),
                    f"{replicas} instances with required anti-affinity on {HOSTNAME_KEY} need {replicas} nodes, "
                    f"but spec.nodeCount is {spec.node_count}: the extra pods would never schedule; use "
                    "preferred anti-affinity or fewer replicas",
                )
            )
        set_meta = resolve_metadata(sourced, ("spec", "instances", i, "metadata"), s.metadata, problems)
        if s.name in seen_sets:
            problems.append(sourced.problem(("spec", "instances", i, "name"), f"duplicate instance set {s.name!r}"))
        seen_sets.add(s.name)
        for vol_field, vol in (("dataVolume", s.data_volume), ("walVolume", s.wal_volume)):
            if vol is not None and quantity_bytes(vol.size) < 2**20:
                problems.append(sourced.problem(("spec", "instances", i, vol_field, "size"), "expected at least 1Mi"))
        first = spec.instances[0].wal_volume
        first_wal = first is not None
        if s.wal_volume is not None and first is not None and s.wal_volume.retire != first.retire:
            problems.append(
                sourced.problem(
                    ("spec", "instances", i, "walVolume", "retire"),
                    f"every instance set retires its walVolume or none does: {spec.instances[0].name}'s "
                    f"retire is {'true' if first.retire else 'false'} (Patroni makes every member's WAL "
                    "directory the same way)",
                )
            )
        if (s.wal_volume is not None) != first_wal:
            # One WAL directory for the cluster (Patroni's initdb and pg_basebackup options are not per
            # member): a member without the volume would be made with its pg_wal where nothing is mounted.
            problems.append(
                sourced.problem(
                    ("spec", "instances", i, "walVolume" if s.wal_volume else "name"),
                    f"every instance set has a walVolume or none does: {spec.instances[0].name} "
                    f"{'has one' if first_wal else 'has none'} (Patroni makes every member's WAL directory "
                    "the same way)",
                )
            )
        set_labels = {**db_labels, labels.INSTANCE_SET_LABEL: s.name}
        set_selector = {**pod_selector, labels.INSTANCE_SET_LABEL: s.name}
        scheduling = resolve_scheduling(
            s.scheduling,
            anti_affinity=anti_type,
            anti_affinity_selector=set_selector if anti.scope == AntiAffinityScope.INSTANCE_SET else pod_selector,
            spread_selector=set_selector,
        )
        resources = decide(ContainerKind.DATABASE, bool(preset and preset.guaranteed_memory), s.resources)
        containers = resolve_containers(
            sourced,
            ("spec", "instances", i),
            s.sidecars,
            s.init_containers,
            own=defaults.DATABASE_CONTAINERS,
            volumes=frozenset({defaults.DATA_VOLUME, *([defaults.WAL_VOLUME] if s.wal_volume else [])}),
            problems=problems,
        )
        members = []
        for ordinal in range(replicas):
            name = names.instance(s.name, ordinal)
            members.append(
                InstancePlan(
                    set_name=s.name,
                    ordinal=ordinal,
                    name=name,
                    pod=names.pod(name),
                    data_volume=VolumePlan(
                        names.data_volume(name), s.data_volume.size, s.data_volume.storage_class_name
                    ),
                    wal_volume=(
                        VolumePlan(names.wal_volume(name), s.wal_volume.size, s.wal_volume.storage_class_name)
                        if s.wal_volume
                        else None
                    ),
                    resources=resources,
                    sync_wave=wave,
                    labels={**set_labels, labels.INSTANCE_LABEL: name},
                    selector={**set_selector, labels.INSTANCE_LABEL: name},
                    metadata=set_meta,
                    scheduling=scheduling,
                    containers=containers,
                )
            )
            wave += 1
        sets.append(
            InstanceSetPlan(
                name=s.name,
                instances=tuple(members),
                disruption_budget=names.instance_set(s.name) if replicas > 1 else None,
                selector=set_selector,
                labels=set_labels,
                metadata=set_meta,
            )
        )

    return sets, wave
