"""Fields the operators share with Kubernetes or with each other, read into pgrender's spec the same way
by every converter: quantities, resources, volume claims, scheduling, Services, pg_hba rules, versions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from pgrender.convert.base import Output, Path_, Source
from pgrender.plan.patroni import written_anyway
from pgrender.plan.pg_hba import HbaError, parse_rule
from pgrender.plan.resources import ContainerKind, default_memory_limit
from pgrender.spec import SUPPORTED_POSTGRES_VERSIONS
from pgrender.spec.cluster import ClusterSpec
from pgrender.spec.metadata import MetadataSpec
from pgrender.spec.rules.base import quantity_bytes

CARRIED_VERSIONS = SUPPORTED_POSTGRES_VERSIONS
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
SINGLE_NODE_ACCESS = ("ReadWriteOnce", "ReadWriteOncePod")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
INSTANCE_SET = "instance1"  # the set of operators without instance sets, as PGO's examples name theirs


def quantity(source: Source, path: Path_) -> str | None:
    """A Kubernetes quantity as text (YAML may have read ``2`` or ``2.0`` as a number)."""
    value = source.take(path)
    if value is None:
        return None
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if isinstance(text, str):
        try:
            quantity_bytes(text)
        except ValueError:
            pass
        else:
            return text
    source.expected(path, "a Kubernetes quantity such as 500m, 1 or 4Gi")
    return None


def resources(source: Source, path: Path_, out: Output, to: Path_) -> None:
    """Container resources (requests and limits of cpu, memory, ephemeral-storage)."""
    if not isinstance(source.get(path), dict):
        if source.has(path):
            source.expected(path, "a mapping")
        return
    if not any(isinstance(source.get((*path, kind)), dict) for kind in ("requests", "limits")):
        return
    if not out.set(to, {}, source.at(path)):
        return
    for kind in ("requests", "limits"):
        for name in RESOURCE_NAMES:
            amount = quantity(source, (*path, kind, name))
            if amount is not None:
                out.set((*to, kind, name), amount, source.at((*path, kind, name)))


def memory_limit_note(
    source: Source, path: Path_, out: Output, to: Path_, theirs: str, kind: ContainerKind = ContainerKind.DATABASE
) -> None:
    """A note where a ``kind`` container (an instance set's database, a pgBouncer) gets pgrender's
    default memory limit, the input giving none: ``path`` is the input's resources (noted there, or at
    its parent when absent), ``to`` the resources in the spec; ``theirs`` says what the operator does
    without one."""
    if out.get((*to, "limits", "memory")) is not None:
        return
    request = out.get((*to, "requests", "memory"))
    limit = default_memory_limit(kind, False, request)
    which = f"the memory request, {limit}" if limit == request else limit
    source.changed(
        path if source.has(path) else path[:-1],
        f"no memory limit: {theirs}; pgrender's default applies: {which}, and the {kind.value} container is "
        "killed when it uses more (set resources.limits.memory to what it needs)",
    )


def claim(source: Source, path: Path_, out: Output, to: Path_, *, required: bool = True) -> bool:
    """A PersistentVolumeClaim spec (PGO, CloudNativePG's pvcTemplate) as a pgrender volume {size, storageClassName}."""
    if not isinstance(source.get(path), dict):
        if source.has(path):
            source.expected(path, "a mapping")
        elif required:
            source.problem(path, "required field is missing")
        return False
    size_path = (*path, "resources", "requests", "storage")
    if not source.has(size_path):
        if required:
            source.problem(size_path, "required field is missing: pgrender needs the volume's size")
        return False
    access_modes(source, (*path, "accessModes"))
    if not out.set(to, {}, source.at(path)):
        return False
    out.set((*to, "size"), quantity(source, size_path), source.at(size_path))
    storage_class = source.take_str((*path, "storageClassName"))
    if storage_class is not None:
        out.set((*to, "storageClassName"), storage_class, source.at((*path, "storageClassName")))
    return True


def access_modes(source: Source, path: Path_) -> None:
    modes = source.take_list(path)
    if modes and any(mode not in SINGLE_NODE_ACCESS for mode in modes):
        source.changed(path, "pgrender's claims are ReadWriteOnce: each volume belongs to one database pod")


def postgres_version(source: Source, path: Path_, value: Any, out: Output, *, named: str = "") -> None:
    """spec.postgresVersion from the operator's major version; the nearest pgrender runs when it runs not that one."""
    text = str(value).strip() if value is not None else ""
    match = re.fullmatch(r"(\d+)(\.\d+)*", text)
    if match is None:
        source.problem(path, f"expected a PostgreSQL major version such as 17{named}")
        return
    major = int(match.group(1))
    if major in CARRIED_VERSIONS:
        out.set(("spec", "postgresVersion"), major, source.at(path))
        return
    nearest = min(CARRIED_VERSIONS, key=lambda v: abs(v - major))
    out.set(("spec", "postgresVersion"), nearest, source.at(path))
    runs = f"{CARRIED_VERSIONS[0]} to {CARRIED_VERSIONS[-1]}"
    source.changed(
        path,
        f"pgrender runs PostgreSQL {runs}, not {major}: the spec says {nearest}; move the data with pg_dump "
        "and pg_restore (or pg_upgrade) into the new cluster",
    )


def parameter(source: Source, path: Path_, key: str, value: Any, out: Output) -> None:
    """The PostgreSQL parameter at ``path`` (taken) into spec.patroni.parameters; one pgrender manages is
    refused there and left out with pgrender's message, unless it has the value pgrender writes anyway
    (wal_level logical, the cluster's port, ...): then it asks for nothing, and goes without a note."""
    source.take(path)
    version = out.get(("spec", "postgresVersion"))
    port = out.get(("spec", "port")) or ClusterSpec.model_fields["port"].default
    if isinstance(version, int) and written_anyway(version, key, value, port):
        return
    out.set(("spec", "patroni", "parameters", key), value, source.at(path))


def scheduling_lists(source: Source, path: Path_, out: Output, to: Path_) -> None:
    """tolerations, nodeSelector, nodeAffinity and priorityClassName, as in a pod spec, from ``path``."""
    for field, target in (
        ("tolerations", "tolerations"),
        ("nodeSelector", "nodeSelector"),
        ("nodeAffinity", "nodeAffinity"),
        ("priorityClassName", "priorityClassName"),
    ):
        value = source.take((*path, field))
        if value not in (None, [], {}):
            out.set((*to, target), value, source.at((*path, field)))


def topology_spread(
    source: Source,
    path: Path_,
    out: Output,
    to: Path_,
    own_labels: Callable[[dict[str, Any]], bool],
    sets: int = 1,
) -> None:
    """topologySpreadConstraints; a selector that only names the operator's own labels for these pods is
    left out, as pgrender selects the set's pods when there is none."""
    for _, item_path, item in source.elements(path):
        if not isinstance(item, dict):
            source.expected(item_path, "a mapping")
            continue
        selector = item.get("labelSelector")
        constraint = {k: v for k, v in item.items() if k != "labelSelector"}
        if isinstance(selector, dict) and selector and own_labels(selector):
            source.take((*item_path, "labelSelector"))
            if sets > 1:
                source.changed(
                    (*item_path, "labelSelector"),
                    "selected the operator's labels: pgrender selects the pods of this instance set instead",
                )
        elif selector is not None:
            constraint["labelSelector"] = selector
        for key in constraint:
            source.take((*item_path, key))
        out.append(to, constraint, source.at(item_path))


def own_selector(selector: dict[str, Any], allowed: dict[str, str | None]) -> bool:
    """Whether a label selector only names ``allowed`` labels (value None: any value) by matchLabels."""
    labels = selector.get("matchLabels")
    if set(selector) - {"matchLabels"} or not isinstance(labels, dict) or not labels:
        return False
    return all(key in allowed and (allowed[key] is None or allowed[key] == value) for key, value in labels.items())


# The fields of pgrender's service spec that a Kubernetes ServiceSpec has under the same name.
SERVICE_SPEC_FIELDS = ("type", "externalTrafficPolicy", "loadBalancerClass", "loadBalancerSourceRanges")


def service(source: Source, path: Path_, out: Output, to: Path_) -> None:
    """A Service's type, node port, traffic policy, load balancer settings and metadata."""
    if not isinstance(source.get(path), dict):
        if source.has(path):
            source.expected(path, "a mapping")
        return
    service_fields(source, path, ("nodePort", *SERVICE_SPEC_FIELDS), out, to)
    metadata(source, (*path, "metadata"), out, (*to, "metadata"))


def service_fields(source: Source, path: Path_, fields: tuple[str, ...], out: Output, to: Path_) -> None:
    """Each of ``fields`` at ``path`` that is set, to the same name under ``to``."""
    for field in fields:
        value = source.take((*path, field))
        if value is not None:
            out.set((*to, field), value, source.at((*path, field)))


def containers(source: Source, path: Path_, out: Output, to: Path_) -> None:
    """Kubernetes containers of the user's, carried as they are: the spec checks each (name, image, mounts)."""
    value = source.take_list(path)
    if value:
        out.set(to, value, source.at(path))


def image_pull_secrets(source: Source, out: Output) -> None:
    """spec.imagePullSecrets (LocalObjectReferences, as PGO and CloudNativePG write them) as Secret names."""
    for _, path, item in source.elements(("spec", "imagePullSecrets")):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str):
            source.take(path)
            out.append(("spec", "imagePullSecrets"), name, source.at(path))
        else:
            source.expected(path, "a mapping with a name")


