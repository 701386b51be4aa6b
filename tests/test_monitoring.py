"""spec.monitoring: off unless set; the exporter sidecar on every member, its role and Secret, the
queries ConfigMap, the PodMonitor and the PrometheusRule, each of the last two optional."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from pgrender.components.alerts import rules
from pgrender.components.reconcile import reconcile_sql
from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan, defaults
from pgrender.render import Request, render
from pgrender.secrets import Material, SecretInput
from pgrender.secrets.external import remote_name
from tests.conftest import GOLDEN_KEY, ROOT, base_spec, find

Objects = Callable[[dict[str, Any]], list[dict[str, Any]]]
Plan = Callable[[dict[str, Any]], ClusterPlan]


def monitored(**monitoring: Any) -> dict[str, Any]:
    spec = base_spec()
    spec["spec"]["monitoring"] = monitoring
    return spec


def kinds_named(objects: list[dict[str, Any]], name: str) -> set[str]:
    return {o["kind"] for o in objects if o["metadata"]["name"] == name}


def containers(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The containers of each member's StatefulSet."""
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"]
        for o in objects
        if o["kind"] == "StatefulSet"
    }


@pytest.mark.parametrize(
    ("monitoring", "kinds"),
    [
        (None, set()),
        ({}, {"Secret", "ConfigMap", "PodMonitor", "PrometheusRule"}),
        ({"podMonitor": False}, {"Secret", "ConfigMap", "PrometheusRule"}),
        ({"prometheusRule": False}, {"Secret", "ConfigMap", "PodMonitor"}),
        ({"podMonitor": False, "prometheusRule": False}, {"Secret", "ConfigMap"}),
    ],
    ids=["off", "default", "no-podmonitor", "no-rule", "exporter-only"],
)
def test_objects(objects_of: Objects, monitoring: dict[str, Any] | None, kinds: set[str]) -> None:
    spec = base_spec() if monitoring is None else monitored(**monitoring)
    objects = objects_of(spec)
    assert kinds_named(objects, "hippo-monitoring") == kinds
    sidecars = {name: [c["name"] for c in cs] for name, cs in containers(objects).items()}
    expected = ["database", "exporter"] if monitoring is not None else ["database"]
    assert sidecars == {"hippo-instance1-0": expected, "hippo-instance1-1": expected}


def test_exporter_sidecar(objects_of: Objects) -> None:
    objects = objects_of(monitored())
    sts = find(objects, "StatefulSet", "hippo-instance1-1")
    pod = sts["spec"]["template"]["spec"]
    exporter = pod["containers"][1]
    assert exporter["image"] == defaults.EXPORTER_IMAGE
    assert exporter["command"] == ["/bin/postgres_exporter"]
    assert exporter["args"] == [
        "--web.listen-address=:9187",
        "--extend.query-path=/etc/postgres-exporter/queries.yaml",
    ]
    assert exporter["ports"] == [{"containerPort": 9187, "name": "metrics", "protocol": "TCP"}]
    assert exporter["resources"] == {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    assert exporter["securityContext"]["readOnlyRootFilesystem"] is True
    assert exporter["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e["value"] for e in exporter["env"]}
    assert env == {
        "DATA_SOURCE_URI": "hippo-instance1-1-0.hippo-pods.db.svc.cluster.local:5432/postgres"
        "?sslmode=verify-full&sslrootcert=/etc/postgres-exporter/ca.crt&application_name=exporter",
        "DATA_SOURCE_USER": "_pgrender_monitor",
        "DATA_SOURCE_PASS_FILE": "/etc/postgres-exporter/password",
    }
    # Its volume holds the CA, its password and the queries: not the server's key.
    (volume,) = [v for v in pod["volumes"] if v["name"] == "exporter"]
    files = [item["path"] for source in volume["projected"]["sources"] for s in source.values() for item in s["items"]]
    assert files == ["ca.crt", "password", "queries.yaml"]
    assert exporter["volumeMounts"] == [{"name": "exporter", "mountPath": "/etc/postgres-exporter", "readOnly": True}]
    # The database container mounts nothing of it.
    assert all(m["name"] != "exporter" for m in pod["containers"][0]["volumeMounts"])


@pytest.mark.parametrize(
    ("exporter", "image", "resources"),
    [
        ({"image": "example.org/exporter@sha256:" + "a" * 64}, "example.org/exporter@sha256:" + "a" * 64, None),
        (
            {"resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}}},
            defaults.EXPORTER_IMAGE,
            {"requests": {"cpu": "50m"}, "limits": {"memory": "64Mi"}},
        ),
    ],
    ids=["digest", "resources"],
)
def test_exporter_image_and_resources(
    plan_of: Plan, exporter: dict[str, Any], image: str, resources: dict[str, Any] | None
) -> None:
    plan = plan_of(monitored(exporter=exporter))
    assert plan.monitoring is not None
    assert plan.monitoring.image == image
    assert plan.monitoring.resources == (resources or defaults.EXPORTER_RESOURCES)


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ({"exporter": {"image": ""}}, "at least 1 character"),
        ({"alerts": {"connectionsPercent": 150}}, "at most 100"),
        ({"exporter": {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "128Mi"}}}}, "more than"),
        ({"podmonitor": False}, "unknown field 'podmonitor'"),
    ],
    ids=["empty-image", "percent", "request-over-limit", "misspelt"],
)
def test_refused(plan_of: Plan, monitoring: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        plan_of(monitored(**monitoring))
    assert message in str([p.message for p in raised.value.problems])


def test_pg_hba_admits_the_role_only_from_its_pod(plan_of: Plan) -> None:
    off, on = plan_of(base_spec()), plan_of(monitored())
    added = [rule for rule in on.patroni.pg_hba if rule not in off.patroni.pg_hba]
    assert added == [
        "hostssl postgres _pgrender_monitor samehost scram-sha-256",
        "host all _pgrender_monitor all reject",
    ]
    # Before the catch-all rule that would admit it from anywhere.
    assert on.patroni.pg_hba.index(added[1]) < on.patroni.pg_hba.index("hostssl all all all scram-sha-256")


def test_reconcile_creates_the_role_with_pg_monitor(plan_of: Plan, objects_of: Objects) -> None:
    sql = reconcile_sql(plan_of(monitored()))
    assert "-- role _pgrender_monitor" in sql
    assert "SELECT format('GRANT pg_monitor TO %I', '_pgrender_monitor')" in sql
    assert "pg_catalog.pg_has_role('_pgrender_monitor', 'pg_monitor', 'MEMBER')" in sql
    job = next(o for o in objects_of(monitored()) if o["kind"] == "Job" and "reconcile" in o["metadata"]["name"])
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PGRENDER_MONITORING_VERIFIER"]["valueFrom"] == {
        "secretKeyRef": {"name": "hippo-monitoring", "key": "verifier"}
    }


