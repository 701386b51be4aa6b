"""changes: each change of rendered output gets one class (no-op, live, restart, job, manual, refused, risk)
and, when refused or risky, a stable id that acknowledges it; cluster-wide changes are found once; the
guards refuse what no acknowledgement makes possible. Small hand-written objects first, then the examples."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pgrender import changes as changes_module
from pgrender import emit, write
from pgrender.changes import (
    GUARDED_KINDS,
    PRIMARY_FIRST_WHEN_LOWERED,
    Changes,
    _another_kind,
    changes,
    format_path,
    guard,
    refuse,
)
from pgrender.components.reconcile import DATABASE_MARKER, ROLE_MARKER
from pgrender.errors import ChangeRefusedError
from pgrender.render import Request, render
from tests.conftest import EXAMPLES, GOLDEN_KEY, ROOT, base_spec, run_cli, traced_peak

NS = "db"
Obj = dict[str, Any]


def meta(name: str, cluster: str = "hippo", namespace: str = NS, **extra: Any) -> Obj:
    return {"name": name, "namespace": namespace, "labels": {"pgrender.io/cluster": cluster}, **extra}


def member(name: str = "hippo-a-0", version: int = 16, image: str = "postgres:16", cluster: str = "hippo") -> Obj:
    labels = {"pgrender.io/cluster": cluster, "app.kubernetes.io/component": "database"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"pgrender.io/instance": name}},
            "serviceName": f"{cluster}-pods",
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {"annotations": {"pgrender.io/config-digest": "1", "pgrender.io/template-digest": "a"}},
                "spec": {
                    "containers": [
                        {
                            "name": "database",
                            "image": image,
                            "env": [{"name": "PATRONI_POSTGRESQL_DATA_DIR", "value": f"/pgdata/pg{version}"}],
                        }
                    ],
                    "volumes": [{"name": "pgdata", "persistentVolumeClaim": {"claimName": f"{name}-pgdata"}}],
                },
            },
        },
    }


def claim(name: str = "hippo-a-0-pgdata", size: str = "1Gi", storage_class: str | None = None) -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    protection = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(name, annotations=protection),
        "spec": spec,
    }


def config_map(name: str, data: dict[str, str], cluster: str = "hippo", **annotations: str) -> Obj:
    extra = {"annotations": annotations} if annotations else {}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, cluster, **extra), "data": data}


def dynamic(**config: Any) -> Obj:
    document = {"ttl": 30, "postgresql": {"parameters": {"max_connections": "100"}}}
    for key, value in config.items():
        target = document["postgresql"] if key in ("parameters", "pg_hba", "use_slots") else document
        target[key] = value  # type: ignore[index]
    return config_map("hippo-reconcile", {"patroni-dynamic.json": json.dumps(document, indent=2, sort_keys=True)})


def sql(roles: tuple[str, ...] = ("alice",), databases: tuple[str, ...] = ("app",)) -> Obj:
    lines = [ROLE_MARKER.format(r) for r in roles] + [DATABASE_MARKER.format(d) for d in databases]
    return config_map("hippo-reconcile", {"reconcile.sql": "\n".join(["SET x;", *lines]) + "\n"})


def secret(name: str, **values: str) -> Obj:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name), "type": "Opaque", "data": data}


def job(name: str, image: str = "postgres:16") -> Obj:
    template = {"spec": {"containers": [{"name": "reconcile", "image": image}], "restartPolicy": "Never"}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name), "spec": {"template": template}}


def service(name: str = "hippo-primary", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name), "spec": {"ports": [{"port": 5432}], **spec}}


def lb(**spec: Any) -> Obj:
    return service(type="LoadBalancer", **spec)


def simple(kind: str, name: str, api: str = "v1", **fields: Any) -> Obj:
    return {"apiVersion": api, "kind": kind, "metadata": meta(name), **fields}


def deployment(image: str = "pgbouncer:1", selector: str = "a") -> Obj:
    return simple(
        "Deployment",
        "hippo-pgbouncer",
        "apps/v1",
        spec={
            "selector": {"matchLabels": {"x": selector}},
            "template": {"spec": {"containers": [{"name": "pgbouncer", "image": image}]}},
        },
    )


# How a pod may need a Secret (what the Secret "hippo-s" removed means for it).
REFERENCES: dict[str, Obj] = {
    "env": {"containers": [{"name": "c", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "hippo-s"}}}]}]},
    "env-from": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "hippo-s"}}]}]},
    "init-env": {"initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "hippo-s"}}]}]},
    "volume": {"volumes": [{"name": "v", "secret": {"secretName": "hippo-s"}}]},
    "projected": {"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "hippo-s"}}]}}]},
    "optional": {"volumes": [{"name": "v", "secret": {"secretName": "hippo-s", "optional": True}}]},
}


def workload(kind: str, reference: str) -> Obj:
    """A StatefulSet, Deployment, Job or CronJob "hippo-w" whose pods use hippo-s as REFERENCES says."""
    template = {"spec": REFERENCES[reference]}
    if kind == "CronJob":
        return simple(kind, "hippo-w", "batch/v1", spec={"jobTemplate": {"spec": {"template": template}}})
    return simple(kind, "hippo-w", "batch/v1" if kind == "Job" else "apps/v1", spec={"template": template})


def edited(obj: Obj, path: str, value: Any) -> Obj:
    """A copy of ``obj`` with the field at dotted ``path`` set (None: removed)."""
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def files(objects: list[Obj]) -> dict[str, str]:
    out = {f"{o['kind'].lower()}-{o['metadata']['name']}.yaml": yaml.safe_dump(o) for o in objects}
    out["kustomization.yaml"] = "resources:\n" + "".join(f"- {name}\n" for name in sorted(out))
    return out


def classify(old: list[Obj], new: list[Obj], acknowledge: tuple[str, ...] = ()) -> Changes:
    return changes(files(old), files(new), acknowledge)


def summary(result: Changes) -> list[tuple[str, str, str, str | None]]:
    """(class, name, path, id) of every finding but the kustomization's."""
    return [(f.change.value, f.name, f.path, f.id) for f in result.findings if f.kind != "Kustomization"]


M = member()
SQL_PATH = "data[reconcile.sql]"
DYNAMIC = "data[patroni-dynamic.json]"
IMAGE = "spec.template.spec.containers[database].image"
DATA_DIR = "spec.template.spec.containers[database].env[PATRONI_POSTGRESQL_DATA_DIR]"
Case = tuple[str, list[Obj], list[Obj], list[tuple[str, str, str, str | None]]]
RC = "hippo-reconcile"
SLOT = {"cdc": {"type": "logical", "database": "app", "plugin": "pgoutput"}}
WAL2JSON = {"cdc": {"type": "logical", "database": "app", "plugin": "wal2json"}}
PLUGIN = f"{DYNAMIC}.slots.cdc.plugin"
CDC, ANY = [{"name": "cdc", "type": "logical"}], [{"type": "logical"}]
IGNORE = f"{DYNAMIC}.ignore_slots"
USE = f"{DYNAMIC}.postgresql.use_slots"
LIVE_SLOTS, LIVE_IGNORE = ("live", RC, f"{DYNAMIC}.slots", None), ("live", RC, IGNORE, None)
DROP_CDC = "drop-slot:cdc"
UNTYPED = {"cdc": {"database": "app", "plugin": "pgoutput"}}
UNTYPED_ORDERS = {"cdc": {"database": "orders", "plugin": "pgoutput"}}
PHYSICAL = {"cdc": {"type": "physical"}}
CDC_SLOT = f"{DYNAMIC}.slots.cdc"
LIVE_CDC = ("live", RC, CDC_SLOT, None)
DROPPED_DATABASE = ("risk", RC, f"{CDC_SLOT}.database", DROP_CDC)
PRIMARY, LB_CLASS = "hippo-primary", "spec.loadBalancerClass"
LB_CLASS_REFUSED = ("refused", PRIMARY, LB_CLASS, f"immutable:service/hippo-primary:{LB_CLASS}")
LB_CLASS_LIVE = ("live", PRIMARY, LB_CLASS, None)
USED_BY = [
    ("StatefulSet", "env"),
    ("Deployment", "env-from"),
    ("Job", "init-env"),
    ("CronJob", "volume"),
    ("CronJob", "projected"),
]
SWITCHOVER_1 = "  patroni:\n    switchover: {run: 1, target: trio-main-1-0}\n"
USED_SECRET, UNUSED = ("risk", "hippo-s", "", "remove-secret:hippo-s"), ("live", "hippo-s", "", None)

