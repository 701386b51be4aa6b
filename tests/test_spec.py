"""spec: the models and the rules that span fields; the failing path is the contract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgrender.errors import SpecError
from pgrender.plans import validate
from tests.conftest import base_spec


def failing_paths(write_spec: Callable[..., Path], change: Callable[[dict[str, Any]], None]) -> list[str]:
    spec = base_spec()
    change(spec)
    with pytest.raises(SpecError) as info:
        validate((str(write_spec(spec)),))
    return sorted(p.path for p in info.value.problems)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[last] = value

    return change


CASES: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("unknown-field", _set("spec.instances.0.replica", 2), ["spec.instances[0].replica"]),
    ("missing-version", lambda s: s["spec"].pop("postgresVersion"), ["spec.postgresVersion"]),
    ("bad-version", _set("spec.postgresVersion", 13), ["spec.postgresVersion"]),
    ("bad-quantity", _set("spec.instances.0.dataVolume.size", "1GB"), ["spec.instances[0].dataVolume.size"]),
    ("tiny-volume", _set("spec.instances.0.dataVolume.size", "100Ki"), ["spec.instances[0].dataVolume.size"]),
    ("bad-cpu", _set("spec.instances.0.resources", {"requests": {"cpu": "lots"}}),
     ["spec.instances[0].resources.requests.cpu"]),
    ("no-instances", _set("spec.instances", []), ["spec.instances"]),
    ("uppercase-name", _set("metadata.name", "Hippo"), ["metadata.name"]),
    ("long-name", _set("metadata.name", "h" * 45), ["metadata.name", "spec.instances[0].name"]),
    ("long-set", _set("spec.instances.0.name", "s" * 45), ["spec.instances[0].name"]),
    ("duplicate-set", lambda s: s["spec"]["instances"].append(dict(s["spec"]["instances"][0])),
     ["spec.instances[1].name"]),
    ("wal-volume-in-one-set", lambda s: s["spec"]["instances"].append(
        {"name": "walled", "dataVolume": {"size": "1Gi"}, "walVolume": {"size": "1Gi"}}),
     ["spec.instances[1].walVolume"]),
    ("wal-volume-not-in-the-second-set", lambda s: s["spec"]["instances"].insert(
        0, {"name": "walled", "dataVolume": {"size": "1Gi"}, "walVolume": {"size": "1Gi"}}),
     ["spec.instances[1].name"]),
    ("unknown-owner", _set("spec.databases", [{"name": "zoo", "owner": "nobody"}]), ["spec.databases[0].owner"]),
    ("reserved-user", _set("spec.users", [{"name": "postgres"}]), ["spec.users[0].name"]),
    ("pg-prefix-user", _set("spec.users", [{"name": "pg_monitor"}]), ["spec.users[0].name"]),
    ("repl-user", _set("spec.users", [{"name": "_pgrender_repl"}]), ["spec.users[0].name"]),
    ("managed-parameter", _set("spec.patroni.parameters", {"wal_level": "minimal", "shared_buffers": "1GB"}),
     ["spec.patroni.parameters.wal_level"]),
    ("plaintext-hba", _set("spec.patroni.pgHBA", ["hostnossl all all all scram-sha-256"]), ["spec.patroni.pgHBA[0]"]),
    ("trust-hba", _set("spec.patroni.pgHBA", ["hostssl all all all trust"]), ["spec.patroni.pgHBA[0]"]),
    ("short-hba", _set("spec.patroni.pgHBA", ["hostssl all all"]), ["spec.patroni.pgHBA[0]"]),
    ("strict-without-sync", _set("spec.patroni.synchronousModeStrict", True), ["spec.patroni.synchronousModeStrict"]),
    ("ttl-too-short", _set("spec.patroni.leaderLeaseDurationSeconds", 10), ["spec.patroni"]),
    ("patroni-port", _set("spec.port", 8008), ["spec.port"]),
    ("reserved-label", _set("metadata.labels", {"app.kubernetes.io/name": "x"}),
     ["metadata.labels.app.kubernetes.io/name"]),
    ("bad-label-value", _set("metadata.labels", {"team": "a b"}), ["metadata.labels"]),
    ("bad-san", _set("spec.tls.extraSANs", ["ok.example.com", "bad_name!"]), ["spec.tls.extraSANs[1]"]),
    ("bad-ipv4-san", _set("spec.tls.extraSANs", ["10.0.0.5", "10.0.0.256", "010.0.0.5"]),
     ["spec.tls.extraSANs[1]", "spec.tls.extraSANs[2]"]),
    ("bad-ipv6-san", _set("spec.tls.extraSANs", ["2001:db8::1", "2001:db8::g", "fe80::1%eth0"]),
     ["spec.tls.extraSANs[1]", "spec.tls.extraSANs[2]"]),
    ("wrong-kind", _set("kind", "Cluster"), ["kind"]),
    ("expiry-after-9999", _set("spec.tls", {"notBefore": "9999-01-01T00:00:00Z", "validityDays": 365}), ["spec.tls"]),
    # Reserved names: refused by PostgreSQL, or a trap where it takes them quoted.
    *((f"reserved-role-{n}", _set("spec.users", [{"name": n}]), ["spec.users[0].name"])
      for n in ("public", "none", "current_user", "session_user", "current_role")),
    ("postgres-database", _set("spec.users", [{"name": "app", "databases": ["postgres"]}]),
     ["spec.users[0].databases[0]"]),
    ("postgres-database-owned", _set("spec.databases", [{"name": "postgres", "owner": "hippo"}]),
     ["spec.databases[0].name"]),
    # What the API server would refuse, refused when the spec is validated.
    ("cidr", _set("spec.service", {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8", "10.0.0.0/33",
     "example.com", "10.1.2.3"]}), [f"spec.service.loadBalancerSourceRanges[{i}]" for i in (1, 2, 3)]),
    ("run-as-user-range", _set("spec.imageContract", {"runAsUser": 2**31}), ["spec.imageContract.runAsUser"]),
    ("pgbouncer-run-as-group", _set("spec.proxy", {"pgBouncer": {"runAsGroup": 2**32}}),
     ["spec.proxy.pgBouncer.runAsGroup"]),
    ("blank-storage-class", _set("spec.instances.0.dataVolume.storageClassName", ""),
     ["spec.instances[0].dataVolume.storageClassName"]),
    ("bad-storage-class", _set("spec.instances.0.dataVolume.storageClassName", "Fast SSD"),
     ["spec.instances[0].dataVolume.storageClassName"]),
    ("request-above-limit", _set("spec.instances.0.resources", {"requests": {"memory": "2Gi"},
     "limits": {"memory": "1Gi"}}), ["spec.instances[0].resources"]),
    ("non-ascii-digits", _set("spec.instances.0.dataVolume.size", "\u0661Gi"), ["spec.instances[0].dataVolume.size"]),
    ("cluster-domain", _set("spec.clusterDomain", "clüster.local"), ["spec.clusterDomain"]),
    ("cluster-domain-blank", _set("spec.clusterDomain", "a..b"), ["spec.clusterDomain"]),
    ("pgbouncer-global-typed", _set("spec.proxy", {"pgBouncer": {"config": {"global": {"default_pool_size": 5}}}}),
     ["spec.proxy.pgBouncer.config.global"]),
    ("pgbouncer-pool-above-clients", _set("spec.proxy", {"pgBouncer": {"maxClientConnections": 10,
     "defaultPoolSize": 20}}), ["spec.proxy.pgBouncer"]),
    ("big-annotations", _set("metadata.annotations", {"a": "x" * (256 * 1024)}), ["metadata.annotations"]),
    # Size limits (spec/limits.py), each before anything is made for them.
    ("instance-sets", _set("spec.instances", [{"name": f"s{i}", "dataVolume": {"size": "1Gi"}} for i in range(17)]),
     ["spec.instances"]),
    ("instances", _set("spec.instances", [{"name": f"s{i}", "replicas": 9, "dataVolume": {"size": "1Gi"}}
     for i in range(8)]), ["spec.instances"]),
    ("users", _set("spec.users", [{"name": f"u{i}"} for i in range(1001)]), ["spec.users"]),
    ("databases-per-user", _set("spec.users", [{"name": "a", "databases": [f"d{i}" for i in range(101)]}]),
     ["spec.users[0].databases"]),
    ("grants", _set("spec.users", [{"name": f"u{i}", "databases": [f"d{j}" for j in range(100)]} for i in range(101)]),
     ["spec.users"]),
    ("extra-sans", _set("spec.tls.extraSANs", [f"h{i}.example.com" for i in range(101)]), ["spec.tls.extraSANs"]),
    ("hba-rules", _set("spec.patroni.pgHBA", ["hostssl all all 10.0.0.0/8 scram-sha-256"] * 501),
     ["spec.patroni.pgHBA"]),
    ("parameters", _set("spec.patroni.parameters", {f"x.p{i}": "1" for i in range(501)}), ["spec.patroni.parameters"]),
]  # fmt: skip


def test_certificates_may_expire_in_9999(write_spec: Callable[..., Path]) -> None:
    spec = base_spec()
    spec["spec"]["tls"] = {"notBefore": "9998-12-01T00:00:00Z", "validityDays": 365, "caValidityDays": 365}
    (plan,) = validate((str(write_spec(spec)),))
    assert plan.tls.not_before.year == 9998


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_failing_paths(
    write_spec: Callable[..., Path], change: Callable[[dict[str, Any]], None], expected: list[str]
) -> None:
    assert failing_paths(write_spec, change) == expected


def test_every_problem_is_reported_at_once(write_spec: Callable[..., Path]) -> None:
    def change(spec: dict[str, Any]) -> None:
        spec["spec"]["postgresVersion"] = 9
        spec["spec"]["instances"][0]["replicas"] = 0
        spec["spec"]["colour"] = "blue"

    assert failing_paths(write_spec, change) == [
        "spec.colour",
        "spec.instances[0].replicas",
        "spec.postgresVersion",
    ]


def test_problems_carry_file_line_and_column(write_spec: Callable[..., Path]) -> None:
    path = write_spec(
        "apiVersion: pgrender.io/v1alpha1\nkind: PostgresCluster\nmetadata: {name: a, namespace: b}\n"
        "spec:\n  postgresVersion: 16\n  instances:\n  - name: x\n    dataVolume: {size: lots}\n"
    )
    with pytest.raises(SpecError) as info:
        validate((str(path),))
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column) == (str(path), 8, 18)
    assert problem.path == "spec.instances[0].dataVolume.size"


def test_same_cluster_twice_is_an_error(write_spec: Callable[..., Path]) -> None:
    spec = base_spec()
    first, second = write_spec(spec), write_spec(spec)
    with pytest.raises(SpecError) as info:
        validate((str(first), str(second)))
    (problem,) = info.value.problems
    assert (problem.file, problem.path) == (str(second), "metadata.name")
    # Both positions: the problem's own (the second file) and the first definition's.
    assert problem.message.endswith(f"is defined twice: here and at {first}:{problem.line}:{problem.column}")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("spec.instances.0.replicas", 0), "expected a number of at least 1; found 0"),
        (_set("spec.instances.0.replicas", 100), "expected a number of at most 99; found 100"),
        (_set("spec.port", 80), "expected a number of at least 1024; found 80"),
        (_set("spec.instances", []), "expected at least 1 item(s); found 0"),
        (
            _set("kind", "PostgresClusters"),
            "expected one of 'PostgresCluster'; found 'PostgresClusters'; did you mean 'PostgresCluster'?",
        ),
        (
            _set("spec.naming", "Zalando"),
            "expected one of 'pgo', 'zalando', 'cnpg' or 'pgd'; found 'Zalando'; did you mean 'zalando'?",
        ),
        (
            _set("spec.proxy.pgBouncer.poolMode", "transacton"),
            "expected one of 'session', 'transaction' or 'statement'; found 'transacton'; did you mean 'transaction'?",
        ),
        (_set("spec.postgresVersoin", 16), "unknown field 'postgresVersoin'; did you mean 'postgresVersion'?"),
        (
            _set("spec.instances.0.dataVolume.storageclassname", "x"),
            "unknown field 'storageclassname'; did you mean 'storageClassName'?",
        ),
        (
            _set("spec.instances.0.dataVolume.colour", "x"),
            "unknown field 'colour'; expected one of size, storageClassName",
        ),
        (_set("spec.colour", "x"), "unknown field 'colour' (check the spelling; see schemas/ for the allowed fields)"),
    ],
    ids=[
        "at-least",
        "at-most",
        "port",
        "too-few",
        "kind",
        "enum-case",
        "enum-spelling",
        "field-spelling",
        "field-case",
        "field-list",
        "field-too-many-to-list",
    ],
)
def test_messages_say_what_was_expected_and_found(
    write_spec: Callable[..., Path], change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    spec = base_spec()
    change(spec)
    with pytest.raises(SpecError) as info:
        validate((str(write_spec(spec)),))
    assert [p.message for p in info.value.problems if p.path != "spec.postgresVersion"] == [expected]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set("metadata", None), "expected a mapping; found nothing (null)"),
        (_set("spec.instances", "instance1"), "expected a list; found 'instance1'"),
        (
            _set("metadata.name", 123),
            "expected a string; found the number 123 (YAML reads it as a number: put it in quotes)",
        ),
        (_set("spec.instances.0.replicas", "two"), "expected a whole number; found 'two'"),
        (_set("spec.replicaService.enabled", "perhaps"), "expected true or false; found 'perhaps'"),
        (_set("spec.tls.notBefore", "soon"), "expected a timestamp such as 2026-01-01T00:00:00Z; found 'soon'"),
        (_set("spec.postgresVersion", 10**22), f"expected a whole number of at most 19 digits; found {10**22}"),
    ],
    ids=["mapping", "list", "string", "integer", "boolean", "timestamp", "integer-too-large"],
)
def test_type_errors_speak_yaml(
    write_spec: Callable[..., Path], change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    spec = base_spec()
    change(spec)
    with pytest.raises(SpecError) as info:
        validate((str(write_spec(spec)),))
    assert [p.message for p in info.value.problems] == [expected]
