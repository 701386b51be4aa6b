"""`pgrender convert`: an operator's custom resources to pgrender specs, with a note for every field
that is not carried over as it was.

Converters are registered by name, as providers are (providers.py): a module defining ``CONVERTER``,
an object of the ``Converter`` shape below. Adding an operator is a new module plus one line in
``CONVERTERS``; the command line reads the names from it. engine.py runs a conversion (which
documents are whose, the check against pgrender's own validation, the output), base.py holds what
every converter reads fields with, kube.py the fields the operators share. This module stays small:
the command line imports it to list the names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from pgrender.frozen import frozen

if TYPE_CHECKING:
    from pgrender.convert.base import Output, Reason, Source
    from pgrender.load import Document

# name → module defining CONVERTER.
CONVERTERS: dict[str, str] = {
    "pgo": "pgrender.convert.pgo",
    "zalando": "pgrender.convert.zalando",
    "cnpg": "pgrender.convert.cnpg",
}


@frozen
class Inputs:
    """Every document of the operator given in one run, for what one document names in another
    (a clone's source cluster, a Pooler's cluster)."""

    documents: tuple[Document, ...]

    def of_kind(self, kind: str) -> list[Document]:
        return [d for d in self.documents if isinstance(d.data, dict) and d.data.get("kind") == kind]

    def find(self, kind: str, name: str, namespace: str | None) -> Document | None:
        for doc in self.of_kind(kind):
            meta = doc.data.get("metadata")
            if isinstance(meta, dict) and meta.get("name") == name and meta.get("namespace") == namespace:
                return doc
        return None


class Converter(Protocol):
    """One operator's custom resources, read into pgrender specs."""

    name: str  # as registered, and as --from names it
    title: str  # for people: "Crunchy PGO"
    group: str  # the API group of its custom resources
    versions: tuple[str, ...]  # the API versions of the cluster kind it reads
    cluster_kind: str  # the kind converted into one spec each
    companion_kinds: tuple[str, ...]  # kinds read into the spec of the cluster they name
    other_kinds: dict[str, str]  # the operator's other kinds, noted as not converted: kind → why
    naming: str  # spec.naming of the converted specs: keeps the apps' Secret and Service names

    def reasons(self, doc: Document) -> tuple[Reason, ...]:
        """Why the fields of ``doc`` that have no place in the spec are left out."""
        ...

    def companion_of(self, doc: Document) -> tuple[str, str | None] | None:
        """(name, namespace) of the cluster a companion document belongs to."""
        ...

    def build(self, source: Source, companions: list[Source], out: Output, inputs: Inputs) -> None:
        """Read ``source`` (and its companions) into ``out``."""
        ...


def converter(name: str) -> Converter:
    """The registered converter ``name`` (a KeyError is a bug: the command line checks names first)."""
    found: Converter = importlib.import_module(CONVERTERS[name]).CONVERTER
    return found
