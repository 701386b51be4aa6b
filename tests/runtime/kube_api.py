"""A stand-in for the Kubernetes API server of one namespace, over HTTPS on loopback.

It serves the few requests a rendered Job that rolls database pods makes (with urllib, from the
service account files Kubernetes mounts into the pod), and does what Kubernetes would do about them:

* ``GET /apis/apps/v1/namespaces/{ns}/statefulsets/{name}``: the StatefulSet as stored by
  :meth:`KubeAPI.apply`, with a status computed like the StatefulSet controller's:
  ``observedGeneration`` (= ``metadata.generation``), ``replicas``, ``readyReplicas``,
  ``availableReplicas``, ``updatedReplicas`` and ``updateRevision``. ``currentRevision`` and
  ``currentReplicas`` are left out: with ``updateStrategy: OnDelete``, Kubernetes did not advance
  them after every pod was replaced (kubernetes/kubernetes#73492, fixed only in recent versions), so
  a client must compare each pod's ``controller-revision-hash`` label with ``updateRevision``.
* ``GET /api/v1/namespaces/{ns}/pods/{name}``: the pod of a StatefulSet ``X`` is ``X-0`` (one
  replica each). Its labels and annotations are those of the StatefulSet's pod template when the
  pod was created, plus the labels ``controller-revision-hash`` (``X-<hash of that template>``) and
  ``statefulset.kubernetes.io/pod-name``; a new ``metadata.uid`` per incarnation;
  ``metadata.deletionTimestamp`` while it terminates; ``status.phase`` ``Running`` and a ``Ready``
  condition that the ``ready`` callback decides, asked on every request.
* ``DELETE /api/v1/namespaces/{ns}/pods/{name}``, optionally with ``DeleteOptions``
  (``preconditions.uid``/``preconditions.resourceVersion``; 409 Conflict when one does not match).
  The answer is 200 with the pod, now terminating. Then, in a background thread, what kubelet and
  the StatefulSet controller do: the ``delete_pod`` callback stops the pod's processes, the pod is
  gone (404), a new incarnation is created from the StatefulSet's *current* template, and the
  ``create_pod`` callback starts its processes. A DELETE of a pod that is already terminating
  answers 200 and changes nothing.

Requests are checked as the API server checks them, in its order: authentication (the bearer token
written to :attr:`KubeAPI.service_account_dir`, else 401), then authorization by Kubernetes RBAC
from the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings given (else 403 with the message
Kubernetes writes), then the resource (404 for what is not served, 405 for a verb not served on a
served resource, 404 for an object that does not exist). Errors are ``Status`` objects as
Kubernetes writes them. Every request is recorded in :attr:`KubeAPI.requests` before it is answered.

What Kubernetes would do on its own and this server does not: defaulting of stored objects, lists
and watches. Of the StatefulSet controller's rolling updates, only the one a single pod needs: a
``RollingUpdate`` StatefulSet (the repository host) whose template changes has its pod deleted and
made anew from the new template, in a thread, as :meth:`KubeAPI.apply` says.

Callbacks run in the server's threads (``ready`` in the request's, the others in one thread per
DELETE); an exception they (or the server) raise is recorded, and :meth:`KubeAPI.wait_idle` and
:meth:`KubeAPI.stop` raise it, so that a test sees the failure.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import hmac
import json
import re
import secrets
import socket
import ssl
import sys
import threading
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .harness import HarnessError
from .object_store import ThrowawayCA

HOST = "127.0.0.1"
# What Kubernetes mounts into every pod that automounts its service account token.
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# The served resources: (API group, version, resource) -> verbs served on a named object.
SERVED: dict[tuple[str, str, str], frozenset[str]] = {
    ("", "v1", "pods"): frozenset({"get", "delete"}),
    ("apps", "v1", "statefulsets"): frozenset({"get"}),
}
_REQUEST_PATH = re.compile(
    r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<namespace>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?/?"
)
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
# Alphabet of Kubernetes' rand.SafeEncodeString, which makes revision hashes: no vowels, no 0/1/3.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Manifest = dict[str, Any]


class KubeAPIError(HarnessError):
    """A callback of :class:`KubeAPI` (or the server itself) failed; the message has the tracebacks."""


class KubeAPI:
    """The Kubernetes API of namespace ``namespace`` as the pods of ServiceAccount ``service_account`` see it.

    ``rbac`` holds the RBAC objects of the cluster (other kinds are ignored, so all rendered
    objects may be passed); ``root`` receives the service account directory and the server's key.
    Callbacks: ``delete_pod(name)`` stops the processes of pod ``name``, ``create_pod(name,
    statefulset)`` starts them from the StatefulSet (as stored) the new pod was created from,
    ``ready(name)`` says whether the pod passes its readiness probe.

    Use as a context manager (started on entry unless it runs already, stopped on exit), or call
    :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        root: Path,
        namespace: str,
        service_account: str,
        rbac: Sequence[Mapping[str, Any]],
        *,
        delete_pod: Callable[[str], None],
        create_pod: Callable[[str, Mapping[str, Any]], None],
        ready: Callable[[str], bool],
    ) -> None:
        self.root = root
        self.namespace = namespace
        self.service_account = service_account
        self.user = f"system:serviceaccount:{namespace}:{service_account}"
        self.groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")
        self._rbac = [copy.deepcopy(dict(obj)) for obj in rbac if obj.get("kind") in RBAC_KINDS]
        self._delete_pod = delete_pod
        self._create_pod = create_pod
        self._ready = ready
        self.service_account_dir = root / "serviceaccount"
        self.env: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []
        self._token = secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self._statefulsets: dict[str, Manifest] = {}
        self._pods: dict[str, Manifest] = {}
        self._resource_version = 0
        self._workers: list[threading.Thread] = []
        self._errors: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Write the service account files and the server's certificate, and start serving."""
        if self._server is not None:
            raise HarnessError("the Kubernetes API stand-in is already running")
        ca = ThrowawayCA("pgrender test Kubernetes API CA")
        cert, key = ca.issue(
            "kube-apiserver",
            ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
            ip_addresses=[HOST],
        )
        tls = self.root / "kube-api-tls"
        tls.mkdir(mode=0o700, parents=True, exist_ok=True)
        (tls / "server.crt").write_bytes(cert)
        (tls / "server.key").write_bytes(key)
        (tls / "server.key").chmod(0o600)
        # Kubernetes' projected service account volume: every file mode 0644 (defaultMode 420).
        self.service_account_dir.mkdir(parents=True, exist_ok=True)
        self.service_account_dir.chmod(0o755)
        for file, content in (("token", self._token), ("ca.crt", ca.ca_pem.decode()), ("namespace", self.namespace)):
            (self.service_account_dir / file).write_text(content)
            (self.service_account_dir / file).chmod(0o644)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "server.crt", tls / "server.key")
        server = _Server((HOST, 0), _Handler)
        server.api, server.context = self, context
        self._server = server
        self.env = {"KUBERNETES_SERVICE_HOST": HOST, "KUBERNETES_SERVICE_PORT": str(server.server_address[1])}
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kube-api", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 60) -> None:
        """Stop serving, wait for background recreations, and raise what a callback raised."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            assert self._thread is not None
            self._thread.join()
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until every pod deleted so far has been recreated (its callbacks have returned);
        raise :class:`KubeAPIError` if a callback or the server failed since the last call."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(timeout)
            if worker.is_alive():
                raise HarnessError(f"the Kubernetes API stand-in: {worker.name} still running after {timeout}s")
        with self._lock:
            self._workers = [worker for worker in self._workers if worker.is_alive()]
            errors, self._errors = self._errors, []
        if errors:
            raise KubeAPIError("the Kubernetes API stand-in failed:\n" + "\n".join(errors))

    def __enter__(self) -> KubeAPI:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- what exists -------------------------------------------------------------------------

    def pod(self, name: str) -> Manifest | None:
        """Pod ``name`` as stored (a copy), or None: for tests to check what the API serves."""
        with self._lock:
            return copy.deepcopy(self._pods.get(name))

    def set_rbac(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Replace the RBAC objects (of ``objects``; other kinds are ignored), as an apply would."""
        with self._lock:
            self._rbac = [copy.deepcopy(dict(obj)) for obj in objects if obj.get("kind") in RBAC_KINDS]

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Store the StatefulSets among ``objects`` as ``kubectl apply`` would (other kinds are ignored).

        A changed ``spec`` bumps ``metadata.generation``; existing pods keep the labels and
        annotations of the template they were created from (OnDelete: the members). A template
        change that the StatefulSet controller rolls out by itself (a ``RollingUpdate`` strategy
        whose partition does not hold back the pod) replaces a pod of an older template: deleted
        (``delete_pod``), then made from the new template (``create_pod``), as for a DELETE.

        ``replicas`` is 1 or 0 (spec.shutdown). A StatefulSet scaled to 0 has its pod deleted and
        not recreated (the ``delete_pod`` callback); one scaled back to 1 gets a pod from its
        template (``create_pod``). As the StatefulSet controllers do, each in a thread of its own,
        so the pods of one apply stop (or start) at the same time; :meth:`wait_idle` waits for them.
        """
        for obj in objects:
            if obj.get("kind") != "StatefulSet":
                continue
            meta = obj["metadata"]
            name = meta["name"]
            if meta.get("namespace", self.namespace) != self.namespace:
                raise HarnessError(f"StatefulSet {name} is in namespace {meta['namespace']}, not {self.namespace}")
            replicas = obj["spec"].get("replicas", 1)
            if replicas not in (0, 1):
                raise HarnessError(f"StatefulSet {name}: the stand-in runs one replica or none, not {replicas}")
            with self._lock:
                stored = self._statefulsets.get(name)
                pod = self._pods.get(f"{name}-0")
                new = copy.deepcopy(dict(obj))
                if stored is None:
                    new["metadata"] |= {
                        "uid": str(uuid.uuid4()),
                        "generation": 1,
                        "creationTimestamp": _now(),
                    }
                else:
                    kept = {key: stored["metadata"][key] for key in ("uid", "generation", "creationTimestamp")}
                    new["metadata"] |= kept
                    if new["spec"] != stored["spec"]:
                        new["metadata"]["generation"] += 1
                new["metadata"]["resourceVersion"] = self._next_resource_version()
                self._statefulsets[name] = new
                rolled = stored is not None and _rolls_by_itself(new) and replicas == 1
                if rolled and pod is not None and "deletionTimestamp" not in pod["metadata"]:
                    if _revision(new) != _revision_of(pod):
                        pod["metadata"]["deletionTimestamp"] = _now()
                        self._start_worker(f"roll {name}", self._recreate, f"{name}-0", name)
                elif replicas == 0 and pod is not None and "deletionTimestamp" not in pod["metadata"]:
                    pod["metadata"]["deletionTimestamp"] = _now()
                    self._start_worker(f"scale down {name}", self._scale_down, f"{name}-0")
                elif replicas == 1 and pod is None and stored is not None:
                    self._pods[f"{name}-0"] = self._new_pod(new)
                    self._start_worker(f"scale up {name}", self._scale_up, f"{name}-0", copy.deepcopy(new))

    def add_pod(self, statefulset: str) -> None:
        """A running pod of StatefulSet ``statefulset``, from its stored template, for processes
        already running (the ``create_pod`` callback is not called)."""
        with self._lock:
            name = f"{statefulset}-0"
            if statefulset not in self._statefulsets:
                raise HarnessError(f"no StatefulSet {statefulset} was applied")
            if name in self._pods:
                raise HarnessError(f"pod {name} exists already")
            self._pods[name] = self._new_pod(self._statefulsets[statefulset])

    def _new_pod(self, statefulset: Manifest) -> Manifest:
        """The pod object the StatefulSet controller creates from ``statefulset`` (lock held)."""
        sts_meta = statefulset["metadata"]
        template = statefulset["spec"]["template"]
        name = f"{sts_meta['name']}-0"
        labels = dict(template.get("metadata", {}).get("labels", {}))
        labels |= {"controller-revision-hash": _revision(statefulset), "statefulset.kubernetes.io/pod-name": name}
        meta: Manifest = {
            "name": name,
            "namespace": self.namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": self._next_resource_version(),
            "creationTimestamp": _now(),
            "labels": labels,
        }
        annotations = template.get("metadata", {}).get("annotations")
        if annotations:
            meta["annotations"] = dict(annotations)
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": sts_meta["name"],
                "uid": sts_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": copy.deepcopy(template.get("spec", {})),
            "status": {"phase": "Running"},
        }

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    # -- requests ----------------------------------------------------------------------------

    def _answer(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, Manifest]:
        """Status code and JSON body of one request."""
        if authorization is None or not hmac.compare_digest(authorization.encode(), f"Bearer {self._token}".encode()):
            return 401, _status(401, "Unauthorized", "Unauthorized")
        match = _REQUEST_PATH.fullmatch(urllib.parse.urlsplit(path).path)
        if match is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        group = match["group"] or ""
        version = match["core"] or match["version"]
        namespace, resource, name, subresource = match.group("namespace", "resource", "name", "subresource")
        verb = _verb(method, name, urllib.parse.urlsplit(path).query)
        qualified = f"{resource}.{group}" if group else resource
        rules = granted_rules(self._rbac, namespace, self.namespace, self.user, self.groups)
        if not any(_rule_allows(rule, verb, group, resource, subresource, name) for rule in rules):
            full_resource = f"{resource}/{subresource}" if subresource else resource
            denial = (
                f"User {_q(self.user)} cannot {verb} resource {_q(full_resource)} in API group {_q(group)} "
                f"in the namespace {_q(namespace)}"
            )
            subject = f"{qualified} {_q(name)}" if name else qualified
            return 403, _status(403, "Forbidden", f"{subject} is forbidden: {denial}", _details(group, resource, name))
        served = SERVED.get((group, version, resource))
        if served is None or subresource is not None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if verb not in served:
            return 405, _status(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        if namespace != self.namespace:
            return 404, _not_found(group, resource, name)
        if resource == "statefulsets":
            return self._get_statefulset(name)
        if verb == "get":
            return self._get_pod(name)
        return self._delete(name, body)

    def _get_statefulset(self, name: str) -> tuple[int, Manifest]:
        with self._lock:
            stored = self._statefulsets.get(name)
            pod = self._pods.get(f"{name}-0")
            statefulset = copy.deepcopy(stored)
            pods = [] if pod is None else [copy.deepcopy(pod)]
        if statefulset is None:
            return 404, _not_found("apps", "statefulsets", name)
        update_revision = _revision(statefulset)
        ready = sum(self._ready(pod["metadata"]["name"]) for pod in pods)
        updated = sum(
            "deletionTimestamp" not in pod["metadata"] and _revision_of(pod) == update_revision for pod in pods
        )
        statefulset["status"] = {
            "observedGeneration": statefulset["metadata"]["generation"],
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": updated,
            "updateRevision": update_revision,
            "collisionCount": 0,
        }
        return 200, statefulset

    def _get_pod(self, name: str) -> tuple[int, Manifest]:
        with self._lock:
            pod = copy.deepcopy(self._pods.get(name))
        if pod is None:
            return 404, _not_found("", "pods", name)
        return 200, self._with_readiness(pod)

    def _with_readiness(self, pod: Manifest) -> Manifest:
        ready = "True" if self._ready(pod["metadata"]["name"]) else "False"
        pod["status"]["conditions"] = [{"type": "Ready", "status": ready}]
        return pod

    def _delete(self, name: str, body: bytes) -> tuple[int, Manifest]:
        try:
            options = json.loads(body) if body.strip() else {}
            preconditions = options.get("preconditions") or {}
            assert isinstance(preconditions, dict)
        except (ValueError, AttributeError, AssertionError):
            return 400, _status(400, "BadRequest", f"the body of the request was not DeleteOptions: {body[:200]!r}")
        with self._lock:
            pod = self._pods.get(name)
            if pod is None:
                return 404, _not_found("", "pods", name)
            meta = pod["metadata"]
            for key, what in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if key in preconditions and preconditions[key] != meta[key]:
                    return 409, _status(
                        409,
                        "Conflict",
                        f"Operation cannot be fulfilled on pods {_q(name)}: Precondition failed: "
                        f"{what} in precondition: {preconditions[key]}, {what} in object meta: {meta[key]}",
                        _details("", "pods", name),
                    )
            if "deletionTimestamp" not in meta:
                meta["deletionTimestamp"] = _now()
                meta["deletionGracePeriodSeconds"] = pod["spec"].get("terminationGracePeriodSeconds", 30)
                meta["resourceVersion"] = self._next_resource_version()
                statefulset = meta["ownerReferences"][0]["name"]
                self._start_worker(f"recreate {name}", self._recreate, name, statefulset)
            pod = copy.deepcopy(pod)
        return 200, self._with_readiness(pod)

    def _start_worker(self, what: str, target: Callable[..., Any], *args: Any) -> None:
        """Run ``target(*args)`` in a thread of its own, as a controller would act (lock held)."""
        worker = threading.Thread(target=target, args=args, name=what, daemon=True)
        self._workers.append(worker)
        worker.start()

    def _scale_down(self, name: str) -> None:
        """kubelet after the StatefulSet controller deleted pod ``name`` for replicas 0."""
        if self._run_callback(f"delete_pod({name!r})", lambda: self._delete_pod(name)):
            with self._lock:
                del self._pods[name]

    def _scale_up(self, name: str, statefulset: Manifest) -> None:
        """kubelet after the StatefulSet controller created pod ``name`` for replicas 1."""
        self._run_callback(f"create_pod({name!r})", lambda: self._create_pod(name, statefulset))

    def _recreate(self, name: str, statefulset: str) -> None:
        """kubelet and the StatefulSet controller after a DELETE of pod ``name``."""
        if not self._run_callback(f"delete_pod({name!r})", lambda: self._delete_pod(name)):
            return  # the processes may still run: the pod stays terminating
        with self._lock:
            del self._pods[name]  # gone: GET answers 404 ...
        with self._lock:  # ... until the controller has created the next incarnation
            stored = copy.deepcopy(self._statefulsets[statefulset])
            self._pods[name] = self._new_pod(stored)
        self._run_callback(f"create_pod({name!r})", lambda: self._create_pod(name, stored))

    def _run_callback(self, what: str, call: Callable[[], None]) -> bool:
        try:
            call()
        except BaseException as exc:
            self._record(what, exc)
            return False
        return True

    def _record(self, what: str, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(f"{what} raised:\n" + "".join(traceback.format_exception(exc)))

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer the request ``handler`` has read (called by the server's threads)."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        try:
            status, answer = self._answer(handler.command, handler.path, handler.headers.get("Authorization"), body)
        except Exception as exc:
            self._record(f"{handler.command} {handler.path}", exc)
            status, answer = 500, _status(500, "InternalError", f"the stand-in failed: {exc!r}")
        with self._lock:
            self.requests.append((handler.command, urllib.parse.urlsplit(handler.path).path, status))
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


# ------------------------------------------------------------------------------------------------
# RBAC, as Kubernetes' RBAC authorizer evaluates it (pkg/registry/rbac/validation, rbac/v1 helpers)
# ------------------------------------------------------------------------------------------------


def granted_rules(
    objects: Sequence[Mapping[str, Any]], namespace: str, default_namespace: str, user: str, groups: Sequence[str]
) -> list[Mapping[str, Any]]:
    """The PolicyRules that RBAC objects grant ``user`` (member of ``groups``) in ``namespace``.

    A RoleBinding in ``namespace`` grants the rules of the Role of that name in ``namespace`` or of
    the ClusterRole it names; a ClusterRoleBinding those of its ClusterRole, in every namespace. A
    binding to a role that does not exist grants nothing; rules add up. Objects without
    ``metadata.namespace`` are in ``default_namespace``.
    """

    def namespace_of(obj: Mapping[str, Any]) -> str:
        return str(obj["metadata"].get("namespace", default_namespace))

    def rules_of(ref: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return [
            rule
            for role in objects
            if role.get("kind") == ref["kind"]
            and role["metadata"]["name"] == ref["name"]
            and (ref["kind"] == "ClusterRole" or (ref["kind"] == "Role" and namespace_of(role) == namespace))
            for rule in role.get("rules") or []
        ]

    def grants(binding: Mapping[str, Any]) -> bool:
        if binding.get("kind") == "ClusterRoleBinding":
            return _binds(binding, "", user, groups)
        return (
            binding.get("kind") == "RoleBinding"
            and namespace_of(binding) == namespace
            and _binds(binding, namespace, user, groups)
        )

    return [rule for binding in objects if grants(binding) for rule in rules_of(binding["roleRef"])]


def _binds(binding: Mapping[str, Any], namespace: str, user: str, groups: Sequence[str]) -> bool:
    """Whether one of the binding's subjects is ``user`` or one of its ``groups``; a ServiceAccount
    subject without a namespace is in the binding's (appliesToUser)."""
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user:
            return True
        if kind == "Group" and name in groups:
            return True
        if kind == "ServiceAccount":
            sa_namespace = subject.get("namespace") or namespace
            if sa_namespace and user == f"system:serviceaccount:{sa_namespace}:{name}":
                return True
    return False


