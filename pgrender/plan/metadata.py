"""Labels and annotations users add per component, checked against the keys pgrender owns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pgrender.errors import Problem
from pgrender.frozen import field, frozen
from pgrender.plan import labels
from pgrender.spec import SourcedCluster

if TYPE_CHECKING:
    from pgrender.spec.metadata import MetadataSpec


@frozen
class ComponentMeta:
    """Labels and annotations of one component (an instance set, pgBouncer, a Service)."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def resolve_metadata(
    sourced: SourcedCluster, path: tuple[str | int, ...], spec: MetadataSpec, problems: list[Problem]
) -> ComponentMeta:
    """Refuse keys selectors or Patroni depend on; merge order is documented in the README."""
    for part, mapping in (("labels", spec.labels), ("annotations", spec.annotations)):
        for key in mapping:
            if labels.is_reserved(key):
                problems.append(
                    sourced.problem((*path, part, key), f"{key!r} is set by pgrender (selectors depend on it)")
                )
    return ComponentMeta(dict(spec.labels), dict(spec.annotations))