CASES: list[Case] = [
    ("unchanged", [M, claim()], [M, claim()], []),
    # no-op
    (
        "bootstrap-yaml",
        [config_map("hippo-config", {"bootstrap.yaml": "a"})],
        [config_map("hippo-config", {"bootstrap.yaml": "b"})],
        [("no-op", "hippo-config", "data[bootstrap.yaml]", None)],
    ),
    (
        "patroni-yaml-points-at-the-restart",
        [config_map("hippo-config", {"patroni.yaml": "a"})],
        [config_map("hippo-config", {"patroni.yaml": "b"})],
        [("no-op", "hippo-config", "data[patroni.yaml]", None)],
    ),
    (
        "acknowledgements-annotation",
        [config_map("hippo-config", {})],
        [config_map("hippo-config", {}, **{"pgrender.io/acknowledged-changes": "remove-user:x"})],
        [
            ("no-op", "hippo-config", "metadata.annotations[pgrender.io/acknowledged-changes]", None),
            ("manual", "hippo", "spec.acknowledgedChanges", None),  # no change has remove-user:x
        ],
    ),
    (
        "job-replaced-by-its-new-content",
        [job("hippo-reconcile-0123456789")],
        [job("hippo-reconcile-abcdefabcd", "postgres:17")],
        [("no-op", "hippo-reconcile-0123456789", "", None), ("job", "hippo-reconcile-abcdefabcd", "", None)],
    ),
    # live
    ("dynamic-ttl", [dynamic()], [dynamic(ttl=40)], [("live", "hippo-reconcile", f"{DYNAMIC}.ttl", None)]),
    (
        "dynamic-synchronous-mode",
        [dynamic()],
        [dynamic(synchronous_mode=True)],
        [("live", "hippo-reconcile", f"{DYNAMIC}.synchronous_mode", None)],
    ),
    (
        "parameter-sighup",
        [dynamic()],
        [dynamic(parameters={"max_connections": "100", "work_mem": "8MB"})],
        [("live", "hippo-reconcile", f"{DYNAMIC}.postgresql.parameters.work_mem", None)],
    ),
    (
        "pg-hba-lines",
        [dynamic(pg_hba=["a"])],
        [dynamic(pg_hba=["a", "b"])],
        [("live", "hippo-reconcile", f"{DYNAMIC}.postgresql.pg_hba", None)],
    ),
    (
        "standby-promoted",
        [dynamic(standby_cluster={"host": "x"})],
        [dynamic()],
        [("live", "hippo-reconcile", f"{DYNAMIC}.standby_cluster", None)],
    ),
    (
        "labels",
        [service()],
        [edited(service(), "metadata.labels", {"pgrender.io/cluster": "hippo", "team": "a"})],
        [("live", "hippo-primary", "metadata.labels[team]", None)],
    ),
    (
        "service-type",
        [service()],
        [service(type="LoadBalancer")],
        [("live", "hippo-primary", "spec.type", None)],
    ),
    (
        "password-changed",
        [secret("hippo-pguser-alice", password="old")],
        [secret("hippo-pguser-alice", password="new")],
        [("live", "hippo-pguser-alice", "data[password]", None)],
    ),
    (
        "pgbouncer-template",
        [deployment()],
        [deployment("pgbouncer:2")],
        [("live", "hippo-pgbouncer", "spec.template.spec.containers[pgbouncer].image", None)],
    ),
    (
        "volume-grows",
        [claim()],
        [claim(size="2Gi")],
        [("live", "hippo-a-0-pgdata", "spec.resources.requests.storage", None)],
    ),
    (
        "update-strategy",
        [M],
        [edited(M, "spec.updateStrategy", {"type": "RollingUpdate"})],
        [("live", "hippo-a-0", "spec.updateStrategy.type", None)],
    ),
    (
        "rbac-pdb-cronjob",
        [
            simple("Role", "r", rules=[1]),
            simple("PodDisruptionBudget", "p", spec={"m": 1}),
            simple("CronJob", "c", spec={"s": "1"}),
        ],
        [
            simple("Role", "r", rules=[2]),
            simple("PodDisruptionBudget", "p", spec={"m": 2}),
            simple("CronJob", "c", spec={"s": "2"}),
        ],
        [("live", "r", "rules", None), ("live", "c", "spec.s", None), ("live", "p", "spec.m", None)],
    ),
    ("new-member", [M], [M, member("hippo-b-0")], [("live", "hippo-b-0", "", None)]),
    (
        "new-user",
        [sql()],
        [sql(("alice", "bob"))],
        [("no-op", "hippo-reconcile", SQL_PATH, None), ("live", "hippo-reconcile", SQL_PATH, None)],
    ),
    # restart
    (
        "parameter-postmaster",
        [dynamic()],
        [dynamic(parameters={"max_connections": "200"})],
        [("restart", "hippo-reconcile", f"{DYNAMIC}.postgresql.parameters.max_connections", None)],
    ),
    (
        "unknown-parameter",
        [dynamic()],
        [dynamic(parameters={"max_connections": "100", "pg_stat_statements.max": "1"})],
        [("restart", "hippo-reconcile", f"{DYNAMIC}.postgresql.parameters[pg_stat_statements.max]", None)],
    ),
    ("image", [M], [member(image="postgres:16.5")], [("restart", "hippo-a-0", IMAGE, None)]),
    (
        "mounted-configmap-digest",
        [M],
        [
            edited(
                M,
                "spec.template.metadata.annotations",
                {"pgrender.io/config-digest": "2", "pgrender.io/template-digest": "b"},
            )
        ],
        [("restart", "hippo-a-0", "spec.template.metadata.annotations[pgrender.io/config-digest]", None)],
    ),
    (
        "template-digest-alone",
        [M],
        [
            edited(
                M,
                "spec.template.metadata.annotations",
                {"pgrender.io/config-digest": "1", "pgrender.io/template-digest": "b"},
            )
        ],
        [("restart", "hippo-a-0", "spec.template.metadata.annotations[pgrender.io/template-digest]", None)],
    ),
    # job
    ("new-job", [M], [M, job("hippo-repo1-manual-1")], [("job", "hippo-repo1-manual-1", "", None)]),
    # manual + risk
    (
        "instance-set-removed",
        [M, claim(), member("hippo-b-0"), claim("hippo-b-0-pgdata")],
        [M, claim()],
        [("manual", "hippo-b-0-pgdata", "", None), ("risk", "hippo-b-0", "", "remove-instance:hippo-b-0")],
    ),
    # refused
    *(
        (
            f"statefulset-{field}",
            [M],
            [edited(M, f"spec.{field}", value)],
            [("refused", "hippo-a-0", f"spec.{path}", f"immutable:statefulset/hippo-a-0:spec.{path}")],
        )
        for field, value, path in (
            ("selector", {"matchLabels": {"pgrender.io/instance": "y"}}, "selector.matchLabels[pgrender.io/instance]"),
            ("serviceName", "other", "serviceName"),
            ("volumeClaimTemplates", [{"metadata": {"name": "x"}}], "volumeClaimTemplates"),
            ("podManagementPolicy", "Parallel", "podManagementPolicy"),
        )
    ),
    (
        "volume-shrinks",
        [claim(size="2Gi")],
        [claim(size="1Gi")],
        [("refused", "hippo-a-0-pgdata", "spec.resources.requests.storage", "shrink-volume:hippo-a-0-pgdata")],
    ),
    (
        "storage-class",
        [claim(storage_class="a")],
        [claim(storage_class="b")],
        [("refused", "hippo-a-0-pgdata", "spec.storageClassName", "storage-class:hippo-a-0-pgdata")],
    ),
    (
        "access-modes",
        [claim()],
        [edited(claim(), "spec.accessModes", ["ReadWriteMany"])],
        [
            (
                "refused",
                "hippo-a-0-pgdata",
                "spec.accessModes",
                "immutable:persistentvolumeclaim/hippo-a-0-pgdata:spec.accessModes",
            )
        ],
    ),
    (
        "job-template-same-name",
        [job("hippo-reconcile-0123456789")],
        [job("hippo-reconcile-0123456789", "postgres:17")],
        [
            (
                "refused",
                "hippo-reconcile-0123456789",
                "spec.template.spec.containers[reconcile].image",
                "immutable:job/hippo-reconcile-0123456789:spec.template.spec.containers[reconcile].image",
            )
        ],
    ),
    (
        "role-binding-role-ref",
        [simple("RoleBinding", "b", "rbac.authorization.k8s.io/v1", roleRef={"name": "a"})],
        [simple("RoleBinding", "b", "rbac.authorization.k8s.io/v1", roleRef={"name": "c"})],
        [("refused", "b", "roleRef.name", "immutable:rolebinding/b:roleRef.name")],
    ),
    (
        "service-cluster-ip",
        [service(clusterIP="10.0.0.1")],
        [service(clusterIP="10.0.0.2")],
        [("refused", "hippo-primary", "spec.clusterIP", "immutable:service/hippo-primary:spec.clusterIP")],
    ),
    # A LoadBalancer's class: refused while it stays a LoadBalancer; chosen as it becomes one.
    ("lb-class-changed", [lb(loadBalancerClass="a")], [lb(loadBalancerClass="b")], [LB_CLASS_REFUSED]),
    ("lb-class-set", [lb()], [lb(loadBalancerClass="b")], [LB_CLASS_REFUSED]),
    ("lb-class-removed", [lb(loadBalancerClass="a")], [lb()], [LB_CLASS_REFUSED]),
    (
        "lb-class-with-type",
        [service()],
        [lb(loadBalancerClass="b")],
        [LB_CLASS_LIVE, ("live", PRIMARY, "spec.type", None)],
    ),
    (
        "lb-class-type-gone",
        [lb(loadBalancerClass="a")],
        [service()],
        [LB_CLASS_LIVE, ("live", PRIMARY, "spec.type", None)],
    ),
    (
        "service-cluster-ip-first-set",
        [service()],
        [service(clusterIP="None")],
        [("live", "hippo-primary", "spec.clusterIP", None)],
    ),
    (
        "deployment-selector",
        [deployment()],
        [deployment(selector="b")],
        [
            (
                "refused",
                "hippo-pgbouncer",
                "spec.selector.matchLabels[x]",
                "immutable:deployment/hippo-pgbouncer:spec.selector.matchLabels[x]",
            )
        ],
    ),
    # risk
    (
        "claim-removed-while-its-pod-stays",
        [M, claim()],
        [
            edited(M, "spec.template.spec.volumes", []),
        ],
        [
            ("restart", "hippo-a-0", "spec.template.spec.volumes[pgdata]", None),
            ("risk", "hippo-a-0-pgdata", "", "remove-volume:hippo-a-0-pgdata"),
        ],
    ),
    (
        "major-version",
        [member(version=15, image="postgres:15")],
        [member(version=16, image="postgres:16")],
        [
            ("restart", "hippo-a-0", DATA_DIR + ".value", None),
            ("restart", "hippo-a-0", IMAGE, None),
            ("risk", "hippo-a-0", DATA_DIR, "major-version:15-16"),
        ],
    ),
    (
        "user-removed",
        [sql(("alice", "bob"))],
        [sql()],
        [("no-op", "hippo-reconcile", SQL_PATH, None), ("risk", "hippo-reconcile", SQL_PATH, "remove-user:bob")],
    ),
    (
        "database-removed",
        [sql()],
        [sql(databases=())],
        [("no-op", "hippo-reconcile", SQL_PATH, None), ("risk", "hippo-reconcile", SQL_PATH, "remove-database:app")],
    ),
    (
        "make-standby",
        [dynamic()],
        [dynamic(standby_cluster={"host": "x"})],
        [("risk", "hippo-reconcile", f"{DYNAMIC}.standby_cluster", "make-standby:hippo")],
    ),
    (
        "cluster-renamed",
        [M, claim(), sql(), service()],
        [member("zebra-a-0", cluster="zebra"), config_map("zebra-reconcile", {}, "zebra")],
        [("risk", "hippo", "", "rename-cluster:hippo")],
    ),
    # Replication slots Patroni drops (a consumer's position goes with them), and those it keeps.
    ("slot-added", [dynamic()], [dynamic(slots=SLOT)], [LIVE_SLOTS]),
    ("slot-removed", [dynamic(slots=SLOT)], [dynamic()], [("risk", RC, f"{DYNAMIC}.slots", DROP_CDC)]),
    ("slot-removed-ignored", [dynamic(slots=SLOT, ignore_slots=CDC)], [dynamic(ignore_slots=CDC)], [LIVE_SLOTS]),
    ("slot-plugin", [dynamic(slots=SLOT)], [dynamic(slots=WAL2JSON)], [("risk", RC, PLUGIN, DROP_CDC)]),
    ("unignored", [dynamic(ignore_slots=CDC)], [dynamic()], [("risk", RC, IGNORE, DROP_CDC)]),
    ("unignored-covered", [dynamic(ignore_slots=CDC + ANY)], [dynamic(ignore_slots=ANY)], [LIVE_IGNORE]),
    ("unignored-unnamed", [dynamic(ignore_slots=ANY)], [dynamic()], [("risk", RC, IGNORE, "drop-slots:hippo")]),
    ("unignored-now-kept", [dynamic(ignore_slots=CDC)], [dynamic(slots=SLOT)], [LIVE_IGNORE, LIVE_SLOTS]),
    ("use-slots-off", [dynamic(slots=SLOT)], [dynamic(slots=SLOT, use_slots=False)], [("risk", RC, USE, DROP_CDC)]),
    ("use-slots-off-members", [dynamic()], [dynamic(use_slots=False)], [("risk", RC, USE, "drop-slots:hippo")]),
    # Patroni's reading of a slot without a type: logical with a database and a plugin, else physical.
    ("slot-typed-as-read", [dynamic(slots=UNTYPED)], [dynamic(slots=SLOT)], [("live", RC, f"{CDC_SLOT}.type", None)]),
    ("slot-untyped-database", [dynamic(slots=UNTYPED)], [dynamic(slots=UNTYPED_ORDERS)], [DROPPED_DATABASE]),
    ("slot-empty-is-physical", [dynamic(slots={"cdc": None})], [dynamic(slots=PHYSICAL)], [LIVE_CDC]),
    # A Secret removed while a workload of the new output (unchanged, so not parsed) still uses it.
    *(
        (f"secret-used-{kind}-{ref}", [secret("hippo-s"), workload(kind, ref)], [workload(kind, ref)], [USED_SECRET])
        for kind, ref in USED_BY
    ),
    ("secret-optional", [secret("hippo-s"), workload("Job", "optional")], [workload("Job", "optional")], [UNUSED]),
    ("secret-unused", [secret("hippo-s"), M], [M], [UNUSED]),
    ("cluster-removed", [M, claim()], [], [("risk", "hippo", "", "remove-cluster:hippo")]),
    ("cluster-added", [], [M, claim()], [("live", "hippo", "", None)]),
]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classes(old: list[Obj], new: list[Obj], expected: list[tuple[str, str, str, str | None]]) -> None:
    assert summary(classify(old, new)) == expected


