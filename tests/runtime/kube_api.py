"""A stand-in for the Kubernetes API server of one namespace, over HTTPS on loopback.

It serves what the rendered pods that talk to Kubernetes ask of it, with the service account files
Kubernetes mounts into them: the reconcile Job that rolls database pods (urllib), and Patroni's
Kubernetes DCS in the members (Patroni's own K8sClient on urllib3: ConfigMaps for the leader, config,
sync and failover objects, the pods' role labels and ``status`` annotations, each kept up to date by
a list and a watch). It does what Kubernetes would do about these requests:

* ``GET /apis/apps/v1/namespaces/{ns}/statefulsets/{name}``: the StatefulSet as stored by
  :meth:`KubeAPI.apply`, with a status computed like the StatefulSet controller's:
  ``observedGeneration`` (= ``metadata.generation``), ``replicas``, ``readyReplicas``,
  ``availableReplicas``, ``updatedReplicas`` and ``updateRevision``. ``currentRevision`` and
  ``currentReplicas`` are left out: with ``updateStrategy: OnDelete``, Kubernetes did not advance
  them after every pod was replaced (kubernetes/kubernetes#73492, fixed only in recent versions), so
  a client must compare each pod's ``controller-revision-hash`` label with ``updateRevision``.
* Pods (``/api/v1/namespaces/{ns}/pods[/{name}]``): ``get``, ``list``, ``watch``, ``patch``,
  ``delete``. The pod of a StatefulSet ``X`` is ``X-0`` (one replica each). Its labels and
  annotations are those of the StatefulSet's pod template when the pod was created, plus the labels
  ``controller-revision-hash`` (``X-<hash of that template>``) and
  ``statefulset.kubernetes.io/pod-name``; a new ``metadata.uid`` per incarnation;
  ``metadata.deletionTimestamp`` while it terminates; ``status.phase`` ``Running``, ``status.podIP``
  127.0.0.1 (every pod's address here) and a ``Ready`` condition that the ``ready`` callback
  decides, asked whenever the pod is served (a change of readiness alone is no watch event: it is
  not stored). A DELETE (optionally with ``DeleteOptions``: ``preconditions.uid``/
  ``preconditions.resourceVersion``, 409 Conflict when one does not match) answers 200 with the pod,
  now terminating. Then, in a background thread, what kubelet and the StatefulSet controller do: the
  ``delete_pod`` callback stops the pod's processes, the pod is gone (404), a new incarnation is
  created from the StatefulSet's *current* template, and the ``create_pod`` callback starts its
  processes. A DELETE of a pod that is already terminating answers 200 and changes nothing.
* ConfigMaps (``/api/v1/namespaces/{ns}/configmaps[/{name}]``): ``get``, ``list``, ``watch``,
  ``create`` (201; 409 AlreadyExists), ``patch``, ``delete`` (200 and a ``Success`` Status; the
  same preconditions as a pod's) and ``deletecollection`` (200 and the list of what was deleted).
  Those applied (:meth:`KubeAPI.apply`: the rendered ones) are there beside those clients create,
  so a client's selector or name that meets a rendered one meets it here too.

The semantics a client builds on, as the API server has them:

* One ``resourceVersion`` sequence for everything stored (etcd's revision): every write of an object
  gives it the next one; a PATCH that changes nothing writes nothing and keeps it. A PATCH whose
  ``metadata.resourceVersion`` (or ``metadata.uid``) differs from the stored one is refused with 409
  Conflict ("the object has been modified"): Patroni's compare-and-set of the leader object.
  PATCH takes ``application/strategic-merge-patch+json`` and ``application/merge-patch+json``, which
  agree for what may be patched here: ``metadata.labels`` and ``metadata.annotations`` (maps: a key
  set to null goes), and a ConfigMap's ``data``/``binaryData``; a patch of any other field is
  answered 422 by the stand-in, a JSON patch or apply patch 415. Label keys and values are checked
  as Kubernetes checks them (422 Invalid), annotation and data values must be strings (400).
* ``labelSelector`` on list, watch and deletecollection: ``k=v``, ``k==v``, ``k!=v``,
  ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``, comma-separated (400 on anything else).
  ``fieldSelector``, ``limit`` and ``continue`` are not served (400).
* A list answers the current state with the ``resourceVersion`` it is at (any ``resourceVersion``
  asked for is not newer, so this is what the API server may answer too). A watch (``watch`` other
  than ``0``/``false``, ``resourceVersion`` R) streams, chunked, one JSON event per line, every
  change after R in order: ``ADDED``, ``MODIFIED``, ``DELETED`` (the object's last state with the
  deletion's ``resourceVersion``); as the watch cache does for a label selector, an object that
  comes to match is ``ADDED`` and one that stops matching ``DELETED`` (its previous state). Without
  R (or R ``0``) it first sends the current objects as ``ADDED``. An R older than the kept history
  (``history`` events) gets an ``ERROR`` event with a 410 Expired Status ("too old resource
  version"). The stream ends after ``timeoutSeconds``, or when none is given after a random time
  between ``min_request_timeout`` and twice that (kube-apiserver's ``--min-request-timeout``,
  1800 s by default), when the client hangs up, or when the server stops. Bookmarks are not sent.
* Verbs as the API server derives them (``get``/``list``/``watch``/``create``/``patch``/``update``/
  ``delete``/``deletecollection``) and RBAC checked for each, per service account.

Requests are checked as the API server checks them, in its order: authentication (the bearer token
of one of the service accounts, each written to :meth:`KubeAPI.account_dir`, else 401), then
authorization by Kubernetes RBAC from the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
given (else 403 with the message Kubernetes writes), then the resource (404 for what is not served,
405 for a verb not served on a served resource, 404 for an object that does not exist). Errors are
``Status`` objects as Kubernetes writes them. Every request is recorded in :attr:`KubeAPI.requests`
before it is answered (a watch when its stream starts).

What Kubernetes would do on its own and this server does not: defaulting of stored objects, other
resources, the Endpoints of Services (the harness stands in for what a Service selects:
``LocalCluster.selected``). Of the StatefulSet controller's rolling updates, only the one a single
pod needs: a ``RollingUpdate`` StatefulSet (the repository host) whose template changes has its pod
deleted and made anew from the new template, in a thread, as :meth:`KubeAPI.apply` says.

Callbacks run in the server's threads (``ready`` in the request's, the others in one thread per
DELETE); an exception they (or the server) raise is recorded, and :meth:`KubeAPI.wait_idle` and
:meth:`KubeAPI.stop` raise it, so that a test sees the failure.
"""

