"""The Kubernetes API stand-in (kube_api.py), through a client written like the reconcile Job's script:
urllib, an SSL context from the service account's ca.crt, the bearer token from its token file; and,
for Patroni's Kubernetes DCS, requests and watches as Patroni's K8sClient makes them (strategic merge
patches with a resourceVersion, ``watch=True``, a chunked body read event by event).

No PostgreSQL here: the callbacks only record what they are asked to do.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .kube_api import SERVICE_ACCOUNT_PATH, KubeAPI, KubeAPIError

NS = "db"
SA = "c-reconcile"
STS = "c-db"
POD = "c-db-0"
STS_PATH = f"/apis/apps/v1/namespaces/{NS}/statefulsets/{STS}"
POD_PATH = f"/api/v1/namespaces/{NS}/pods/{POD}"

# Everything the reconcile Job needs: its StatefulSet and its pod by name, nothing else.
RECONCILE_RULES = [
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get"], "resourceNames": [STS]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"], "resourceNames": [POD]},
]


def role(rules: Sequence[Mapping[str, Any]], name: str = "reconcile", namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": list(rules),
    }


def binding(
    subjects: Sequence[Mapping[str, str]], role_name: str = "reconcile", namespace: str = NS, kind: str = "Role"
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "reconcile", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
        "subjects": list(subjects),
    }


def sa(name: str = SA, namespace: str = NS) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


RBAC = [role(RECONCILE_RULES), binding([sa()])]


def statefulset(config: str, name: str = STS, strategy: str = "OnDelete", replicas: int = 1) -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": "c"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "updateStrategy": {"type": strategy},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {"pgrender.io/config": config}},
                "spec": {"serviceAccountName": "c-instance", "containers": [{"name": "database", "image": "pg"}]},
            },
        },
    }


class Kubelet:
    """The callbacks: what they were asked, in order, and which pods are ready."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.ready: dict[str, bool] = {}
        self.on_delete: Callable[[str], None] = lambda name: None

    def delete_pod(self, name: str) -> None:
        self.calls.append(("delete", name))
        self.on_delete(name)
        self.ready[name] = False

    def create_pod(self, name: str, sts: Mapping[str, Any]) -> None:
        self.calls.append(("create", name, sts["spec"]["template"]["metadata"]["annotations"]["pgrender.io/config"]))
        self.ready[name] = True

    def is_ready(self, name: str) -> bool:
        return self.ready.get(name, True)


def start(root: Path, kubelet: Kubelet, rbac: Sequence[Mapping[str, Any]] = RBAC, **options: Any) -> KubeAPI:
    api = KubeAPI(
        root,
        NS,
        SA,
        rbac,
        delete_pod=kubelet.delete_pod,
        create_pod=kubelet.create_pod,
        ready=kubelet.is_ready,
        **options,
    )
    api.start()
    api.apply([statefulset("v1"), {"kind": "ConfigMap", "metadata": {"name": "ignored"}}])
    api.add_pod(STS)
    return api


@pytest.fixture
def kubelet() -> Kubelet:
    return Kubelet()


@pytest.fixture
def api(tmp_path: Path, kubelet: Kubelet) -> Iterator[KubeAPI]:
    server = start(tmp_path, kubelet)
    try:
        yield server
    finally:
        server.stop()


