"""statefulsets: one StatefulSet per instance, replicas 1, no claim templates, restricted pods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgrender.components.statefulsets import statefulsets
from pgrender.plan import ClusterPlan
from tests.conftest import base_spec


def test_one_statefulset_per_instance(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    sets = statefulsets(plan_of(base_spec()))
    assert [s["metadata"]["name"] for s in sets] == ["hippo-instance1-0", "hippo-instance1-1"]
    for wave, sts in enumerate(sets, start=1):
        spec = sts["spec"]
        assert spec["replicas"] == 1
        assert "volumeClaimTemplates" not in spec
        assert spec["serviceName"] == "hippo-pods"
        assert sts["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == str(wave)
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        assert labels["pgrender.io/patroni"] == "hippo-ha"


def test_pod_is_restricted(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    pod = statefulsets(plan_of(base_spec()))[0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["fsGroup"] == 103
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["seccompProfile"] == {"type": "RuntimeDefault"}


def test_env_and_probes(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    pod = statefulsets(plan_of(base_spec()))[0]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PATRONI_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["PATRONI_POSTGRESQL_CONNECT_ADDRESS"]["value"] == "$(PATRONI_NAME).hippo-pods:5432"
    assert env["PATRONI_POSTGRESQL_DATA_DIR"]["value"] == "/pgdata/pg16"
    assert env["PATRONI_RESTAPI_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "hippo-patroni"
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/readiness",
        "port": "patroni",
        "scheme": "HTTPS",
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/liveness"


def test_tls_volume_modes(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    pod = statefulsets(plan_of(base_spec()))[0]["spec"]["template"]["spec"]
    (tls,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert tls["projected"]["defaultMode"] == 0o640
    names = [s["secret"]["name"] for s in tls["projected"]["sources"]]
    assert names == ["hippo-cluster-cert", "hippo-replication-cert"]


def test_wal_volume_is_mounted(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["walVolume"] = {"size": "2Gi"}
    pod = statefulsets(plan_of(spec))[0]["spec"]["template"]["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == ["hippo-instance1-0-pgdata", "hippo-instance1-0-pgwal"]
    assert {"name": "pgwal", "mountPath": "/pgwal"} in pod["containers"][0]["volumeMounts"]


def test_image_contract(plan_of: Callable[[dict[str, Any]], ClusterPlan]) -> None:
    spec = base_spec()
    spec["spec"]["image"] = "example.org/postgres:16"
    spec["spec"]["imageContract"] = {"binDir": "/usr/pgsql-{version}/bin", "patroni": "/usr/local/bin/patroni",
                                     "runAsUser": 26, "runAsGroup": 26, "fsGroup": 26}  # fmt: skip
    plan = plan_of(spec)
    pod = statefulsets(plan)[0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "example.org/postgres:16"
    assert pod["containers"][0]["command"][-2:] == ["/usr/local/bin/patroni", "/etc/patroni"]
    assert pod["securityContext"]["runAsUser"] == 26
    assert plan.bin_dir == "/usr/pgsql-16/bin"
