"""The Grafana dashboard (spec.monitoring.grafanaDashboard): where the sidecar finds it, and every
query held to Prometheus' own tool (promtool, Debian package prometheus): each parses, and the main
ones evaluate, on series of this cluster and of another, to what the panel says
(``promql_expr_test``). That the exporter returns the metrics they read is checked on a running
cluster (tests/runtime/test_monitoring.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender.errors import SpecError
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec, find
from tests.test_alerts import CERT_MANAGER, EXISTING_TLS, monitored, promtool

Objects = Callable[[dict[str, Any]], list[dict[str, Any]]]
LEADER, REPLICA = "hippo-instance1-0-0", "hippo-instance1-1-0"


def with_dashboard(spec: dict[str, Any], dashboard: dict[str, Any] | None = None) -> dict[str, Any]:
    spec["spec"].setdefault("monitoring", {})["grafanaDashboard"] = dashboard or {}
    return spec


def dashboard_of(objects: list[dict[str, Any]], cluster: str = "hippo") -> dict[str, Any]:
    config_map = find(objects, "ConfigMap", f"{cluster}-dashboard")
    (text,) = config_map["data"].values()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def queries(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}


def test_no_dashboard_unless_asked(objects_of: Objects) -> None:
    spec = base_spec()
    spec["spec"]["monitoring"] = {}
    assert not [o for o in objects_of(spec) if o["metadata"]["name"] == "hippo-dashboard"]


def test_the_sidecar_finds_it(objects_of: Objects) -> None:
    objects = objects_of(with_dashboard(base_spec(), {"annotations": {"grafana_folder": "Databases"}}))
    meta = find(objects, "ConfigMap", "hippo-dashboard")["metadata"]
    assert meta["labels"]["grafana_dashboard"] == "1"
    assert meta["annotations"]["grafana_folder"] == "Databases"
    # "${datasource}" is Grafana's variable: Flux must not substitute it (transforms.flux_protection).
    assert meta["annotations"]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled"
    board = dashboard_of(objects)
    assert (board["title"], board["templating"]["list"][0]["type"]) == ("PostgreSQL db/hippo", "datasource")
    custom = with_dashboard(base_spec(), {"labels": {"dashboards": "postgres"}})
    assert find(objects_of(custom), "ConfigMap", "hippo-dashboard")["metadata"]["labels"]["dashboards"] == "postgres"


def test_its_file_is_the_clusters_own(objects_of: Objects) -> None:
    """The sidecar writes each data key to a file of that name in one folder, for every namespace it
    watches (searchNamespace: ALL; the grafana chart leaves enableUniqueFilenames off): two clusters
    of one name in two namespaces must not write one file, each overwriting (and, deleted, removing)
    the other's dashboard."""
    keys = set()
    for namespace in ("db", "db2"):
        spec = with_dashboard(base_spec())
        spec["metadata"]["namespace"] = namespace
        (key,) = find(objects_of(spec), "ConfigMap", "hippo-dashboard")["data"]
        keys.add(key)
    assert keys == {"db_hippo.json", "db2_hippo.json"}


def test_its_uid_is_the_clusters_own(objects_of: Objects) -> None:
    """Grafana keeps a dashboard by uid: the same every render, another for another cluster."""
    first = dashboard_of(objects_of(with_dashboard(base_spec())))["uid"]
    assert first == dashboard_of(objects_of(with_dashboard(base_spec())))["uid"]
    other = with_dashboard(base_spec())
    other["metadata"]["namespace"] = "db2"
    assert dashboard_of(objects_of(other))["uid"] != first
    assert len(first) <= 40  # Grafana's limit


def test_a_label_pgrender_sets_is_refused(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    with pytest.raises(SpecError) as info:
        plan_of(with_dashboard(base_spec(), {"labels": {"pgrender.io/cluster": "x"}}))
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("spec.monitoring.grafanaDashboard.labels.pgrender.io/cluster", 16)


@pytest.mark.parametrize(
    ("spec", "panels"),
    [
        (monitored("hippo"), 9),  # + certificates (derived)
        (monitored("backups"), 11),  # + archiving, backups' age
        (with_dashboard(base_spec()), 9),
        ({**base_spec(), "spec": {**base_spec()["spec"], "monitoring": {}, "tls": EXISTING_TLS}}, 8),
        ({**base_spec(), "spec": {**base_spec()["spec"], "monitoring": {}, "tls": CERT_MANAGER}}, 9),
    ],
    ids=["hippo", "backups", "base", "tls-existing", "tls-cert-manager"],
)
def test_promtool_parses_every_query(objects_of: Objects, tmp_path: Path, spec: dict[str, Any], panels: int) -> None:
    board = dashboard_of(objects_of(with_dashboard(spec)))
    exprs = [e for found in queries(board).values() for e in found]
    assert len(board["panels"]) == panels
    rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"panel_{i}", "expr": e} for i, e in enumerate(exprs)]}]
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    return {
        "series": f"{metric}{{{', '.join(f'{k}={v!r}' for k, v in labels.items())}}}".replace("'", '"'),
        "values": values,
    }