def metadata(source: Source, path: Path_, out: Output, to: Path_) -> None:
    """labels and annotations, each key its own value: one pgrender refuses is left out on its own."""
    for kind in ("labels", "annotations"):
        for key, key_path, value in source.items((*path, kind)):
            source.take(key_path)
            text = value if isinstance(value, str) else "" if value is None else str(value)
            problem = _metadata_problem(kind, key, text)
            if problem:
                source.left_out(key_path, f"pgrender refuses it: {problem}")
                continue
            out.set((*to, kind, key), text, source.at(key_path))


def put_label(source: Source, path: Path_, out: Output, to: Path_, key: str, value: str, kind: str = "labels") -> None:
    """One label (or annotation: ``kind``) into the metadata at ``to``, or a note when pgrender refuses it."""
    problem = _metadata_problem(kind, key, value)
    if problem:
        source.left_out(path, f"pgrender refuses it: {problem}")
        return
    out.set((*to, kind, key), value, source.at(path))


def _metadata_problem(kind: str, key: str, value: str) -> str | None:
    try:
        MetadataSpec.model_validate({kind: {key: value}})
    except ValidationError as exc:
        return str(exc.errors(include_url=False, include_input=False)[0]["msg"]).removeprefix("Value error, ")
    return None


# pg_hba ------------------------------------------------------------------------------------------