def test_kustomization_reordered_is_a_no_op() -> None:
    before = files([M, claim()])
    listed = sorted((n for n in before if n != "kustomization.yaml"), reverse=True)
    after = {**before, "kustomization.yaml": "resources:\n" + "".join(f"- {n}\n" for n in listed)}
    [finding] = changes(before, after).findings
    assert (finding.change.value, finding.message) == ("no-op", "only the order of its resources changed")


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (
            ("spec", "template", "spec", "containers", "[database]", "image"),
            "spec.template.spec.containers[database].image",
        ),
        (("metadata", "annotations", "pgrender.io/config-digest"), "metadata.annotations[pgrender.io/config-digest]"),
        (("data", "patroni.yaml"), "data[patroni.yaml]"),
        (("metadata", "labels", "team"), "metadata.labels[team]"),
        (("spec", "accessModes"), "spec.accessModes"),
    ],
)
def test_field_paths(path: tuple[str, ...], text: str) -> None:
    assert format_path(path) == text


SHRINK = ([claim(size="2Gi"), member(version=15)], [claim(size="1Gi"), member(version=15)])


def test_refused_and_risk_exit_1_unless_acknowledged() -> None:
    assert classify(*SHRINK).exit_code == 1
    result = classify(*SHRINK, acknowledge=("shrink-volume:hippo-a-0-pgdata",))
    assert [(f.id, f.acknowledged) for f in result.findings] == [("shrink-volume:hippo-a-0-pgdata", True)]
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("cluster", "acknowledged"),
    [("hippo", True), ("zebra", False)],  # the annotation acknowledges its own cluster's changes only
)
def test_acknowledged_by_the_new_renderings_annotation(cluster: str, acknowledged: bool) -> None:
    note = config_map(
        f"{cluster}-config", {}, cluster, **{"pgrender.io/acknowledged-changes": "a:b shrink-volume:hippo-a-0-pgdata"}
    )
    old, new = SHRINK
    result = classify([*old, note], [*new, note])
    assert [f.acknowledged for f in result.findings if f.id] == [acknowledged]
    assert result.exit_code == (0 if acknowledged else 1)
    stale = [f.message for f in result.findings if f.path == "spec.acknowledgedChanges"]
    assert stale == ([changes_module.STALE_ACKNOWLEDGEMENT.format(id="a:b")] if acknowledged else [])


def test_secret_values_never_appear_in_findings() -> None:
    old, new = (
        secret("s", password="hunter2-old"),
        secret("s", password="hunter2-new", uri="postgres://x:hunter2-new@h"),
    )
    text = repr(classify([old], [new]).findings)
    for value in ("hunter2", base64.b64encode(b"hunter2-new").decode()[:8]):
        assert value not in text


def tls_secret(name: str = "hippo-cluster-cert") -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": meta(name), "data": {}}


def user_secret(name: str, user: Any) -> Obj:
    labels = {"pgrender.io/cluster": "hippo", "pgrender.io/pguser": user}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS, "labels": labels}}


# Hand-edited output of any shape: each rule reads what it needs where it is a map or a list, and
# takes anything else as absent. The first four raised from `pgrender diff`, `check` and the guard
# before; the label values that are a list or a map are what a set of user Secrets cannot hold.
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([M, tls_secret()], [edited(M, "spec.template.spec.volumes", 7)]),
        ([M, tls_secret()], [edited(M, "spec.template.spec.volumes", [{"projected": {"sources": 7}}])]),
        ([M, tls_secret()], [edited(M, "spec.template.spec.volumes", [{"projected": []}])]),
        ([M, tls_secret()], [edited(M, "spec.template", [])]),
        ([M, claim()], [edited(M, "spec.template.spec.volumes", [{"persistentVolumeClaim": ["x"]}])]),
        ([member(version=15)], [edited(member(version=16), "spec.template.spec.containers", [7, {"env": 7}])]),
        ([claim(size="2Gi")], [edited(claim(size="1Gi"), "metadata.annotations", ["x"])]),
        ([claim()], []),  # a removed claim
        ([edited(claim(), "metadata.annotations", ["x"])], []),
        ([user_secret("a", ["app"]), user_secret("b", "x")], [user_secret("c", ["app"])]),
        ([user_secret("a", {"a": 1, 2: "b"})], [user_secret("c", {"a": 1, 2: "b"})]),
    ],
)
def test_a_hand_edited_object_of_any_shape_is_compared_without_an_error(old: list[Obj], new: list[Obj]) -> None:
    found = classify(old, new)
    try:
        guard(files(old), files(new))
    except ChangeRefusedError as exc:  # a shrink or a major version is still refused
        assert [f.id for f in found.findings if f.change.value == "refused" or (f.id or "").startswith("major")]
        assert "refusing" in str(exc)


def test_a_file_that_is_not_yaml_is_left_to_a_person_without_its_text() -> None:
    [finding] = changes({"secret-s.yaml": "password: [unclosed hunter2"}, {}).findings
    assert (finding.change.value, finding.name) == ("manual", "secret-s.yaml")
    assert "hunter2" not in repr(finding)


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        ([claim(size="2Gi")], [claim(size="1Gi")], "shrink-volume:hippo-a-0-pgdata"),
        ([claim(storage_class="a")], [claim(storage_class="b")], "storage-class:hippo-a-0-pgdata"),
        ([member(version=15)], [member(version=16)], "major-version:15-16"),
        ([claim()], [claim(size="2Gi")], None),
        ([M], [], None),  # risky, but acknowledgeable: not a guard's business
    ],
)
def test_guard(old: list[Obj], new: list[Obj], refused: str | None) -> None:
    if refused is None:
        guard(files(old), files(new))
        return
    with pytest.raises(ChangeRefusedError, match=re.escape(refused)):
        guard(files(old), files(new))


def test_major_version_guidance_names_both_ways() -> None:
    """A restore or clone is a physical copy at the old version: pg_upgrade in place after a
    shutdown, or a new cluster loaded logically."""
    with pytest.raises(ChangeRefusedError) as caught:
        guard(files([member(version=15)]), files([member(version=16)]))
    text = str(caught.value)
    for fragment in (
        "a restore or clone is a physical copy at the old version",
        "shut the cluster down (spec.shutdown: true), then raise postgresVersion with spec.upgrade.fromVersion",
        "create a new cluster at the new postgresVersion and load this one's data logically",
        "README 'Major version upgrades'",
    ):
        assert fragment in text
    assert "fromBackup" not in text


def upgrading(member_obj: Obj, version: int, replicas: int = 1) -> Obj:
    """A member rendered with spec.upgrade.fromVersion ``version``; ``replicas`` 0: shut down."""
    member_obj["metadata"]["annotations"] = {"pgrender.io/upgrade-from": str(version)}
    member_obj["spec"]["replicas"] = replicas
    return member_obj


def shut_down(member_obj: Obj) -> Obj:
    member_obj["spec"]["replicas"] = 0
    return member_obj


# (old member, new member) -> the id guard() refuses (render --write and check, acknowledged or not), or None
UPGRADES = [
    (shut_down(member(version=15)), upgrading(member(version=16), 15), None),  # shut down, then upgraded
    (member(version=15), upgrading(member(version=16), 15, replicas=0), None),  # stopped in the same change
    (member(version=15), upgrading(member(version=16), 15), "upgrade-running:15-16"),
    (shut_down(member(version=15)), upgrading(member(version=17), 14), "major-version:15-17"),  # not its version
    (shut_down(member(version=16)), upgrading(member(version=15), 16), "major-version:16-15"),  # downwards
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "refused"), UPGRADES)
def test_an_upgrade_in_place_is_refused_only_while_the_members_run(old: Obj, new: Obj, refused: str | None) -> None:
    if refused is None:
        guard(files([old]), files([new]))
        assert [f.id for f in changes(files([old]), files([new])).findings if f.blocking] == ["major-upgrade:15-16"]
        return
    with pytest.raises(ChangeRefusedError) as caught:
        guard(files([old]), files([new]))
    assert f": {refused}: " in str(caught.value)


# The guard parses only GUARDED_KINDS, and only files that may hold them: pgrender's own head
# (apiVersion, then a plain kind) is sure; anything else is parsed.
HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"


@pytest.mark.parametrize(
    ("text", "another"),
    [
        (HEAD, True),
        (HEAD + "data:\n  script: |\n    ---\n    ...\n", True),  # markers inside a block scalar
        ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: a\n", False),
        ("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: a\n", False),
        (HEAD + "---\napiVersion: v1\nkind: PersistentVolumeClaim\n", False),  # a second document
        (HEAD + "...\nkind: PersistentVolumeClaim\n", False),  # a document after its end marker
        ("---\n" + HEAD, False),
        ('apiVersion: v1\nkind: "ConfigMap"\n', False),  # quoted: parsed, whatever it says
        ("apiVersion: v1\nkind: !!str ConfigMap\n", False),
        ("apiVersion: v1\nkind: ConfigMap # x\n", False),
        ("apiVersion: v1\nkind: Persistent\n  VolumeClaim\n", True),  # "Persistent VolumeClaim"
        ("apiVersion: v1\nkind: ConfigMap\nkind: StatefulSet\n", True),  # a duplicate key: unreadable
        ("\ufeffapiVersion: v1\nkind: ConfigMap\n", False),
        ("kind: ConfigMap\napiVersion: v1\n", False),  # not as pgrender writes it
        ("apiVersion: v1\nkind: ConfigMap", False),  # no line end
        *(
            (HEAD + f"{brk}---{brk}apiVersion: v1\nkind: PersistentVolumeClaim\n", False)
            for brk in "\r\x85\u2028\u2029"
        ),
    ],
)
def test_a_file_the_guard_skips_holds_none_of_its_kinds(text: str, another: bool) -> None:
    assert _another_kind(text, GUARDED_KINDS) is another
    if another:  # what it claims: the loader finds no object of those kinds in it
        from ruamel.yaml import YAML

        try:
            documents = list(YAML(typ="safe").load_all(text))
        except Exception:  # unreadable: no object at all
            documents = []
        assert not any(isinstance(d, dict) and d.get("kind") in GUARDED_KINDS for d in documents)


