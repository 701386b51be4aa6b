"""Checks of user labels and annotations (metadata, …metadata)."""

from __future__ import annotations

from pgrender.patterns import Pattern
from pgrender.spec.limits import MAX_ANNOTATION_BYTES

_KEY = Pattern(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_VALUE = Pattern(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")


def check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not _KEY.match(key):
            raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
        if not _VALUE.match(val):
            raise ValueError(f"label {key!r} has value {val!r}, not a valid label value (63 chars)")
    return value


def check_annotations(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _KEY.match(key):
            raise ValueError(f"annotation key {key!r} is not a valid Kubernetes annotation key")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_ANNOTATION_BYTES:
        raise ValueError(f"annotations take {size} bytes; Kubernetes allows {MAX_ANNOTATION_BYTES} on one object")
    return value
