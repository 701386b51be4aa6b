"""Spec of spec.networkPolicy: which peers may reach the cluster, and where its pods may go."""

from __future__ import annotations

import functools
import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from pgrender.spec.base import StrictModel

# The label the Prometheus Operator gives the pods of every Prometheus it runs: the default scraper.
PROMETHEUS_NAME_LABEL = "app.kubernetes.io/name"
# Kubernetes' own label on every namespace (1.22+): how a peer names a namespace.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ANY_IPV4 = "0.0.0.0/0"
ANY_IPV6 = "::/0"


class LabelSelectorRequirementSpec(StrictModel):
    """One matchExpressions term of a Kubernetes label selector."""

    key: str = Field(min_length=1, max_length=317)
    """The label tested."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn: the label's value is (not) among values; Exists, DoesNotExist: the label is (not) set."""
    values: list[str] = Field(default=[], max_length=100)
    """The values In and NotIn compare with; empty for Exists and DoesNotExist."""

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirementSpec:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelectorSpec(StrictModel):
    """A Kubernetes label selector; {} selects everything (every pod, every namespace)."""

    match_labels: dict[str, str] = Field(default={}, max_length=50, examples=[{"app": "shop"}])
    """Labels the pod or namespace must have, with these values."""
    match_expressions: list[LabelSelectorRequirementSpec] = Field(default=[], max_length=50)
    """Further label tests that must all hold."""


class IPBlockSpec(StrictModel):
    """Addresses outside the cluster, as a CIDR with optional holes."""

    cidr: str = Field(examples=["10.0.0.0/8", "fd00::/8"])
    """The addresses, as a network (no host bits set), such as 10.0.0.0/8."""
    except_: list[str] = Field(default=[], alias="except", max_length=50)
    """Networks inside cidr that are left out."""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _check_cidr(value)

    @model_validator(mode="after")
    def _holes_inside(self) -> IPBlockSpec:
        outer = _network(self.cidr)
        for hole in self.except_:
            inner = _network(_check_cidr(hole))
            if inner.version != outer.version or not inner.subnet_of(outer):  # type: ignore[arg-type]
                raise ValueError(f"except {hole!r} is not inside cidr {self.cidr!r}")
        return self


