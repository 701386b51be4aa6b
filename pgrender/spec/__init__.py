"""The PostgresCluster spec (apiVersion pgrender.io/v1alpha1): models and validate()."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from pgrender.errors import Problem, SpecError
from pgrender.load import Document, format_path
from pgrender.spec import limits
from pgrender.spec.base import UID_MAX, DNSLabel, DNSSubdomain, StrictModel
from pgrender.spec.instances import InstanceSetSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.patroni import PatroniSpec
from pgrender.spec.pgbouncer import ProxySpec
from pgrender.spec.presets import Preset
from pgrender.spec.services import ReplicaServiceSpec, ServiceSpec
from pgrender.spec.tls import TLSSpec
from pgrender.spec.users import DatabaseSpec, UserSpec

API_VERSION = "pgrender.io/v1alpha1"
KIND = "PostgresCluster"
SUPPORTED_POSTGRES_VERSIONS = (14, 15, 16, 17)
NO_NAMESPACE = (
    "required field is missing: set it here, or a default with `namespace:` in pgrender.yaml or "
    "--namespace (Argo CD's plugin uses the Application's destination namespace)"
)


def _namespace_optional_for_editors(schema: dict[str, Any]) -> None:
    # The namespace may come from a default (pgrender.yaml, --namespace, Argo CD's destination),
    # which an editor cannot see; pgrender itself reports it missing when no default applies.
    schema["required"] = [field for field in schema.get("required", []) if field != "namespace"]


class ObjectMeta(MetadataSpec, json_schema_extra=_namespace_optional_for_editors):
    """Identity of the cluster; labels and annotations go on every object pgrender writes."""

    name: DNSLabel
    namespace: DNSLabel = Field(
        description="Defaults to `namespace` in pgrender.yaml, `--namespace`, or Argo CD's destination namespace."
    )


VERSION_PLACEHOLDER = "{version}"
# binDir reaches the reconcile Job's shell script and patroni.yaml; patroni is the pods' command.
# Both are held to characters no shell or YAML reader treats specially, so that no quoting can be
# forgotten, and {version} is substituted by plain replacement: never str.format on user text.
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]")
_PROGRAM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*\Z")
_PATH_HINT = "expected an absolute path of letters, digits, '.', '_', '-' and '/'"


def _check_absolute_path(value: str, placeholder: str | None) -> None:
    """ValueError naming what is wrong with ``value`` as an absolute path; ``placeholder`` may appear in it."""
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path; {_PATH_HINT}")
    plain = value.replace(placeholder, "") if placeholder else value
    bad = sorted({ch for ch in plain if not _PATH_CHARACTERS.fullmatch(ch)})
    if bad:
        only = f", with {placeholder} as the only placeholder" if placeholder else ""
        raise ValueError(f"{value!r}: {', '.join(map(repr, bad))} not allowed; {_PATH_HINT}{only}")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r}: '..' is not allowed; {_PATH_HINT}")


def _check_bin_dir(value: str) -> str:
    _check_absolute_path(value, VERSION_PLACEHOLDER)
    return value


def _check_program(value: str) -> str:
    if not value.startswith("/") and not _PROGRAM_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a program name or an absolute path; expected a name of letters, digits, "
            "'.', '_', '+' and '-' (looked up on PATH), or an absolute path"
        )
    if value.startswith("/"):
        _check_absolute_path(value, None)
    return value


class ImageContractSpec(StrictModel):
    """Where the image keeps its programs and which user runs them (see README, "Image contract")."""

    bin_dir: Annotated[str, AfterValidator(_check_bin_dir)] | None = Field(
        default=None, description="PostgreSQL binaries; {version} is substituted."
    )
    patroni: Annotated[str, AfterValidator(_check_program)] = Field(
        default="patroni", description="The patroni executable, on PATH or absolute."
    )
    run_as_user: int = Field(default=101, ge=1, le=UID_MAX)
    run_as_group: int = Field(default=103, ge=1, le=UID_MAX)
    fs_group: int = Field(default=103, ge=1, le=UID_MAX)


class ClusterSpec(StrictModel):
    """What the user asks for; everything not given is decided in plan.resolve()."""

    postgres_version: Literal[14, 15, 16, 17]
    preset: Preset | None = None
    node_count: int | None = Field(
        default=None, ge=1, description="Nodes the cluster may run on; checked against required anti-affinity."
    )
    image: str | None = None
    image_contract: ImageContractSpec = Field(default_factory=ImageContractSpec)
    port: int = Field(default=5432, ge=1024, le=65535)
    cluster_domain: DNSSubdomain = "cluster.local"
    instances: list[InstanceSetSpec] = Field(min_length=1, max_length=limits.MAX_INSTANCE_SETS)
    users: list[UserSpec] = Field(default=[], max_length=limits.MAX_USERS)
    databases: list[DatabaseSpec] = Field(default=[], max_length=limits.MAX_DATABASES)
    patroni: PatroniSpec = Field(default_factory=PatroniSpec)
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    replica_service: ReplicaServiceSpec = Field(default_factory=ReplicaServiceSpec)
    tls: TLSSpec = Field(default_factory=TLSSpec)
    proxy: ProxySpec = Field(default_factory=ProxySpec)


class PostgresCluster(StrictModel):
    """One cluster document."""

    api_version: Literal["pgrender.io/v1alpha1"]
    kind: Literal["PostgresCluster"]
    metadata: ObjectMeta
    spec: ClusterSpec


@dataclass(frozen=True)
class SourcedCluster:
    """A validated cluster and the document it came from, for positions in later errors."""

    cluster: PostgresCluster
    document: Document

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        line, col = self.document.position(path)
        return Problem(self.document.file, line, col, format_path(path), message)


def validate(doc: Document) -> SourcedCluster:
    """Validate one document against the PostgresCluster schema; raise SpecError with its problems."""
    if not isinstance(doc.data, dict):
        line, col = doc.position(())
        raise SpecError(
            [Problem(doc.file, line, col, "", f"expected a mapping ({KIND} document), found {_kind(doc.data)}")]
        )
    try:
        return SourcedCluster(PostgresCluster.model_validate(doc.data), doc)
    except ValidationError as exc:
        raise SpecError(_problems(doc, exc)) from None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _problems(doc: Document, exc: ValidationError) -> list[Problem]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = tuple(part for part in err["loc"] if not _is_union_tag(part))
        line, col = doc.position(loc)
        out.append(Problem(doc.file, line, col, format_path(loc), _message(err, loc)))
    return out


def _is_union_tag(part: object) -> bool:
    # pydantic adds the member type of a union to loc ("str", "int", "function-after[...]").
    return isinstance(part, str) and (part in {"str", "int", "float", "bool"} or "[" in part)


# pydantic's wording names Python types ("instance of ObjectMeta"); people wrote YAML.
_EXPECTED = {
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "datetime_type": "expected a timestamp such as 2026-01-01T00:00:00Z",
    "datetime_parsing": "expected a timestamp such as 2026-01-01T00:00:00Z",
    "datetime_from_date_parsing": "expected a timestamp such as 2026-01-01T00:00:00Z",
}


def _message(err: Any, loc: tuple[str | int, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r} (check the spelling; see schemas/ for the allowed fields)"
    if kind == "missing" and loc == ("metadata", "namespace"):
        return NO_NAMESPACE
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}"
    if kind == "enum":
        return f"expected one of {err.get('ctx', {}).get('expected', '')}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    msg: str = err["msg"]
    return msg.removeprefix("Value error, ")