def call(
    api: KubeAPI,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    token: str | None = "file",
    *,
    account: str = SA,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """One request as the Job's script makes it: the service account files (of ``account``), urllib,
    JSON."""
    directory = api.account_dir(account)
    context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
    host, port = api.env["KUBERNETES_SERVICE_HOST"], api.env["KUBERNETES_SERVICE_PORT"]
    headers = {"Accept": "application/json", "Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = "Bearer " + ((directory / "token").read_text() if token == "file" else token)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"https://{host}:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def test_service_account_files(api: KubeAPI) -> None:
    assert SERVICE_ACCOUNT_PATH == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert {path.name for path in api.service_account_dir.iterdir()} == {"token", "ca.crt", "namespace"}
    assert (api.service_account_dir / "namespace").read_text() == NS
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in api.service_account_dir.iterdir())
    assert api.env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"


def test_certificate_names_the_service(api: KubeAPI) -> None:
    context = ssl.create_default_context(cafile=str(api.service_account_dir / "ca.crt"))
    port = int(api.env["KUBERNETES_SERVICE_PORT"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="kubernetes.default.svc") as tls,
    ):
        assert tls.version() is not None


def test_get_statefulset_and_pod(api: KubeAPI, kubelet: Kubelet) -> None:
    code, sts = call(api, "GET", STS_PATH)
    assert code == 200
    assert sts["metadata"]["generation"] == sts["status"]["observedGeneration"] == 1
    assert sts["spec"] == statefulset("v1")["spec"]
    status = sts["status"]
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (1, 1, 1)
    assert status["updateRevision"].startswith(f"{STS}-")
    assert "currentRevision" not in status
    code, pod = call(api, "GET", POD_PATH)
    assert code == 200
    assert pod["metadata"]["name"] == POD and pod["metadata"]["namespace"] == NS
    assert pod["metadata"]["annotations"] == {"pgrender.io/config": "v1"}
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "c"
    assert pod["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]
    assert "deletionTimestamp" not in pod["metadata"]
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    kubelet.ready[POD] = False
    assert call(api, "GET", POD_PATH)[1]["status"]["conditions"] == [{"type": "Ready", "status": "False"}]
    assert call(api, "GET", STS_PATH)[1]["status"]["readyReplicas"] == 0
    assert kubelet.calls == []


def test_not_found(tmp_path: Path, kubelet: Kubelet) -> None:
    get_all = [{"apiGroups": ["", "apps"], "resources": ["pods", "statefulsets"], "verbs": ["get"]}]
    with start(tmp_path, kubelet, [role(get_all), binding([sa()])]) as api:
        api.apply([statefulset("v1", name="c-other")])
        code, status = call(api, "GET", f"/api/v1/namespaces/{NS}/pods/c-other-0")
        assert (code, status) == (
            404,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": 'pods "c-other-0" not found',
                "reason": "NotFound",
                "details": {"name": "c-other-0", "kind": "pods"},
                "code": 404,
            },
        )
        code, status = call(api, "GET", f"/apis/apps/v1/namespaces/{NS}/statefulsets/c-other")
        assert code == 200 and status["status"]["replicas"] == 0
        code, status = call(api, "GET", f"/apis/apps/v1/namespaces/{NS}/statefulsets/c-none")
        assert (code, status["message"]) == (404, 'statefulsets.apps "c-none" not found')
        assert status["details"] == {"name": "c-none", "group": "apps", "kind": "statefulsets"}


def test_apply_bumps_generation_only_on_a_new_spec(api: KubeAPI) -> None:
    api.apply([statefulset("v1")])
    assert call(api, "GET", STS_PATH)[1]["metadata"]["generation"] == 1
    api.apply([statefulset("v2")])
    sts = call(api, "GET", STS_PATH)[1]
    assert sts["metadata"]["generation"] == sts["status"]["observedGeneration"] == 2
    assert sts["status"]["updatedReplicas"] == 0
    # the running pod keeps the template it was created from
    assert call(api, "GET", POD_PATH)[1]["metadata"]["annotations"] == {"pgrender.io/config": "v1"}


def test_apply_rolls_what_kubernetes_rolls_by_itself(tmp_path: Path, kubelet: Kubelet) -> None:
    """A RollingUpdate StatefulSet (the repository host): a new template replaces the pod; OnDelete's
    (the members) and the same template replace nothing."""
    with start(tmp_path, kubelet) as api:
        api.apply([statefulset("v1", strategy="RollingUpdate")])  # the template is unchanged
        api.wait_idle()
        assert kubelet.calls == []
        api.apply([statefulset("v2", strategy="RollingUpdate")])
        api.wait_idle()
        assert kubelet.calls == [("delete", POD), ("create", POD, "v2")]
        code, pod = call(api, "GET", POD_PATH)
        assert code == 200 and pod["metadata"]["annotations"] == {"pgrender.io/config": "v2"}
        api.apply([statefulset("v3")])  # OnDelete
        api.wait_idle()
        assert kubelet.calls == [("delete", POD), ("create", POD, "v2")]


def test_delete_recreates_the_pod_from_the_current_template(api: KubeAPI, kubelet: Kubelet) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []
    kubelet.on_delete = lambda name: seen.append(call(api, "GET", POD_PATH))
    old = call(api, "GET", POD_PATH)[1]
    api.apply([statefulset("v2")])
    code, deleted = call(api, "DELETE", POD_PATH, {"preconditions": {"uid": old["metadata"]["uid"]}})
    assert code == 200
    assert deleted["metadata"]["uid"] == old["metadata"]["uid"]
    assert "deletionTimestamp" in deleted["metadata"]
    api.wait_idle()
    assert kubelet.calls == [("delete", POD), ("create", POD, "v2")]
    # while kubelet stopped it, the pod was terminating
    assert seen[0][0] == 200 and "deletionTimestamp" in seen[0][1]["metadata"]
    code, new = call(api, "GET", POD_PATH)
    assert code == 200
    assert new["metadata"]["uid"] != old["metadata"]["uid"]
    assert new["metadata"]["annotations"] == {"pgrender.io/config": "v2"}
    assert "deletionTimestamp" not in new["metadata"]
    status = call(api, "GET", STS_PATH)[1]["status"]
    assert new["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]
    assert old["metadata"]["labels"]["controller-revision-hash"] != status["updateRevision"]
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (1, 1, 1)


def test_scaled_to_zero_and_back(api: KubeAPI, kubelet: Kubelet) -> None:
    """spec.shutdown: replicas 0 deletes the pod and makes none; 1 again makes it from the template."""
    seen: list[tuple[int, dict[str, Any]]] = []
    kubelet.on_delete = lambda name: seen.append(call(api, "GET", POD_PATH))
    api.apply([statefulset("v1", replicas=0)])
    api.wait_idle()
    assert kubelet.calls == [("delete", POD)]
    assert seen[0][0] == 200 and "deletionTimestamp" in seen[0][1]["metadata"]  # terminating while it stops
    assert call(api, "GET", POD_PATH)[0] == 404
    status = call(api, "GET", STS_PATH)[1]["status"]
    assert (status["replicas"], status["readyReplicas"]) == (0, 0)
    api.apply([statefulset("v2", replicas=0)])  # still none: nothing to stop or start
    api.wait_idle()
    assert kubelet.calls == [("delete", POD)]
    api.apply([statefulset("v2")])
    api.wait_idle()
    assert kubelet.calls == [("delete", POD), ("create", POD, "v2")]
    code, pod = call(api, "GET", POD_PATH)
    assert code == 200 and pod["metadata"]["annotations"] == {"pgrender.io/config": "v2"}
    with pytest.raises(AssertionError, match="one replica or none, not 2"):
        api.apply([statefulset("v2", replicas=2)])


def test_delete_of_a_terminating_pod_changes_nothing(api: KubeAPI, kubelet: Kubelet) -> None:
    release = threading.Event()

    def stopping(name: str) -> None:
        release.wait(10)

    kubelet.on_delete = stopping  # kubelet takes its time to stop the pod
    assert call(api, "DELETE", POD_PATH)[0] == 200
    code, again = call(api, "DELETE", POD_PATH)
    assert code == 200 and "deletionTimestamp" in again["metadata"]
    release.set()
    api.wait_idle()
    assert kubelet.calls == [("delete", POD), ("create", POD, "v1")]


@pytest.mark.parametrize(
    ("precondition", "message"),
    [
        ({"uid": "not-the-uid"}, "UID in precondition: not-the-uid, UID in object meta: "),
        ({"resourceVersion": "0"}, "ResourceVersion in precondition: 0, ResourceVersion in object meta: "),
    ],
)
def test_delete_precondition_mismatch_is_a_conflict(
    api: KubeAPI, kubelet: Kubelet, precondition: dict[str, str], message: str
) -> None:
    before = call(api, "GET", POD_PATH)[1]
    code, status = call(api, "DELETE", POD_PATH, {"kind": "DeleteOptions", "preconditions": precondition})
    assert code == 409
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Conflict", 409)
    assert status["message"].startswith(f'Operation cannot be fulfilled on pods "{POD}": Precondition failed: ')
    assert message in status["message"]
    api.wait_idle()
    assert kubelet.calls == []
    assert call(api, "GET", POD_PATH)[1]["metadata"] == before["metadata"]


def test_delete_with_a_body_that_is_not_delete_options(api: KubeAPI) -> None:
    assert call(api, "DELETE", POD_PATH, ["not", "options"])[0] == 400  # type: ignore[arg-type]


@pytest.mark.parametrize("token", [None, "wrong", ""], ids=["no header", "wrong token", "empty token"])
def test_authentication(api: KubeAPI, kubelet: Kubelet, token: str | None) -> None:
    code, status = call(api, "DELETE", POD_PATH, token=token)
    assert (code, status["reason"], status["message"]) == (401, "Unauthorized", "Unauthorized")
    assert kubelet.calls == []


OTHER_POD = f"/api/v1/namespaces/{NS}/pods/c-other-0"
GET_ONLY = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
DELETE_ONLY = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]
WILDCARDS = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
WRONG_GROUP = [{"apiGroups": [""], "resources": ["statefulsets"], "verbs": ["get"]}]
SUBRESOURCE_ONLY = [{"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get"]}]
ROLE = role(RECONCILE_RULES)