@functools.lru_cache(maxsize=256)
def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network ``value`` names; parsed once per text, as every cluster's default policy
    parses the same two (ipaddress takes longer than the rest of validating a spec's policy)."""
    return ipaddress.ip_network(value, strict=True)


def _check_cidr(value: str) -> str:
    try:
        network = _network(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR; expected a network such as 10.0.0.0/8 or fd00::/8") from None
    if "/" not in value:
        raise ValueError(f"{value!r} has no prefix length; expected a network such as {network}")
    return value


class PeerSpec(StrictModel):
    """A NetworkPolicy peer, as Kubernetes spells it: pods (podSelector, in this namespace unless
    namespaceSelector says which), every pod of some namespaces (namespaceSelector alone), or
    addresses outside the cluster (ipBlock)."""

    pod_selector: LabelSelectorSpec | None = Field(default=None, description="Pods with these labels.")
    namespace_selector: LabelSelectorSpec | None = Field(
        default=None, description=f"Namespaces with these labels (a namespace's name: {NAMESPACE_NAME_LABEL})."
    )
    ip_block: IPBlockSpec | None = Field(default=None, description="Addresses outside the cluster.")

    @model_validator(mode="after")
    def _one_kind(self) -> PeerSpec:
        selectors = self.pod_selector is not None or self.namespace_selector is not None
        if self.ip_block is not None and selectors:
            raise ValueError("a peer is either ipBlock or podSelector/namespaceSelector, not both")
        if self.ip_block is None and not selectors:
            raise ValueError("a peer needs podSelector, namespaceSelector (or both) or ipBlock")
        return self


def _anywhere() -> list[PeerSpec]:
    return list(_anywhere_peers())


@functools.cache
def _anywhere_peers() -> tuple[PeerSpec, ...]:
    """Made once: the models are frozen, so every spec's default can share them (building them
    cost a batch render about 3% of its CPU time)."""
    return (PeerSpec(ip_block=IPBlockSpec(cidr=ANY_IPV4)), PeerSpec(ip_block=IPBlockSpec(cidr=ANY_IPV6)))


Port = Annotated[int, Field(ge=1, le=65535)]


def _distinct(ports: list[int]) -> list[int]:
    if len(set(ports)) != len(ports):
        raise ValueError("a port appears more than once")
    return ports


Ports = Annotated[list[Port], AfterValidator(_distinct)]


class DNSEgressSpec(StrictModel):
    """The cluster's DNS servers, which every pod asks for member and Service names."""

    to: list[PeerSpec] = Field(
        default_factory=lambda: [
            PeerSpec(
                namespace_selector=LabelSelectorSpec(match_labels={NAMESPACE_NAME_LABEL: "kube-system"}),
                pod_selector=LabelSelectorSpec(match_labels={"k8s-app": "kube-dns"}),
            )
        ],
        min_length=1,
        max_length=20,
        description="Default: pods labelled k8s-app: kube-dns (kube-dns or CoreDNS) in kube-system; with "
        "spec.openshift, every pod of openshift-dns.",
    )
    ports: Ports = Field(
        default=[53],
        min_length=1,
        max_length=10,
        description="Ports the DNS pods listen on, each allowed for UDP and TCP; NetworkPolicy sees the "
        "pod's port, not the Service's (default 53; with spec.openshift 5353).",
    )


# OpenShift's DNS operator runs CoreDNS as a DaemonSet in openshift-dns, listening on 5353 behind
# its Service's 53 (openshift/cluster-dns-operator, assets/dns/daemonset.yaml): the default there.
OPENSHIFT_DNS = DNSEgressSpec(
    to=[PeerSpec(namespace_selector=LabelSelectorSpec(match_labels={NAMESPACE_NAME_LABEL: "openshift-dns"}))],
    ports=[5353],
)


class KubernetesAPIEgressSpec(StrictModel):
    """The Kubernetes API, which Patroni (its DCS) and the reconcile Job (the rollout) talk to."""

    to: list[PeerSpec] = Field(
        default_factory=_anywhere,
        min_length=1,
        max_length=20,
        description="Default: any address; name the API servers' addresses (ipBlock) to narrow it.",
    )
    ports: Ports = Field(
        default=[443, 6443],
        min_length=1,
        max_length=10,
        description="TCP ports: the Service kubernetes (443) and the API servers' own port (6443, what "
        "most CNIs see after the Service's address is translated).",
    )


class ObjectStoreEgressSpec(StrictModel):
    """Object-store repositories (spec.backups and the sources of a restore or standby); the ports
    are the repositories' own (443 unless they name one)."""

    to: list[PeerSpec] = Field(
        default_factory=_anywhere,
        min_length=1,
        max_length=20,
        description="Default: any address (an endpoint is a host name, which NetworkPolicy cannot name); "
        "name its addresses, or the pods of an object store in the cluster, to narrow it.",
    )


class NetworkPolicySpec(StrictModel):
    """NetworkPolicies that let each of the cluster's pods reach, and be reached by, only what it needs
    (README, "Network policy")."""

    enabled: bool = Field(default=True, description="false: no NetworkPolicy objects.")
    applications: list[PeerSpec] = Field(
        default=[],
        max_length=50,
        description="Who may connect to PostgreSQL (every member's port) and to pgBouncer; {podSelector: {}} "
        "is every pod of the cluster's namespace. Empty: only the cluster's own pods.",
    )
    monitoring: list[PeerSpec] = Field(
        default_factory=lambda: [
            PeerSpec(
                namespace_selector=LabelSelectorSpec(),
                pod_selector=LabelSelectorSpec(match_labels={PROMETHEUS_NAME_LABEL: "prometheus"}),
            )
        ],
        max_length=50,
        description="With spec.monitoring: who may scrape the exporter (port 9187). Default: pods labelled "
        "app.kubernetes.io/name: prometheus in any namespace (what the Prometheus Operator labels its "
        "Prometheus pods); name your Prometheus (namespaceSelector) to narrow it.",
    )
    dns: DNSEgressSpec = Field(default_factory=DNSEgressSpec)
    kubernetes_api: KubernetesAPIEgressSpec = Field(default_factory=KubernetesAPIEgressSpec, alias="kubernetesAPI")
    object_stores: ObjectStoreEgressSpec = Field(default_factory=ObjectStoreEgressSpec)


__all__ = [
    "NAMESPACE_NAME_LABEL",
    "OPENSHIFT_DNS",
    "IPBlockSpec",
    "LabelSelectorSpec",
    "NetworkPolicySpec",
    "PeerSpec",
]
