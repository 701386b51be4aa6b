"""patroni: patroni.yaml with Kubernetes ConfigMap DCS, TLS-only pg_hba and parameters in the right place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from pgrender.components.patroni import patroni
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


def config(plan: ClusterPlan) -> dict[str, Any]:
    config_map = patroni(plan)[0]
    loaded: dict[str, Any] = yaml.safe_load(config_map["data"]["patroni.yaml"])
    return loaded


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
    hba = config(plan_of(spec))["postgresql"]["pg_hba"]
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


def test_parameters_local_and_dcs(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["patroni"] = {
        "synchronousMode": True,
        "parameters": {"max_connections": 300, "work_mem": "8MB", "log_connections": True, "jit": "on"},
    }
    cfg = config(plan_of(spec))
    local = cfg["postgresql"]["parameters"]
    dcs = cfg["bootstrap"]["dcs"]
    assert local["work_mem"] == "8MB" and local["log_connections"] == "on" and local["jit"] == "on"
    assert local["ssl"] == "on" and local["ssl_cert_file"] == "/pgconf/tls/tls.crt"
    assert "max_connections" not in local, "Patroni ignores it locally; it must be in the DCS section"
    assert dcs["postgresql"]["parameters"] == {"max_connections": "300", "wal_level": "logical"}
    assert dcs["synchronous_mode"] is True


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
