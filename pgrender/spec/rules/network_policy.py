"""Checks, labels and defaults of spec.networkPolicy."""

from __future__ import annotations

import functools
import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pgrender.spec.network_policy import IPBlockSpec, LabelSelectorRequirementSpec, PeerSpec

# The label the Prometheus Operator gives the pods of every Prometheus it runs: the default scraper.
PROMETHEUS_NAME_LABEL = "app.kubernetes.io/name"
# Kubernetes' own label on every namespace (1.22+): how a peer names a namespace.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ANY_IPV4 = "0.0.0.0/0"
ANY_IPV6 = "::/0"
# OpenShift's DNS operator runs CoreDNS as a DaemonSet in openshift-dns, listening on 5353 behind
# its Service's 53 (openshift/cluster-dns-operator, assets/dns/daemonset.yaml): the default there,
# as the NetworkPolicy peers and ports it comes to.
OPENSHIFT_DNS_PORTS: tuple[int, ...] = (5353,)


def openshift_dns_peers() -> tuple[dict[str, Any], ...]:
    """The peers of spec.openshift's DNS default, made anew for each cluster's manifests."""
    return ({"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "openshift-dns"}}},)


def check_values_fit_operator(requirement: LabelSelectorRequirementSpec) -> LabelSelectorRequirementSpec:
    if requirement.operator in ("In", "NotIn") and not requirement.values:
        raise ValueError(f"operator {requirement.operator} needs values")
    if requirement.operator in ("Exists", "DoesNotExist") and requirement.values:
        raise ValueError(f"operator {requirement.operator} takes no values")
    return requirement


@functools.lru_cache(maxsize=256)
def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network ``value`` names; parsed once per text, as every cluster's default policy
    parses the same two (ipaddress takes longer than the rest of validating a spec's policy)."""
    return ipaddress.ip_network(value, strict=True)


def check_cidr(value: str) -> str:
    try:
        network = _network(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR; expected a network such as 10.0.0.0/8 or fd00::/8") from None
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; expected a network such as {network}")
    return value


def check_holes_inside(block: IPBlockSpec) -> IPBlockSpec:
    outer = _network(block.cidr)
    for hole in block.except_:
        inner = _network(check_cidr(hole))
        if inner.version != outer.version or not inner.subnet_of(outer):  # type: ignore[arg-type]
            raise ValueError(f"except {hole!r} is not inside cidr {block.cidr!r}")
    return block


def check_one_peer_kind(peer: PeerSpec) -> PeerSpec:
    selectors = peer.pod_selector is not None or peer.namespace_selector is not None
    if peer.ip_block is not None and selectors:
        raise ValueError("a peer is either ipBlock or podSelector/namespaceSelector, not both")
    if peer.ip_block is None and not selectors:
        raise ValueError("a peer needs podSelector, namespaceSelector (or both) or ipBlock")
    return peer


def check_distinct_ports(ports: list[int]) -> list[int]:
    if len(set(ports)) != len(ports):
        raise ValueError("a port appears more than once")
    return ports


def anywhere() -> list[PeerSpec]:
    return list(_anywhere_peers())


@functools.cache
def _anywhere_peers() -> tuple[PeerSpec, ...]:
    """Made once: the models are frozen, so every spec's default can share them (building them
    cost a batch render about 3% of its CPU time). The models are imported here, where a default
    is made, so that importing this module needs no pydantic."""
    from pgrender.spec.network_policy import IPBlockSpec, PeerSpec

    return (PeerSpec(ip_block=IPBlockSpec(cidr=ANY_IPV4)), PeerSpec(ip_block=IPBlockSpec(cidr=ANY_IPV6)))


def kube_dns() -> list[PeerSpec]:
    """Pods labelled k8s-app: kube-dns (kube-dns or CoreDNS) in kube-system."""
    from pgrender.spec.network_policy import LabelSelectorSpec, PeerSpec

    return [
        PeerSpec(
            namespace_selector=LabelSelectorSpec(match_labels={NAMESPACE_NAME_LABEL: "kube-system"}),
            pod_selector=LabelSelectorSpec(match_labels={"k8s-app": "kube-dns"}),
        )
    ]


def prometheus() -> list[PeerSpec]:
    """Pods the Prometheus Operator labels as Prometheus, in any namespace."""
    from pgrender.spec.network_policy import LabelSelectorSpec, PeerSpec

    return [
        PeerSpec(
            namespace_selector=LabelSelectorSpec(),
            pod_selector=LabelSelectorSpec(match_labels={PROMETHEUS_NAME_LABEL: "prometheus"}),
        )
    ]