def assert_guard_is_refuse_of_changes(old: dict[str, str], new: dict[str, str], refused: list[str]) -> None:
    """guard() (which parses only what it needs) refuses with refuse(changes())'s message, naming
    ``refused``; and so does guard() made a directory at a time (_guarded_by_directories: a fleet's
    is made GUARD_DIRECTORIES at a time)."""
    messages = []
    for check in (lambda: guard(old, new), lambda: _a_directory_at_a_time(old, new), lambda: refuse(changes(old, new))):
        try:
            check()
            messages.append("")
        except ChangeRefusedError as exc:
            messages.append(str(exc))
    assert messages[0] == messages[1] == messages[2]
    assert [line.split(": ")[1] for line in messages[0].splitlines()[1:]] == refused


def _a_directory_at_a_time(old: dict[str, str], new: dict[str, str]) -> None:
    kept = changes_module.GUARD_DIRECTORIES
    changes_module.GUARD_DIRECTORIES = 1
    try:
        guard(old, new)
    finally:
        changes_module.GUARD_DIRECTORIES = kept


FLEET = [("hippo", "hippo"), ("hippo", "hippo2"), ("trio", "trio"), ("hippo", "hippo3")]


def fleet(edit: Callable[[str, str], str] = lambda name, text: text) -> str:
    """The examples as a fleet: (example, cluster name) each, edited per cluster."""
    texts = []
    for example, name in FLEET:
        text = (EXAMPLES / f"{example}.yaml").read_text().replace(f"name: {example}\n", f"name: {name}\n", 1)
        texts.append(edit(name, text))
    return "\n---\n".join(texts)


def only(names: tuple[str, ...], old: str, new: str) -> Callable[[str, str], str]:
    return lambda name, text: text.replace(old, new) if name in names else text


@pytest.mark.parametrize(
    ("old_edit", "new_edit", "refused"),
    [
        (None, only(("hippo2",), "size: 1Gi", "size: 2Gi"), []),
        (
            only(("hippo2",), "size: 1Gi", "size: 2Gi"),
            None,
            [f"shrink-volume:hippo2-instance1-{i}-pgdata" for i in (0, 1)],
        ),
        (  # a shrink beside a renamed cluster and a moved one
            only(("hippo", "hippo3"), "size: 1Gi", "size: 2Gi"),
            lambda name, text: text.replace("name: hippo2\n", "name: hippo4\n").replace(
                "namespace: postgres-operator",
                "namespace: moved" if name == "hippo3" else "namespace: postgres-operator",
            ),
            [f"shrink-volume:hippo-instance1-{i}-pgdata" for i in (0, 1)],
        ),
        (
            None,
            only(("trio",), "storageClassName: fast-ssd\n      walVolume", "storageClassName: b\n      walVolume"),
            [f"storage-class:trio-main-{i}-pgdata" for i in (0, 1, 2)],
        ),
        (
            only(("hippo3",), "postgresVersion: 16", "postgresVersion: 15"),
            only(("hippo2",), "replicas: 2", "replicas: 1"),
            ["major-version:15-16"],
        ),
        (None, only(("hippo", "hippo2", "hippo3"), "name: hippo", "name: renamed"), []),  # renamed: the claims are new
        (  # refused in three clusters' directories
            only(("hippo", "hippo2"), "size: 1Gi", "size: 2Gi"),
            only(("trio",), "storageClassName: fast-ssd\n      walVolume", "storageClassName: b\n      walVolume"),
            [
                *(f"storage-class:trio-main-{i}-pgdata" for i in (0, 1, 2)),
                *(f"shrink-volume:{name}-instance1-{i}-pgdata" for name in ("hippo", "hippo2") for i in (0, 1)),
            ],
        ),
        (only(("hippo2",), "size: 1Gi", "size: 2Gi"), only(("hippo2",), "name: hippo2\n", "name: other\n"), []),
    ],
)
def test_the_guard_refuses_what_the_whole_comparison_refuses(
    tmp_path: Path,
    old_edit: Callable[[str, str], str] | None,
    new_edit: Callable[[str, str], str] | None,
    refused: list[str],
) -> None:
    """guard() parses only GUARDED_KINDS; refuse(changes()) parses every file that differs."""
    old = rendered(tmp_path, fleet(old_edit) if old_edit else fleet(), "old")
    new = rendered(tmp_path, fleet(new_edit) if new_edit else fleet(), "new")
    assert_guard_is_refuse_of_changes(old, new, refused)


def test_the_guard_of_a_fleet_holds_the_objects_of_a_few_clusters_at_once(tmp_path: Path) -> None:
    """A change to every cluster (each volume larger): made a directory at a time, the guard holds
    one cluster's objects at its peak, not the fleet's (1000 clusters held 20 MB more)."""
    old = rendered(tmp_path, fleet(), "old")
    new = rendered(tmp_path, fleet(lambda name, text: text.replace("size: 1Gi", "size: 3Gi")), "new")
    peaks = [traced_peak(lambda: guard(old, new)), traced_peak(lambda: _a_directory_at_a_time(old, new))]
    whole, by_directory = peaks
    assert by_directory < 0.7 * whole, peaks


def labelled(obj: Obj, cluster: str) -> Obj:
    return edited(obj, "metadata.labels", {"pgrender.io/cluster": cluster})


HIDDEN = "\r---\r"  # a second document after a line break YAML knows and a newline search does not


@pytest.mark.parametrize(
    ("old", "new", "refused"),
    [
        (  # the claim's own cluster label edited: a cluster on one side only, among the claims
            files([labelled(claim(size="2Gi"), "c1"), labelled(service("c1"), "c1"), labelled(service("c2"), "c2")]),
            files(
                [
                    labelled(claim(), "c2"),
                    labelled(service("c1", type="NodePort"), "c1"),
                    labelled(service("c2", type="NodePort"), "c2"),
                ]
            ),
            ["shrink-volume:hippo-a-0-pgdata"],
        ),
        (  # a shrunk claim hidden in a ConfigMap's file, beside a member on both sides
            files([claim(size="2Gi"), M, config_map("c", {})]),
            {
                **files([edited(M, IMAGE.replace("containers[database]", "containers.0"), "postgres:16.9")]),
                "configmap-c.yaml": emit.dump(config_map("c", {"a": "b"})) + HIDDEN + emit.dump(claim()),
            },
            ["shrink-volume:hippo-a-0-pgdata"],
        ),
        (  # a member hidden in a ConfigMap's file keeps the major version the cluster has
            files([member(version=16), member("hippo-a-1", version=16), config_map("c", {})]),
            {
                **files([member(version=17), member("hippo-a-1", version=16)]),
                "statefulset-hippo-a-1.yaml": "",
                "configmap-c.yaml": emit.dump(config_map("c", {"a": "b"})) + HIDDEN + emit.dump(member("hippo-a-1")),
            },
            [],
        ),
    ],
)
def test_the_guard_of_hand_edited_output_refuses_what_the_whole_comparison_refuses(
    old: dict[str, str], new: dict[str, str], refused: list[str]
) -> None:
    assert_guard_is_refuse_of_changes(old, new, refused)


# --- End to end: the examples rendered, then rendered again with one edit ---------------------


def rendered(tmp_path: Path, text: str, name: str) -> dict[str, str]:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    return write.files(render(Request((str(spec),), key_file=str(GOLDEN_KEY))))


SECOND_SET = "    - name: instance2\n      dataVolume:\n        size: 1Gi\n"
Edit = Callable[[str], str]


def swap(old: str, new: str) -> Edit:
    def _edit(text: str) -> str:
        assert old in text
        return text.replace(old, new)

    return _edit


def then(*edits: Edit) -> Edit:
    """The edits one after the other."""

    def _edit(text: str) -> str:
        for edit in edits:
            text = edit(text)
        return text

    return _edit


POOLED_SERVICES = ("pooled-primary", "pooled-replicas", "pooled-pgbouncer")


def lb_class(name: str) -> Edit:
    """pooled.yaml's primary, replica and pgBouncer Services as LoadBalancers of class ``name``."""
    fields = f"type: LoadBalancer, loadBalancerClass: example.com/{name}"
    pgbouncer = f"        type: LoadBalancer\n        loadBalancerClass: example.com/{name}\n"
    return then(
        swap("  users:\n", f"  service: {{{fields}}}\n  replicaService: {{{fields}}}\n  users:\n"),
        swap("      service:\n        metadata:\n", f"      service:\n{pgbouncer}        metadata:\n"),
    )


