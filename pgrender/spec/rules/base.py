"""Checks of Kubernetes names, images and quantities, and the Annotated metadata of provider names
and editor hints; pydantic is imported only inside the hooks pydantic itself calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgrender.frozen import frozen
from pgrender.patterns import Pattern
from pgrender.providers import unknown

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler

# Kubernetes resource.Quantity, as apimachinery parses it (suffixes: binary, decimal, exponent).
# ASCII digits only: Python's \d also matches other scripts' digits, which Kubernetes refuses.
QUANTITY = Pattern(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?\Z")
DNS_LABEL = Pattern(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
DNS_SUBDOMAIN_PART = Pattern(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
# An image reference as the container runtimes parse it (the distribution reference grammar):
# [registry[:port]/]path[:tag][@digest]. A digest pins the image's content: sha256 (64 hex digits)
# or sha512 (128), lower case as registries write them.
_REGISTRY_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = Pattern(
    rf"^(?:{_REGISTRY_PART}(?:\.{_REGISTRY_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}))?\Z"
)
# Kubernetes user and group ids are int32; the restricted profile refuses root (0).
UID_MAX = 2**31 - 1


def quantity_text(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def check_quantity(value: str) -> str:
    if not QUANTITY.match(value):
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity; expected a number with an optional suffix "
            "such as 500m, 1, 512Mi, 10Gi"
        )
    return value


def check_dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name; expected lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return value


def check_image(value: str) -> str:
    if len(value) > 512 or not IMAGE.match(value):
        raise ValueError(
            f"{value!r} is not an image reference; expected [registry/]name[:tag][@sha256:<64 hex digits>], "
            "such as ghcr.io/zalando/spilo-16:3.3-p3 or repo/name@sha256:..."
        )
    return value


def check_dns_subdomain(value: str) -> str:
    if len(value) > 253 or not all(DNS_SUBDOMAIN_PART.match(part) for part in value.split(".")):
        raise ValueError(
            f"{value!r} is not a DNS name; expected dot-separated parts of lower-case letters, digits and '-' "
            "(at most 253 characters)"
        )
    return value


def quantity_bytes(value: str) -> float:
    """Return a quantity as a number of base units (bytes for storage)."""
    match = QUANTITY.match(value)
    if match is None:
        raise ValueError(value)
    number = float(match.group(1))
    suffix = match.group(3) or ""
    binary = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    decimal = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    if suffix in binary:
        return number * binary[suffix]
    if suffix in decimal:
        return number * decimal[suffix]
    return number * float(10 ** int(suffix[1:]))


@frozen
class ProviderName:
    """Annotated metadata of a field naming a provider of ``registry`` (providers.py): the check
    reads the registry when it runs, the JSON Schema lists the names registered when generated."""

    kind: str
    registry: dict[str, str]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        from pydantic import AfterValidator

        return AfterValidator(self.registered).__get_pydantic_core_schema__(source, handler)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(schema)
        out["enum"] = list(self.registry)
        return out

    def registered(self, value: str) -> str:
        if value not in self.registry:
            raise ValueError(unknown(self.kind, value, self.registry))
        return value


@frozen
class ForEditors:
    """What the JSON Schema tells editors about a checked type, so that they flag a value while it
    is typed: the pattern of the check's own regex, examples, a length bound. Annotated metadata,
    read only when the schema is made; the check beside it keeps deciding, with its message."""

    pattern: str | None = None
    examples: tuple[Any, ...] = ()
    max_length: int | None = None
    number_too: bool = False  # quantities: YAML numbers (size: 1) are taken too

    @classmethod
    def matching(cls, regex: Pattern, *examples: Any, max_length: int | None = None) -> ForEditors:
        """The hints of a check made by ``regex``: its pattern, as JSON Schema (ECMA 262) writes the end."""
        return cls(regex.pattern.replace("\\Z", "$"), examples, max_length)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(schema)
        if self.pattern:
            out["pattern"] = self.pattern
        if self.max_length:
            out["maxLength"] = self.max_length
        if self.examples:
            out["examples"] = list(self.examples)
        if self.number_too:
            out["type"] = ["string", "number"]
        return out
