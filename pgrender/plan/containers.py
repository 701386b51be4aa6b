"""A user's sidecars and init containers, checked against the pod they go into."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.errors import Problem
from pgrender.frozen import frozen
from pgrender.spec import SourcedCluster

if TYPE_CHECKING:
    from pgrender.spec.containers import ContainerSpec, InitContainerSpec

Manifest = dict[str, Any]


@frozen
class UserContainersPlan:
    """The containers as given (Kubernetes' spelling); pod_parts/user_containers.py adds the environment."""

    sidecars: tuple[Manifest, ...] = ()
    init_containers: tuple[Manifest, ...] = ()


def resolve_containers(
    sourced: SourcedCluster,
    path: tuple[str | int, ...],
    sidecars: list[ContainerSpec],
    init_containers: list[InitContainerSpec],
    *,
    own: frozenset[str],
    volumes: frozenset[str],
    problems: list[Problem],
) -> UserContainersPlan:
    """``own``: the names of pgrender's containers in that pod; ``volumes``: the pod's volumes a user's
    container may mount (none of pgrender's secrets or scratch space: only what README lists)."""
    for field, containers in (("sidecars", sidecars), ("initContainers", init_containers)):
        for i, container in enumerate(containers):
            where = (*path, field, i)
            if container.name in own:
                problems.append(
                    sourced.problem(
                        (*where, "name"),
                        f"{container.name!r} is the name of one of pgrender's containers in this pod "
                        f"({', '.join(sorted(own))}); choose another",
                    )
                )
            for j, mount in enumerate(container.volume_mounts or []):
                if mount.name not in volumes:
                    offered = ", ".join(sorted(volumes)) if volumes else "none"
                    problems.append(
                        sourced.problem(
                            (*where, "volumeMounts", j, "name"),
                            f"the pod has no volume {mount.name!r} that a container of yours may mount "
                            f"(volumes offered: {offered})",
                        )
                    )
    return UserContainersPlan(
        sidecars=tuple(c.manifest() for c in sidecars),
        init_containers=tuple(c.manifest() for c in init_containers),
    )