def _rule_allows(
    rule: Mapping[str, Any], verb: str, group: str, resource: str, subresource: str | None, name: str | None
) -> bool:
    """RuleAllows of Kubernetes' rbac/v1 helpers: verb, API group, resource (``*``, exact, or
    ``*/subresource``) and, when the rule lists any, the object's name."""
    verbs, groups, resources = rule.get("verbs") or [], rule.get("apiGroups") or [], rule.get("resources") or []
    combined = f"{resource}/{subresource}" if subresource else resource
    names = rule.get("resourceNames") or []
    return (
        ("*" in verbs or verb in verbs)
        and ("*" in groups or group in groups)
        and ("*" in resources or combined in resources or (subresource is not None and f"*/{subresource}" in resources))
        and (not names or name in names)
    )


def _verb(method: str, name: str | None, query: str) -> str:
    """The authorization verb of a resource request (RequestInfoFactory)."""
    watch = urllib.parse.parse_qs(query).get("watch", ["false"])[0] in ("1", "true")
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    collection = {"POST": "create", "DELETE": "deletecollection"}
    named = {"PUT": "update", "PATCH": "patch", "DELETE": "delete", "POST": "create"}
    return (named if name else collection).get(method, method.lower())


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def _status(code: int, reason: str, message: str, details: Mapping[str, str] | None = None) -> Manifest:
    """A ``Status`` object as the API server answers errors with."""
    status: Manifest = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    status["reason"] = reason
    if details is not None:
        status["details"] = dict(details)
    status["code"] = code
    return status