from __future__ import annotations

import bisect
import copy
import datetime
import hashlib
import hmac
import json
import random
import re
import secrets
import select
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .harness import HarnessError, free_ports
from .object_store import ThrowawayCA

HOST = "127.0.0.1"
# What Kubernetes mounts into every pod that automounts its service account token.
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# The served resources: (API group, version, resource) -> verbs served.
SERVED: dict[tuple[str, str, str], frozenset[str]] = {
    ("", "v1", "pods"): frozenset({"get", "list", "watch", "patch", "delete"}),
    ("", "v1", "configmaps"): frozenset({"get", "list", "watch", "create", "patch", "delete", "deletecollection"}),
    ("apps", "v1", "statefulsets"): frozenset({"get"}),
}
KINDS = {"pods": "Pod", "configmaps": "ConfigMap", "statefulsets": "StatefulSet"}
_API_VERSIONS = {"pods": "v1", "configmaps": "v1", "statefulsets": "apps/v1"}
# What a PATCH may change, by resource (top-level field -> the fields below it it may change).
_PATCHABLE: dict[str, dict[str, frozenset[str] | None]] = {
    "pods": {"metadata": frozenset({"labels", "annotations"})},
    "configmaps": {"metadata": frozenset({"labels", "annotations"}), "data": None, "binaryData": None},
}
# Fields of a patch's metadata that only say which object it is for (or are a precondition).
_IDENTITY = frozenset({"name", "namespace", "resourceVersion", "uid"})
_PATCH_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json")
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


@dataclass(frozen=True)
class _Event:
    """A change of a stored object: its resourceVersion, resource, type, new (or last) state, and the
    state before (MODIFIED), which a watch with a label selector needs."""

    version: int
    resource: str
    type: str
    object: Manifest
    previous: Manifest | None = None


@dataclass(frozen=True)
class _Watch:
    """A watch request, answered as a stream: events of ``resource`` matching ``selector`` after
    ``since`` (None: the current objects first), for ``timeout`` seconds."""

    resource: str
    selector: tuple[tuple[str, str, frozenset[str]], ...]
    since: int | None
    timeout: float


