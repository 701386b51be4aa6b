"""Spec of spec.networkPolicy: which peers may reach the cluster, and where its pods may go."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from pgrender.spec.base import StrictModel
from pgrender.spec.rules.network_policy import (
    NAMESPACE_NAME_LABEL,
    anywhere,
    check_cidr,
    check_distinct_ports,
    check_holes_inside,
    check_one_peer_kind,
    check_values_fit_operator,
    kube_dns,
    prometheus,
)


class LabelSelectorRequirementSpec(StrictModel):
    """One matchExpressions term of a Kubernetes label selector."""

    key: str = Field(min_length=1, max_length=317)
    """The label tested."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """In, NotIn: the label's value is (not) among values; Exists, DoesNotExist: the label is (not) set."""
    values: list[str] = Field(default=[], max_length=100)
    """The values In and NotIn compare with; empty for Exists and DoesNotExist."""

    _values_fit_operator = model_validator(mode="after")(check_values_fit_operator)


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

    _cidr = field_validator("cidr")(check_cidr)
    _holes_inside = model_validator(mode="after")(check_holes_inside)


class PeerSpec(StrictModel):
    """A NetworkPolicy peer, as Kubernetes spells it: pods (podSelector, in this namespace unless
    namespaceSelector says which), every pod of some namespaces (namespaceSelector alone), or
    addresses outside the cluster (ipBlock)."""

    pod_selector: LabelSelectorSpec | None = Field(default=None, description="Pods with these labels.")
    namespace_selector: LabelSelectorSpec | None = Field(
        default=None, description=f"Namespaces with these labels (a namespace's name: {NAMESPACE_NAME_LABEL})."
    )
    ip_block: IPBlockSpec | None = Field(default=None, description="Addresses outside the cluster.")

    _one_kind = model_validator(mode="after")(check_one_peer_kind)


Port = Annotated[int, Field(ge=1, le=65535)]


Ports = Annotated[list[Port], AfterValidator(check_distinct_ports)]


class DNSEgressSpec(StrictModel):
    """The cluster's DNS servers, which every pod asks for member and Service names."""

    to: list[PeerSpec] = Field(
        default_factory=kube_dns,
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


class KubernetesAPIEgressSpec(StrictModel):
    """The Kubernetes API, which Patroni (its DCS) and the reconcile Job (the rollout) talk to."""

    to: list[PeerSpec] = Field(
        default_factory=anywhere,
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
        default_factory=anywhere,
        min_length=1,
        max_length=20,
        description="Default: any address (an endpoint is a host name, which NetworkPolicy cannot name); "
        "name its addresses, or the pods of an object store in the cluster, to narrow it.",
    )


class SourceEgressSpec(StrictModel):
    """The primary a standby streams from, or a copy copies, where fromCluster.host names one outside
    this Kubernetes cluster (its port is fromCluster.port)."""

    to: list[PeerSpec] = Field(
        default_factory=anywhere,
        min_length=1,
        max_length=20,
        description="Default: any address (a host name, which NetworkPolicy cannot name); name its "
        "addresses (ipBlock) to narrow it.",
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
        default_factory=prometheus,
        max_length=50,
        description="With spec.monitoring: who may scrape the exporter (port 9187). Default: pods labelled "
        "app.kubernetes.io/name: prometheus in any namespace (what the Prometheus Operator labels its "
        "Prometheus pods); name your Prometheus (namespaceSelector) to narrow it.",
    )
    dns: DNSEgressSpec = Field(default_factory=DNSEgressSpec)
    kubernetes_api: KubernetesAPIEgressSpec = Field(default_factory=KubernetesAPIEgressSpec, alias="kubernetesAPI")
    object_stores: ObjectStoreEgressSpec = Field(default_factory=ObjectStoreEgressSpec)
    sources: SourceEgressSpec = Field(default_factory=SourceEgressSpec)


__all__ = [
    "NAMESPACE_NAME_LABEL",
    "IPBlockSpec",
    "LabelSelectorSpec",
    "NetworkPolicySpec",
    "PeerSpec",
]
