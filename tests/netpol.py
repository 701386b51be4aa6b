"""A small NetworkPolicy evaluator, so rendered policies can be checked without a CNI.

It follows the semantics of networking.k8s.io/v1 NetworkPolicy (Kubernetes documentation, "Network
Policies"):

- A pod is isolated for ingress (egress) when any policy of its namespace selects it (podSelector)
  and lists Ingress (Egress) in policyTypes. policyTypes left out means Ingress, plus Egress when
  the policy has egress rules.
- A connection from A to B on a port and protocol happens only when A's side allows it (A not
  isolated for egress, or some egress rule of some policy selecting A matches B and the port) and
  B's side allows it (B not isolated for ingress, or some ingress rule of some policy selecting B
  matches A and the port). Policies add up; none can deny what another allows.
- A rule matches a peer when its peer list is absent or empty (everyone) or any peer matches, and
  its ports are absent or empty (every port) or any port matches (protocol defaults to TCP, port
  left out means every port of the protocol; endPort is honoured).
- A peer with podSelector alone means pods of the policy's own namespace; namespaceSelector alone,
  every pod of the selected namespaces; both, selected pods in selected namespaces. ipBlock matches
  an address in cidr and in none of except. Pods have addresses too, and ipBlock matches them here
  as it does in most CNIs (Kubernetes leaves it to the implementation), so a wide ipBlock is seen as
  wide as it is.
- Label selectors: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) all hold;
  {} selects everything.

- A named port (a container port's name) means the number the destination pod gives that name, in
  either direction: the pod connected to (egress), or the policy's own pod (ingress). A pod without
  a port of that name is not reached through the rule.

Traffic to a Service is evaluated at the pod it reaches (policies see the pod's address and port,
after the Service's translation), so a test names the pod and its container port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace set) or an address outside the cluster (namespace None)."""

    name: str
    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)  # its containers' named ports


@dataclass
class Network:
    """Namespaces with their labels, and every NetworkPolicy of the cluster."""

    policies: list[Manifest]
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def labels_of(self, namespace: str) -> dict[str, str]:
        # The API server labels every namespace with its name (1.22+).
        return {**self.namespace_labels.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}

    def allowed(self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
        """Whether a connection from ``source`` to ``destination``'s ``port`` gets through."""
        return self._side(source, "Egress", destination, destination, port, protocol) and self._side(
            destination, "Ingress", source, destination, port, protocol
        )

    def _side(
        self, pod: Endpoint, direction: str, other: Endpoint, reached: Endpoint, port: int, protocol: str
    ) -> bool:
        if pod.namespace is None:
            return True  # addresses outside the cluster have no policies
        selecting = [p for p in self.policies if self._selects(p, pod) and direction in _policy_types(p)]
        if not selecting:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        return any(
            self._rule_matches(rule, peers_key, policy["metadata"]["namespace"], other, reached, port, protocol)
            for policy in selecting
            for rule in policy["spec"].get(key) or []
        )

    def _selects(self, policy: Manifest, pod: Endpoint) -> bool:
        return policy["metadata"]["namespace"] == pod.namespace and selector_matches(
            policy["spec"]["podSelector"], pod.labels
        )

    def _rule_matches(
        self,
        rule: Manifest,
        peers_key: str,
        namespace: str,
        other: Endpoint,
        reached: Endpoint,
        port: int,
        protocol: str,
    ) -> bool:
        peers = rule.get(peers_key) or []
        ports = rule.get("ports") or []
        peer_ok = not peers or any(self._peer_matches(p, namespace, other) for p in peers)
        port_ok = not ports or any(_port_matches(p, port, protocol, reached.ports) for p in ports)
        return peer_ok and port_ok

    def _peer_matches(self, peer: Manifest, namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            address = ipaddress.ip_address(other.ip)
            inside = _contains(block["cidr"], address)
            return inside and not any(_contains(hole, address) for hole in block.get("except", []))
        if other.namespace is None:
            return False  # selectors name pods, never outside addresses
        if "namespaceSelector" in peer:
            in_namespace = selector_matches(peer["namespaceSelector"], self.labels_of(other.namespace))
        else:
            in_namespace = other.namespace == namespace
        pod_ok = "podSelector" not in peer or selector_matches(peer["podSelector"], other.labels)
        return in_namespace and pod_ok


def _policy_types(policy: Manifest) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        types: list[str] = spec["policyTypes"]
        return types
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def _contains(cidr: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    network = ipaddress.ip_network(cidr)
    return network.version == address.version and address in network


def _port_matches(rule_port: Manifest, port: int, protocol: str, named: Mapping[str, int]) -> bool:
    """``named``: the reached pod's container ports by name."""
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    if "port" not in rule_port:
        return True
    number = rule_port["port"]
    if isinstance(number, str):
        return named.get(number) == port
    return bool(number <= port <= rule_port.get("endPort", number))


def selector_matches(selector: Manifest, labels: Mapping[str, str]) -> bool:
    """A LabelSelector against a set of labels; {} matches everything."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for term in selector.get("matchExpressions") or []:
        key, operator, values = term["key"], term["operator"], term.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job", "CronJob")


def pod_labels(objects: Iterable[Manifest]) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    """(kind, name) of each workload in ``objects`` -> (namespace, its pods' labels)."""
    out = {}
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
        labels = dict(spec["template"]["metadata"].get("labels") or {})
        out[(obj["kind"], obj["metadata"]["name"])] = (obj["metadata"]["namespace"], labels)
    return out