_WEAK_PASSWORD_METHODS = ("md5", "password")


def hba_rule(source: Source, path: Path_, line: str) -> str:
    """A pg_hba rule as pgrender takes it: ``host`` becomes ``hostssl`` (pgrender refuses connections
    without TLS anyway) and ``md5``/``password`` become ``scram-sha-256`` (what pgrender's passwords are,
    and what PostgreSQL checks for md5 once passwords are SCRAM verifiers). Anything else pgrender
    refuses is left out when the spec is checked."""
    try:
        rule = parse_rule(line)
    except HbaError:
        return line
    changes = []
    text = line
    if rule.connection_type == "host" and rule.method != "reject":
        text = re.sub(r"^(\s*)host(?=\s)", r"\1hostssl", text, count=1)
        changes.append("host became hostssl (pgrender admits connections over TLS only)")
    if rule.method in _WEAK_PASSWORD_METHODS and rule.connection_type != "local":
        words = text.split()
        hits = [i for i, word in enumerate(words) if word == rule.method and i >= 3]
        if len(hits) == 1:
            words[hits[0]] = "scram-sha-256"
            text = " ".join(words)
            changes.append(f"{rule.method} became scram-sha-256 (pgrender's passwords are SCRAM verifiers)")
    if changes:
        source.changed(path, "; ".join(changes))
    return text