DEBEZIUM = "slots: {debezium: {type: logical, database: payments, plugin: pgoutput}}"
TRIO_SLOTS = swap(
    "    syncPeriodSeconds: 10\n",
    f"    syncPeriodSeconds: 10\n    dynamicConfiguration:\n      {DEBEZIUM}\n"
    "      ignore_slots: [{name: keep_me}]\n",
)
NO_PITR = swap("          pointInTimeDays: 14\n", "")  # else a daily full needs more than 4 kept: refused
DAILY_FULLS = swap('full: "30 1 * * 0"', 'full: "30 1 * * *"')
MONTHLY_FULLS = swap('full: "30 1 * * 0"', 'full: "30 1 1 * *"')
E2E: list[tuple[str, str, Edit, Edit, list[tuple[str, str | None]]]] = [
    # (case, example, edit of the old spec, edit of the new spec, expected (class, id) among the findings)
    (
        "instance-set-removed",
        "hippo",
        swap("        size: 1Gi\n", "        size: 1Gi\n" + SECOND_SET),
        lambda t: t,
        [("manual", None), ("risk", "remove-instance:hippo-instance2-0")],
    ),
    (
        "volume-shrinks",
        "hippo",
        swap("size: 1Gi", "size: 2Gi"),
        lambda t: t,
        [("refused", "shrink-volume:hippo-instance1-0-pgdata")],
    ),
    (
        "storage-class",
        "trio",
        lambda t: t,
        swap("storageClassName: fast-ssd\n      walVolume", "storageClassName: slow\n      walVolume"),
        [("refused", "storage-class:trio-main-0-pgdata")],
    ),
    (
        "major-version",
        "hippo",
        swap("postgresVersion: 16", "postgresVersion: 15"),
        lambda t: t,
        [("risk", "major-version:15-16")],
    ),
    (
        "user-removed",
        "trio",
        lambda t: t,
        swap("    - name: auditors\n      options: {login: false}\n", ""),
        [("risk", "remove-user:auditors")],
    ),
    (
        "database-removed",
        "trio",
        lambda t: t,
        lambda t: t.replace("[payments, ledger]", "[payments]").replace(
            "    - name: ledger\n      owner: migrator\n", ""
        ),
        [("risk", "remove-database:ledger")],
    ),
    (
        "cluster-renamed",
        "hippo",
        lambda t: t,
        swap("name: hippo\n", "name: hippo2\n"),
        [("risk", "rename-cluster:hippo")],
    ),
    ("max-connections", "trio", lambda t: t, swap("max_connections: 200", "max_connections: 300"), [("restart", None)]),
    (
        "instance-set-renamed",
        "hippo",
        lambda t: t,
        swap("- name: instance1", "- name: pgha1"),
        [("risk", "replace-members:hippo"), ("risk", "remove-instance:hippo-instance1-0")],
    ),
    (
        "wal-volume-removed",
        "trio",
        lambda t: t,
        swap("      walVolume:\n        size: 5Gi\n        storageClassName: fast-ssd\n", ""),
        [("refused", "remove-wal-volume:trio-main-0-pgwal")],
    ),
    # What loses backups or breaks archiving, named before it is applied:
    (
        "retention-shortened",
        "backups",
        lambda t: t,
        swap(
            "        retention:\n          full: 4\n          pointInTimeDays: 14\n",
            "        retention:\n          full: 1\n",
        ),
        [("risk", "retention:repo1")],
    ),
    (
        "repository-moved",
        "backups",
        lambda t: t,
        swap("bucket: hippo-backups", "bucket: hippo-archive"),
        [("risk", "move-repo:repo1")],
    ),
    (
        "repository-cipher",
        "premium",
        lambda t: t,
        swap("          secretName: ledger-s3\n", "          secretName: ledger-s3\n        cipher: none\n"),
        [("risk", "repo-cipher:repo1")],
    ),
    (
        "backups-removed",
        "premium",
        lambda t: t,
        lambda t: t[: t.index("  backups:\n")],
        [("risk", "remove-repo:repo1")],
    ),
    (
        "standby-source",
        "standby",
        lambda t: t,
        lambda t: t.replace("      cluster: hippo\n", "      cluster: ledger\n"),
        [("risk", "standby-source:hippo-standby")],
    ),
    (
        "replication-slots-lowered",
        "trio",
        lambda t: t,
        swap("max_connections: 200\n", "max_connections: 200\n      max_replication_slots: 4\n"),
        [("risk", "replication-slots:trio")],
    ),
    (
        "load-balancer-class",
        "pooled",
        lb_class("internal"),
        lb_class("external"),
        [("refused", f"immutable:service/{name}:spec.loadBalancerClass") for name in POOLED_SERVICES],
    ),
    # Replication slots Patroni drops: the consumer's position and retained WAL go with them.
    (
        "slot-removed",
        "trio",
        TRIO_SLOTS,
        then(TRIO_SLOTS, swap(DEBEZIUM, "slots: {}")),
        [("risk", "drop-slot:debezium")],
    ),
    (
        "slot-database",
        "trio",
        TRIO_SLOTS,
        then(TRIO_SLOTS, swap("database: payments", "database: ledger")),
        [("risk", "drop-slot:debezium")],
    ),
    (
        "slot-plugin",
        "trio",
        TRIO_SLOTS,
        then(TRIO_SLOTS, swap("plugin: pgoutput", "plugin: wal2json")),
        [("risk", "drop-slot:debezium")],
    ),
    (
        "slot-unignored",
        "trio",
        TRIO_SLOTS,
        then(TRIO_SLOTS, swap("      ignore_slots: [{name: keep_me}]\n", "")),
        [("risk", "drop-slot:keep_me")],
    ),
    (
        "use-slots-off",
        "trio",
        TRIO_SLOTS,
        then(TRIO_SLOTS, swap("[{name: keep_me}]\n", "[{name: keep_me}]\n      postgresql: {use_slots: false}\n")),
        [("risk", "drop-slot:debezium")],
    ),
    ("fulls-more-often", "backups", NO_PITR, then(NO_PITR, DAILY_FULLS), [("risk", "retention:repo1")]),
    (
        "retention-count-for-days",
        "backups",
        lambda t: t,
        swap("          full: 4\n", "          full: 40\n          fullType: time\n"),
        [("risk", "retention:repo1")],
    ),
    (
        "app-secret-takes-another-user",
        "trio",
        swap("spec:\n", "spec:\n  naming: cnpg\n"),
        lambda t: t.replace("spec:\n", "spec:\n  naming: cnpg\n", 1).replace(
            "  users:\n    - name: app\n", "  users:\n    - name: etl\n      databases: [ledger]\n    - name: app\n"
        ),
        [("risk", "secret-user:trio-app")],
    ),
    # spec.patroni.switchover: a run the Job has not made is a switchover; the same run again is not
    ("switchover", "trio", lambda t: t, swap("  patroni:\n", SWITCHOVER_1), [("restart", None)]),
    (
        "switchover-run-kept",
        "trio",
        swap("  patroni:\n", SWITCHOVER_1),
        swap("  patroni:\n", "  rollout: {maxLagBytes: 1000}\n" + SWITCHOVER_1),
        [("job", None)],
    ),
    # spec.shutdown: each member stops (or starts), nothing to acknowledge
    ("shutdown", "trio", lambda t: t, swap("spec:\n", "spec:\n  shutdown: true\n"), [("restart", None)]),
    ("start-up", "trio", swap("spec:\n", "spec:\n  shutdown: true\n"), lambda t: t, [("restart", None), ("job", None)]),
]


@pytest.mark.parametrize(("example", "old_edit", "new_edit", "expected"), [c[1:] for c in E2E], ids=[c[0] for c in E2E])
def test_examples(
    tmp_path: Path, example: str, old_edit: Edit, new_edit: Edit, expected: list[tuple[str, str | None]]
) -> None:
    text = (EXAMPLES / f"{example}.yaml").read_text()
    result = changes(rendered(tmp_path, old_edit(text), "old"), rendered(tmp_path, new_edit(text), "new"))
    found = [(f.change.value, f.id) for f in result.findings]
    for item in expected:
        assert item in found, found
    blocking = [f.id for f in result.findings if f.blocking]
    assert result.exit_code == (1 if blocking else 0)


def test_renamed_cluster_is_one_finding(tmp_path: Path) -> None:
    text = (EXAMPLES / "hippo.yaml").read_text()
    result = changes(
        rendered(tmp_path, text, "old"), rendered(tmp_path, text.replace("name: hippo\n", "name: hippo2\n"), "new")
    )
    assert [(f.kind, f.id) for f in result.findings] == [
        ("Kustomization", None),
        ("PostgresCluster", "rename-cluster:hippo"),
    ]
    assert "the new one starts empty" in result.findings[1].message


def test_max_connections_is_a_postmaster_parameter(tmp_path: Path) -> None:
    text = (EXAMPLES / "trio.yaml").read_text()
    result = changes(
        rendered(tmp_path, text, "old"),
        rendered(tmp_path, text.replace("max_connections: 200", "max_connections: 300"), "new"),
    )
    [parameter] = [f for f in result.findings if f.path.endswith("max_connections")]
    assert (parameter.change.value, parameter.path) == ("restart", f"{DYNAMIC}.postgresql.parameters.max_connections")
    assert "replicas first, then a switchover, then the old primary" in parameter.message


def test_acknowledged_in_the_spec(tmp_path: Path) -> None:
    text = (EXAMPLES / "trio.yaml").read_text()
    dropped = text.replace("    - name: auditors\n      options: {login: false}\n", "")
    acknowledged = dropped.replace("  patroni:\n", '  acknowledgedChanges: ["remove-user:auditors"]\n  patroni:\n')
    old = rendered(tmp_path, text, "old")
    assert changes(old, rendered(tmp_path, dropped, "new")).exit_code == 1
    result = changes(old, rendered(tmp_path, acknowledged, "acked"))
    assert [(f.id, f.acknowledged) for f in result.findings if f.id] == [("remove-user:auditors", True)]
    assert not [f for f in result.findings if f.path == "spec.acknowledgedChanges"]
    assert result.exit_code == 0
    # Left in the spec after it was applied, it would accept the next remove-user:auditors unseen.
    later = acknowledged.replace("max_connections: 200", "max_connections: 300")
    result = changes(rendered(tmp_path, acknowledged, "applied"), rendered(tmp_path, later, "later"))
    stale = [(f.change.value, f.name, f.message) for f in result.findings if f.path == "spec.acknowledgedChanges"]
    assert stale == [("manual", "trio", changes_module.STALE_ACKNOWLEDGEMENT.format(id="remove-user:auditors"))]
    assert result.exit_code == 0


# --- End to end: a spec rendered twice, one edit per case --------------------------------------

SLOTS_20 = swap("max_connections: 200\n", "max_connections: 200\n      max_replication_slots: 20\n")
FROM_DR = swap(
    "        s3:\n          bucket: hippo-backups\n", "        s3:\n          bucket: hippo-dr\n"
)  # the first: the source
LOGIN_OFF = swap("{login: true, createdb", "{login: false, createdb")
SUPERUSER = ("live", "trio-reconcile", "user migrator: NOSUPERUSER → SUPERUSER, set by the reconcile Job: it bypasses")
RC_TRIO = "trio-reconcile"
SLOT_KEPT = "the consumer's position and the WAL the slot keeps for it are lost: a logical consumer (Debezium"
FULLS_REACH = "those 4 reach back about 4 days instead of about 28 days, so pgBackRest's expire"
IN_PLACE_CRONJOB = "applied in place; the next scheduled run uses it"
ACCESS = swap("    - name: app\n", "    - name: app\n      accessSecret: true\n")
SAYS: list[tuple[str, str, Edit, Edit, tuple[str, str, str]]] = [
    # (case, example, edit of the old spec, edit of the new spec, (class, object, message fragment) found)
    ("owner", "trio", lambda t: t, swap("owner: migrator\n", "owner: app\n"), ("live", "trio-reconcile", "owner of")),
    ("slots-raised", "trio", lambda t: t, SLOTS_20, ("restart", "trio-reconcile", "(not set) → 20; read only")),
    ("slots-default", "trio", SLOTS_20, lambda t: t, ("risk", "trio-reconcile", "20 → (not set), lowered;")),
    ("access-off", "trio", ACCESS, lambda t: t, ("live", "trio-pgaccess-app", "pods that read it (env or volume)")),
    ("login-off", "trio", lambda t: t, LOGIN_OFF, ("live", "trio-reconcile", "LOGIN → NOLOGIN, set by the reconcile")),
    ("login-off-secret", "trio", lambda t: t, LOGIN_OFF, ("live", "trio-pguser-reporting", "pods that read it")),
    ("superuser", "trio", lambda t: t, swap("createrole: true}", "createrole: true, superuser: true}"), SUPERUSER),
    ("archive-source", "standby", lambda t: t, FROM_DR, ("risk", "hippo-standby-pgbackrest-config", "(s3-bucket")),
    ("restore-source", "restore", lambda t: t, FROM_DR, ("no-op", "hippo-clone-pgbackrest-config", "restored or")),
    ("slot-lost", "trio", TRIO_SLOTS, then(TRIO_SLOTS, swap(DEBEZIUM, "slots: {}")), ("risk", RC_TRIO, SLOT_KEPT)),
    # A count of full backups kept, and their schedule: how far back they reach.
    ("fulls-more-often", "backups", NO_PITR, then(NO_PITR, DAILY_FULLS), ("risk", "hippo-repo1-full", FULLS_REACH)),
    (
        "fulls-less-often",
        "backups",
        then(NO_PITR, DAILY_FULLS),
        NO_PITR,
        ("live", "hippo-repo1-full", IN_PLACE_CRONJOB),
    ),
    (
        "fulls-more-often-kept-longer",
        "backups",
        NO_PITR,
        then(NO_PITR, DAILY_FULLS, swap("full: 4\n", "full: 28\n")),
        ("live", "hippo-repo1-full", IN_PLACE_CRONJOB),
    ),
    (
        "fulls-more-often-for-days",
        "backups",
        then(NO_PITR, swap("full: 4\n", "full: 40\n          fullType: time\n")),
        then(NO_PITR, swap("full: 4\n", "full: 40\n          fullType: time\n"), DAILY_FULLS),
        ("live", "hippo-repo1-full", IN_PLACE_CRONJOB),
    ),
    (
        "fulls-counted-from-every",
        "backups",
        then(NO_PITR, swap("        retention:\n          full: 4\n", "")),
        then(NO_PITR, DAILY_FULLS),
        ("risk", "hippo-repo1-full", "those 4 reach back about 4 days instead of to the oldest (every one was kept)"),
    ),
    (
        "fulls-uncounted",
        "backups",
        then(NO_PITR, MONTHLY_FULLS),
        NO_PITR,
        ("risk", "hippo-repo1-full", "to or from one that does not repeat weekly, which pgrender cannot count"),
    ),
    (
        "days-for-count",
        "backups",
        lambda t: t,
        swap("          full: 4\n", "          full: 40\n          fullType: time\n"),
        ("risk", "hippo-pgbackrest-jobs", "depends on how often full backups run"),
    ),
]


