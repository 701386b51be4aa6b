"""Labels and annotations a user adds: cluster-wide (metadata) or per component (…metadata)."""

from __future__ import annotations

from pydantic import Field, field_validator

from pgrender.spec.base import StrictModel
from pgrender.spec.rules.metadata import check_annotations, check_labels


class MetadataSpec(StrictModel):
    """Extra labels and annotations; pgrender's own keys cannot be set here."""

    labels: dict[str, str] = Field(default={}, examples=[{"team": "payments"}])
    """Labels added to the objects (keys and values as Kubernetes allows them)."""
    annotations: dict[str, str] = Field(default={})
    """Annotations added to the objects (256 KiB in all, Kubernetes' limit)."""

    _labels = field_validator("labels")(check_labels)

    _annotations = field_validator("annotations")(check_annotations)
