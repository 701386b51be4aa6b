"""TLS providers: where the cluster's certificates come from (one module each, see providers.py).

Beyond providers.TLSProvider (owns, finish), a TLS provider's PROVIDER says, as attributes:

- ``settings``: the spec.tls field holding its settings (``certManager``, ``existing``), or None;
- ``own_ca``: pgrender makes the CA (``derived``). Otherwise the CA is someone else's, and
  spec.tls.caCertificate gives its certificate, which pgrender writes as ca.crt for applications;
- ``decides_names``: the certificates carry the names pgrender decides (and spec.tls.extraSANs);
  False when they are the user's (existing);
- ``in_cluster``: certificates are issued or replaced in the cluster, after the render (cert-manager
  renews them, a person replaces an existing Secret). The pods that mount them then run a watcher
  that reloads PostgreSQL, Patroni, pgBouncer and pgBackRest when the mounted files change
  (pod_parts/tls_reload.py); ``derived`` certificates change only with a render, whose rollout
  digests replace the pods.

and may have ``for_plan(plan)``, returning the provider bound to one cluster's plan, for a
``finish`` that needs it (cert-manager's Certificates carry the names the plan decided).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeGuard

from pgrender.providers import TLSProvider, tls_provider

if TYPE_CHECKING:
    from pgrender.plan import ClusterPlan


class PlanBound(Protocol):
    """A TLS provider whose ``finish`` needs the cluster's plan."""

    def for_plan(self, plan: ClusterPlan) -> TLSProvider: ...


def _is_plan_bound(provider: object) -> TypeGuard[PlanBound]:
    # Not isinstance with a runtime-checkable Protocol: from Python 3.12 that imports inspect.
    return callable(getattr(provider, "for_plan", None))


def settings_field(name: str) -> str | None:
    """The spec.tls field (its Python name) TLS provider ``name`` reads its settings from, or None."""
    field: str | None = getattr(tls_provider(name), "settings", None)
    return field


def own_ca(name: str) -> bool:
    """Whether TLS provider ``name`` makes the cluster's CA itself."""
    return bool(getattr(tls_provider(name), "own_ca", False))


def decides_names(name: str) -> bool:
    """Whether TLS provider ``name``'s certificates carry the names pgrender decides."""
    return bool(getattr(tls_provider(name), "decides_names", False))


def in_cluster(name: str) -> bool:
    """Whether TLS provider ``name``'s certificates change in the cluster, so pods reload them."""
    return bool(getattr(tls_provider(name), "in_cluster", False))


def bound(provider: TLSProvider, plan: ClusterPlan) -> TLSProvider:
    """``provider``, bound to ``plan`` when it needs a plan."""
    return provider.for_plan(plan) if _is_plan_bound(provider) else provider
