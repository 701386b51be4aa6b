"""patroni: patroni.yaml with Kubernetes ConfigMap DCS, and bootstrap.yaml whose dynamic configuration
holds TLS-only pg_hba and every parameter (what may change on a running cluster).

The checks of pg_hba rules and parameter values themselves are in test_pg_hba.py and
test_parameters.py; here, that resolve applies them where they belong.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.components.patroni import patroni
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from pgrender.plans import validate
from tests.conftest import base_spec


def config(plan: ClusterPlan) -> dict[str, Any]:
    """Patroni's configuration directory as Patroni reads it: each file, in name order, merged."""
    data = patroni(plan)[0]["data"]
    scripts = ["copy_guard.py", *(["liveness.py", "wal_volume.py"] if plan.wal_dir else [])]
    assert sorted(data) == sorted(["bootstrap.yaml", "patroni.yaml", *scripts])
    loaded: dict[str, Any] = {}
    for name in ("bootstrap.yaml", "patroni.yaml"):  # Patroni reads only the YAML files
        loaded |= yaml.safe_load(data[name])  # the two files share no top-level key
    return loaded


def dynamic(plan: ClusterPlan) -> dict[str, Any]:
    result: dict[str, Any] = config(plan)["bootstrap"]["dcs"]
    assert result == plan.patroni.dynamic_configuration
    return result


