"""spec.monitoring as rendered, run: every member's exporter sidecar (Debian's postgres_exporter
0.11.1, localize 12.) scraped over HTTP, and the monitoring role the reconcile Job creates.

The cluster is examples/hippo.yaml (two members) with ``monitoring: {}``. What is checked:

* each member's /metrics has ``pg_up 1`` and pgrender's queries, with the values the member's
  state implies (the leader is the primary; it streams to the replica through a slot);
* every metric the rendered alerts and Grafana dashboard read from the exporter is among the scraped
  ones, for the rendering with backups too (which adds the archiving alert and panel);
* the monitoring role logs in to postgres over TLS as its pod's exporter does, and is refused
  without TLS, to another database, with a wrong password; it has pg_monitor and nothing more.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.plan import defaults

from .harness import (
    LOCAL_EXPORTER,
    LocalCluster,
    Member,
    client_psql,
    local_spec,
    render_spec,
    running_cluster,
    wait_until,
    write_secret,
)

pytestmark = pytest.mark.runtime

Sample = tuple[str, dict[str, str], float]
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_METRIC_IN_EXPR = re.compile(r"\b([a-z_:][a-z0-9_:]*)\{")


@pytest.fixture(scope="module")
def monitored(runtime_root: Path) -> Iterator[LocalCluster]:
    if not LOCAL_EXPORTER.exists():
        pytest.fail(f"{LOCAL_EXPORTER} is missing (Debian package prometheus-postgres-exporter)", pytrace=False)
    spec = local_spec("hippo")
    spec["spec"]["monitoring"] = {}
    rendered = render_spec(spec, runtime_root / "specs" / "monitored")
    with running_cluster(rendered, runtime_root / "monitored") as cluster:
        cluster.wait_healthy()
        job = cluster.run_job(runtime_root / "monitored-job")
        assert job.returncode == 0, job.stderr
        yield cluster


def scrape(cluster: LocalCluster, member: Member) -> list[Sample]:
    port = cluster.exporter_ports[member.name]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=20) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        found = None if line.startswith("#") else _SAMPLE.match(line)
        if found:
            samples.append((found[1], dict(_LABEL.findall(found[2] or "")), float(found[3])))
    return samples


def values(samples: list[Sample], name: str, **labels: str) -> list[float]:
    return [v for n, got, v in samples if n == name and all(got.get(k) == x for k, x in labels.items())]


def scraped_up(cluster: LocalCluster, member: Member) -> list[Sample]:
    """A scrape in which the exporter reached PostgreSQL as the monitoring role (the role exists
    once the reconcile Job ran; the exporter tries again at every scrape)."""

    def up() -> list[Sample] | None:
        samples = scrape(cluster, member)
        return samples if values(samples, "pg_up") == [1.0] else None

    return wait_until(f"{member.name}'s exporter to report pg_up 1", up, timeout=30, interval=1)


def test_every_member_exports_pg_up_and_pgrenders_queries(monitored: LocalCluster) -> None:
    leader = monitored.wait_healthy()
    replica = next(m for m in monitored.members if m is not leader)
    on_leader, on_replica = scraped_up(monitored, leader), scraped_up(monitored, replica)
    for samples in (on_leader, on_replica):
        assert values(samples, "pg_exporter_last_scrape_error") == [0.0]
        max_connections = values(samples, "pgrender_connections_max_connections")
        assert max_connections and max_connections[0] >= 10
        assert values(samples, "pgrender_connections_client_backends")[0] >= 1  # the exporter itself
        assert values(samples, "pgrender_archiver_failing") == [0.0]
        assert len(values(samples, "pgrender_archiver_archived_count")) == 1
    assert values(on_leader, "pgrender_member_is_primary") == [1.0]
    assert values(on_replica, "pgrender_member_is_primary") == [0.0]
    lag = values(on_leader, "pgrender_replication_lag_bytes", member=replica.name)
    assert len(lag) == 1 and 0 <= lag[0] < 16 * 1024 * 1024
    assert values(on_replica, "pgrender_replication_lag_bytes") == []
    # Patroni streams the replica through a physical slot named after it (use_slots).
    slot = replica.name.replace("-", "_")
    assert values(on_leader, "pgrender_slot_active", slot=slot, type="physical") == [1.0]
    assert values(on_leader, "pgrender_slot_retained_bytes", slot=slot)[0] >= 0


def exporter_metrics(rule: dict[str, Any]) -> set[str]:
    """Names of the metrics the exporter-sourced alerts of a rendered PrometheusRule read."""
    return {
        name
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        if r["annotations"]["source"] == "postgres_exporter"
        for name in _METRIC_IN_EXPR.findall(r["expr"])
    }


def dashboard_metrics(config_map: dict[str, Any]) -> set[str]:
    """Names of the metrics the exporter-sourced panels of a rendered dashboard read."""
    (text,) = config_map["data"].values()
    return {
        name
        for panel in json.loads(text)["panels"]
        if "Source: postgres_exporter" in panel["description"]
        for target in panel["targets"]
        for name in _METRIC_IN_EXPR.findall(target["expr"])
    }


@pytest.mark.parametrize("example", ["hippo", "backups"])
def test_the_alerts_and_the_dashboard_read_metrics_the_exporter_returns(
    monitored: LocalCluster, runtime_root: Path, example: str
) -> None:
    spec = local_spec(example)
    spec["spec"]["monitoring"] = {"grafanaDashboard": {}}
    rendered = render_spec(spec, runtime_root / "specs" / f"rules-{example}")
    (rule,) = rendered.all("PrometheusRule")
    wanted = exporter_metrics(rule)
    assert {"pg_up", "pgrender_member_is_primary", "pgrender_replication_lag_bytes"} <= wanted
    if example == "backups":
        assert "pgrender_archiver_failing" in wanted
    shown = dashboard_metrics(rendered.get("ConfigMap", f"{rendered.name}-dashboard"))
    assert {"pg_up", "pg_stat_database_xact_commit", "pg_database_size_bytes", "pgrender_slot_retained_bytes"} <= shown
    scraped = {name for m in monitored.members for name, _, _ in scraped_up(monitored, m)}
    assert wanted <= scraped, sorted(wanted - scraped)
    assert shown <= scraped, sorted(shown - scraped)


def monitor_login(cluster: LocalCluster, member: Member, tmp: Path, **changes: str) -> tuple[int, str]:
    """psql as the exporter connects: the member's pod name (verify-full), TLS, the role's password."""
    rendered = cluster.rendered
    secret = rendered.secret(f"{rendered.name}-monitoring")
    volumes = rendered.get("StatefulSet", member.statefulset)["spec"]["template"]["spec"]["volumes"]
    server_secret = next(v for v in volumes if v["name"] == "exporter")["projected"]["sources"][0]["secret"]["name"]
    ca = write_secret(rendered, server_secret, tmp / "server") / "ca.crt"
    host = f"{member.pod_dns_name}.{rendered.namespace}.svc.cluster.local"
    settings = {
        "host": host,
        "hostaddr": "127.0.0.1",
        "port": str(member.pg_port),
        "dbname": "postgres",
        "user": defaults.MONITORING_USER,
        "sslmode": "verify-full",
        "sslrootcert": str(ca),
        "password": secret["password"].decode(),
        **changes,
    }
    conninfo = " ".join(f"{k}='{v}'" for k, v in settings.items())
    query = (
        "SELECT pg_has_role(current_user, 'pg_monitor', 'MEMBER'), rolsuper, rolcreaterole, rolcreatedb,"
        " rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    result = client_psql(conninfo, query)
    return result.returncode, result.stdout.strip() or result.stderr


@pytest.mark.parametrize(
    ("changes", "admitted"),
    [
        ({}, True),
        ({"sslmode": "disable"}, False),
        ({"dbname": "template1"}, False),
        ({"password": "not-the-password"}, False),
    ],
    ids=["as-the-exporter", "without-tls", "other-database", "wrong-password"],
)
def test_the_monitoring_role_logs_in_only_as_its_exporter_does(
    monitored: LocalCluster, tmp_path: Path, changes: dict[str, str], admitted: bool
) -> None:
    leader = monitored.wait_healthy()
    code, output = monitor_login(monitored, leader, tmp_path, **changes)
    if admitted:
        assert (code, output) == (0, "t\tf\tf\tf\tf\tf"), output
    else:
        assert code != 0
        assert "pg_hba.conf rejects" in output or "password authentication failed" in output, output


def test_pg_hba_admits_the_role_only_from_its_own_pod(monitored: LocalCluster) -> None:
    """What PostgreSQL read: before any other rule that names the role, ``samehost`` (the pod's own
    addresses) for database postgres over TLS, then a refusal from anywhere else."""
    leader = monitored.wait_healthy()
    rows = leader.psql(
        "SELECT type, database, address, auth_method FROM pg_hba_file_rules"
        f" WHERE '{defaults.MONITORING_USER}' = ANY(user_name) ORDER BY line_number"
    )
    assert rows == [
        ["hostssl", "{postgres}", "samehost", "scram-sha-256"],
        ["host", "{all}", "all", "reject"],
    ]


def test_rendered_queries_file_is_what_the_exporter_runs(monitored: LocalCluster) -> None:
    rendered = monitored.rendered
    queries = yaml.safe_load(rendered.config_map(f"{rendered.name}-monitoring")["queries.yaml"])
    leader = monitored.wait_healthy()
    names = {name for name, _, _ in scraped_up(monitored, leader)}
    for query, spec in queries.items():
        columns = [column for metric in spec["metrics"] for column, m in metric.items() if m["usage"] != "LABEL"]
        assert any(f"{query}_{column}" in names for column in columns), query