def append_hba_rule(source: Source, path: Path_, line: Any, out: Output) -> None:
    """One pg_hba rule, rewritten by ``hba_rule``, appended to spec.patroni.pgHBA unless already there."""
    if not isinstance(line, str):
        source.expected(path, "a string")
        return
    source.take(path)
    rule = hba_rule(source, path, line)
    if rule in (out.get(("spec", "patroni", "pgHBA")) or []):
        source.left_out(path, f"as pgrender takes it, {rule!r}, the same rule as an earlier one")
        return
    out.append(("spec", "patroni", "pgHBA"), rule, source.at(path))


# Hosts -------------------------------------------------------------------------------------------

_HOST = re.compile(
    r"^(?P<service>[a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.(?P<namespace>[a-z0-9]([-a-z0-9]*[a-z0-9])?))?(\.svc(\.[a-z0-9.-]+)?)?\.?\Z"
)


def service_host(host: str) -> tuple[str, str | None] | None:
    """(service, namespace) of a Service's DNS name (``name``, ``name.ns``, ``name.ns.svc[.domain]``)."""
    match = _HOST.match(host)
    if match is None:
        return None
    return match["service"], match["namespace"]


def primary_service_host(host: str, suffix: str) -> tuple[str, str | None] | None:
    """(cluster, namespace) when ``host`` names the primary Service ``<cluster><suffix>`` of a cluster
    in this Kubernetes cluster (as ``service_host`` reads it); None for any other host, which
    fromCluster.host reaches as it is."""
    found = service_host(host)
    if found is None or not found[0].endswith(suffix) or len(found[0]) <= len(suffix):
        return None
    return found[0][: len(found[0]) - len(suffix)], found[1]


def named_source(found: tuple[str, str | None]) -> dict[str, Any]:
    """fromCluster naming the cluster ``found`` by primary_service_host (and its namespace, if given)."""
    return {"cluster": found[0]} | ({"namespace": found[1]} if found[1] else {})


def source_port(source: Source, path: Path_, out: Output, to: Path_) -> None:
    """The port of a source's primary (a number, or a string of digits as Zalando's and CloudNativePG's
    are) as fromCluster.port at ``to``."""
    value = source.take(path)
    if value is None:
        return
    text = str(value)
    if isinstance(value, bool) or not text.isdigit():
        source.left_out(path, f"{text!r} is not a port number: fromCluster.port stays 5432")
        return
    out.set(to, int(text), source.at(path))


# The notes of a standby or a copy of another cluster (fromCluster): pgrender reaches the source as
# its replication role, with a client certificate of the source's CA, both derived from the root key.
SOURCE_RENDERED = "the source must be rendered by pgrender with the same root key"


def copy_note(cluster: str) -> str:
    """The note of a copy (bootstrap.fromCluster) of a cluster named by the input."""
    return (
        f"a copy of cluster {cluster}'s primary (spec.bootstrap.fromCluster), taken with pg_basebackup; "
        "pgrender takes it as its replication role, with a certificate of the source's CA derived from the "
        f"root key: {SOURCE_RENDERED} (as cluster {cluster})"
    )


def unnamed_source(operator: str, host: str, name: str, field: str) -> str:
    """The note of a source reached at ``host``, outside this Kubernetes cluster, that the operator does
    not name: pgrender's spec names it ``name`` (``field``), for which it derives the CA and passwords."""
    return (
        f"{host} names no primary Service of this Kubernetes cluster: pgrender reaches it as {field}.host; "
        f"{operator} names no cluster there, and pgrender derives the source's CA and passwords for the "
        f"cluster {field}.cluster names: the spec says {name}, in this cluster's namespace; set cluster and "
        f"namespace to the source's own ({SOURCE_RENDERED})"
    )