def test_bootstrap_is_its_own_file(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    data = patroni(plan_of(base_spec()))[0]["data"]
    assert list(yaml.safe_load(data["bootstrap.yaml"])) == ["bootstrap"]
    assert "bootstrap" not in yaml.safe_load(data["patroni.yaml"])


def test_kubernetes_dcs(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    plan = plan_of(base_spec())
    cfg = config(plan)
    assert cfg["scope"] == "hippo-ha"
    k8s = cfg["kubernetes"]
    assert k8s["use_endpoints"] is False
    assert k8s["namespace"] == "db"
    # The role label Patroni writes is the one the Services select on.
    assert plan.primary_service.selector.keys() - plan.pods_selector.keys() == {k8s["role_label"]}
    assert plan.primary_service.selector[k8s["role_label"]] == k8s["leader_label_value"]
    assert plan.replicas_service is not None
    assert plan.replicas_service.selector[k8s["role_label"]] == k8s["follower_label_value"]
    # No GitOps tracking label may leak into what Patroni copies onto its own objects.
    assert k8s["labels"] == {"pgrender.io/cluster": "hippo"}


def test_pg_hba_is_tls_only(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["patroni"] = {"pgHBA": ["hostssl app app 10.0.0.0/8 scram-sha-256"]}
    hba = dynamic(plan_of(spec))["postgresql"]["pg_hba"]
    assert hba == [
        "local all postgres peer",
        "hostssl replication _pgrender_repl all cert",
        "hostssl postgres _pgrender_repl all cert",
        "host all _pgrender_repl all reject",
        "hostssl all postgres all cert",
        "host all postgres all reject",
        "hostssl app app 10.0.0.0/8 scram-sha-256",
        "hostssl all all all scram-sha-256",
        "host all all all reject",
    ]


def test_parameters_are_all_dynamic(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    """Every parameter is in the dynamic configuration, none in patroni.yaml: a change reaches the
    members through Patroni (reload, or a restart the reconcile Job does), not through new pods."""
    spec = base_spec()
    spec["spec"]["patroni"] = {
        "synchronousMode": True,
        "parameters": {"max_connections": 300, "work_mem": "8MB", "log_connections": True, "jit": "on"},
    }
    plan = plan_of(spec)
    parameters = dynamic(plan)["postgresql"]["parameters"]
    assert parameters["work_mem"] == "8MB" and parameters["log_connections"] == "on" and parameters["jit"] == "on"
    assert parameters["ssl"] == "on" and parameters["max_connections"] == "300" and parameters["wal_level"] == "logical"
    assert dynamic(plan)["synchronous_mode"] is True
    node = yaml.safe_load(patroni(plan)[0]["data"]["patroni.yaml"])["postgresql"]
    assert "pg_hba" not in node
    # Only what names files in the pod is the pod's own (each pod's Patroni reads its patroni.yaml).
    assert node["parameters"] == {
        "ssl_ca_file": "/pgconf/tls/ca.crt",
        "ssl_cert_file": "/pgconf/tls/tls.crt",
        "ssl_key_file": "/pgconf/tls/tls.key",
        "unix_socket_directories": "/tmp",
    }
    assert not node["parameters"].keys() & parameters.keys()


def test_replication_uses_certificates(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    auth = config(plan_of(base_spec()))["postgresql"]["authentication"]
    assert auth["replication"]["username"] == "_pgrender_repl"
    assert auth["replication"]["sslcert"].startswith("/pgconf/tls/replication/")
    assert "password" not in auth["replication"] and "password" not in auth["superuser"]
    assert auth["rewind"] == auth["replication"]


def test_bootstrap_with_checksums_and_wal_dir(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    cfg = config(plan_of(spec))
    assert cfg["bootstrap"]["initdb"] == [
        "data-checksums",
        {"encoding": "UTF8"},
        {"waldir": "/pgwal/pg16_wal"},
    ]
    assert {"waldir": "/pgwal/pg16_wal"} in cfg["postgresql"]["basebackup"]


def test_restapi_secret(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    secret = patroni(plan_of(base_spec()))[1]
    assert secret["metadata"]["name"] == "hippo-patroni"
    assert sorted(secret["data"]) == ["password", "username"]


def _problems(write_spec: Callable[..., Path], patroni: dict[str, Any]) -> list[tuple[str, str]]:
    spec = base_spec()
    spec["spec"]["patroni"] = patroni
    with pytest.raises(SpecError) as info:
        validate((str(write_spec(spec)),))
    return [(p.path, p.message) for p in info.value.problems]


def test_pg_hba_bypasses_are_refused_where_they_stand(write_spec: Callable[..., Path]) -> None:
    rules = [
        "hostssl zoo rhino 10.0.0.0/8 scram-sha-256\nhost all all 0.0.0.0/0 trust",
        "hostssl all all 0.0.0.0 0.0.0.0 trust",
        'hostssl all all 10.0.0.0/8 "trust"',
    ]
    problems = _problems(write_spec, {"pgHBA": rules})
    assert [path for path, _ in problems] == [f"spec.patroni.pgHBA[{i}]" for i in range(3)]
    assert "control character U+000A" in problems[0][1]
    assert all("'trust'" in message for _, message in problems[1:])


def test_managed_parameters_whatever_their_case(write_spec: Callable[..., Path]) -> None:
    given = {
        "HBA_FILE": "/etc/passwd",
        "SSL": False,
        "Port": 5433,
        "primary_conninfo": "host=x password=y",  # a password in a ConfigMap
        "ssl_passphrase_command": "echo y",
    }
    problems = _problems(write_spec, {"parameters": given})
    assert problems == [
        (
            f"spec.patroni.parameters.{key}",
            f"{key!r} is managed by pgrender (TLS, ports, paths and replication depend on it)",
        )
        for key in given
    ]


def test_parameters_checked_against_the_catalogue(write_spec: Callable[..., Path]) -> None:
    problems = _problems(
        write_spec,
        {"parameters": {"max_connections": "lots", "work_mem": "8MB", "Work_Mem": "16MB", "wrk_mem": "1MB"}},
    )
    assert problems == [
        ("spec.patroni.parameters.max_connections", "expected a whole number between 1 and 262143; found 'lots'"),
        (
            "spec.patroni.parameters.Work_Mem",
            "'Work_Mem' and 'work_mem' name one parameter (names are case-insensitive)",
        ),
        ("spec.patroni.parameters.wrk_mem", "unknown parameter 'wrk_mem' for PostgreSQL 16; did you mean 'work_mem'?"),
    ]


def test_parameters_are_written_as_postgres_spells_them(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["patroni"] = {
        "parameters": {"MAX_CONNECTIONS": 300, "JIT": True, "datestyle": "ISO, DMY", "pg_stat_statements.track": "all"}
    }
    parameters = dynamic(plan_of(spec))["postgresql"]["parameters"]
    assert parameters["max_connections"] == "300" and "MAX_CONNECTIONS" not in parameters
    assert parameters["jit"] == "on" and "JIT" not in parameters  # the user's value replaces the default
    assert parameters["DateStyle"] == "ISO, DMY" and parameters["pg_stat_statements.track"] == "all"


def test_dynamic_configuration_passed_through(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["patroni"] = {
        "synchronousMode": True,
        "parameters": {"work_mem": "8MB"},
        "dynamicConfiguration": {
            "synchronous_node_count": 2,
            "maximum_lag_on_failover": 1048576,
            "failsafe_mode": True,
            "slots": {"debezium": {"type": "logical", "database": "app", "plugin": "pgoutput"}},
            "postgresql": {"use_slots": False, "parameters": {"max_connections": 300, "log_lock_waits": True}},
        },
    }
    dcs = dynamic(plan_of(spec))
    assert dcs["synchronous_node_count"] == 2 and dcs["maximum_lag_on_failover"] == 1048576
    assert dcs["failsafe_mode"] is True and dcs["slots"]["debezium"]["plugin"] == "pgoutput"
    assert dcs["synchronous_mode"] is True and dcs["ttl"] == 30  # pgrender's own settings stay
    assert dcs["postgresql"]["use_slots"] is False and dcs["postgresql"]["use_pg_rewind"] is True
    parameters = dcs["postgresql"]["parameters"]
    assert (parameters["max_connections"], parameters["log_lock_waits"], parameters["work_mem"]) == ("300", "on", "8MB")
    assert parameters["ssl"] == "on" and dcs["postgresql"]["pg_hba"][0].startswith("local all postgres")


DYNAMIC = "spec.patroni.dynamicConfiguration"


@pytest.mark.parametrize(
    ("given", "path", "says"),
    [
        ({"ttl": 20}, "ttl", "managed by pgrender: set spec.patroni.leaderLeaseDurationSeconds"),
        ({"loop_wait": 5}, "loop_wait", "managed by pgrender: set spec.patroni.syncPeriodSeconds"),
        ({"retry_timeout": 5}, "retry_timeout", "pgrender derives it from both"),
        ({"synchronous_mode": True}, "synchronous_mode", "managed by pgrender: set spec.patroni.synchronousMode"),
        ({"synchronous_mode_strict": True}, "synchronous_mode_strict", "set spec.patroni.synchronousModeStrict"),
        ({"standby_cluster": {"host": "x"}}, "standby_cluster", "managed by pgrender: set spec.standby"),
        ({"postgresql": {"pg_hba": ["host all all all trust"]}}, "postgresql.pg_hba", "set spec.patroni.pgHBA"),
        ({"postgresql": {"pg_ident": []}}, "postgresql.pg_ident", "set spec.tls.replicationCommonName"),
        ({"postgresql": {"recovery_conf": {}}}, "postgresql.recovery_conf", "set spec.standby or spec.bootstrap"),
        ({"postgresql": {"parameters": {"ssl": "off"}}}, "postgresql.parameters.ssl", "'ssl' is managed by pgrender"),
        (
            {"postgresql": {"parameters": {"max_connections": "lots"}}},
            "postgresql.parameters.max_connections",
            "expected a whole number between 1 and 262143; found 'lots'",
        ),
        (
            {"postgresql": {"parameters": {"Work_Mem": "1MB"}}},
            "postgresql.parameters.Work_Mem",
            "'Work_Mem' is set in spec.patroni.parameters too: set each parameter in one place",
        ),
        ({"postgresql": {"parameters": ["work_mem=1MB"]}}, "postgresql.parameters", "expected a mapping of parameters"),
        ({"postgresql": {"use_slots": "yes"}}, "postgresql.use_slots", "expected true or false"),
        ({"postgresql": True}, "postgresql", "expected a mapping (use_slots, parameters, ...)"),
        ({"maximum_lag_on_failover": True}, "maximum_lag_on_failover", "expected a whole number"),
        ({"maximum_lag_on_failover": -1}, "maximum_lag_on_failover", "expected a number of 0 or more"),
        ({"member_slots_ttl": []}, "member_slots_ttl", "expected a whole number or text"),
        ({"synchronous_node_count": 2}, "synchronous_node_count", "set spec.patroni.synchronousMode too"),
        ({"maximum_lag_on_failure": 1}, "maximum_lag_on_failure", "not a Patroni setting pgrender passes through"),
    ],
    ids=[
        "ttl", "loop_wait", "retry_timeout", "synchronous_mode", "synchronous_mode_strict", "standby_cluster",
        "pg_hba", "pg_ident", "recovery_conf", "managed-parameter", "bad-parameter-value", "parameter-in-both-places",
        "parameters-not-a-mapping", "use_slots-not-bool", "postgresql-not-a-mapping", "bool-for-number", "negative",
        "ttl-kind", "sync-count-without-sync", "typo",
    ],
)  # fmt: skip
def test_dynamic_configuration_refused(
    write_spec: Callable[..., Path], given: dict[str, Any], path: str, says: str
) -> None:
    ((where, message),) = _problems(write_spec, {"parameters": {"work_mem": "8MB"}, "dynamicConfiguration": given})
    assert where == f"{DYNAMIC}.{path}"
    assert says in message


@pytest.mark.parametrize(
    ("replicas", "given", "expected"),
    [
        (2, {}, {}),  # PostgreSQL's 10 of each are room enough
        (9, {}, {}),
        (10, {}, {"max_wal_senders": "11", "max_replication_slots": "11"}),  # one each, and one for a copy
        (30, {}, {"max_wal_senders": "31", "max_replication_slots": "31"}),
        (30, {"max_wal_senders": 64}, {"max_wal_senders": "64", "max_replication_slots": "31"}),
    ],
)
def test_replication_room_grows_with_the_members(
    plan_of: Callable[[dict[str, Any]], ClusterPlan], replicas: int, given: dict[str, Any], expected: dict[str, str]
) -> None:
    """Each replica streams through a WAL sender from a slot Patroni keeps for it on the leader:
    with PostgreSQL's defaults, the eleventh member and later could not stream."""
    spec = base_spec()
    spec["spec"]["instances"][0]["replicas"] = replicas
    spec["spec"]["patroni"] = {"parameters": given}
    parameters = dynamic(plan_of(spec))["postgresql"]["parameters"]
    found = {k: v for k, v in parameters.items() if k in ("max_wal_senders", "max_replication_slots")}
    assert found == expected


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ({"parameters": {"max_wal_senders": 4}}, "spec.patroni.parameters.max_wal_senders"),
        ({"parameters": {"Max_Replication_Slots": "3"}}, "spec.patroni.parameters.Max_Replication_Slots"),
        (
            {"dynamicConfiguration": {"postgresql": {"parameters": {"Max_Replication_Slots": 2}}}},
            "spec.patroni.dynamicConfiguration.postgresql.parameters.Max_Replication_Slots",
        ),
        (  # without Patroni's slots, only the senders count
            {
                "dynamicConfiguration": {"postgresql": {"use_slots": False}},
                "parameters": {"max_replication_slots": 0, "max_wal_senders": 1},
            },
            "spec.patroni.parameters.max_wal_senders",
        ),
    ],
)
def test_fewer_senders_or_slots_than_replicas_is_refused(
    write_spec: Callable[..., Path], given: dict[str, Any], path: str
) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["replicas"] = 6
    spec["spec"]["patroni"] = given
    with pytest.raises(SpecError) as caught:
        validate((str(write_spec(spec)),))
    (problem,) = caught.value.problems
    assert problem.path == path
    assert "is fewer than the 5 replicas of 6 members need (one each; 7 leaves room" in problem.message