def test_secret_holds_the_password_and_its_verifier(objects_of: Objects) -> None:
    secret = find(objects_of(monitored()), "Secret", "hippo-monitoring")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["user"] == "_pgrender_monitor"
    assert len(data["password"]) >= 24
    assert data["verifier"].startswith("SCRAM-SHA-256$4096:")


@pytest.mark.parametrize(
    ("provider", "kind"),
    [("derived", "Secret"), ("sealed", "SealedSecret"), ("external", "ExternalSecret"), ("existing", None)],
)
def test_every_secrets_provider_carries_the_secret(
    write_spec: Callable[..., Any], provider: str, kind: str | None
) -> None:
    request = Request(
        (str(write_spec(monitored())),),
        key_file=str(GOLDEN_KEY),
        provider=provider,
        sealing_certificate=str(ROOT / "tests" / "fixtures" / "sealed_secrets" / "controller.crt"),
    )
    (cluster,) = render(request).clusters
    found = {o["kind"] for o in cluster.manifests if o["metadata"]["name"] == "hippo-monitoring"}
    assert found == {"ConfigMap", "PodMonitor", "PrometheusRule"} | ({kind} if kind else set())


def test_external_store_key_of_the_password() -> None:
    assert remote_name(SecretInput(Material.PASSWORD, "monitoring")) == ("_pgrender_monitor", "password")


def test_pod_monitor_selects_the_members_metrics_port(objects_of: Objects) -> None:
    monitor = find(objects_of(monitored()), "PodMonitor", "hippo-monitoring")
    assert monitor["spec"] == {
        "selector": {"matchLabels": {"pgrender.io/cluster": "hippo", "pgrender.io/patroni": "hippo-ha"}},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}],
    }


def test_queries_are_valid_yaml_with_pgrender_names(objects_of: Objects) -> None:
    config_map = find(objects_of(monitored()), "ConfigMap", "hippo-monitoring")
    queries = yaml.safe_load(config_map["data"]["queries.yaml"])
    assert sorted(queries) == [
        "pgrender_archiver",
        "pgrender_connections",
        "pgrender_member",
        "pgrender_replication",
        "pgrender_slot",
    ]


@pytest.mark.parametrize(
    ("changes", "alerts"),
    [
        ({}, {"PostgresNoPrimary", "PostgresCertificateExpiring"}),
        ({"standby": {"enabled": True, "fromCluster": {"cluster": "source"}}}, {"PostgresCertificateExpiring"}),
    ],
    ids=["primary-cluster", "standby-has-no-primary"],
)
def test_standby_cluster_expects_no_primary(plan_of: Plan, changes: dict[str, Any], alerts: set[str]) -> None:
    spec = monitored()
    spec["spec"].update(changes)
    plan = plan_of(spec)
    assert plan.monitoring is not None
    names = {r["alert"] for r in rules(plan, plan.monitoring)}
    assert names & {"PostgresNoPrimary", "PostgresCertificateExpiring"} == alerts