class KubeAPI:
    """The Kubernetes API of namespace ``namespace`` as the pods of ServiceAccount ``service_account``
    (and of ``accounts``, each with a token of its own) see it.

    ``rbac`` holds the RBAC objects of the cluster (other kinds are ignored, so all rendered
    objects may be passed); ``root`` receives the service account directories and the server's key.
    Callbacks: ``delete_pod(name)`` stops the processes of pod ``name``, ``create_pod(name,
    statefulset)`` starts them from the StatefulSet (as stored) the new pod was created from,
    ``ready(name)`` says whether the pod passes its readiness probe. The port is chosen when the
    object is made, so :attr:`env` (and :meth:`account_dir`) can be handed out before :meth:`start`.

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
        accounts: Sequence[str] = (),
        min_request_timeout: float = 1800,
        history: int = 10000,
    ) -> None:
        self.root = root
        self.namespace = namespace
        self.service_account = service_account
        self.user = self.user_of(service_account)
        self.groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")
        self._rbac = [copy.deepcopy(dict(obj)) for obj in rbac if obj.get("kind") in RBAC_KINDS]
        self._delete_pod = delete_pod
        self._create_pod = create_pod
        self._ready = ready
        self.min_request_timeout = min_request_timeout
        self._history = history
        self.service_account_dir = root / "serviceaccount"
        # service account -> its token; the first is ``service_account``'s
        self._tokens = {name: secrets.token_urlsafe(32) for name in dict.fromkeys((service_account, *accounts))}
        self.port = free_ports(1)[0]
        self.env: dict[str, str] = {"KUBERNETES_SERVICE_HOST": HOST, "KUBERNETES_SERVICE_PORT": str(self.port)}
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified on every event, and on stop
        self._objects: dict[str, dict[str, Manifest]] = {resource: {} for resource in KINDS}
        self._statefulsets = self._objects["statefulsets"]
        self._pods = self._objects["pods"]
        self._resource_version = 0
        self._events: list[_Event] = []
        self._event_versions: list[int] = []  # the events' versions, for bisect
        self._compacted = 0  # events up to this resourceVersion are no longer kept
        self._stopping = False
        self._workers: list[threading.Thread] = []
        self._errors: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def user_of(self, account: str) -> str:
        """The user name Kubernetes authenticates service account ``account``'s token as."""
        return f"system:serviceaccount:{self.namespace}:{account}"

    def account_dir(self, account: str) -> Path:
        """Where the files Kubernetes mounts at :data:`SERVICE_ACCOUNT_PATH` for a pod of service
        account ``account`` are (written by :meth:`start`)."""
        if account not in self._tokens:
            raise HarnessError(f"no service account {account!r} here (have {sorted(self._tokens)})")
        return self.service_account_dir if account == self.service_account else self.root / "serviceaccounts" / account

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
        for account, token in self._tokens.items():
            directory = self.account_dir(account)
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
            for file, content in (("token", token), ("ca.crt", ca.ca_pem.decode()), ("namespace", self.namespace)):
                (directory / file).write_text(content)
                (directory / file).chmod(0o644)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "server.crt", tls / "server.key")
        server = _Server((HOST, self.port), _Handler)
        server.api, server.context = self, context
        self._server = server
        with self._lock:
            self._stopping = False
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kube-api", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 60) -> None:
        """Stop serving (watches end), wait for background recreations, and raise what a callback raised."""
        server, self._server = self._server, None
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
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
        return self.stored("pods", name)

    def stored(self, resource: str, name: str) -> Manifest | None:
        """Object ``name`` of ``resource`` (``pods``, ``configmaps``, ``statefulsets``) as stored (a
        copy), or None."""
        with self._lock:
            return copy.deepcopy(self._objects[resource].get(name))

    def history(self, resource: str, name: str) -> list[tuple[str, Manifest]]:
        """What a watch of ``resource`` from the oldest kept event saw of object ``name``, in order:
        (event type, the object as it was then), copies."""
        with self._lock:
            return [
                (event.type, copy.deepcopy(event.object))
                for event in self._events
                if event.resource == resource and event.object["metadata"]["name"] == name
            ]

    def set_rbac(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Replace the RBAC objects (of ``objects``; other kinds are ignored), as an apply would."""
        with self._lock:
            self._rbac = [copy.deepcopy(dict(obj)) for obj in objects if obj.get("kind") in RBAC_KINDS]

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Store the StatefulSets and ConfigMaps among ``objects`` as ``kubectl apply`` would (other
        kinds are ignored). A ConfigMap is created, or has its labels, annotations and data replaced
        (a write only if they change); objects that are not among ``objects`` stay.

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
            if obj.get("kind") not in ("StatefulSet", "ConfigMap"):
                continue
            meta = obj["metadata"]
            name = meta["name"]
            if meta.get("namespace", self.namespace) != self.namespace:
                raise HarnessError(f"{obj['kind']} {name} is in namespace {meta['namespace']}, not {self.namespace}")
            if obj["kind"] == "ConfigMap":
                self._apply_config_map(obj)
                continue
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
                self._write("statefulsets", new, "MODIFIED" if stored else "ADDED", stored)
                rolled = stored is not None and _rolls_by_itself(new) and replicas == 1
                if rolled and pod is not None and "deletionTimestamp" not in pod["metadata"]:
                    if _revision(new) != _revision_of(pod):
                        self._terminating(pod)
                        self._start_worker(f"roll {name}", self._recreate, f"{name}-0", name)
                elif replicas == 0 and pod is not None and "deletionTimestamp" not in pod["metadata"]:
                    self._terminating(pod)
                    self._start_worker(f"scale down {name}", self._scale_down, f"{name}-0")
                elif replicas == 1 and pod is None and stored is not None:
                    self._write("pods", self._new_pod(new), "ADDED")
                    self._start_worker(f"scale up {name}", self._scale_up, f"{name}-0", copy.deepcopy(new))

    def _apply_config_map(self, obj: Mapping[str, Any]) -> None:
        with self._lock:
            stored = self._objects["configmaps"].get(obj["metadata"]["name"])
            new = {"kind": "ConfigMap", "apiVersion": "v1"} | copy.deepcopy(dict(obj))
            new["metadata"] = {k: v for k, v in new["metadata"].items() if k not in ("uid", "resourceVersion")}
            new["metadata"]["namespace"] = self.namespace
            if stored is None:
                new["metadata"] |= {"uid": str(uuid.uuid4()), "creationTimestamp": _now()}
                self._write("configmaps", new, "ADDED")
                return
            kept = {key: stored["metadata"][key] for key in ("uid", "creationTimestamp", "resourceVersion")}
            new["metadata"] |= kept
            if new != stored:
                self._write("configmaps", new, "MODIFIED", stored)

    def add_pod(self, statefulset: str) -> None:
        """A running pod of StatefulSet ``statefulset``, from its stored template, for processes
        already running (the ``create_pod`` callback is not called)."""
        with self._lock:
            name = f"{statefulset}-0"
            if statefulset not in self._statefulsets:
                raise HarnessError(f"no StatefulSet {statefulset} was applied")
            if name in self._pods:
                raise HarnessError(f"pod {name} exists already")
            self._write("pods", self._new_pod(self._statefulsets[statefulset]), "ADDED")

    def _new_pod(self, statefulset: Manifest) -> Manifest:
        """The pod object the StatefulSet controller creates from ``statefulset`` (not stored yet)."""
        sts_meta = statefulset["metadata"]
        template = statefulset["spec"]["template"]
        name = f"{sts_meta['name']}-0"
        labels = dict(template.get("metadata", {}).get("labels", {}))
        labels |= {"controller-revision-hash": _revision(statefulset), "statefulset.kubernetes.io/pod-name": name}
        meta: Manifest = {
            "name": name,
            "namespace": self.namespace,
            "uid": str(uuid.uuid4()),
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
            "status": {"phase": "Running", "hostIP": HOST, "podIP": HOST, "podIPs": [{"ip": HOST}]},
        }

    # -- the store: every write has the next resourceVersion and is an event -----------------

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _write(self, resource: str, obj: Manifest, kind: str, previous: Manifest | None = None) -> None:
        """Store ``obj`` (ADDED or MODIFIED from ``previous``) with the next resourceVersion (lock held)."""
        obj["metadata"]["resourceVersion"] = self._next_resource_version()
        self._objects[resource][obj["metadata"]["name"]] = obj
        self._event(resource, kind, obj, previous)

    def _remove(self, resource: str, name: str) -> Manifest:
        """Delete object ``name``; the DELETED event carries its last state at the next resourceVersion."""
        obj = self._objects[resource].pop(name)
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = self._next_resource_version()
        self._event(resource, "DELETED", gone)
        return gone

    def _terminating(self, pod: Manifest) -> None:
        """The pod marked for deletion, with its grace period: a write as any other (lock held)."""
        previous = copy.deepcopy(pod)
        pod["metadata"]["deletionTimestamp"] = _now()
        pod["metadata"]["deletionGracePeriodSeconds"] = pod["spec"].get("terminationGracePeriodSeconds", 30)
        self._write("pods", pod, "MODIFIED", previous)

    def _event(self, resource: str, kind: str, obj: Manifest, previous: Manifest | None = None) -> None:
        version = int(obj["metadata"]["resourceVersion"])
        self._events.append(_Event(version, resource, kind, copy.deepcopy(obj), copy.deepcopy(previous)))
        self._event_versions.append(version)
        if len(self._events) > self._history:
            dropped = len(self._events) - self._history
            self._compacted = self._event_versions[dropped - 1]
            del self._events[:dropped], self._event_versions[:dropped]
        self._changed.notify_all()

    # -- requests ----------------------------------------------------------------------------

    def _authenticate(self, authorization: str | None) -> str | None:
        """The service account whose bearer token ``authorization`` carries, or None."""
        if authorization is None:
            return None
        for account, token in self._tokens.items():
            if hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
                return account
        return None

    def _answer(
        self, method: str, path: str, authorization: str | None, body: bytes, content_type: str = ""
    ) -> tuple[int, Manifest] | _Watch:
        """Status code and JSON body of one request, or the watch to stream."""
        account = self._authenticate(authorization)
        if account is None:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        user = self.user_of(account)
        split = urllib.parse.urlsplit(path)
        match = _REQUEST_PATH.fullmatch(split.path)
        if match is None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        group = match["group"] or ""
        version = match["core"] or match["version"]
        namespace, resource, name, subresource = match.group("namespace", "resource", "name", "subresource")
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        verb = _verb(method, name, split.query)
        qualified = f"{resource}.{group}" if group else resource
        with self._lock:
            rbac = list(self._rbac)
        rules = granted_rules(rbac, namespace, self.namespace, user, self.groups)
        if not any(_rule_allows(rule, verb, group, resource, subresource, name) for rule in rules):
            full_resource = f"{resource}/{subresource}" if subresource else resource
            denial = (
                f"User {_q(user)} cannot {verb} resource {_q(full_resource)} in API group {_q(group)} "
                f"in the namespace {_q(namespace)}"
            )
            subject = f"{qualified} {_q(name)}" if name else qualified
            return 403, _status(403, "Forbidden", f"{subject} is forbidden: {denial}", _details(group, resource, name))
        served = SERVED.get((group, version, resource))
        if served is None or subresource is not None:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if verb not in served or (verb == "create" and name):
            return 405, _status(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        if namespace != self.namespace:
            if name:
                return 404, _not_found(group, resource, name)
            empty = {"kind": f"{KINDS[resource]}List", "apiVersion": "v1", "items": []}
            return 200, empty | {"metadata": {"resourceVersion": str(self._resource_version)}}
        if verb in ("list", "watch", "deletecollection"):
            for unserved in ("fieldSelector", "limit", "continue"):
                if query.get(unserved, [""])[0]:
                    return 400, _status(400, "BadRequest", f"{unserved} is not served by the stand-in")
            try:
                selector = parse_selector(query.get("labelSelector", [""])[0])
            except ValueError as exc:
                return 400, _status(400, "BadRequest", str(exc))
            if verb == "list":
                return self._list(resource, selector)
            if verb == "deletecollection":
                return self._delete_collection(resource, selector)
            return self._watch(resource, selector, query)
        assert name is not None or verb == "create"
        if resource == "statefulsets":
            return self._get_statefulset(str(name))
        if verb == "get":
            return self._get(resource, str(name))
        if verb == "patch":
            return self._patch(resource, str(name), body, content_type)
        if verb == "create":
            return self._create(resource, body)
        return self._delete(resource, str(name), body)

    def _served(self, resource: str, obj: Manifest, listed: bool = False) -> Manifest:
        """``obj`` (a copy) as served: a pod with its readiness; an item of a list without kind and
        apiVersion, an object on its own with them."""
        if resource == "pods":
            obj = self._with_readiness(obj)
        if listed:
            obj.pop("kind", None)
            obj.pop("apiVersion", None)
        else:
            obj = {"kind": KINDS[resource], "apiVersion": _API_VERSIONS[resource]} | obj
        return obj

    def _get(self, resource: str, name: str) -> tuple[int, Manifest]:
        with self._lock:
            obj = copy.deepcopy(self._objects[resource].get(name))
        if obj is None:
            return 404, _not_found("", resource, name)
        return 200, self._served(resource, obj)

    def _selected(self, resource: str, selector: Sequence[tuple[str, str, frozenset[str]]]) -> list[str]:
        """The names of the stored objects the label selector selects, in name order (lock held)."""
        return [
            name
            for name, obj in sorted(self._objects[resource].items())
            if _selects(selector, obj["metadata"].get("labels") or {})
        ]

    def _list_answer(self, resource: str, items: list[Manifest], version: str) -> tuple[int, Manifest]:
        """A List of ``items`` as the API server answers one (a list, or what a deletecollection removed)."""
        return 200, {
            "kind": f"{KINDS[resource]}List",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": version},
            "items": [self._served(resource, item, listed=True) for item in items],
        }

    def _list(self, resource: str, selector: Sequence[tuple[str, str, frozenset[str]]]) -> tuple[int, Manifest]:
        with self._lock:
            items = [copy.deepcopy(self._objects[resource][name]) for name in self._selected(resource, selector)]
            version = str(self._resource_version)
        return self._list_answer(resource, items, version)

    def _watch(
        self, resource: str, selector: Sequence[tuple[str, str, frozenset[str]]], query: Mapping[str, list[str]]
    ) -> tuple[int, Manifest] | _Watch:
        since_text = query.get("resourceVersion", [""])[0]
        timeout_text = query.get("timeoutSeconds", [""])[0]
        try:
            since = int(since_text) if since_text not in ("", "0") else None
            if since is not None and since < 0:
                raise ValueError(since_text)
        except ValueError:
            return 400, _status(400, "BadRequest", f"invalid resource version: {since_text}")
        if timeout_text:
            try:
                timeout = float(int(timeout_text))
            except ValueError:
                return 400, _status(400, "BadRequest", f"invalid timeoutSeconds: {timeout_text}")
        else:
            timeout = random.uniform(self.min_request_timeout, 2 * self.min_request_timeout)
        return _Watch(resource, tuple(selector), since, timeout)

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

    def _with_readiness(self, pod: Manifest) -> Manifest:
        ready = "True" if self._ready(pod["metadata"]["name"]) else "False"
        pod["status"]["conditions"] = [{"type": "Ready", "status": ready}]
        return pod

    def _create(self, resource: str, body: bytes) -> tuple[int, Manifest]:
        try:
            obj = json.loads(body)
            assert isinstance(obj, dict) and isinstance(obj.get("metadata"), dict)
        except (ValueError, AssertionError):
            return 400, _status(400, "BadRequest", f"the body of the request was not a {KINDS[resource]}")
        kind, api_version = obj.get("kind", KINDS[resource]), obj.get("apiVersion", _API_VERSIONS[resource])
        if (kind, api_version) != (KINDS[resource], _API_VERSIONS[resource]):
            return 400, _status(400, "BadRequest", f"the object is a {api_version} {kind}, not a {KINDS[resource]}")
        meta = obj["metadata"]
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            return 422, _invalid(resource, "", ["metadata.name: Required value: name or generateName is required"])
        if meta.get("namespace", self.namespace) != self.namespace:
            return 400, _status(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        if meta.get("resourceVersion"):
            return 500, _status(500, "InternalError", "resourceVersion should not be set on objects to be created")
        problem = _check(resource, name, obj)
        if problem is not None:
            return problem
        with self._lock:
            if name in self._objects[resource]:
                return 409, _status(
                    409, "AlreadyExists", f"{resource} {_q(name)} already exists", _details("", resource, name)
                )
            meta |= {"namespace": self.namespace, "uid": str(uuid.uuid4()), "creationTimestamp": _now()}
            obj = {"kind": KINDS[resource], "apiVersion": _API_VERSIONS[resource]} | obj
            self._write(resource, obj, "ADDED")
            created = copy.deepcopy(obj)
        return 201, self._served(resource, created)

    def _patch(self, resource: str, name: str, body: bytes, content_type: str) -> tuple[int, Manifest]:
        media = content_type.split(";")[0].strip()
        if media not in _PATCH_TYPES:
            return 415, _status(
                415,
                "UnsupportedMediaType",
                f"the stand-in serves patches of types {', '.join(_PATCH_TYPES)}, not {media!r}",
            )
        try:
            patch = json.loads(body)
            assert isinstance(patch, dict)
        except (ValueError, AssertionError):
            return 400, _status(400, "BadRequest", f"the body of the request was not a JSON object: {body[:200]!r}")
        allowed = _PATCHABLE[resource]
        unserved = [
            f"{key}.{below}" if below else key
            for key, value in patch.items()
            if key not in ("kind", "apiVersion")
            for below in (
                [None]
                if key not in allowed
                else [k for k in (value or {}) if k not in _IDENTITY and k not in (allowed[key] or ())]
                if allowed[key] is not None and isinstance(value, dict)
                else []
            )
        ]
        if unserved:
            return 422, _invalid(resource, name, [f"{field}: the stand-in does not patch it" for field in unserved])
        meta_patch = patch.get("metadata") or {}
        with self._lock:
            stored = self._objects[resource].get(name)
            if stored is None:
                return 404, _not_found("", resource, name)
            meta = stored["metadata"]
            for key in ("name", "namespace"):
                if key in meta_patch and meta_patch[key] != meta[key]:
                    return 400, _status(
                        400, "BadRequest", f"the {key} of the object ({meta_patch[key]}) does not match the {key} here"
                    )
            if "uid" in meta_patch and meta_patch["uid"] != meta["uid"]:
                return 409, _conflict(
                    resource,
                    name,
                    f"Precondition failed: UID in precondition: {meta_patch['uid']}, UID in object meta: {meta['uid']}",
                )
            if "resourceVersion" in meta_patch and str(meta_patch["resourceVersion"]) != meta["resourceVersion"]:
                return 409, _conflict(
                    resource,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            patched = copy.deepcopy(stored)
            for key, value in patch.items():
                if key in ("kind", "apiVersion"):
                    continue
                if key == "metadata":
                    for field in allowed["metadata"] or ():
                        if field in value:
                            merged = _merge_patch(patched["metadata"].get(field) or {}, value[field] or {})
                            if merged:
                                patched["metadata"][field] = merged
                            else:
                                patched["metadata"].pop(field, None)
                else:
                    merged = _merge_patch(patched.get(key) or {}, value or {}) if isinstance(value, dict) else value
                    if merged:
                        patched[key] = merged
                    else:
                        patched.pop(key, None)
            problem = _check(resource, name, patched)
            if problem is not None:
                return problem
            if patched != stored:
                self._write(resource, patched, "MODIFIED", stored)
            result = copy.deepcopy(patched)
        return 200, self._served(resource, result)

    def _delete(self, resource: str, name: str, body: bytes) -> tuple[int, Manifest]:
        try:
            options = json.loads(body) if body.strip() else {}
            preconditions = options.get("preconditions") or {}
            assert isinstance(preconditions, dict)
        except (ValueError, AttributeError, AssertionError):
            return 400, _status(400, "BadRequest", f"the body of the request was not DeleteOptions: {body[:200]!r}")
        with self._lock:
            obj = self._objects[resource].get(name)
            if obj is None:
                return 404, _not_found("", resource, name)
            meta = obj["metadata"]
            for key, what in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if key in preconditions and preconditions[key] != meta[key]:
                    return 409, _conflict(
                        resource,
                        name,
                        f"Precondition failed: {what} in precondition: {preconditions[key]}, "
                        f"{what} in object meta: {meta[key]}",
                    )
            if resource != "pods":  # no finalizers, no grace period: gone at once
                gone = self._remove(resource, name)
                details = _details("", resource, name) | {"uid": gone["metadata"]["uid"]}
                return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"} | {
                    "details": details
                }
            if "deletionTimestamp" not in meta:
                self._terminating(obj)
                statefulset = meta["ownerReferences"][0]["name"]
                self._start_worker(f"recreate {name}", self._recreate, name, statefulset)
            pod = copy.deepcopy(obj)
        return 200, self._served("pods", pod)

    def _delete_collection(
        self, resource: str, selector: Sequence[tuple[str, str, frozenset[str]]]
    ) -> tuple[int, Manifest]:
        with self._lock:
            gone = [self._remove(resource, name) for name in self._selected(resource, selector)]
            version = str(self._resource_version)
        return self._list_answer(resource, gone, version)

    def _start_worker(self, what: str, target: Callable[..., Any], *args: Any) -> None:
        """Run ``target(*args)`` in a thread of its own, as a controller would act (lock held)."""
        worker = threading.Thread(target=target, args=args, name=what, daemon=True)
        self._workers.append(worker)
        worker.start()

    def _scale_down(self, name: str) -> None:
        """kubelet after the StatefulSet controller deleted pod ``name`` for replicas 0."""
        if self._run_callback(f"delete_pod({name!r})", lambda: self._delete_pod(name)):
            with self._lock:
                self._remove("pods", name)

    def _scale_up(self, name: str, statefulset: Manifest) -> None:
        """kubelet after the StatefulSet controller created pod ``name`` for replicas 1."""
        self._run_callback(f"create_pod({name!r})", lambda: self._create_pod(name, statefulset))

    def _recreate(self, name: str, statefulset: str) -> None:
        """kubelet and the StatefulSet controller after a DELETE of pod ``name``."""
        if not self._run_callback(f"delete_pod({name!r})", lambda: self._delete_pod(name)):
            return  # the processes may still run: the pod stays terminating
        with self._lock:
            self._remove("pods", name)  # gone: GET answers 404 ...
        with self._lock:  # ... until the controller has created the next incarnation
            stored = copy.deepcopy(self._statefulsets[statefulset])
            self._write("pods", self._new_pod(stored), "ADDED")
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

    # -- serving -----------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer the request ``handler`` has read (called by the server's threads)."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        try:
            answer = self._answer(
                handler.command,
                handler.path,
                handler.headers.get("Authorization"),
                body,
                handler.headers.get("Content-Type") or "",
            )
        except Exception as exc:
            self._record(f"{handler.command} {handler.path}", exc)
            answer = 500, _status(500, "InternalError", f"the stand-in failed: {exc!r}")
        path = urllib.parse.urlsplit(handler.path).path
        if isinstance(answer, _Watch):
            with self._lock:
                self.requests.append((handler.command, path, 200))
            self._stream(handler, answer)
            return
        status, manifest = answer
        with self._lock:
            self.requests.append((handler.command, path, status))
        data = json.dumps(manifest).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _stream(self, handler: BaseHTTPRequestHandler, watch: _Watch) -> None:
        """A watch: 200, then the events as they come, one JSON object per chunk, until the time is up,
        the client hangs up or the server stops."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        deadline = time.monotonic() + watch.timeout

        def send(events: list[Manifest]) -> None:
            for event in events:
                obj = event["object"]
                if watch.resource == "pods" and obj.get("kind") == "Pod":
                    event = {"type": event["type"], "object": self._with_readiness(obj)}
                data = json.dumps(event).encode() + b"\n"
                handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        with self._lock:
            if watch.since is None:
                cursor = self._resource_version
                first = [
                    {"type": "ADDED", "object": copy.deepcopy(obj)}
                    for _, obj in sorted(self._objects[watch.resource].items())
                    if _selects(watch.selector, obj["metadata"].get("labels") or {})
                ]
            elif watch.since < self._compacted:
                cursor = -1
                message = f"too old resource version: {watch.since} ({self._compacted + 1})"
                first = [{"type": "ERROR", "object": _status(410, "Expired", message)}]
            else:
                cursor, first = watch.since, []
        try:
            send(first)
            while cursor >= 0:
                with self._lock:
                    while True:
                        events = self._events[bisect.bisect_right(self._event_versions, cursor) :]
                        remaining = deadline - time.monotonic()
                        if events or self._stopping or remaining <= 0 or _hung_up(handler.connection):
                            break
                        self._changed.wait(min(remaining, 0.5))
                if not events:
                    break
                cursor = events[-1].version
                send([e for e in (_as_seen(event, watch) for event in events) if e is not None])
            handler.wfile.write(b"0\r\n\r\n")
        except (OSError, ssl.SSLError):
            handler.close_connection = True  # the client hung up in the middle
        if self._stopping or _hung_up(handler.connection):
            handler.close_connection = True


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
    """The authorization verb of a resource request (RequestInfoFactory): a GET of a collection is a
    watch when its ``watch`` parameter is there and not ``0`` or ``false`` (any case), as
    apimachinery's conversion of a query parameter to a bool has it (Patroni sends ``True``)."""
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get("watch")
    watch = bool(values) and values[0] != "0" and values[0].lower() != "false"
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    collection = {"POST": "create", "DELETE": "deletecollection"}
    named = {"PUT": "update", "PATCH": "patch", "DELETE": "delete", "POST": "create"}
    return (named if name else collection).get(method, method.lower())


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DATA_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_SELECTOR_TERM = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[^\s,=!()]+)"
    r"|(?P<key>[^\s,=!()]+)(?:\s*(?P<op>==|=|!=)\s*(?P<value>[^\s,=!()]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?)\s*"
)