SA_GROUP = {"kind": "Group", "name": f"system:serviceaccounts:{NS}"}
SA_USER = {"kind": "User", "name": f"system:serviceaccount:{NS}:{SA}"}
SA_IN_BINDING_NS = {"kind": "ServiceAccount", "name": SA}
CLUSTER_ROLE = {**ROLE, "kind": "ClusterRole"}
IN_X = f"/api/v1/namespaces/x/pods/{POD}"
CLUSTER_WIDE = [
    {**role(WILDCARDS), "kind": "ClusterRole"},
    {**binding([sa()], kind="ClusterRole"), "kind": "ClusterRoleBinding"},
]


@pytest.mark.parametrize(
    ("rbac", "method", "path", "code"),
    [
        pytest.param(RBAC, "GET", POD_PATH, 200, id="get pod in resourceNames"),
        pytest.param(RBAC, "DELETE", POD_PATH, 200, id="delete pod in resourceNames"),
        pytest.param(RBAC, "GET", STS_PATH, 200, id="get statefulset in resourceNames"),
        pytest.param(RBAC, "GET", OTHER_POD, 403, id="pod not in resourceNames"),
        pytest.param(RBAC, "GET", f"/api/v1/namespaces/{NS}/pods", 403, id="list with resourceNames"),
        pytest.param(RBAC, "DELETE", STS_PATH, 403, id="verb not granted for statefulsets"),
        pytest.param([role(GET_ONLY), binding([sa()])], "DELETE", POD_PATH, 403, id="delete not granted"),
        pytest.param([role(GET_ONLY), binding([sa()])], "GET", OTHER_POD, 404, id="no resourceNames: all"),
        pytest.param([role(GET_ONLY + DELETE_ONLY), binding([sa()])], "DELETE", POD_PATH, 200, id="rules add up"),
        pytest.param([role(WILDCARDS), binding([sa()])], "DELETE", POD_PATH, 200, id="wildcards"),
        pytest.param([role(WRONG_GROUP), binding([sa()])], "GET", STS_PATH, 403, id="wrong API group"),
        pytest.param([role(SUBRESOURCE_ONLY), binding([sa()])], "GET", POD_PATH, 403, id="subresource only"),
        pytest.param([ROLE, binding([sa("c-instance")])], "GET", POD_PATH, 403, id="binds another account"),
        pytest.param([ROLE, binding([sa(SA, "other")])], "GET", POD_PATH, 403, id="binds account of other ns"),
        pytest.param([ROLE, binding([SA_IN_BINDING_NS])], "GET", POD_PATH, 200, id="account in binding's ns"),
        pytest.param([ROLE, binding([SA_GROUP])], "GET", POD_PATH, 200, id="group of the namespace's accounts"),
        pytest.param([ROLE, binding([SA_USER])], "GET", POD_PATH, 200, id="account's user name"),
        pytest.param([ROLE, binding([sa()], "missing")], "GET", POD_PATH, 403, id="binds a missing role"),
        pytest.param([role(RECONCILE_RULES, namespace="x"), binding([sa()])], "GET", POD_PATH, 403, id="role in x"),
        pytest.param([ROLE, binding([sa()], namespace="x")], "GET", POD_PATH, 403, id="binding in x"),
        pytest.param([ROLE], "GET", POD_PATH, 403, id="no binding"),
        pytest.param([role(WILDCARDS), binding([sa()])], "GET", IN_X, 403, id="other namespace"),
        pytest.param(CLUSTER_WIDE, "GET", IN_X, 404, id="cluster role binding: other namespace, no such pod"),
        pytest.param([CLUSTER_ROLE, binding([sa()], kind="ClusterRole")], "GET", POD_PATH, 200, id="cluster role"),
        pytest.param([CLUSTER_ROLE, binding([sa()])], "GET", POD_PATH, 403, id="roleRef kind Role"),
    ],
)
def test_rbac(
    tmp_path: Path, kubelet: Kubelet, rbac: Sequence[Mapping[str, Any]], method: str, path: str, code: int
) -> None:
    with start(tmp_path, kubelet, rbac) as api:
        got, status = call(api, method, path)
        assert got == code, status
        if code == 403:
            assert (status["kind"], status["reason"], status["code"]) == ("Status", "Forbidden", 403)
        if method == "DELETE" and code == 200:
            api.wait_idle()
            assert kubelet.calls == [("delete", POD), ("create", POD, "v1")]
        else:
            assert kubelet.calls == []


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        (
            "DELETE",
            POD_PATH,
            'pods "c-db-0" is forbidden: User "system:serviceaccount:db:c-reconcile" '
            'cannot delete resource "pods" in API group "" in the namespace "db"',
        ),
        (
            "GET",
            STS_PATH,
            'statefulsets.apps "c-db" is forbidden: User "system:serviceaccount:db:c-reconcile" '
            'cannot get resource "statefulsets" in API group "apps" in the namespace "db"',
        ),
        (
            "GET",
            "/api/v1/namespaces/db/secrets",
            'secrets is forbidden: User "system:serviceaccount:db:c-reconcile" '
            'cannot list resource "secrets" in API group "" in the namespace "db"',
        ),
    ],
)
def test_forbidden_message(tmp_path: Path, kubelet: Kubelet, method: str, path: str, message: str) -> None:
    with start(tmp_path, kubelet, [role(GET_ONLY), binding([sa()])]) as api:
        code, status = call(api, method, path)
        assert (code, status["message"]) == (403, message)


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/version", 404),
        ("GET", f"/api/v1/namespaces/{NS}/secrets/c-secret", 404),
        ("GET", f"/api/v1/namespaces/{NS}/configmaps/c-config", 404),  # served, but none exists
        ("GET", f"/api/v1/namespaces/{NS}/pods/{POD}/log", 404),
        ("GET", f"/apis/apps/v1beta1/namespaces/{NS}/statefulsets/{STS}", 404),
        ("PUT", POD_PATH, 405),
        ("POST", f"/api/v1/namespaces/{NS}/pods", 405),
        ("DELETE", f"/api/v1/namespaces/{NS}/pods", 405),
        ("POST", f"/api/v1/namespaces/{NS}/configmaps/c-config", 405),
        ("DELETE", STS_PATH, 405),
        ("GET", f"/apis/apps/v1/namespaces/{NS}/statefulsets", 405),
    ],
)
def test_what_is_not_served(tmp_path: Path, kubelet: Kubelet, method: str, path: str, code: int) -> None:
    with start(tmp_path, kubelet, [role(WILDCARDS), binding([sa()])]) as api:
        got, status = call(api, method, path, {} if method in ("PUT", "POST") else None)
        assert (got, status["kind"], status["code"]) == (code, "Status", code)
        assert kubelet.calls == []


