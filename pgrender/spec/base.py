"""Shared pieces of the spec models: strict camelCase base model and Kubernetes quantities."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from pgrender.frozen import replace
from pgrender.spec.rules.base import (
    DNS_LABEL,
    DNS_SUBDOMAIN_PART,
    IMAGE,
    QUANTITY,
    UID_MAX,
    ForEditors,
    ProviderName,
    check_dns_label,
    check_dns_subdomain,
    check_image,
    check_quantity,
    quantity_bytes,
    quantity_text,
)


class StrictModel(BaseModel):
    """Spec base: camelCase keys as in Kubernetes, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
        # A string under a field is its description in the JSON Schema (editors' hover, `explain`):
        # pgrender.schema reads them when it makes the schema, not here, where every run would pay.
    )


Quantity = Annotated[
    str,
    BeforeValidator(quantity_text),
    AfterValidator(check_quantity),
    replace(ForEditors.matching(QUANTITY, "10Gi", "500m", "1"), number_too=True),
]
DNSLabel = Annotated[str, AfterValidator(check_dns_label), ForEditors.matching(DNS_LABEL, "hippo", max_length=63)]
Image = Annotated[
    str,
    AfterValidator(check_image),
    ForEditors.matching(IMAGE, "ghcr.io/zalando/spilo-16:3.3-p3", max_length=512),
]
DNSSubdomain = Annotated[
    str,
    AfterValidator(check_dns_subdomain),
    ForEditors(
        "^" + DNS_SUBDOMAIN_PART.pattern[1:-2] + "(\\." + DNS_SUBDOMAIN_PART.pattern[1:-2] + ")*$",
        ("cluster.local",),
        253,
    ),
]

__all__ = [
    "UID_MAX",
    "DNSLabel",
    "DNSSubdomain",
    "ForEditors",
    "Image",
    "ProviderName",
    "Quantity",
    "StrictModel",
    "quantity_bytes",
]