HERE = {"namespace": "postgres-dr"}
ELSEWHERE = {"namespace": "other", "pod": LEADER}  # another cluster's pod of the same name
# (panel, its query's index, input series, expected samples at 10m: labels -> value)
CASES = [
    (
        "Members answering",
        0,
        [
            series("pg_up", "1x20", **HERE, pod=LEADER),
            series("pg_up", "0x20", **HERE, pod=REPLICA),
            series("pg_up", "1x20", **ELSEWHERE),
        ],
        [({}, 1)],
    ),
    ("Members answering", 0, [series("pg_up", "1x20", **ELSEWHERE)], [({}, 0)]),
    (
        "Database size",
        0,
        [
            series("pg_database_size_bytes", "100x20", **HERE, pod=LEADER, datname="app"),
            series("pg_database_size_bytes", "90x20", **HERE, pod=REPLICA, datname="app"),
            series("pgrender_member_is_primary", "1x20", **HERE, pod=LEADER),
            series("pgrender_member_is_primary", "0x20", **HERE, pod=REPLICA),
        ],
        [({"__name__": "pg_database_size_bytes", **HERE, "pod": LEADER, "datname": "app"}, 100)],  # the primary's
    ),
    (
        "Transactions per second",
        0,
        [series("pg_stat_database_xact_commit", "0+60x20", **HERE, pod=LEADER, datname=d) for d in ("a", "b")],
        [({"pod": LEADER}, 2)],
    ),
    (
        "Volumes used",
        0,
        [
            series(
                "kubelet_volume_stats_available_bytes",
                "25x20",
                **HERE,
                persistentvolumeclaim="hippo-instance1-0-pgdata",
            ),
            series(
                "kubelet_volume_stats_capacity_bytes",
                "100x20",
                **HERE,
                persistentvolumeclaim="hippo-instance1-0-pgdata",
            ),
            series("kubelet_volume_stats_available_bytes", "1x20", **HERE, persistentvolumeclaim="other-pgdata"),
            series("kubelet_volume_stats_capacity_bytes", "100x20", **HERE, persistentvolumeclaim="other-pgdata"),
        ],
        [({**HERE, "persistentvolumeclaim": "hippo-instance1-0-pgdata"}, 75)],
    ),
]


@pytest.mark.parametrize(
    ("panel", "index", "input_series", "expected"), [c for c in CASES], ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_promtool_evaluates_the_panel_on_its_series(
    objects_of: Objects,
    tmp_path: Path,
    panel: str,
    index: int,
    input_series: list[dict[str, str]],
    expected: list[tuple[dict[str, str], float]],
) -> None:
    expr = queries(dashboard_of(objects_of(monitored_with_dashboard("backups"))))[panel][index]
    evaluate(tmp_path, expr, input_series, expected)


def test_a_standby_clusters_database_sizes(objects_of: Objects, tmp_path: Path) -> None:
    """A standby cluster has no primary (every member in recovery): its sizes are its members'."""
    board = dashboard_of(objects_of(monitored_with_dashboard("standby")), "hippo-standby")
    expr = queries(board)["Database size"][0]
    leader, replica = "hippo-standby-instance1-0-0", "hippo-standby-instance1-1-0"
    input_series = [
        series("pg_database_size_bytes", "100x20", **HERE, pod=leader, datname="app"),
        series("pg_database_size_bytes", "90x20", **HERE, pod=replica, datname="app"),
        series("pg_database_size_bytes", "500x20", **ELSEWHERE, datname="app"),
        series("pgrender_member_is_primary", "0x20", **HERE, pod=leader),
        series("pgrender_member_is_primary", "0x20", **HERE, pod=replica),
    ]
    evaluate(tmp_path, expr, input_series, [({**HERE, "datname": "app"}, 100)])


def evaluate(
    tmp_path: Path, expr: str, input_series: list[dict[str, str]], expected: list[tuple[dict[str, str], float]]
) -> None:
    """promtool's promql_expr_test of ``expr`` on ``input_series`` at 10m."""
    rules = tmp_path / "empty.yaml"
    rules.write_text(yaml.safe_dump({"groups": []}))
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "10m",
                        "exp_samples": [{"labels": _labels(labels), "value": value} for labels, value in expected],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def monitored_with_dashboard(example: str) -> dict[str, Any]:
    return with_dashboard(monitored(example))


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
