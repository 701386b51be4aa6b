"""The PostgresCluster spec (apiVersion pgrender.io/v1alpha1): constants, SourcedCluster and validate().

The models are in pgrender.spec.cluster and the modules beside it; this module imports none of them
(nor pydantic), since importing any pgrender.spec module runs it first: the render path uses the
rules and constants without pydantic. Its model names (PostgresCluster, ClusterSpec, ...) are
imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pgrender.errors import Problem, SpecError
from pgrender.frozen import frozen
from pgrender.load import Document, format_path
from pgrender.spec.problems import cut_echoes, kind_of
from pgrender.spec.rules.cluster import VERSION_PLACEHOLDER

if TYPE_CHECKING:
    from pgrender.spec.cluster import (
        ClusterSpec,
        ImageContractSpec,
        ObjectMeta,
        PostgresCluster,
        RolloutSpec,
    )

API_VERSION = "pgrender.io/v1alpha1"
KIND = "PostgresCluster"
SUPPORTED_POSTGRES_VERSIONS = (14, 15, 16, 17, 18)
NO_NAMESPACE = (
    "required field is missing: set it here, or a default with `namespace:` in pgrender.yaml or "
    "--namespace (Argo CD's plugin uses the Application's destination namespace)"
)
_MODELS = frozenset({"ClusterSpec", "ImageContractSpec", "ObjectMeta", "PostgresCluster", "RolloutSpec"})

__all__ = [
    "API_VERSION",
    "KIND",
    "NO_NAMESPACE",
    "SUPPORTED_POSTGRES_VERSIONS",
    "VERSION_PLACEHOLDER",
    "ClusterSpec",
    "ImageContractSpec",
    "ObjectMeta",
    "PostgresCluster",
    "RolloutSpec",
    "SourcedCluster",
    "default",
    "validate",
    "validated",
]


def __getattr__(name: str) -> Any:
    """The models, imported (with pydantic) when first asked for."""
    if name in _MODELS:
        return getattr(importlib.import_module("pgrender.spec.cluster"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@frozen
class SourcedCluster:
    """A validated cluster and the document it came from, for positions in later errors."""

    cluster: PostgresCluster
    document: Document

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        line, col = self.document.position(path)
        return Problem(self.document.file, line, col, format_path(path), cut_echoes(message, path, self.document))


def validate(doc: Document) -> SourcedCluster:
    """Validate one document against the PostgresCluster schema; raise SpecError with its problems."""
    if not isinstance(doc.data, dict):
        line, col = doc.position(())
        raise SpecError(
            [Problem(doc.file, line, col, "", f"expected a mapping ({KIND} document), found {kind_of(doc.data)}")]
        )
    try:
        return SourcedCluster(validated("PostgresCluster", doc.data), doc)
    except Exception as exc:
        from pydantic import ValidationError  # only for a spec pydantic refused: its problems, in our words

        if not isinstance(exc, ValidationError):
            raise
        from pgrender.spec.cluster import PostgresCluster
        from pgrender.spec.problems import problems_of

        raise SpecError(problems_of(doc, exc, PostgresCluster, {("metadata", "namespace"): NO_NAMESPACE})) from None


def validated(model: str, data: Any) -> Any:
    """``data`` made into the spec model named ``model``: Plain objects (spec/plain.py), decided
    without pydantic within the compiled strict subset; pydantic's ValidationError when invalid."""
    from pgrender.spec import compiled, plain

    try:
        return compiled.VALIDATORS[model](data)
    except Exception:  # plain.Declined, or a check's ValueError: pydantic decides, and says why
        made = plain.pydantic_model(compiled.MODELS[model]).model_validate(data)
        return plain.from_model(made, compiled.CLASSES)


def default(model: str, field: str) -> Any:
    """The default of a spec model's field, as validation fills it in."""
    from pgrender.spec import compiled

    made = compiled.CLASSES[compiled.MODELS[model]].model_fields[field].default
    if made is None:
        raise KeyError(f"internal error: {model}.{field} has no default")
    return made()