def _details(group: str, resource: str, name: str | None) -> dict[str, str]:
    """``details`` of a Status about an object: its name, API group (not for the core group), resource."""
    details = {"name": name} if name else {}
    if group:
        details["group"] = group
    return details | {"kind": resource}


def _not_found(group: str, resource: str, name: str) -> Manifest:
    qualified = f"{resource}.{group}" if group else resource
    return _status(404, "NotFound", f"{qualified} {_q(name)} not found", _details(group, resource, name))


def _q(text: str) -> str:
    """Go's ``%q``, with which the API server quotes names in its messages."""
    return json.dumps(text)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _revision(statefulset: Mapping[str, Any]) -> str:
    """The name of the ControllerRevision of the StatefulSet's template: ``<name>-<hash>``, a hash
    of the template written in Kubernetes' alphabet (not Kubernetes' hash: only equality matters)."""
    digest = hashlib.sha256(json.dumps(statefulset["spec"]["template"], sort_keys=True).encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    encoded = ""
    for _ in range(10):
        number, index = divmod(number, len(_SAFE_ALPHABET))
        encoded += _SAFE_ALPHABET[index]
    return f"{statefulset['metadata']['name']}-{encoded}"


def _revision_of(pod: Mapping[str, Any]) -> str:
    revision: str = pod["metadata"]["labels"]["controller-revision-hash"]
    return revision


def _rolls_by_itself(statefulset: Mapping[str, Any]) -> bool:
    """Whether the StatefulSet controller replaces the pod ``-0`` by itself when the template changes."""
    strategy = statefulset["spec"].get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "OnDelete":
        return False
    partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
    return bool(partition < 1)


# ------------------------------------------------------------------------------------------------
# The HTTPS server
# ------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """A thread per connection; TLS is set up in that thread, so one slow client blocks no other."""

    daemon_threads = True
    api: KubeAPI
    context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        assert isinstance(request, socket.socket)
        request.settimeout(30)
        with self.context.wrap_socket(request, server_side=True) as tls:
            _Handler(tls, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that rejects the certificate or hangs up is its own business; the rest is recorded."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            self.api._record(f"connection from {client_address}", error)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.api.serve(self)

    do_DELETE = do_POST = do_PUT = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are in :attr:`KubeAPI.requests`; nothing goes to stderr."""