def test_request_log(api: KubeAPI, kubelet: Kubelet) -> None:
    call(api, "GET", STS_PATH)
    call(api, "GET", POD_PATH, token="wrong")
    call(api, "GET", f"{OTHER_POD}?resourceVersion=0")
    call(api, "DELETE", POD_PATH)
    api.wait_idle()
    assert api.requests == [
        ("GET", STS_PATH, 200),
        ("GET", POD_PATH, 401),
        ("GET", OTHER_POD, 403),
        ("DELETE", POD_PATH, 200),
    ]


@pytest.mark.parametrize("which", ["delete_pod", "create_pod", "ready"])
def test_a_failing_callback_is_raised_by_wait_idle(tmp_path: Path, kubelet: Kubelet, which: str) -> None:
    def fail(*args: object) -> bool:
        raise RuntimeError(f"{which} broke")

    setattr(kubelet, "is_ready" if which == "ready" else which, fail)
    api = start(tmp_path, kubelet)
    try:
        code = call(api, "GET" if which == "ready" else "DELETE", POD_PATH)[0]
        assert code == (500 if which == "ready" else 200)
        with pytest.raises(KubeAPIError, match=f"{which} broke"):
            api.wait_idle()
        if which != "ready":
            # the server still answers; a pod whose processes could not be stopped stays terminating
            kubelet.ready[POD] = True
            pod = call(api, "GET", POD_PATH)[1]
            assert ("deletionTimestamp" in pod["metadata"]) == (which == "delete_pod")
    finally:
        api.stop()  # reported once, by wait_idle


def test_stop_raises_a_callback_failure(tmp_path: Path, kubelet: Kubelet) -> None:
    def fail(name: str) -> None:
        time.sleep(0.2)
        raise RuntimeError("could not stop the processes")

    kubelet.delete_pod = fail  # type: ignore[method-assign]
    with pytest.raises(KubeAPIError, match="could not stop the processes"), start(tmp_path, kubelet) as api:
        assert call(api, "DELETE", POD_PATH)[0] == 200


# --------------------------------------------------------------------------------------------
# What Patroni's Kubernetes DCS needs: ConfigMaps, pods' labels, lists, watches, compare-and-set
# --------------------------------------------------------------------------------------------

MEMBERS = "c-instance"
CM = f"/api/v1/namespaces/{NS}/configmaps"
PODS = f"/api/v1/namespaces/{NS}/pods"
# The rendered Role of the members (pgrender's <c>-instance), bound to their account.
INSTANCE_RULES = [
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "watch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch", "watch"]},
]
DCS_RBAC = [*RBAC, role(INSTANCE_RULES, "instance"), binding([sa(MEMBERS)], "instance")]
SCOPE = {"app": "c", "scope": "c-ha"}
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def dcs(tmp_path: Path, kubelet: Kubelet) -> Iterator[KubeAPI]:
    """The stand-in with the members' account and Role beside the Job's."""
    server = start(tmp_path, kubelet, DCS_RBAC, accounts=[MEMBERS])
    try:
        yield server
    finally:
        server.stop()


