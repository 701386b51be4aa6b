"""The Kubernetes API stand-in (kube_api.py), through a client written like the reconcile Job's script:
urllib, an SSL context from the service account's ca.crt, the bearer token from its token file.

No PostgreSQL here: the callbacks only record what they are asked to do.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.error
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


def start(root: Path, kubelet: Kubelet, rbac: Sequence[Mapping[str, Any]] = RBAC) -> KubeAPI:
    api = KubeAPI(
        root,
        NS,
        SA,
        rbac,
        delete_pod=kubelet.delete_pod,
        create_pod=kubelet.create_pod,
        ready=kubelet.is_ready,
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
    api: KubeAPI, method: str, path: str, body: Mapping[str, Any] | None = None, token: str | None = "file"
) -> tuple[int, dict[str, Any]]:
    """One request as the Job's script makes it: the service account files, urllib, JSON."""
    account = api.service_account_dir
    context = ssl.create_default_context(cafile=str(account / "ca.crt"))
    host, port = api.env["KUBERNETES_SERVICE_HOST"], api.env["KUBERNETES_SERVICE_PORT"]
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + ((account / "token").read_text() if token == "file" else token)
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
        ("GET", f"/api/v1/namespaces/{NS}/configmaps/c-config", 404),
        ("GET", f"/api/v1/namespaces/{NS}/pods/{POD}/log", 404),
        ("GET", f"/apis/apps/v1beta1/namespaces/{NS}/statefulsets/{STS}", 404),
        ("PATCH", POD_PATH, 405),
        ("DELETE", STS_PATH, 405),
        ("GET", f"/api/v1/namespaces/{NS}/pods", 405),
    ],
)
def test_what_is_not_served(tmp_path: Path, kubelet: Kubelet, method: str, path: str, code: int) -> None:
    with start(tmp_path, kubelet, [role(WILDCARDS), binding([sa()])]) as api:
        got, status = call(api, method, path, {} if method == "PATCH" else None)
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
