"""TRANSFORMS, in one ordered tuple: the steps between the builders and emit, one module each.

Each step takes the cluster's context and its objects and returns the objects; like kustomize's
builtin transformers and tanka's pkg/process, it does one thing and has its own test file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pgrender.frozen import frozen
from pgrender.transforms.flux_protection import flux_protection
from pgrender.transforms.materialize_secrets import materialize_secrets
from pgrender.transforms.member_revisions import member_revisions
from pgrender.transforms.only_secrets import only_secrets
from pgrender.transforms.rollout_digests import rollout_digests
from pgrender.transforms.secret_objects import secret_objects
from pgrender.transforms.tls_objects import tls_objects

if TYPE_CHECKING:
    from pgrender.plan import ClusterPlan
    from pgrender.providers import SecretsProvider, TLSProvider, Values

Manifest = dict[str, Any]


@frozen
class Context:
    """What the transforms of one cluster may read."""

    plan: ClusterPlan
    secrets: SecretsProvider
    tls: TLSProvider
    values: Values | None  # None when the secrets provider writes no values
    only_secrets: bool = False


Transform = Callable[[Context, list[Manifest]], list[Manifest]]

TRANSFORMS: tuple[Transform, ...] = (
    tls_objects,  # the TLS provider's objects in place of the certificate Secrets
    materialize_secrets,  # secret values filled in (root key)
    rollout_digests,  # pod templates carry digests of what they mount: changes roll the pods
    member_revisions,  # members' templates carry their digest; the reconcile Job replaces older pods
    secret_objects,  # the secrets provider's objects in place of the Secrets
    only_secrets,  # --only-secrets
    flux_protection,  # Flux post-build substitution kept off text that looks like a variable
)


def transform(context: Context, manifests: list[Manifest]) -> list[Manifest]:
    """Run every transform in order."""
    for step in TRANSFORMS:
        manifests = step(context, manifests)
    return manifests