def member_call(
    api: KubeAPI, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    return call(api, method, path, body, account=MEMBERS, content_type=content_type)


def config_map(name: str, labels: Mapping[str, str] = SCOPE, **annotations: str) -> dict[str, Any]:
    """A ConfigMap as Patroni creates one: metadata only, no kind."""
    return {"metadata": {"name": name, "namespace": NS, "labels": dict(labels), "annotations": annotations}}


def patch(api: KubeAPI, path: str, metadata: Mapping[str, Any], **more: Any) -> tuple[int, dict[str, Any]]:
    return member_call(api, "PATCH", path, {"metadata": dict(metadata), **more}, STRATEGIC)


class Watch:
    """A watch as Patroni's ObjectCache reads it: one HTTPS connection, the events of a chunked body
    (read in a thread; :meth:`events` waits for them), until the server ends the stream."""

    def __init__(self, api: KubeAPI, path: str, account: str = MEMBERS) -> None:
        directory = api.account_dir(account)
        context = ssl.create_default_context(cafile=str(directory / "ca.crt"))
        port = int(api.env["KUBERNETES_SERVICE_PORT"])
        self.connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        token = (directory / "token").read_text()
        self.connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        assert self.connection.sock is not None
        self.socket: socket.socket = self.connection.sock
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.chunked = self.response.getheader("Transfer-Encoding") == "chunked"
        self.received: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.ended_at: float | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while line := self.response.readline():
                self.received.put(json.loads(line))
        except (OSError, ValueError, AttributeError):  # closed by close()
            pass
        self.ended_at = time.monotonic()
        self.received.put(None)

    def events(self, count: int, timeout: float = 10) -> list[tuple[str, str, str]]:
        """The next ``count`` events as (type, name, resourceVersion)."""
        found = []
        for _ in range(count):
            event = self.received.get(timeout=timeout)
            assert event is not None, f"the stream ended after {found}"
            meta = event["object"]["metadata"]
            found.append((event["type"], meta.get("name", ""), meta.get("resourceVersion", "")))
        return found

    def raw(self, timeout: float = 10) -> dict[str, Any] | None:
        return self.received.get(timeout=timeout)

    def nothing_more(self, seconds: float = 0.5) -> bool:
        try:
            event = self.received.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected event {event}")

    def close(self) -> None:
        """Hang up as Patroni's ObjectCache.kill_stream does: the socket shut down under the reader."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.thread.join(10)


def test_applied_config_maps_are_there(dcs: KubeAPI) -> None:
    """kubectl apply: the rendered ConfigMap exists; a new apply replaces what it says, and only a
    change is a write."""
    code, applied = member_call(dcs, "GET", f"{CM}/ignored")
    assert code == 200 and applied["metadata"]["uid"] and "data" not in applied
    version = applied["metadata"]["resourceVersion"]
    dcs.apply([{"kind": "ConfigMap", "metadata": {"name": "ignored"}}])
    assert member_call(dcs, "GET", f"{CM}/ignored")[1]["metadata"]["resourceVersion"] == version
    dcs.apply([{"kind": "ConfigMap", "metadata": {"name": "ignored"}, "data": {"k": "v"}}])
    code, changed = member_call(dcs, "GET", f"{CM}/ignored")
    assert changed["data"] == {"k": "v"} and int(changed["metadata"]["resourceVersion"]) > int(version)
    assert changed["metadata"]["uid"] == applied["metadata"]["uid"]
    code, status = member_call(dcs, "POST", CM, config_map("ignored"))
    assert (code, status["reason"]) == (409, "AlreadyExists")


def test_config_maps_are_created_once_and_read_back(dcs: KubeAPI) -> None:
    code, created = member_call(dcs, "POST", CM, config_map("c-ha-leader", leader="c-db-0"))
    assert code == 201
    assert (created["kind"], created["apiVersion"]) == ("ConfigMap", "v1")
    meta = created["metadata"]
    assert meta["annotations"] == {"leader": "c-db-0"} and meta["labels"] == SCOPE and meta["uid"]
    code, again = member_call(dcs, "POST", CM, config_map("c-ha-leader", leader="c-db-1"))
    assert (code, again["reason"], again["message"]) == (
        409,
        "AlreadyExists",
        'configmaps "c-ha-leader" already exists',
    )
    code, read = member_call(dcs, "GET", f"{CM}/c-ha-leader")
    assert code == 200 and read["metadata"] == meta
    code, status = member_call(dcs, "POST", CM, {"metadata": {"name": "x", "namespace": "other"}})
    assert code == 400 and "does not match the namespace" in status["message"]
    code, status = member_call(dcs, "POST", CM, {"metadata": {"name": "x", "resourceVersion": "7"}})
    assert code == 500 and status["message"] == "resourceVersion should not be set on objects to be created"
    code, status = member_call(dcs, "POST", CM, config_map("bad", {"role": "not a label value"}))
    assert (code, status["reason"]) == (422, "Invalid")
    code, status = member_call(dcs, "POST", CM, {"metadata": {"name": "x", "annotations": {"n": 1}}})
    assert code == 400


def test_a_patch_with_a_stale_resource_version_is_a_conflict(dcs: KubeAPI) -> None:
    """Patroni's compare-and-set of the leader object: the resourceVersion it last saw, in the patch."""
    version = member_call(dcs, "POST", CM, config_map("c-ha-leader", leader="c-db-0"))[1]["metadata"]["resourceVersion"]
    code, renewed = patch(dcs, f"{CM}/c-ha-leader", {"resourceVersion": version, "annotations": {"renewTime": "1"}})
    assert code == 200
    newer = renewed["metadata"]["resourceVersion"]
    assert int(newer) > int(version)
    assert renewed["metadata"]["annotations"] == {"leader": "c-db-0", "renewTime": "1"}
    code, status = patch(dcs, f"{CM}/c-ha-leader", {"resourceVersion": version, "annotations": {"leader": "c-db-1"}})
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "c-ha-leader": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert member_call(dcs, "GET", f"{CM}/c-ha-leader")[1]["metadata"]["annotations"]["leader"] == "c-db-0"
    # a patch that changes nothing writes nothing: the resourceVersion stays
    code, same = patch(dcs, f"{CM}/c-ha-leader", {"resourceVersion": newer, "annotations": {"renewTime": "1"}})
    assert code == 200 and same["metadata"]["resourceVersion"] == newer
    code, status = patch(dcs, f"{CM}/c-ha-leader", {"uid": "not-the-uid"})
    assert code == 409 and "UID in precondition: not-the-uid" in status["message"]


def test_a_patch_merges_maps_and_null_removes_a_key(dcs: KubeAPI) -> None:
    """touch_member: the role label set, or removed (null), and the status annotation replaced."""
    code, pod = patch(dcs, POD_PATH, {"labels": {"role": "master"}, "annotations": {"status": '{"a":1}'}})
    assert code == 200
    assert pod["metadata"]["labels"]["role"] == "master" and pod["metadata"]["labels"]["app.kubernetes.io/instance"]
    assert pod["metadata"]["annotations"] == {"pgrender.io/config": "v1", "status": '{"a":1}'}
    code, pod = patch(dcs, POD_PATH, {"labels": {"role": None}})
    assert code == 200 and "role" not in pod["metadata"]["labels"]
    assert pod["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    code, cm = member_call(dcs, "POST", CM, {"metadata": {"name": "x"}, "data": {"a": "1", "b": "2"}})
    code, cm = member_call(dcs, "PATCH", f"{CM}/x", {"data": {"a": None, "c": "3"}}, "application/merge-patch+json")
    assert code == 200 and cm["data"] == {"b": "2", "c": "3"}


@pytest.mark.parametrize(
    ("path", "body", "content_type", "code"),
    [
        (POD_PATH, {"spec": {"nodeName": "n"}}, STRATEGIC, 422),
        (POD_PATH, {"metadata": {"ownerReferences": []}}, STRATEGIC, 422),
        (POD_PATH, {"metadata": {"labels": {"role": "not valid"}}}, STRATEGIC, 422),
        (POD_PATH, {"metadata": {"labels": {"-bad-": "x"}}}, STRATEGIC, 422),
        (POD_PATH, {"metadata": {"annotations": {"n": 1}}}, STRATEGIC, 400),
        (POD_PATH, {"metadata": {"name": "c-db-1"}}, STRATEGIC, 400),
        (POD_PATH, [{"op": "add", "path": "/metadata/labels/x", "value": "y"}], "application/json-patch+json", 415),
        (POD_PATH, {"metadata": {"labels": {"role": "x"}}}, "application/json", 415),
        (f"{PODS}/c-none-0", {"metadata": {"labels": {"role": "x"}}}, STRATEGIC, 404),
        (f"{CM}/c-none", {"metadata": {"labels": {"role": "x"}}}, STRATEGIC, 404),
    ],
)
def test_what_a_patch_may_not_do(dcs: KubeAPI, path: str, body: Any, content_type: str, code: int) -> None:
    before = dcs.pod(POD)
    got, status = member_call(dcs, "PATCH", path, body, content_type)
    assert (got, status["kind"]) == (code, "Status"), status
    assert dcs.pod(POD) == before


def test_lists_select_by_label_and_carry_the_resource_version(dcs: KubeAPI) -> None:
    for name, labels in (("a", SCOPE), ("b", {**SCOPE, "scope": "other"}), ("c", {"app": "c"})):
        assert member_call(dcs, "POST", CM, config_map(name, labels))[0] == 201
    code, listed = member_call(dcs, "GET", f"{CM}?labelSelector=app%3Dc%2Cscope%3Dc-ha")
    assert code == 200 and listed["kind"] == "ConfigMapList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["a"]
    assert "kind" not in listed["items"][0]
    assert listed["metadata"]["resourceVersion"] == member_call(dcs, "GET", f"{CM}/c")[1]["metadata"]["resourceVersion"]
    selected = {
        "": ["a", "b", "c", "ignored"],  # the one applied, too
        "scope": ["a", "b"],
        "!scope": ["c", "ignored"],
        "scope!=c-ha": ["b", "c", "ignored"],
        "scope in (c-ha, other)": ["a", "b"],
        "scope notin (c-ha)": ["b", "c", "ignored"],
        "app==c,scope=other": ["b"],
    }
    for selector, names in selected.items():
        code, listed = member_call(dcs, "GET", f"{CM}?labelSelector={urllib.parse.quote(selector)}")
        assert code == 200 and [item["metadata"]["name"] for item in listed["items"]] == names, selector
    for bad in ("a=b=c", "a in b", "a,", "a=not valid"):
        assert member_call(dcs, "GET", f"{CM}?labelSelector={urllib.parse.quote(bad)}")[0] == 400, bad
    assert member_call(dcs, "GET", f"{CM}?fieldSelector=metadata.name%3Da")[0] == 400
    code, pods = member_call(dcs, "GET", f"{PODS}?labelSelector=app.kubernetes.io%2Finstance%3Dc")
    assert [pod["metadata"]["name"] for pod in pods["items"]] == [POD]
    assert pods["items"][0]["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert pods["items"][0]["status"]["podIP"] == "127.0.0.1"


def test_a_watch_delivers_every_change_after_its_resource_version_in_order(dcs: KubeAPI) -> None:
    version = member_call(dcs, "GET", f"{CM}?labelSelector=app%3Dc")[1]["metadata"]["resourceVersion"]
    watch = Watch(dcs, f"{CM}?labelSelector=app%3Dc&watch=True&resourceVersion={version}")
    try:
        assert watch.status == 200 and watch.chunked
        created = member_call(dcs, "POST", CM, config_map("c-ha-leader", leader="c-db-0"))[1]
        member_call(dcs, "POST", CM, config_map("unrelated", {"app": "d"}))
        patched = patch(dcs, f"{CM}/c-ha-leader", {"annotations": {"renewTime": "2"}})[1]
        assert member_call(dcs, "DELETE", f"{CM}/c-ha-leader")[0] == 200
        events = watch.events(3)
        assert [(kind, name) for kind, name, _ in events] == [
            ("ADDED", "c-ha-leader"),
            ("MODIFIED", "c-ha-leader"),
            ("DELETED", "c-ha-leader"),
        ]
        versions = [int(v) for _, _, v in events]
        history = dcs.history("configmaps", "c-ha-leader")
        assert [(kind, int(obj["metadata"]["resourceVersion"])) for kind, obj in history] == list(
            zip(["ADDED", "MODIFIED", "DELETED"], versions, strict=True)
        )
        assert versions[0] == int(created["metadata"]["resourceVersion"])
        assert versions[1] == int(patched["metadata"]["resourceVersion"])
        assert versions[0] < versions[1] < versions[2], "a deletion has a resourceVersion of its own"
        assert watch.nothing_more()
    finally:
        watch.close()
    # a watch from a resourceVersion in the past replays what came after it
    replay = Watch(dcs, f"{CM}?labelSelector=app%3Dc&watch=1&resourceVersion={version}")
    try:
        assert [kind for kind, _, _ in replay.events(3)] == ["ADDED", "MODIFIED", "DELETED"]
    finally:
        replay.close()


def test_a_watch_without_a_resource_version_starts_with_the_current_objects(dcs: KubeAPI) -> None:
    member_call(dcs, "POST", CM, config_map("c-ha-config", config="{}"))
    watch = Watch(dcs, f"{CM}?watch=true&labelSelector=app%3Dc")
    try:
        assert watch.events(1)[0][:2] == ("ADDED", "c-ha-config")
        patch(dcs, f"{CM}/c-ha-config", {"annotations": {"initialize": "1"}})
        assert watch.events(1)[0][:2] == ("MODIFIED", "c-ha-config")
    finally:
        watch.close()


def test_a_watch_with_a_selector_sees_objects_come_and_go_as_labels_change(dcs: KubeAPI) -> None:
    """The primary Service's view: pods labelled role=master. A pod that gets the label is ADDED, one
    that loses it DELETED (with its previous state)."""
    version = member_call(dcs, "GET", PODS)[1]["metadata"]["resourceVersion"]
    watch = Watch(dcs, f"{PODS}?watch=true&resourceVersion={version}&labelSelector=role%3Dmaster")
    try:
        patch(dcs, POD_PATH, {"labels": {"role": "master"}})
        patch(dcs, POD_PATH, {"annotations": {"status": "x"}})
        patch(dcs, POD_PATH, {"labels": {"role": "replica"}})
        added, modified, deleted = (watch.raw() for _ in range(3))
        assert added is not None and modified is not None and deleted is not None
        assert [e["type"] for e in (added, modified, deleted)] == ["ADDED", "MODIFIED", "DELETED"]
        assert deleted["object"]["metadata"]["labels"]["role"] == "master", "the state that matched"
        assert int(deleted["object"]["metadata"]["resourceVersion"]) > int(
            modified["object"]["metadata"]["resourceVersion"]
        )
        assert added["object"]["kind"] == "Pod" and added["object"]["status"]["conditions"][0]["type"] == "Ready"
        assert watch.nothing_more()
    finally:
        watch.close()


def test_a_watch_sees_the_pods_the_controller_replaces(dcs: KubeAPI, kubelet: Kubelet) -> None:
    version = member_call(dcs, "GET", PODS)[1]["metadata"]["resourceVersion"]
    watch = Watch(dcs, f"{PODS}?watch=true&resourceVersion={version}")
    try:
        old_uid = dcs.pod(POD)["metadata"]["uid"]  # type: ignore[index]
        assert call(dcs, "DELETE", POD_PATH)[0] == 200
        dcs.wait_idle()
        events = [watch.raw() for _ in range(3)]
        assert [(e or {}).get("type") for e in events] == ["MODIFIED", "DELETED", "ADDED"]
        assert "deletionTimestamp" in events[0]["object"]["metadata"]  # type: ignore[index]
        assert events[1]["object"]["metadata"]["uid"] == old_uid  # type: ignore[index]
        assert events[2]["object"]["metadata"]["uid"] != old_uid  # type: ignore[index]
    finally:
        watch.close()


def test_a_watch_ends_after_its_timeout(tmp_path: Path, kubelet: Kubelet) -> None:
    """timeoutSeconds; without it, between min_request_timeout and twice that (here 1 s)."""
    with start(tmp_path, kubelet, DCS_RBAC, accounts=[MEMBERS], min_request_timeout=1) as api:
        started = time.monotonic()
        asked = Watch(api, f"{CM}?watch=true&timeoutSeconds=2&labelSelector=app%3Dnone")
        chosen = Watch(api, f"{CM}?watch=true&labelSelector=app%3Dnone")
        try:
            assert asked.raw(10) is None and chosen.raw(10) is None  # ended, no events
            assert asked.ended_at is not None and chosen.ended_at is not None
            assert 2 <= asked.ended_at - started < 4
            assert 1 <= chosen.ended_at - started < 3
        finally:
            asked.close()
            chosen.close()


def test_a_watch_from_a_resource_version_no_longer_kept_is_expired(tmp_path: Path, kubelet: Kubelet) -> None:
    with start(tmp_path, kubelet, DCS_RBAC, accounts=[MEMBERS], history=2) as api:
        first = member_call(api, "POST", CM, config_map("a"))[1]["metadata"]["resourceVersion"]
        for value in "123":
            patch(api, f"{CM}/a", {"annotations": {"n": value}})
        watch = Watch(api, f"{CM}?watch=true&resourceVersion={first}")
        try:
            error = watch.raw()
            assert error is not None and error["type"] == "ERROR"
            assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")
            assert error["object"]["message"].startswith(f"too old resource version: {first} (")
            assert watch.raw() is None
        finally:
            watch.close()


def test_a_collection_is_deleted_by_label(dcs: KubeAPI) -> None:
    """What Patroni's delete_cluster (patronictl remove) does: every object of the scope goes."""
    for name, labels in (("a", SCOPE), ("b", SCOPE), ("c", {"app": "c"})):
        member_call(dcs, "POST", CM, config_map(name, labels))
    watch = Watch(dcs, f"{CM}?watch=true&labelSelector=scope%3Dc-ha")
    try:
        assert [kind for kind, _, _ in watch.events(2)] == ["ADDED", "ADDED"]
        code, deleted = member_call(dcs, "DELETE", f"{CM}?labelSelector=scope%3Dc-ha")
        assert code == 200 and [item["metadata"]["name"] for item in deleted["items"]] == ["a", "b"]
        assert [(kind, name) for kind, name, _ in watch.events(2)] == [("DELETED", "a"), ("DELETED", "b")]
    finally:
        watch.close()
    assert [item["metadata"]["name"] for item in member_call(dcs, "GET", CM)[1]["items"]] == ["c", "ignored"]
    code, status = member_call(dcs, "DELETE", f"{CM}/c", {"preconditions": {"resourceVersion": "1"}})
    assert code == 409
    code, status = member_call(dcs, "DELETE", f"{CM}/c")
    assert (code, status["status"], status["details"]["name"]) == (200, "Success", "c")
    assert member_call(dcs, "GET", f"{CM}/c")[0] == 404


@pytest.mark.parametrize(
    ("account", "method", "path", "body", "code"),
    [
        pytest.param(MEMBERS, "GET", f"{CM}?watch=true&timeoutSeconds=1", None, 200, id="members watch configmaps"),
        pytest.param(MEMBERS, "GET", f"{PODS}?watch=true&timeoutSeconds=1", None, 200, id="members watch pods"),
        pytest.param(MEMBERS, "GET", PODS, None, 200, id="members list pods"),
        pytest.param(MEMBERS, "PATCH", POD_PATH, {"metadata": {}}, 200, id="members patch pods"),
        pytest.param(MEMBERS, "POST", CM, {"metadata": {"name": "x"}}, 201, id="members create configmaps"),
        pytest.param(MEMBERS, "DELETE", CM, None, 200, id="members deletecollection configmaps"),
        pytest.param(MEMBERS, "DELETE", POD_PATH, None, 403, id="members do not delete pods"),
        pytest.param(MEMBERS, "GET", STS_PATH, None, 403, id="members do not get statefulsets"),
        pytest.param(SA, "GET", PODS, None, 403, id="the Job does not list pods"),
        pytest.param(SA, "GET", f"{PODS}?watch=true", None, 403, id="the Job does not watch pods"),
        pytest.param(SA, "GET", f"{CM}/x", None, 403, id="the Job does not get configmaps"),
        pytest.param(SA, "PATCH", POD_PATH, {"metadata": {}}, 403, id="the Job does not patch pods"),
    ],
)
def test_rbac_per_verb_and_account(dcs: KubeAPI, account: str, method: str, path: str, body: Any, code: int) -> None:
    if method == "GET" and "watch=true" in path and code == 200:
        watch = Watch(dcs, path, account)
        try:
            assert watch.status == 200
            while watch.raw() is not None:  # the pod's ADDED, then the end of the stream after 1 s
                pass
        finally:
            watch.close()
        return
    got, status = call(dcs, method, path, body, account=account, content_type=STRATEGIC)
    assert got == code, status
    if code == 403:
        user = f"system:serviceaccount:{NS}:{account}"
        assert f'User "{user}" cannot ' in status["message"]


def test_watch_needs_its_own_verb(tmp_path: Path, kubelet: Kubelet) -> None:
    """A Role that grants list but not watch: the list answers, the watch is forbidden (as Patroni
    would find with a Role that lacks it)."""
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]
    with start(tmp_path, kubelet, [role(rules, "i"), binding([sa(MEMBERS)], "i")], accounts=[MEMBERS]) as api:
        assert member_call(api, "GET", CM)[0] == 200
        code, status = member_call(api, "GET", f"{CM}?watch=True")
        assert code == 403 and 'cannot watch resource "configmaps"' in status["message"]
        assert member_call(api, "GET", f"{CM}?watch=false")[0] == 200


def test_each_account_has_its_own_token(dcs: KubeAPI) -> None:
    job, members = dcs.account_dir(SA), dcs.account_dir(MEMBERS)
    assert job != members and (job / "token").read_text() != (members / "token").read_text()
    assert (job / "ca.crt").read_text() == (members / "ca.crt").read_text()
    assert {p.name for p in members.iterdir()} == {"token", "ca.crt", "namespace"}
    with pytest.raises(AssertionError, match="no service account"):
        dcs.account_dir("c-other")