@pytest.mark.parametrize(("example", "old_edit", "new_edit", "said"), [c[1:] for c in SAYS], ids=[c[0] for c in SAYS])
def test_examples_say(tmp_path: Path, example: str, old_edit: Edit, new_edit: Edit, said: tuple[str, str, str]) -> None:
    text = (EXAMPLES / f"{example}.yaml").read_text()
    result = changes(rendered(tmp_path, old_edit(text), "old"), rendered(tmp_path, new_edit(text), "new"))
    found = [(f.change.value, f.name, f.message) for f in result.findings]
    assert any(c == said[0] and n == said[1] and said[2] in m for c, n, m in found), found


INIT_SQL = '  databaseInitSQL:\n    sql: |\n      -- "standby_cluster": in a comment, not Patroni\'s configuration\n'
ONE_MEMBER_MINIMAL = (EXAMPLES / "minimal.yaml").read_text()


def _tls_block(text: str) -> str:
    """The spec.tls block of a spec's text (its lines indented below it)."""
    after = text[text.index("\n  tls:\n") + 1 :].splitlines(keepends=True)
    return after[0] + "".join(itertools.takewhile(lambda line: line.startswith("    "), after[1:]))


CERT_MANAGER = _tls_block((ROOT / "golden" / "tls-cert-manager" / "spec.yaml").read_text())
REVIEWED: list[tuple[str, str, Edit, Edit, str, str, str]] = [
    # (case, spec text, edit of the old, edit of the new, class, object, message fragment): from a review
    (
        "restore-text-mentions-standby",  # the reconcile ConfigMap's text names standby_cluster; Patroni's does not
        (EXAMPLES / "restore.yaml").read_text() + INIT_SQL,
        lambda t: t,
        FROM_DR,
        "no-op",
        "hippo-clone-pgbackrest-config",
        "restored or cloned from (s3-bucket",
    ),
    (
        "parameter-reset-one-member",  # "set or reset": one outage, not the same words twice
        ONE_MEMBER_MINIMAL + "  patroni:\n    parameters:\n      max_connections: 200\n",
        lambda t: t,
        lambda t: t.replace("  patroni:\n    parameters:\n      max_connections: 200\n", "  patroni: {}\n"),
        "restart",
        "minimal-reconcile",
        "(context postmaster): a restart of the cluster's only member by the reconcile Job: the cluster takes no "
        "reads or writes until PostgreSQL is back (there is no replica to switch over to)\x00",
    ),
    (
        "tls-provider-one-member",
        ONE_MEMBER_MINIMAL,
        lambda t: t,
        lambda t: t + CERT_MANAGER,
        "restart",
        "minimal",
        "one at a time by the reconcile Job (a restart of the cluster's only member",
    ),
]


@pytest.mark.parametrize(
    ("text", "old_edit", "new_edit", "change", "name", "fragment"),
    [c[1:] for c in REVIEWED],
    ids=[c[0] for c in REVIEWED],
)
def test_reviewed_cases(
    tmp_path: Path, text: str, old_edit: Edit, new_edit: Edit, change: str, name: str, fragment: str
) -> None:
    result = changes(rendered(tmp_path, old_edit(text), "old"), rendered(tmp_path, new_edit(text), "new"))
    found = [(f.change.value, f.name, f.message + "\x00") for f in result.findings]  # NUL: the message's end
    assert any(c == change and n == name and fragment in m for c, n, m in found), found


SEALED = {"sealing_certificate": str(ROOT / "tests" / "fixtures" / "sealed_secrets" / "controller.crt")}


def test_a_secret_another_provider_makes_is_not_said_to_be_lost(tmp_path: Path) -> None:
    """derived → sealed: each Secret is deleted, and the SealedSecret of the same name makes it (the
    certificates' too, which the pods use: they were said to be risks)."""
    spec = tmp_path / "trio.yaml"
    spec.write_text((EXAMPLES / "trio.yaml").read_text())
    old = write.files(render(Request((str(spec),), key_file=str(GOLDEN_KEY))))
    new = write.files(render(Request((str(spec),), key_file=str(GOLDEN_KEY), provider="sealed", **SEALED)))
    removed = [f for f in changes(old, new).findings if f.kind == "Secret"]
    assert {f.name for f in removed} >= {"trio-pguser-app", "trio-cluster-cert", "trio-patroni"}
    assert all("made from now on by the SealedSecret of the same name" in f.message for f in removed), removed


NewOutput = Callable[[str, dict[str, str]], dict[str, str]]  # (the spec's path, the old output) → the new


def provider(name: str) -> NewOutput:
    return lambda spec, old: write.files(render(Request((spec,), key_file=str(GOLDEN_KEY), provider=name)))


def without(rel: str) -> NewOutput:
    return lambda spec, old: {k: v for k, v in old.items() if k != rel}


USES = "deleted when pruned, yet the new output still uses it ({}): pods started from then on"
MEMBERS_USE = "StatefulSet hippo-instance1-0, StatefulSet hippo-instance1-1): pods started from then on"
# (case, example, the new output, a Secret removed from it, its (class, id), its message's fragment)
SECRETS_GONE: list[tuple[str, str, NewOutput, str, tuple[str, str | None], str]] = [
    ("patroni", "backups", provider("existing"), "hippo-patroni", ("risk", "remove-secret:hippo-patroni"), MEMBERS_USE),
    (
        "pgbackrest",
        "backups",
        provider("existing"),
        "hippo-pgbackrest",
        ("risk", "remove-secret:hippo-pgbackrest"),
        USES.format("CronJob hippo-repo1-full, CronJob hippo-repo1-incr, CronJob hippo-repo2-full and 5 more"),
    ),
    (
        "superuser-cert",
        "backups",
        provider("existing"),
        "hippo-superuser-cert",
        ("risk", "remove-secret:hippo-superuser-cert"),
        "CronJob hippo-logical-backup, Job hippo-reconcile-",
    ),
    (
        "user",
        "backups",
        provider("existing"),
        "hippo-pguser-hippo",
        ("risk", "remove-secret:hippo-pguser-hippo"),
        "the secrets provider existing: `pgrender render --only-secrets --stdout` prints it",
    ),
    (
        "by-hand",  # the workloads are unchanged: read from the files that name it
        "backups",
        without("secret-hippo-patroni.yaml"),
        "hippo-patroni",
        ("risk", "remove-secret:hippo-patroni"),
        MEMBERS_USE,
    ),
]


@pytest.mark.parametrize(
    ("example", "new_output", "name", "expected", "fragment"),
    [c[1:] for c in SECRETS_GONE],
    ids=[c[0] for c in SECRETS_GONE],
)
def test_a_removed_secret_the_new_output_uses_is_a_risk(
    example: str, new_output: NewOutput, name: str, expected: tuple[str, str | None], fragment: str
) -> None:
    spec = str(EXAMPLES / f"{example}.yaml")
    old = write.files(render(Request((spec,), key_file=str(GOLDEN_KEY))))
    found = [f for f in changes(old, new_output(spec, old)).findings if f.kind == "Secret" and f.name == name]
    assert [(f.change.value, f.id) for f in found] == [expected]
    assert fragment in found[0].message


PARAMETERS = f"{DYNAMIC}.postgresql.parameters."
ROLL = "a rolling restart with switchover by the reconcile Job (replicas first, then a switchover"
IN_PLACE = "restarts the primary in place first (a short write outage while PostgreSQL restarts"
MEMBERS = ("hippo-instance1-0", "hippo-instance1-1")


def two_members() -> dict[str, Any]:
    """tests.conftest.base_spec (two members) with a user, parameters and a pg_hba rule to change."""
    spec = base_spec()
    spec["spec"]["users"] = [{"name": "app", "databases": ["app"]}]
    spec["spec"]["patroni"] = {
        "parameters": {"work_mem": "4MB", "shared_buffers": "128MB", "max_connections": 100},
        "pgHBA": ["hostssl app app 10.0.0.0/8 scram-sha-256"],
    }
    return spec