def parse_selector(text: str) -> tuple[tuple[str, str, frozenset[str]], ...]:
    """A label selector (apimachinery's labels.Parse) as (key, operator, values) requirements;
    ValueError for what it does not parse or a key or value that is no label's."""
    requirements: list[tuple[str, str, frozenset[str]]] = []
    rest = text.strip()
    while rest:
        match = _SELECTOR_TERM.match(rest)
        if match is None or match.end() == 0:
            raise ValueError(f"unable to parse requirement: {rest!r}")
        if match["absent"]:
            key, op, values = match["absent"], "!", frozenset[str]()
        elif match["op"]:
            key, op, values = match["key"], "!=" if match["op"] == "!=" else "=", frozenset({match["value"]})
        elif match["set"]:
            key, op = match["key"], match["set"]
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
        else:
            key, op, values = match["key"], "exists", frozenset()
        problems = _label_key_problems(key) + [p for v in values for p in _label_value_problems(v)]
        if problems:
            raise ValueError(f"unable to parse requirement: {'; '.join(problems)}")
        requirements.append((key, op, values))
        rest = rest[match.end() :]
        if rest.startswith(","):
            rest = rest[1:]
            if not rest.strip():
                raise ValueError("unable to parse requirement: found '', expected: identifier")
        elif rest:
            raise ValueError(f"unable to parse requirement: {rest!r}")
    return tuple(requirements)