def parameter(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["spec"]["patroni"]["parameters"].__setitem__(name, value)


def spec_field(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["spec"].__setitem__(name, value)


def hba(spec: dict[str, Any]) -> None:
    spec["spec"]["patroni"]["pgHBA"].append(HBA)


def p(name: str) -> str:
    return PARAMETERS + name


HBA = "hostssl all app 192.168.0.0/16 scram-sha-256"
NEW_IMAGE = "registry.example/postgres:16.9"
BOB = [{"name": "app", "databases": ["app"]}, {"name": "bob"}]
BOB_SECRET = "hippo-pguser-bob"
POSTMASTER = "read only at server start (context postmaster)"
LOWERED = (
    f"100 → 50, lowered; {POSTMASTER}, and a replica cannot run a lower value than its primary, "
    f"so the reconcile Job {IN_PLACE}; no switchover), then the replicas"
)
Expected = list[tuple[str, str, str, tuple[str, ...]]]  # (class, name, path, message fragments)

# Each edit of two_members(), and every finding but the no-ops and the new reconcile Job (one each).
SPEC_CASES: list[tuple[str, Callable[[dict[str, Any]], None], Expected]] = [
    ("unchanged", lambda spec: None, []),
    ("work-mem", parameter("work_mem", "8MB"), [("live", RC, p("work_mem"), ("4MB → 8MB; applied by a reload",))]),
    ("shared-buffers", parameter("shared_buffers", "1GB"), [("restart", RC, p("shared_buffers"), (POSTMASTER, ROLL))]),
    ("max-connections-up", parameter("max_connections", 200), [("restart", RC, p("max_connections"), ("200", ROLL))]),
    ("max-connections-down", parameter("max_connections", 50), [("restart", RC, p("max_connections"), (LOWERED,))]),
    ("pg-hba", hba, [("live", RC, f"{DYNAMIC}.postgresql.pg_hba", (f'added "{HBA}"', "reloads (no restart)"))]),
    ("image", spec_field("image", NEW_IMAGE), [("restart", m, IMAGE, (f"→ {NEW_IMAGE}", ROLL)) for m in MEMBERS]),
    ("new-user", spec_field("users", BOB), [("live", RC, SQL_PATH, ("new user bob",)), ("live", BOB_SECRET, "", ())]),
]


def rendered_spec(tmp_path: Path, spec: dict[str, Any], name: str) -> dict[str, str]:
    return rendered(tmp_path, yaml.safe_dump(spec, sort_keys=False), name)


def spec_changes(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Changes:
    new = two_members()
    edit(new)
    return changes(rendered_spec(tmp_path, two_members(), "old"), rendered_spec(tmp_path, new, "new"))


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_spec_changes(tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: Expected) -> None:
    result = spec_changes(tmp_path, edit)
    found = [(f.change.value, f.name, f.path, f.message) for f in result.findings if f.change.value != "no-op"]
    jobs = [f for f in found if f[0] == "job"]
    assert len(jobs) == (1 if expected else 0), found
    assert [f[:3] for f in found if f[0] != "job"] == [e[:3] for e in expected]
    for (*_, message), (*_, fragments) in zip([f for f in found if f[0] != "job"], expected, strict=True):
        assert all(fragment in message for fragment in fragments), (message, fragments)
    # bootstrap.yaml (read only when a cluster is created) is one no-op, whatever changed in it.
    config = [(f.change.value, f.path) for f in result.findings if f.name == "hippo-config"]
    assert config in ([], [("no-op", "data[bootstrap.yaml]")])
    assert result.exit_code == 0


def one_member(spec: dict[str, Any]) -> None:
    spec["spec"]["instances"][0]["replicas"] = 1


def both(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda spec: [edit(spec) for edit in edits] and None


ONLY = "a restart of the cluster's only member by the reconcile Job: the cluster takes no reads or writes"


@pytest.mark.parametrize(
    ("old_edit", "new_edit", "member_restarts"),
    [
        (one_member, both(one_member, parameter("shared_buffers", "1GB")), ONLY),
        (one_member, both(one_member, parameter("max_connections", 50)), ONLY),
        (one_member, both(one_member, spec_field("image", NEW_IMAGE)), ONLY),
        (lambda spec: None, one_member, ONLY),  # the certificate names one member less: it restarts alone
        (one_member, spec_field("image", NEW_IMAGE), ROLL),  # a second member joins, then the switchover
        (lambda spec: None, both(one_member, spec_field("image", NEW_IMAGE)), ONLY),
        (lambda spec: None, spec_field("image", NEW_IMAGE), ROLL),
    ],
    ids=["restart", "lowered", "image", "scaled-down", "scaled-up", "scaled-down-and-image", "two-members"],
)
def test_a_single_members_restart_is_named_an_outage(
    tmp_path: Path,
    old_edit: Callable[[dict[str, Any]], None],
    new_edit: Callable[[dict[str, Any]], None],
    member_restarts: str,
) -> None:
    old, new = two_members(), two_members()
    old_edit(old)
    new_edit(new)
    result = changes(rendered_spec(tmp_path, old, "old"), rendered_spec(tmp_path, new, "new"))
    restarts = [f.message for f in result.findings if f.change.value == "restart"]
    assert restarts and all(member_restarts in m for m in restarts), restarts
    others = (ROLL, IN_PLACE) if member_restarts == ONLY else (ONLY,)
    assert not any(other in m for m in restarts for other in others), restarts


def test_an_unchanged_rerender_has_no_findings(tmp_path: Path) -> None:
    assert spec_changes(tmp_path, lambda spec: None).findings == ()


@pytest.mark.parametrize(
    "edit",
    [parameter("work_mem", "8MB"), parameter("shared_buffers", "256MB"), parameter("max_connections", 50), hba],
    ids=["work-mem", "shared-buffers", "max-connections-lowered", "pg-hba"],
)
def test_settings_of_the_dynamic_configuration_restart_no_pod_template(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None]
) -> None:
    """The reconcile Job applies them (and restarts through Patroni): the StatefulSets do not change."""
    result = spec_changes(tmp_path, edit)
    assert [f for f in result.findings if f.kind == "StatefulSet"] == []


@pytest.mark.parametrize("name", ["work_mem", "shared_buffers", "max_connections"])
def test_a_parameter_change_is_reported_once(tmp_path: Path, name: str) -> None:
    """bootstrap.yaml holds the same parameters as patroni-dynamic.json: only the latter lists them."""
    result = spec_changes(tmp_path, parameter(name, {"work_mem": "8MB", "shared_buffers": "256MB"}.get(name, 200)))
    assert [f.path for f in result.findings if name in f.path or name in f.message] == [PARAMETERS + name]
    [bootstrap] = [f for f in result.findings if f.path == "data[bootstrap.yaml]"]
    assert bootstrap.change.value == "no-op" and "patroni-dynamic.json" in bootstrap.message


def test_bootstrap_yaml_alone_is_a_no_op(tmp_path: Path) -> None:
    """A change only Patroni's bootstrap reads (initdb options, here by hand) restarts nothing."""
    old = rendered_spec(tmp_path, two_members(), "old")
    new = dict(old)
    assert "      - data-checksums\n" in new["configmap-hippo-config.yaml"]
    new["configmap-hippo-config.yaml"] = new["configmap-hippo-config.yaml"].replace(
        "      - data-checksums\n", "      - data-checksums\n      - locale: C.UTF-8\n"
    )
    assert summary(changes(old, new)) == [("no-op", "hippo-config", "data[bootstrap.yaml]", None)]


@pytest.mark.parametrize(
    ("name", "old", "new", "fragment"),
    [
        *((name, "100", "50", IN_PLACE) for name in sorted(PRIMARY_FIRST_WHEN_LOWERED)),
        ("max_connections", "100", "200", ROLL),
        ("max_connections", "100", None, "then the old primary); if this lowers it, a replica cannot"),
        ("max_wal_senders", None, "5", "if this lowers it"),
        ("shared_buffers", "256MB", "128MB", ROLL),  # lowering it is an ordinary restart
    ],
)
def test_lowering_a_setting_replicas_need_restarts_the_primary_first(
    name: str, old: str | None, new: str | None, fragment: str
) -> None:
    def parameters(value: str | None) -> dict[str, str]:
        return {"work_mem": "4MB"} | ({name: value} if value is not None else {})

    [finding] = classify([dynamic(parameters=parameters(old))], [dynamic(parameters=parameters(new))]).findings
    assert (finding.change.value, finding.path) == ("restart", PARAMETERS + name)
    assert fragment in finding.message
    assert ("lowered" in finding.message) == (fragment == IN_PLACE)


def test_a_restart_beside_a_lowered_setting_goes_the_lowered_settings_way() -> None:
    """One Job run restarts each member once for all settings: no switchover when one is lowered."""
    old = dynamic(parameters={"max_connections": "100", "shared_buffers": "128MB"})
    new = dynamic(parameters={"max_connections": "50", "shared_buffers": "256MB"})
    lowered, other = classify([old], [new]).findings
    assert (lowered.path, other.path) == (p("max_connections"), p("shared_buffers"))
    assert IN_PLACE in lowered.message
    assert other.message == (
        "128MB → 256MB; read only at server start (context postmaster): restarted together with the lowered "
        "max_connections (the primary in place, no switchover)"
    )


@pytest.mark.parametrize("rel", ["a/b.yaml", "b.yaml", "/abs/c.yaml", "/c.yaml", "../up.yaml", "a/b/c.yaml", "a-b/x"])
def test_a_files_name_and_directory_are_pathlibs(rel: str) -> None:
    """Of the output's (normalized) paths, without pathlib's interning of every part."""
    from pathlib import PurePosixPath

    assert (changes_module._file_name(rel), changes_module._directory(rel)) == (
        PurePosixPath(rel).name,
        str(PurePosixPath(rel).parent),
    )


def test_the_guard_refuses_a_wal_volume_its_members_still_need(tmp_path: Path) -> None:
    """render -o refuses it whatever is acknowledged: PostgreSQL could not start (pg_wal links into it)."""
    text = (EXAMPLES / "trio.yaml").read_text()
    without = text.replace("      walVolume:\n        size: 5Gi\n        storageClassName: fast-ssd\n", "")
    acknowledged = without.replace("spec:\n", "spec:\n  acknowledgedChanges: ['remove-wal-volume:trio-main-0-pgwal']\n")
    with pytest.raises(ChangeRefusedError, match="remove-wal-volume:trio-main-0-pgwal: the WAL volume of members"):
        guard(rendered(tmp_path, text, "old"), rendered(tmp_path, acknowledged, "new"))


def test_a_manual_backup_job_changed_under_its_run_says_how_out(tmp_path: Path) -> None:
    text = (EXAMPLES / "backups.yaml").read_text()
    new = text.replace("      repo: repo1\n      type: full\n", "      repo: repo1\n      type: diff\n")
    assert new != text
    result = changes(rendered(tmp_path, text, "old"), rendered(tmp_path, new, "new"))
    refused = [f for f in result.findings if f.change.value == "refused" and f.name == "hippo-repo1-manual-1"]
    assert refused and all("raise backups.manual.run" in f.message for f in refused), result.findings


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (
            "backups",
            [
                ("risk", "data[repo1-cipher-pass]", "repo-cipher:repo1"),
                ("risk", "data[repo2-cipher-pass]", "repo-cipher:repo2"),
            ],
        ),
        (
            "standby",
            [
                ("risk", "data[repo1-cipher-pass]", "repo-cipher:repo1"),
                ("risk", "data[source-cipher-pass]", "standby-source:hippo-standby"),
            ],
        ),
        (
            "restore",
            [("no-op", "data[source-cipher-pass]", None), ("risk", "data[repo1-cipher-pass]", "repo-cipher:repo1")],
        ),
    ],
)
def test_another_root_key_is_a_risk_to_every_encrypted_repository(
    tmp_path: Path, example: str, expected: list[tuple[str, str, str | None]]
) -> None:
    """A new root key derives new pgBackRest passphrases: the repositories written with the old ones
    can no longer be read or written (README 'Rotating a repository's passphrase')."""
    other = tmp_path / "other.key"
    assert run_cli("keygen", "-o", str(other)).exit_code == 0
    spec = (str(EXAMPLES / f"{example}.yaml"),)
    old = write.files(render(Request(spec, key_file=str(GOLDEN_KEY))))
    new = write.files(render(Request(spec, key_file=str(other))))
    result = changes(old, new)
    found = [(f.change.value, f.path, f.id) for f in result.findings if "cipher-pass" in f.path]
    assert found == expected
    assert result.exit_code == 1


def _tls(**fields: Any) -> Edit:
    return lambda text: text + "  tls:\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items())


def _no_ca_annotations(files: dict[str, str]) -> dict[str, str]:
    """Output as pgrender wrote it before the CA annotation."""
    return {rel: re.sub(r"\n *pgrender\.io/ca: [0-9a-f]+", "", text) for rel, text in files.items()}


STANDBY = (EXAMPLES / "standby.yaml").read_text()
STANDBY_BLOCK = STANDBY[STANDBY.index("  standby:\n") : STANDBY.index("  backups:\n")]
# (case, spec, edit of the old, edit of the new, whether the old output had the CA annotation) -> new-ca
CA_CASES: list[tuple[str, str, Edit, Edit, bool, bool]] = [
    ("rotation", ONE_MEMBER_MINIMAL, lambda t: t, _tls(rotation=1), True, False),  # new leaves, same CA
    ("not-before", ONE_MEMBER_MINIMAL, lambda t: t, _tls(notBefore="2027-01-01T00:00:00Z"), True, False),
    ("ca-rotation", ONE_MEMBER_MINIMAL, lambda t: t, _tls(caRotation=1), True, True),
    ("cert-manager", ONE_MEMBER_MINIMAL, lambda t: t, lambda t: t + CERT_MANAGER, True, True),
    ("standby-removed", STANDBY, lambda t: t, swap(STANDBY_BLOCK, ""), True, True),
    ("standby-promoted", STANDBY, lambda t: t, swap("  standby:\n", "  standby:\n    enabled: false\n"), True, False),
    # rendered before caRotation, with rotation 2 (which made CA 2): kept with caRotation 2, told from ca.crt
    ("upgrade-kept", ONE_MEMBER_MINIMAL, _tls(caRotation=2, rotation=2), _tls(caRotation=2, rotation=2), False, False),
    ("upgrade-lost", ONE_MEMBER_MINIMAL, _tls(caRotation=2, rotation=2), _tls(rotation=2), False, True),
]


@pytest.mark.parametrize(
    ("text", "old_edit", "new_edit", "annotated", "new_ca"), [c[1:] for c in CA_CASES], ids=[c[0] for c in CA_CASES]
)
def test_a_new_ca_is_a_risk(
    tmp_path: Path, text: str, old_edit: Edit, new_edit: Edit, annotated: bool, new_ca: bool
) -> None:
    """The members serve their old certificates until they restart, and the reconcile Job that restarts
    them verifies them against the new ca.crt: a CA they are not signed by leaves the rollout stuck."""
    old = rendered(tmp_path, old_edit(text), "old")
    result = changes(old if annotated else _no_ca_annotations(old), rendered(tmp_path, new_edit(text), "new"))
    risks = [f for f in result.findings if f.id and f.id.startswith("new-ca:")]
    expected = [("risk", "PostgresCluster", "spec.tls")] if new_ca else []
    assert [(f.change.value, f.kind, f.path) for f in risks] == expected
    assert all("delete every member pod at once" in f.message for f in risks)


SOURCE = (EXAMPLES / "backups.yaml").read_text()  # postgres-dr/hippo, which examples/standby.yaml streams from
ROTATED = _tls(caRotation=1)(SOURCE)
STANDBY_ROTATED = swap(
    "    fromCluster:\n      cluster: hippo\n",
    "    fromCluster:\n      cluster: hippo\n      tls:\n        caRotation: 1\n",
)(STANDBY)
SECOND_STANDBY = swap("  name: hippo-standby\n", "  name: hippo-standby2\n")(STANDBY_ROTATED)
PROMOTED_ROTATED = swap("  standby:\n", "  standby:\n    enabled: false\n")(STANDBY_ROTATED)
# fromCluster.host: its source reached outside this Kubernetes cluster, told from the CA they share
AT_HOST = swap(
    "    fromCluster:\n      cluster: hippo\n",
    "    fromCluster:\n      cluster: hippo\n      host: hippo.us-east.example.com\n",
)
# (case, specs of the old output, specs of the new) -> each new-ca finding: what it says, after CA_REPLACED, of
# the standbys streaming from its cluster and of its own source (() : nothing)
STREAMING_CA_CASES: list[tuple[str, tuple[str, ...], tuple[str, ...], dict[str, tuple[str, ...]]]] = [
    (
        "rotated-together",
        (SOURCE, STANDBY),
        (ROTATED, STANDBY_ROTATED),
        {
            "new-ca:hippo": ("postgres-dr/hippo-standby: the CA changes with this one",),
            "new-ca:hippo-standby": (
                "This standby streams from postgres-dr/hippo, whose CA changes too (new-ca:hippo)",
            ),
        },
    ),
    (
        "standby-added",
        (SOURCE,),
        (ROTATED, STANDBY_ROTATED),
        {"new-ca:hippo": ("postgres-dr/hippo-standby: new in this output",)},
    ),
    (
        "one-rotated-one-added",
        (SOURCE, STANDBY),
        (ROTATED, STANDBY_ROTATED, SECOND_STANDBY),
        {
            "new-ca:hippo": (
                "postgres-dr/hippo-standby: the CA changes with this one",
                "postgres-dr/hippo-standby2: new in this output",
            ),
            "new-ca:hippo-standby": (
                "This standby streams from postgres-dr/hippo, whose CA changes too (new-ca:hippo)",
            ),
        },
    ),
    (
        "source-elsewhere",
        (STANDBY,),
        (STANDBY_ROTATED,),
        {
            "new-ca:hippo-standby": (
                "streams from hippo-primary.postgres-dr.svc, whose cluster this output does not hold",
            )
        },
    ),
    (
        "source-to-cert-manager",
        (SOURCE, STANDBY),
        (SOURCE + CERT_MANAGER, STANDBY),
        {"new-ca:hippo": ("postgres-dr/hippo-standby: the CA does not change here",)},
    ),
    (
        "rotated-together-at-a-host",
        (SOURCE, AT_HOST(STANDBY)),
        (ROTATED, AT_HOST(STANDBY_ROTATED)),
        {
            "new-ca:hippo": ("postgres-dr/hippo-standby: the CA changes with this one",),
            "new-ca:hippo-standby": (
                "This standby streams from postgres-dr/hippo, whose CA changes too (new-ca:hippo)",
            ),
        },
    ),
    ("promoted", (SOURCE, STANDBY), (ROTATED, PROMOTED_ROTATED), {"new-ca:hippo": (), "new-ca:hippo-standby": ()}),
    ("no-standby", (SOURCE,), (ROTATED,), {"new-ca:hippo": ()}),
]


@pytest.mark.parametrize(
    ("old_specs", "new_specs", "said"), [c[1:] for c in STREAMING_CA_CASES], ids=[c[0] for c in STREAMING_CA_CASES]
)
def test_a_new_ca_names_the_standbys_streaming_across_it(
    tmp_path: Path, old_specs: tuple[str, ...], new_specs: tuple[str, ...], said: dict[str, tuple[str, ...]]
) -> None:
    """A streaming standby verifies its source against its CA, and the source verifies it against its own:
    a source's new CA stops the standbys that follow it (named in its finding, in the same output) until
    both sides run the new CA's certificates; a standby's new CA names its source, in the output or not."""
    old = rendered(tmp_path, "---\n".join(old_specs), "old")
    result = changes(old, rendered(tmp_path, "---\n".join(new_specs), "new"))
    notes = {
        f.id: f.message.removeprefix(changes_module.CA_REPLACED)
        for f in result.findings
        if f.id and f.id.startswith("new-ca:")
    }
    assert notes.keys() == said.keys()
    for ident, fragments in said.items():
        assert all(fragment in notes[ident] for fragment in fragments), notes[ident]
        assert bool(fragments) == bool(notes[ident]), notes[ident]


@pytest.mark.parametrize(
    ("before", "after", "risk"),
    [("pgo", "zalando", True), ("zalando", "pgd", True), ("pgo", "cnpg", False), ("zalando", "zalando", False)],
)
def test_another_role_label_is_a_risk(tmp_path: Path, before: str, after: str, risk: bool) -> None:
    """Patroni labels a member with its role in the new label only when it restarts: until then the
    Services select no member, and the reconcile Job that would restart them waits for the primary's."""
    old, new = two_members(), two_members()
    old["spec"]["naming"], new["spec"]["naming"] = before, after
    result = changes(rendered_spec(tmp_path, old, "old"), rendered_spec(tmp_path, new, "new"))
    found = [(f.change.value, f.path) for f in result.findings if f.id == "role-label:hippo"]
    assert found == ([("risk", "spec.naming")] if risk else [])


def test_a_services_new_port_is_a_risk_to_its_clients(tmp_path: Path) -> None:
    """spec.port: the Services answer on the new port at once, while applications read it from their
    Secrets only as they restart; the members move one at a time (the policies name the port)."""
    new = two_members()
    new["spec"]["port"] = 5433
    result = changes(rendered_spec(tmp_path, two_members(), "old"), rendered_spec(tmp_path, new, "new"))
    risks = [(f.name, f.path, f.id) for f in result.findings if f.change.value == "risk"]
    assert risks == [
        ("hippo-primary", "spec.ports[postgres].port", "service-port:hippo-primary"),
        ("hippo-replicas", "spec.ports[postgres].port", "service-port:hippo-replicas"),
    ]
    assert all(f.change.value == "restart" for f in result.findings if f.kind == "StatefulSet")


@pytest.mark.parametrize(
    ("example", "said"), [("standby", changes_module.SET_BY_SOURCE), ("hippo", changes_module.SET_BY_JOB)]
)
def test_who_sets_a_new_password(tmp_path: Path, example: str, said: str) -> None:
    """A standby's reconcile Job runs no SQL: its users' passwords are its source's, set there."""
    text = (EXAMPLES / f"{example}.yaml").read_text()
    users = "  users:\n    - name: app\n      databases: [app]\n"
    old = text.replace("spec:\n", "spec:\n" + users, 1)
    new = text.replace("spec:\n", "spec:\n" + users + "      passwordRotation: 1\n", 1)
    result = changes(rendered(tmp_path, old, "old"), rendered(tmp_path, new, "new"))
    passwords = [f.message for f in result.findings if f.kind == "Secret" and f.path == "data[password]"]
    assert passwords and all(said in m for m in passwords), passwords


def test_a_dashboards_new_panels_are_live(tmp_path: Path) -> None:
    """ConfigMap <c>-dashboard is read by Grafana's dashboard sidecar, which loads a change as it comes:
    live, not the no-op of a ConfigMap that only its mounting workload's restart brings in."""
    old, new = two_members(), two_members()
    for spec in (old, new):
        spec["spec"]["monitoring"] = {"grafanaDashboard": {}}
    new["spec"]["tls"] = {"validityDays": 200}  # the certificates' end, which a panel shows
    result = changes(rendered_spec(tmp_path, old, "old"), rendered_spec(tmp_path, new, "new"))
    (found,) = [f for f in result.findings if f.kind == "ConfigMap" and f.name == "hippo-dashboard"]
    assert (found.change.value, found.path) == ("live", "data[db_hippo.json]")
    assert "Grafana's dashboard sidecar loads the new one" in found.message


def test_a_switchover_already_made_is_not_reported_again(tmp_path: Path) -> None:
    """The same run in old and new output: the Job makes no switchover, so diff names none."""
    text = (EXAMPLES / "trio.yaml").read_text().replace("  patroni:\n", SWITCHOVER_1, 1)
    result = changes(
        rendered(tmp_path, text, "old"),
        rendered(tmp_path, text.replace("  patroni:\n", "  rollout: {maxLagBytes: 1000}\n  patroni:\n", 1), "new"),
    )
    assert result.findings and not [f for f in result.findings if "switchover" in f.message]