def _selects(selector: Sequence[tuple[str, str, frozenset[str]]], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` meet every requirement of ``selector`` (an empty one selects everything)."""
    for key, op, values in selector:
        value = labels.get(key)
        if op == "=" and value not in values:
            return False
        if op == "!=" and value in values:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and value in values:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
    return True


def _as_seen(event: _Event, watch: _Watch) -> Manifest | None:
    """The event as a watch of ``watch.resource`` with ``watch.selector`` gets it, or None (the watch
    cache's convertToWatchEvent: coming to match is ADDED, ceasing to match DELETED with the object's
    previous state at the event's resourceVersion)."""
    if event.resource != watch.resource:
        return None
    now = _selects(watch.selector, event.object["metadata"].get("labels") or {})
    before = event.previous is not None and _selects(watch.selector, event.previous["metadata"].get("labels") or {})
    kind, obj = event.type, event.object
    if event.type == "MODIFIED" and not (now and before):
        if now:
            kind = "ADDED"
        elif before:
            assert event.previous is not None
            kind, obj = "DELETED", copy.deepcopy(event.previous)
            obj["metadata"]["resourceVersion"] = str(event.version)
        else:
            return None
    elif not now:
        return None
    return {"type": kind, "object": copy.deepcopy(obj)}


def _merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386) of a map: a key set to null goes, a map merges, the rest replaces."""
    merged = dict(copy.deepcopy(target))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            below = merged.get(key)
            merged[key] = _merge_patch(below if isinstance(below, dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _label_key_problems(key: str) -> list[str]:
    """What Kubernetes finds wrong with a label key (IsQualifiedName)."""
    prefix, _, name = key.rpartition("/")
    problems = []
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        problems.append(f"{_q(key)}: name part must consist of alphanumeric characters, '-', '_' or '.'")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        problems.append(f"{_q(key)}: prefix part must be a lowercase RFC 1123 subdomain")
    return problems


def _label_value_problems(value: str) -> list[str]:
    """What Kubernetes finds wrong with a label value (IsValidLabelValue)."""
    if value and (len(value) > 63 or not _LABEL_NAME.fullmatch(value)):
        return [f"{_q(value)}: a valid label must be an empty string or consist of alphanumeric characters"]
    return []


def _check(resource: str, name: str, obj: Mapping[str, Any]) -> tuple[int, Manifest] | None:
    """What the API server refuses of an object to store: maps that are not of strings (400, they do
    not decode), invalid label keys and values or ConfigMap keys (422); None if it is fine."""
    meta = obj["metadata"]
    maps = {"metadata.labels": meta.get("labels"), "metadata.annotations": meta.get("annotations")}
    if resource == "configmaps":
        maps |= {"data": obj.get("data"), "binaryData": obj.get("binaryData")}
    for field, value in maps.items():
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            return 400, _status(400, "BadRequest", f"{field}: a map of strings was expected, not {value!r}")
    causes = []
    for key, value in (meta.get("labels") or {}).items():
        causes += [f"metadata.labels: Invalid value: {p}" for p in _label_key_problems(key)]
        causes += [f"metadata.labels: Invalid value: {p}" for p in _label_value_problems(value)]
    for field in ("data", "binaryData"):
        causes += [
            f"{field}[{key}]: Invalid value: {_q(key)}: a valid config key must consist of alphanumeric "
            "characters, '-', '_' or '.'"
            for key in (obj.get(field) or {})
            if resource == "configmaps" and not _DATA_KEY.fullmatch(key)
        ]
    return (422, _invalid(resource, name, causes)) if causes else None


def _invalid(resource: str, name: str, causes: Sequence[str]) -> Manifest:
    """A 422 Invalid Status as the API server words it."""
    details = _details("", resource, name) | {"causes": [{"message": cause} for cause in causes]}
    message = f"{KINDS[resource]} {_q(name)} is invalid: " + ", ".join(causes)
    return _status(422, "Invalid", message, details)


def _conflict(resource: str, name: str, why: str) -> Manifest:
    return _status(
        409, "Conflict", f"Operation cannot be fulfilled on {resource} {_q(name)}: {why}", _details("", resource, name)
    )


def _hung_up(connection: Any) -> bool:
    """Whether the client of a watch closed its connection (or sent something, which a client of a
    watch does not): its socket is readable."""
    try:
        return bool(select.select([connection], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _status(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> Manifest:
    """A ``Status`` object as the API server answers errors with."""
    status: Manifest = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    status["reason"] = reason
    if details is not None:
        status["details"] = dict(details)
    status["code"] = code
    return status


def _details(group: str, resource: str, name: str | None) -> dict[str, Any]:
    """``details`` of a Status about an object: its name, API group (not for the core group), resource."""
    details: dict[str, Any] = {"name": name} if name else {}
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
