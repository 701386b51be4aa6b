"""Run a rendered pgrender base as local processes: one etcd, one Patroni (and PostgreSQL) per pod.

The point of these tests is to run *the rendered configuration*, not a hand-written look-alike. So
this module rebuilds what Kubernetes would hand each container from the rendered objects themselves:

* the files of every mounted volume, written from the rendered Secret and ConfigMap objects with the
  ownership and mode a pod sees (owner root, group fsGroup, the projected volume's defaultMode);
* the environment, resolved like kubelet does (literal values, ``fieldRef``, ``secretKeyRef``,
  ``$(VAR)`` references);
* the command of the container.

Any container of a rendered pod (a member's Patroni, a sidecar, a Job's or a CronJob's container,
the pgBackRest repo host) is brought up the same way, by :func:`prepare_container`.

Only what cannot exist outside Kubernetes is changed, and all of it is changed in one function,
:func:`localize` (read its docstring for the complete list). :func:`config_differences` states the
same list as a check, and ``test_replication.py`` asserts that the Patroni configuration a member
runs differs from the rendered one in nothing else.

Mapping of the pod's identity to this machine: the pod's ``runAsUser``/``fsGroup`` (the image's
``postgres`` user and group) become the local ``postgres`` user and group; PostgreSQL refuses to
run as root, and the Secret files are root-owned with group ``postgres``, as kubelet writes them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pgrender.config import SecretsConfig
from pgrender.plan.hosts import dns_forms
from pgrender.render import Request, render
from pgrender.spec.users import InfrastructureRole
from tests.self_signed import self_signed

REPO = Path(__file__).resolve().parents[2]
KEY_FILE = REPO / "tests" / "golden.key"
EXAMPLES = REPO / "examples"
PG_ROOT = Path("/usr/lib/postgresql")
OS_USER = "postgres"

# The pod's network address as the harness provides it: every member, and etcd, on loopback.
LOCAL_POD_IP = "127.0.0.1"

# In-pod paths that the harness places under a per-pod directory. Mount points of volumes (Secrets,
# ConfigMaps, PVCs) are moved as a whole; /tmp stays the host's /tmp (PostgreSQL's rendered
# unix_socket_directories; sockets of different members differ by port), except for the one file
# Patroni keeps there per pod and pgBackRest's lock directory (its default lock-path: locks are
# per stanza, and every cluster's stanza is "db", so pods must not share it).
MOVED_MOUNTS = (
    "/pgconf/tls",
    "/pgdata",
    "/pgwal",
    "/etc/patroni",
    "/etc/pgrender",
    "/etc/pgrender-init",  # the reconcile Job's spec.databaseInitSQL ConfigMap
    "/etc/pgbouncer",
    "/etc/pgbouncer/secret",
    "/etc/pgbackrest",
    # The volume of a pgBackRest repository of type volume (the repo host, or a backup Job of it).
    "/pgbackrest/repo1",
    "/pgbackrest/repo2",
    "/pgbackrest/repo3",
    "/pgbackrest/repo4",
    "/etc/postgres-exporter",
)
MOVED_FILES = ("/tmp/pgpass", "/tmp/pgbackrest")
# Debian's postgres_exporter (package prometheus-postgres-exporter), standing in for the image's
# /bin/postgres_exporter (localize, 12.).
LOCAL_EXPORTER = Path("/usr/bin/prometheus-postgres-exporter")
# pgAdmin 4 as the official image dpage/pgadmin4 holds it: a virtualenv at /venv (its python runs
# pgAdmin's container) and pgAdmin's web directory at /pgadmin4. Here both are the virtualenv `make
# clients` makes from tests/runtime/pgadmin/requirements.txt (localize, 14.).
PGADMIN_VENV = REPO / "tests" / "runtime" / "pgadmin" / "venv"
PGADMIN_IMAGE_VENV = "/venv"
PGADMIN_IMAGE_DIR = "/pgadmin4"
# Where Kubernetes mounts the service account token, CA and namespace into a pod.
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SHARED_MOUNTS = ("/tmp", "/dev/shm")

T = TypeVar("T")


class HarnessError(AssertionError):
    """Something the local run needs did not happen; the message says what and shows logs."""


class ProcessDied(HarnessError):
    """A process the harness started and still wants running has exited: no point waiting."""


# --------------------------------------------------------------------------------------------
# The machine: binaries and the OS user
# --------------------------------------------------------------------------------------------


# The PostgreSQL majors of this machine, all decided here. Debian's ``postgresql`` package installs
# one major (15 on bookworm) in a directory of its own, /usr/lib/postgresql/<major>: that is the
# *default* major, which every test runs on unless it asks for another. A major version upgrade needs
# a second one: scripts/setup-pg-upgrade-target.sh installs PostgreSQL UPGRADE_TARGET_MAJOR (17,
# trixie's, with a private sysroot) as links /usr/lib/postgresql/17 and /usr/share/postgresql/17
# into UPGRADE_TARGET_ROOT, and pgBackRest 2.5x (which knows 17; bookworm's 2.45 does not) as
# UPGRADE_TARGET_PGBACKREST. A test asks for a major with ``major=`` (:func:`local_spec`,
# :func:`pg_bin`, :class:`PlainServer`); :func:`pg_majors` lists what is there.
UPGRADE_TARGET_MAJOR = 17
UPGRADE_TARGET_ROOT = Path(f"/opt/trixie-postgresql-{UPGRADE_TARGET_MAJOR}")
UPGRADE_TARGET_PGBACKREST = UPGRADE_TARGET_ROOT / "usr" / "bin" / "pgbackrest"
UPGRADE_TARGET_SCRIPT = "scripts/setup-pg-upgrade-target.sh"


def pg_majors() -> list[int]:
    """Every PostgreSQL major version with a server in /usr/lib/postgresql/<major>/bin, ascending."""
    return sorted(int(p.parent.parent.name) for p in PG_ROOT.glob("*/bin/postgres") if p.parent.parent.name.isdigit())


def _linked_in(major: int) -> bool:
    """Whether /usr/lib/postgresql/<major> is a link to elsewhere (setup-pg-upgrade-target.sh's), not
    a package's own directory."""
    return (PG_ROOT / str(major)).is_symlink()


def default_pg_major() -> int | None:
    """The major every test runs on unless it asks for another: the highest one installed by a
    package in its own directory (Debian's, 15 on bookworm), not one linked in for an upgrade."""
    packaged = [m for m in pg_majors() if not _linked_in(m)]
    return max(packaged) if packaged else None


def pg_bin(name: str, major: int | None = None) -> str:
    """Absolute path of a PostgreSQL client or server program of ``major`` (default: the default
    major, :func:`default_pg_major`)."""
    major = default_pg_major() if major is None else major
    if major is None:
        raise HarnessError("no PostgreSQL server under /usr/lib/postgresql/*/bin")
    return str(PG_ROOT / str(major) / "bin" / name)


def missing_requirements() -> list[str]:
    """What this machine lacks to run the real-process tests (empty when all is there)."""
    missing = missing_server_requirements(("pg_basebackup", "pg_rewind", "pg_isready"))
    for tool, package in (("patroni", "patroni"), ("etcd", "etcd-server"), ("pgbouncer", "pgbouncer")):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            missing.append(f"{tool} (Debian package {package})")
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian package util-linux)")
    return missing


def missing_pgbackrest_requirements() -> list[str]:
    """What this machine lacks to run pgBackRest against a bare server in a local pod."""
    missing = missing_server_requirements()
    if shutil.which("pgbackrest") is None:
        missing.append("pgbackrest (Debian package pgbackrest)")
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian package util-linux)")
    return missing


def os_ids() -> tuple[int, int]:
    """uid and gid of the local ``postgres`` user: what the pod's runAsUser and fsGroup become."""
    entry = pwd.getpwnam(OS_USER)
    return entry.pw_uid, entry.pw_gid


# Every port free_ports handed out in this process. A port is free only until its process binds it:
# an etcd's port, handed out and released, came back from the kernel for a member's Patroni API
# before etcd listened on it (CI saw both on one port), so no port is handed out twice.
_HANDED_OUT: set[int] = set()


def _port_block() -> range:
    """The ports this test process hands out: a block of its own below the kernel's ephemeral range.

    A port taken from the kernel (bind to port 0) comes from the ephemeral range, where every outgoing
    connection of every process on the machine also takes its source port: between the moment such a
    port is handed out and the moment a server binds it, a client (S3, psql, Patroni's own calls) may
    take it (CI saw a member's REST API refused so: "Address already in use"). Below that range only
    servers that name their port bind, and each pytest-xdist worker (PYTEST_XDIST_WORKER, gw0, gw1, ...)
    has a block of its own, so test processes do not meet either."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    size = 1000
    start = low - 10 * size + (index % 8) * size
    return range(start, start + size) if start >= 10000 else range(0)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now, none handed out before in
    this process: from this process's block below the ephemeral range (:func:`_port_block`), or from the
    kernel where the machine leaves no room for one."""
    block = _port_block()
    if block:
        ports: list[int] = []
        for port in block:
            if len(ports) == count:
                break
            if port in _HANDED_OUT:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            ports.append(port)
        if len(ports) == count:
            _HANDED_OUT.update(ports)
            return ports
    sockets: list[socket.socket] = []
    taken: list[socket.socket] = []  # held too, so the kernel offers another port meanwhile
    try:
        while len(sockets) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            (taken if s.getsockname()[1] in _HANDED_OUT else sockets).append(s)
        found = [s.getsockname()[1] for s in sockets]
        _HANDED_OUT.update(found)
        return found
    finally:
        for s in sockets + taken:
            s.close()


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T:
    """Call ``probe`` until it returns something truthy, and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except ProcessDied:
            raise
        except Exception as exc:  # probes talk to processes that may not be up yet
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def make_dir(path: Path, mode: int = 0o750) -> Path:
    """Create a directory owned by root with group postgres, so the postgres user can enter it."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, 0, os_ids()[1])
    path.chmod(mode)
    return path


# --------------------------------------------------------------------------------------------
# Specs and rendering
# --------------------------------------------------------------------------------------------


def local_spec(
    example: str, *, major: int | None = None, lease_seconds: int = 10, sync_period_seconds: int = 2
) -> dict[str, Any]:
    """The example spec ``examples/<example>.yaml`` with the changes a local run needs.

    These are *spec* changes, rendered like any other spec, not harness overrides:

    * ``spec.postgresVersion`` becomes ``major``, by default the default major of this machine
      (:func:`default_pg_major`: Debian's), which moves ``bin_dir``, the data directory name and the
      scripts' paths accordingly;
    * ``spec.tls.notBefore`` becomes yesterday, so certificates are valid whenever the tests run;
    * ``spec.patroni.leaderLeaseDurationSeconds``/``syncPeriodSeconds`` become 10/2 so that
      bootstrap and failover take seconds instead of half a minute;
    * with pgBouncer, ``spec.proxy.pgBouncer.maxPreparedStatements`` becomes 0 when the pgBouncer
      installed here is older than 1.21 (:data:`PREPARED_STATEMENTS_SINCE`), which refuses the
      setting, as the README tells users of such a pgBouncer image to do.
    """
    major = default_pg_major() if major is None else major
    if major is None:
        raise HarnessError("no PostgreSQL server installed")
    if major not in pg_majors():
        raise HarnessError(f"no PostgreSQL {major} under {PG_ROOT} (majors here: {pg_majors()})")
    spec: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    spec["spec"]["postgresVersion"] = major
    # Certificates valid from yesterday: the run must not depend on the default's fixed date.
    yesterday = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=1)
    spec["spec"].setdefault("tls", {})["notBefore"] = f"{yesterday.isoformat()}T00:00:00Z"
    patroni = spec["spec"].setdefault("patroni", {})
    patroni["leaderLeaseDurationSeconds"] = lease_seconds
    patroni["syncPeriodSeconds"] = sync_period_seconds
    bouncer = spec["spec"].get("proxy", {}).get("pgBouncer")
    if bouncer is not None and pgbouncer_version() < PREPARED_STATEMENTS_SINCE:
        bouncer["maxPreparedStatements"] = 0
    return spec


@dataclass(frozen=True)
class Rendered:
    """The objects pgrender rendered for one cluster, with look-ups by kind and name."""

    name: str
    namespace: str
    spec: dict[str, Any]
    objects: tuple[dict[str, Any], ...]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def with_objects(self, *objects: dict[str, Any]) -> Rendered:
        """These objects beside the rendered ones: what the user keeps in the namespace for the
        cluster (a storage credentials Secret), which Kubernetes would hand the pods too."""
        return replace(self, objects=(*self.objects, *objects))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object of ``kind`` and ``name`` in ``namespace`` (default: the cluster's), as a pod of that
        namespace sees it: a user's Secret copied into an application's namespace (secretNamespaces) is
        found there, and nowhere else."""
        namespace = namespace or self.namespace
        for obj in self.all(kind):
            if obj["metadata"]["name"] == name and obj["metadata"].get("namespace", namespace) == namespace:
                return obj
        have = [f"{o['metadata'].get('namespace')}/{o['metadata']['name']}" for o in self.all(kind)]
        raise HarnessError(f"no {kind} {namespace}/{name} rendered; have {have}")

    def secret(self, name: str, namespace: str | None = None) -> dict[str, bytes]:
        """A Secret's data, base64-decoded."""
        return {k: base64.b64decode(v) for k, v in self.get("Secret", name, namespace).get("data", {}).items()}

    def config_map(self, name: str, namespace: str | None = None) -> dict[str, str]:
        return dict(self.get("ConfigMap", name, namespace).get("data", {}))

    @property
    def patroni_yaml(self) -> str:
        """Patroni's configuration as Patroni reads its configuration directory (the ConfigMap
        mounted at /etc/patroni): every YAML file, in name order, merged (they share no top-level key)."""
        files = self.config_map(f"{self.name}-config")
        merged: dict[str, Any] = {}
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")):
                merged |= yaml.safe_load(files[name])
        return yaml.safe_dump(merged, sort_keys=False)


def render_spec(
    spec: Mapping[str, Any],
    directory: Path,
    filename: str = "spec.yaml",
    secrets: SecretsConfig | None = None,
    infrastructure_roles: tuple[InfrastructureRole, ...] = (),
) -> Rendered:
    """Write ``spec`` to ``directory`` and render it with the published test key (and the
    ``secrets`` settings and ``infrastructure_roles`` of a pgrender.yaml, when given)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(yaml.safe_dump(dict(spec), sort_keys=False))
    provider = {"provider": secrets.provider} if secrets else {}
    rendering = render(
        Request(
            (str(path),),
            key_file=str(KEY_FILE),
            secrets_settings=secrets,
            infrastructure_roles=infrastructure_roles,
            **provider,
        )
    )
    assert len(rendering.clusters) == 1, "one spec, one cluster"
    out = rendering.clusters[0]
    return Rendered(out.name, out.namespace, copy.deepcopy(dict(spec)), tuple(out.manifests))


def external_secrets(rendered: Rendered, store: Mapping[tuple[str, str], str]) -> Rendered:
    """``rendered`` with the Secrets External Secrets Operator would make of its ExternalSecrets from
    ``store`` ((key, property) -> value), in place of any made before (:func:`localize`, 9.)."""
    from tests.eso import secret_of

    made = [secret_of(external, store) for external in rendered.all("ExternalSecret")]
    names = {secret["metadata"]["name"] for secret in made}
    kept = tuple(o for o in rendered.objects if not (o["kind"] == "Secret" and o["metadata"]["name"] in names))
    return replace(rendered, objects=(*kept, *made))


# --------------------------------------------------------------------------------------------
# What kubelet would do: volumes and environment of a container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodFacts:
    """What the API server knows about a pod and passes through ``fieldRef``."""

    name: str
    namespace: str
    ip: str = LOCAL_POD_IP


def _write_file(path: Path, content: bytes, mode: int, gid: int) -> None:
    """Write ``path`` (owner root, group ``gid``, ``mode``) by renaming a complete file into place,
    so that a process reading it meanwhile sees the old or the new file, never a partial one."""
    make_dir(path.parent)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.chown(partial, 0, gid)
    partial.chmod(mode)
    partial.replace(path)


def _volume_files(
    volume: Mapping[str, Any], rendered: Rendered, namespace: str | None = None
) -> list[tuple[str, bytes, int]]:
    """(relative path, content, mode) of every file a Secret, ConfigMap or projected volume holds, as a
    pod of ``namespace`` (default: the cluster's) gets them."""

    def source_files(kind: str, source: Mapping[str, Any], default_mode: int) -> list[tuple[str, bytes, int]]:
        name = source["name"] if kind == "configMap" else source.get("secretName", source.get("name"))
        data: dict[str, bytes] = (
            {k: v.encode() for k, v in rendered.config_map(name, namespace).items()}
            if kind == "configMap"
            else rendered.secret(name, namespace)
        )
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        return [(i["path"], data[i["key"]], i.get("mode", default_mode)) for i in items]

    if "projected" in volume:
        default = volume["projected"].get("defaultMode", 0o644)
        files = []
        for src in volume["projected"]["sources"]:
            for kind in ("secret", "configMap"):
                if kind in src:
                    files += source_files(kind, src[kind], default)
        return files
    for kind in ("secret", "configMap"):
        if kind in volume:
            return source_files(kind, volume[kind], volume[kind].get("defaultMode", 0o644))
    return []


def mount_paths(container: Mapping[str, Any], root: Path, bound: Collection[str] = ()) -> dict[str, Path]:
    """In-pod path -> local path of the container's mounts under the pod directory ``root``
    (what :func:`materialize_volumes` writes), without writing anything. A mount path in ``bound``
    (an application's Secret volume, :func:`localize` 8.) is written under ``<root>/bound``; a bound
    /tmp is the pod's own ``<root>/tmp`` (pgAdmin's, :func:`localize` 14.)."""
    paths: dict[str, Path] = {}
    for mount in container.get("volumeMounts", []):
        mount_path: str = mount["mountPath"]
        if mount_path in bound:
            paths[mount_path] = root / "tmp" if mount_path == "/tmp" else root / "bound" / mount_path.lstrip("/")
        elif mount_path == "/tmp":
            paths.update({f: root / "tmp" / f.removeprefix("/tmp/") for f in MOVED_FILES if f.startswith("/tmp/")})
        elif mount_path in SHARED_MOUNTS:
            continue
        elif mount_path in MOVED_MOUNTS:
            paths[mount_path] = root / mount_path.lstrip("/")
        else:
            raise HarnessError(f"mount {mount_path} is new to the harness: decide where it goes (MOVED_MOUNTS)")
    return paths


def materialize_volumes(
    pod_spec: Mapping[str, Any],
    container: Mapping[str, Any],
    rendered: Rendered,
    root: Path,
    bound: Collection[str] = (),
    namespace: str | None = None,
) -> dict[str, Path]:
    """Write the container's volumes under ``root``; return in-pod path -> local path. Secrets and
    ConfigMaps are those of ``namespace``, the pod's (default: the cluster's).

    Files of Secret/ConfigMap/projected volumes: owner root, group fsGroup (the local postgres
    group), the volume's (default)mode, as kubelet writes them with an fsGroup. PVCs and
    emptyDirs: empty directories, group-owned and group-writable with the setgid bit (fsGroup); a
    PVC's is ``<root>/../claims/<claim>``, linked from the mount point, so every pod that mounts the
    claim sees the same files.

    ``root`` is the pod's directory, shared by its containers: a mount point that is there already
    belongs to a volume made for another container of the pod (and possibly localized or written
    to since) and is left as it is, like kubelet makes a pod's volume once for all its containers.
    """
    gid = os_ids()[1]
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    paths = mount_paths(container, root, bound)
    for mount in container.get("volumeMounts", []):
        mount_path: str = mount["mountPath"]
        volume = volumes[mount["name"]]
        if mount_path == "/tmp":
            make_dir(root / "tmp", 0o2770)
        if mount_path in SHARED_MOUNTS:
            continue
        local = paths[mount_path]
        if local.exists():
            continue
        if "persistentVolumeClaim" in volume:
            # One claim is one disk wherever it is mounted (a volume repository's claim in the
            # repository host and in its backup Jobs): pods' mount points link to it, in the
            # directory beside the pods' own.
            claim = make_dir(root.parent / "claims" / volume["persistentVolumeClaim"]["claimName"], 0o2770)
            make_dir(local.parent)
            local.symlink_to(claim, target_is_directory=True)
        elif "emptyDir" in volume:
            make_dir(local, 0o2770)
        else:
            make_dir(local)
            for relative, content, mode in _volume_files(volume, rendered, namespace):
                _write_file(local / relative, content, mode, gid)
    return paths


# What the API server accepts as an environment variable name (apimachinery IsEnvVarName): kubelet
# skips the keys of an envFrom source that are not (Kubernetes 1.34 accepts any printable name).
_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


def resolve_env(container: Mapping[str, Any], pod: PodFacts, rendered: Rendered) -> dict[str, str]:
    """The container's environment as kubelet builds it: ``envFrom`` first (each key of the Secret or
    ConfigMap, after its ``prefix``; keys that are no variable name skipped), then ``env`` (which
    wins), including ``$(VAR)`` expansion."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            data = {k: v.decode() for k, v in rendered.secret(source["secretRef"]["name"], pod.namespace).items()}
        elif "configMapRef" in source:
            data = rendered.config_map(source["configMapRef"]["name"], pod.namespace)
        else:
            raise HarnessError(f"envFrom: unsupported source {source}")
        env |= {prefix + k: v for k, v in data.items() if _ENV_VAR_NAME.fullmatch(prefix + k)}
    fields = {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "status.podIP": pod.ip}
    for entry in container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            value = str(entry["value"])
            for ref, ref_value in env.items():
                value = value.replace(f"$({ref})", ref_value)
        elif "fieldRef" in entry["valueFrom"]:
            value = fields[entry["valueFrom"]["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["secretKeyRef"]
            value = rendered.secret(ref["name"], pod.namespace)[ref["key"]].decode()
        elif "configMapKeyRef" in entry["valueFrom"]:
            ref = entry["valueFrom"]["configMapKeyRef"]
            value = rendered.config_map(ref["name"], pod.namespace)[ref["key"]]
        else:
            raise HarnessError(f"env {name}: unsupported source {entry['valueFrom']}")
        env[name] = value
    return env


# The image's PATH: a rendered script finds its programs (aws, psql) there, not on the test's PATH.
IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"


def image_environment(home: Path) -> dict[str, str]:
    """What the container image itself contributes to the environment (PATH, HOME, locale)."""
    return {"PATH": IMAGE_PATH, "HOME": str(home), "LANG": "C.UTF-8"}


# --------------------------------------------------------------------------------------------
# THE override: everything the local run changes relative to what Kubernetes would run
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """Another pod as a pgBackRest client reaches it: the local paths and ports of that pod.

    pgBackRest sends a remote the options of its ``pgN-``/``repoN-`` entry (``pgN-path``,
    ``pgN-port``, ``repoN-path``), so a client's config names paths of the *remote* pod.
    """

    paths: Mapping[str, Path]  # the pod's in-pod path -> local path
    postgres_port: int | None = None  # a member's PostgreSQL port
    pgbackrest_port: int | None = None  # the port of the pod's pgBackRest TLS server


@dataclass(frozen=True)
class Placement:
    """Where one pod lives on this machine."""

    paths: Mapping[str, Path]  # in-pod path -> local path (volume mount points and MOVED_FILES)
    postgres_port: int  # a member's own port, or for a client the port of the server it reaches
    api_port: int | None = None  # a member's Patroni REST API port
    etcd_hosts: tuple[str, ...] = ()
    # A member's DCS (localize, 1.): "etcd" (the local etcd at etcd_hosts) or "kubernetes" (the
    # rendered kubernetes: section, against the Kubernetes API stand-in).
    dcs: str = "etcd"
    # For a client of the members' REST APIs (the reconcile Job): pod name -> local REST API port.
    member_api_ports: Mapping[str, int] = field(default_factory=dict)
    # The port of this pod's own pgBackRest TLS server (``pgbackrest server``), if it runs one.
    pgbackrest_port: int | None = None
    # The pods a pgBackRest client here reaches (``pgN-host``/``repoN-host``): pod name -> Peer.
    peers: Mapping[str, Peer] = field(default_factory=dict)
    # Another cluster's Services a member streams from (a standby's source): host -> local port.
    remote_services: Mapping[str, int] = field(default_factory=dict)
    # For an application's pod: Service host name -> the address of its stand-in (ServiceStandIn),
    # which listens on the Service's own port (localize, 8.).
    services: Mapping[str, str] = field(default_factory=dict)
    # A member's exporter sidecar: the local port it serves /metrics on (localize, 12.).
    exporter_port: int | None = None
    # A pgBouncer whose [databases] name Services (localize, 5.): Service host -> the local port of
    # the member that Service selects now (the leader for the primary's, a replica for the replicas').
    service_ports: Mapping[str, int] = field(default_factory=dict)
    # pgAdmin's container: the local port it serves on, 127.0.0.1 (localize, 14.).
    pgadmin_port: int | None = None


@dataclass(frozen=True)
class ServiceAccount:
    """What a pod that automounts its service account token gets from Kubernetes, pointing at the
    harness's Kubernetes API stand-in (tests/runtime/kube_api.py)."""

    directory: Path  # token, ca.crt, namespace: bind-mounted at SERVICE_ACCOUNT_PATH
    env: Mapping[str, str]  # KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT


@dataclass(frozen=True)
class LocalRun:
    """A container as started here: command, environment and (for members) Patroni's config."""

    command: tuple[str, ...]
    env: dict[str, str]
    patroni_config: dict[str, Any] | None = None
    # (local directory, in-pod path) standing in for files of the container's image, bind-mounted in
    # its private mount namespace (pgAdmin's: localize, 14.).
    image_binds: tuple[tuple[Path, str], ...] = ()


def _local_path(value: str, paths: Mapping[str, Path]) -> str:
    """``value`` mapped when it *is* a path under a moved mount (the whole value)."""
    for pod_path, local in sorted(paths.items(), key=lambda item: -len(item[0])):
        if value == pod_path or value.startswith(pod_path + "/"):
            return str(local) + value[len(pod_path) :]
    return value


def _local_paths_in(value: str, paths: Mapping[str, Path]) -> str:
    """``value`` with every path under a moved mount mapped, also where it is part of a longer
    string (a command line in Patroni's config, ``--config=/etc/pgbackrest/x.conf``).

    A mount path counts where it stands at a word boundary: at the start of the string or after
    whitespace, ``=`` or a quote, and followed by ``/``, the end, whitespace or a quote. The
    longest mount path wins (``/etc/pgbouncer/secret`` before ``/etc/pgbouncer``). For a whole
    value this is exactly :func:`_local_path`.
    """
    if not paths:
        return value
    alternatives = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
    pattern = re.compile(rf"(?:^|(?<=[\s='\"]))({alternatives})(?=/|$|[\s'\"])")
    return pattern.sub(lambda match: str(paths[match.group(1)]), value)


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, change) for k, v in value.items()}
    return value


def localize(command: Sequence[str], env: Mapping[str, str], patroni_yaml: str | None, where: Placement) -> LocalRun:
    """Turn a container as Kubernetes would run it into one that runs on this machine.

    This is the ONLY place where the harness departs from the rendered output. It changes:

    1. The DCS, in one of two modes (``Placement.dcs``, chosen per cluster: ``LocalCluster(dcs=...)``):

       * ``"etcd"`` (the default): Patroni's ``kubernetes:`` section is replaced by ``etcd3: {hosts:
         [...]}`` for a local etcd, and ``PATRONI_KUBERNETES_POD_IP`` is dropped (Patroni would
         otherwise build a ``kubernetes`` section from it again). The role labels the Services
         select by are then set by nobody; the harness takes the primary from Patroni's own view
         (``GET /cluster``).
       * ``"kubernetes"``: nothing changes. The ``kubernetes:`` section stays as rendered, and so
         does ``PATRONI_KUBERNETES_POD_IP``, which is the pod IP of ``fieldRef: status.podIP``,
         127.0.0.1 (2.). Patroni (and the upgrade guard before it) reaches the Kubernetes API
         stand-in of 7. as the pod's service account, whose files are mounted and whose
         ``KUBERNETES_SERVICE_HOST``/``_PORT`` are set as for any pod that talks to the API (7.), and
         keeps its leader, config, sync and failover ConfigMaps and its pod's role label and status
         annotation there. The Services' stand-ins, ``Placement.service_ports`` and the harness's
         idea of the leader follow those labels (:meth:`LocalCluster.selected`), as a Service's
         Endpoints do. No etcd runs.
    2. Addresses: a pod has its own IP and the fixed ports 5432/8008; here all members share
       127.0.0.1, so ``PATRONI_POSTGRESQL_LISTEN`` and ``PATRONI_RESTAPI_LISTEN`` become
       ``127.0.0.1:<free port>``, and ``PATRONI_POSTGRESQL_CONNECT_ADDRESS``/``PATRONI_RESTAPI_
       CONNECT_ADDRESS`` keep their host, the pod's name under the headless Service, with that
       port: the name resolves to 127.0.0.1 in every member's private /etc/hosts, so replicas
       stream from, and members call, the name the certificates must carry (what
       ``replicationSSLMode: verify-full`` checks). A client
       container (the reconcile Job) keeps ``PGHOST`` (the name verify-full checks) and gets
       ``PGHOSTADDR=127.0.0.1`` and ``PGPORT=<port of the primary>`` to reach it; its list of
       members' REST APIs (``PGRENDER_PATRONI_MEMBERS``) keeps the names and gets each member's
       local port, the names resolving to 127.0.0.1 (:func:`run_job`). The pod IP a
       ``fieldRef: status.podIP`` yields is 127.0.0.1 (:data:`LOCAL_POD_IP`), and client URIs
       taken from user Secrets get the same treatment in :func:`loopback_uri` (whose
       ``sslrootcert`` may also name where the test wrote the Secret, the mount moved as in 3.). Any other name a
       container connects to keeps its name, which resolves to 127.0.0.1 in the container's
       private /etc/hosts (:func:`prepare_container`), standing in for cluster DNS. A standby
       cluster's ``bootstrap.dcs.standby_cluster`` names its source's primary Service and port:
       they become 127.0.0.1 and the local port of the source's leader
       (``Placement.remote_services``; the connection is verify-ca, which checks no name). A direct
       clone's ``bootstrap.pg_basebackup.command`` names the same Service in its ``--dbname``: its
       port becomes the leader's, and its host keeps its name (:func:`_localize_clone_command`).
    3. Paths of mounted volumes (:data:`MOVED_MOUNTS`) and :data:`MOVED_FILES`, wherever they occur
       (Patroni config, environment, command), point into the pod's local directory: a whole
       value, and a path inside a longer string at a word boundary (a bootstrap
       ``command: sh /etc/pgbackrest/restore.sh``, ``--config=/etc/pgbackrest/source.conf``;
       :func:`_local_paths_in`).
    4. pgBackRest's configuration files (``*.conf`` in the ``/etc/pgbackrest`` volume), in
       :func:`localize_pgbackrest_conf`, the same kinds of change and nothing else: paths (3.)
       and ports and listen address (2.).
    5. pgBouncer's ``pgbouncer.ini``, in :func:`localize_pgbouncer_ini`, likewise: the port of a
       ``[databases]`` entry is that of the member its host's Service selects
       (``Placement.service_ports``: the leader for the primary Service, a replica for the replicas
       Service, which the replicas' pgBouncer names), or the leader's.
    6. Patroni's configuration directory (the ConfigMap at /etc/patroni: ``patroni.yaml`` and
       ``bootstrap.yaml``) is handed over as one file: its files merged as Patroni merges them
       (:attr:`Rendered.patroni_yaml`), localized as in 1.-3., written as the directory's
       ``patroni.yaml`` with the other file removed (:meth:`LocalCluster.start_member`).
    7. Kubernetes itself, for a pod that talks to its API (the reconcile Job, which replaces member
       pods; the members with the Kubernetes DCS, 1.): the API server is the stand-in of
       ``tests/runtime/kube_api.py``, which serves the rendered StatefulSets, the pods as the
       harness runs them (their labels those of their StatefulSet's template), and the ConfigMaps
       clients create, enforces the rendered Roles and RoleBindings for each service account, and
       stands in for the StatefulSet controller and kubelet when a pod is deleted, a StatefulSet is
       scaled to 0 or 1, or the template of a ``RollingUpdate`` one (the repository host) changes:
       it stops that pod's processes and starts them again from the StatefulSet's current template
       (:meth:`LocalCluster.create_pod`). Its ``--min-request-timeout`` is 30 s rather than 1800 s,
       so that watches end and are made anew (a list, then a watch) within a test, as they are over
       a pod's life. A pod gets what Kubernetes gives a pod of its ``serviceAccountName``
       (:class:`ServiceAccount`): that account's token, the CA and namespace files bind-mounted at
       their in-pod path in the container's private mount namespace, and
       ``KUBERNETES_SERVICE_HOST``/``_PORT``.
    8. An application's pod (``examples/apps/``, run by ``test_clients.py``: a client program is
       its command), which must use the user and access Secrets exactly as rendered: nothing in its
       command or environment changes (not even ``PGHOST``/``PGPORT``, unlike the Job's in 2.).
       Instead, each Service it connects to has a stand-in (:class:`ServiceStandIn`, as kube-proxy
       for a cluster IP): a loopback address of its own, listening on the Service's port, which
       forwards every connection to the local port of the pod the Service selects (the current
       leader for the primary Service, the local pgBouncer for pgBouncer's); the Service's DNS
       names resolve to that address in the container's private /etc/hosts
       (``Placement.services``). Its Secret volume at the cluster's ``secretMountPath`` (where the
       URIs' ``sslrootcert`` points) is written under the pod's directory and bind-mounted at that
       very path in the container's private mount namespace (``bound`` of
       :func:`prepare_container`; the mount point is created, empty, on this machine).

    9. External Secrets Operator, for a cluster rendered with the ``external`` secrets provider:
       the Secrets its ExternalSecrets describe are made by :func:`external_secrets` from a store
       the test holds (a dict), each template evaluated by the evaluator of ``tests/eso.py``
       (exactly the Go template subset pgrender writes, tested on its own); the ExternalSecrets
       stay as rendered, and every container reads those Secrets as it would from Kubernetes.

    10. Process namespaces: a pod with ``shareProcessNamespace: true`` (the ``tls-reload`` sidecar's)
        sees its own containers' processes in Kubernetes; here every process of the machine. Nothing is
        changed for it: the sidecar tells its pod's processes by their command lines, which name the
        pod's own localized paths (3.), as in the pod they name the pod's (``patroni /etc/patroni``).

    11. cert-manager, for a cluster rendered with TLS provider ``cert-manager``: the Secrets its
        Certificates ask for are issued by the CA of ``tests/runtime/cert_manager.py`` from what each
        Certificate says, and handed over beside the rendered objects (:meth:`Rendered.with_objects`);
        the Certificates stay as rendered. A renewal is :func:`update_mounted_secret`, what kubelet
        does with a changed Secret.

    12. postgres_exporter, a member's ``exporter`` sidecar (spec.monitoring): the image's
        ``/bin/postgres_exporter`` is Debian's :data:`LOCAL_EXPORTER` (0.11.1, which reads the same
        ``DATA_SOURCE_*`` variables and flags), ``--web.listen-address=:9187`` becomes
        ``127.0.0.1:<free port>`` (``Placement.exporter_port``: members share the address), and the
        port of ``DATA_SOURCE_URI`` the member's local PostgreSQL port. Its host, the pod's own name,
        stays (verify-full checks it) and resolves to 127.0.0.1 in the container's private
        /etc/hosts, as the pod's /etc/hosts maps it to the pod's own address; the paths of its
        volume move as in 3.

    13. NetworkPolicies: nothing enforces them here (every process reaches every loopback port), and
        nothing is changed for them. What they allow and refuse is checked on the rendered objects
        by the evaluator of ``tests/netpol.py`` (``tests/test_network_policies.py``).

    14. pgAdmin's container (spec.userInterface.pgAdmin; :func:`is_pgadmin`: its command runs the
        image's ``/venv/bin/python3`` and its environment has ``PGADMIN_DIR``): the official image's
        files are stood in for by the virtualenv of ``make clients`` (:data:`PGADMIN_VENV`, the
        pinned pgAdmin and gunicorn of tests/runtime/pgadmin/requirements.txt, made by the system's
        Python, which the postgres user can start), bind-mounted in the container's private mount
        namespace (``LocalRun.image_binds``): the virtualenv at ``/venv`` (its python finds the
        ``pyvenv.cfg`` beside it there) and its ``site-packages/pgadmin4`` at ``/pgadmin4``. That
        directory is pgAdmin's pip package: its ``config_distro.py`` is the package's, not the image's
        (which names the image's PostgreSQL binaries and log file; the rendered config_system.py,
        read after it, sets what pgrender sets). ``PGADMIN_LISTEN_ADDRESS``/``PGADMIN_LISTEN_PORT``
        become 127.0.0.1 and ``Placement.pgadmin_port`` (pods have their own IPs; here all share
        loopback). Nothing else changes: start.py and config_system.py run as rendered, and the
        pod's volumes are seen at their in-pod paths (pgAdmin reads ``/etc/pgadmin/config_system.py``,
        a path it hard-codes; the servers name ``/etc/pgadmin-ca`` as pgAdmin's shared storage) as
        an application's are (8.: ``bound`` of :func:`prepare_container`, the claim's too; its /tmp,
        an emptyDir, is the pod's own directory, not the machine's /tmp that other containers share,
        where gunicorn would meet another's control socket), and the primary Service its servers
        name resolves to a :class:`ServiceStandIn` (8.; :meth:`LocalCluster.service_stand_in`).

    The pod name (``PATRONI_NAME``), namespace and every other setting (PostgreSQL parameters,
    pg_hba, authentication, bootstrap, TLS, REST API) stay exactly as rendered. The config is
    returned parsed; it is written back as YAML, so it equals the rendered one value for value
    (:func:`config_differences`), not byte for byte. Files other than the configuration files
    of 4. and 5. (scripts such as ``reconcile.sh``) are run as rendered.
    """
    local_env = {k: _local_paths_in(v, where.paths) for k, v in env.items()}
    local_command = tuple(_local_paths_in(arg, where.paths) for arg in command)
    config: dict[str, Any] | None = None
    if patroni_yaml is not None:
        config = _map_strings(yaml.safe_load(patroni_yaml), lambda s: _local_paths_in(s, where.paths))
        assert config is not None
        if "kubernetes" not in config:
            raise HarnessError("rendered patroni.yaml has no kubernetes section")
        if where.dcs == "etcd":
            del config["kubernetes"]
            config["etcd3"] = {"hosts": list(where.etcd_hosts)}
            local_env.pop("PATRONI_KUBERNETES_POD_IP", None)
        elif where.dcs != "kubernetes":
            raise HarnessError(f"DCS {where.dcs!r}: the harness runs etcd or kubernetes")
        elif local_env.get("PATRONI_KUBERNETES_POD_IP") != LOCAL_POD_IP:
            raise HarnessError("the rendered StatefulSet no longer sets PATRONI_KUBERNETES_POD_IP to the pod IP")
        standby = config.get("bootstrap", {}).get("dcs", {}).get("standby_cluster", {})
        if "host" in standby:
            if standby["host"] not in where.remote_services:
                raise HarnessError(f"standby_cluster.host {standby['host']}: where is it here? (remote_services)")
            standby["port"] = where.remote_services[standby["host"]]
            standby["host"] = LOCAL_POD_IP
        clone = config.get("bootstrap", {}).get("pg_basebackup")
        if clone is not None:
            clone["command"] = _localize_clone_command(clone["command"], where)
        assert where.api_port is not None
        for key, port, keep_host in (
            ("PATRONI_POSTGRESQL_LISTEN", where.postgres_port, False),
            ("PATRONI_POSTGRESQL_CONNECT_ADDRESS", where.postgres_port, True),
            ("PATRONI_RESTAPI_LISTEN", where.api_port, False),
            ("PATRONI_RESTAPI_CONNECT_ADDRESS", where.api_port, True),
        ):
            if key not in local_env:
                raise HarnessError(f"the rendered StatefulSet no longer sets {key}")
            host = local_env[key].rpartition(":")[0] if keep_host else LOCAL_POD_IP
            local_env[key] = f"{host}:{port}"
    elif is_pgadmin(command, local_env):
        if where.pgadmin_port is None:
            raise HarnessError("a pgAdmin container, but the placement has no pgAdmin port")
        for key in ("PGADMIN_LISTEN_ADDRESS", "PGADMIN_LISTEN_PORT"):
            if key not in local_env:
                raise HarnessError(f"the rendered pgAdmin container no longer sets {key}")
        local_env["PGADMIN_LISTEN_ADDRESS"] = LOCAL_POD_IP
        local_env["PGADMIN_LISTEN_PORT"] = str(where.pgadmin_port)
        return LocalRun(local_command, local_env, None, pgadmin_image_files())
    elif "DATA_SOURCE_URI" in local_env:
        local_command, local_env = _localize_exporter(local_command, local_env, where)
    elif "PGHOST" in local_env and not where.services:
        local_env["PGHOSTADDR"] = LOCAL_POD_IP
        local_env["PGPORT"] = str(where.postgres_port)
        if "PGRENDER_PATRONI_MEMBERS" in local_env:
            local_env["PGRENDER_PATRONI_MEMBERS"] = " ".join(
                f"{host}:{where.member_api_ports[host.split('.')[0]]}"
                for host, _, _ in (m.rpartition(":") for m in local_env["PGRENDER_PATRONI_MEMBERS"].split())
            )
    return LocalRun(local_command, local_env, config)


def _localize_clone_command(command: str, where: Placement) -> str:
    """A direct clone's pg_basebackup (bootstrap.pg_basebackup.command): the port of its ``--dbname``,
    the source's primary Service, becomes the local port of the source's leader. The host keeps its
    name, which the member's private /etc/hosts resolves to 127.0.0.1 (the names of
    ``remote_services`` are among its hosts), so the source's certificate is checked as rendered."""
    words = shlex.split(command)
    for i, word in enumerate(words):
        if word.startswith("--dbname="):
            pairs = dict(pair.split("=", 1) for pair in word.removeprefix("--dbname=").split())
            if pairs["host"] not in where.remote_services:
                raise HarnessError(f"pg_basebackup host {pairs['host']}: where is it here? (remote_services)")
            pairs["port"] = str(where.remote_services[pairs["host"]])
            words[i] = "--dbname=" + " ".join(f"{k}={v}" for k, v in pairs.items())
    return shlex.join(words)


def is_pgadmin(command: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether a container is pgAdmin's (:func:`localize`, 14.): it runs the pgAdmin image's python and
    tells it where pgAdmin is (``PGADMIN_DIR``)."""
    return bool(command) and command[0] == f"{PGADMIN_IMAGE_VENV}/bin/python3" and "PGADMIN_DIR" in env


def pgadmin_image_files() -> tuple[tuple[Path, str], ...]:
    """What stands in for the pgAdmin image's files (:func:`localize`, 14.): (local directory,
    in-pod path) of the virtualenv and of pgAdmin's directory in it."""
    found = sorted(PGADMIN_VENV.glob("lib/python3.*/site-packages/pgadmin4"))
    if len(found) != 1 or not (PGADMIN_VENV / "bin" / "python3").exists():
        raise HarnessError(f"no pgAdmin in {PGADMIN_VENV} (make clients): {missing_pgadmin_requirements()}")
    return ((PGADMIN_VENV, PGADMIN_IMAGE_VENV), (found[0], PGADMIN_IMAGE_DIR))


def missing_pgadmin_requirements() -> list[str]:
    """What this machine lacks to run pgAdmin's container (beside a cluster: missing_requirements)."""
    venv = PGADMIN_VENV.relative_to(REPO)
    missing = [] if (PGADMIN_VENV / "bin" / "python3").exists() else [f"the virtualenv {venv} (make clients)"]
    for package, landmark in (("pgAdmin 4", "pgadmin4/pgAdmin4.py"), ("gunicorn", "gunicorn/__init__.py")):
        if not missing and not list(PGADMIN_VENV.glob(f"lib/python3.*/site-packages/{landmark}")):
            missing.append(f"{package} in {venv} (make clients)")
    return missing


def exporter_host(env: Mapping[str, str]) -> str:
    """The host of postgres_exporter's DATA_SOURCE_URI (host:port/database?options)."""
    return env["DATA_SOURCE_URI"].partition("/")[0].rpartition(":")[0]


def _localize_exporter(
    command: tuple[str, ...], env: dict[str, str], where: Placement
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The exporter half of :func:`localize` (12.)."""
    if where.exporter_port is None:
        raise HarnessError("an exporter sidecar, but the placement has no exporter port")
    rest = env["DATA_SOURCE_URI"].partition("/")[2]
    env = {**env, "DATA_SOURCE_URI": f"{exporter_host(env)}:{where.postgres_port}/{rest}"}
    listen = "--web.listen-address="
    args = tuple(f"{listen}{LOCAL_POD_IP}:{where.exporter_port}" if a.startswith(listen) else a for a in command[1:])
    return (str(LOCAL_EXPORTER), *args), env


def pod_path(value: str, where: Placement) -> str:
    """``value`` with the localized paths in it mapped back to the in-pod paths they stand for
    (the inverse of the path mapping of :func:`localize`)."""
    return _local_paths_in(value, {str(local): Path(pod) for pod, local in where.paths.items()})


def config_differences(rendered_yaml: str, local: Mapping[str, Any], where: Placement) -> list[str]:
    """Keys where the config a member runs differs from the rendered one beyond :func:`localize`.

    Paths are mapped back to the in-pod paths and, with etcd, the DCS section is set aside (with the
    Kubernetes DCS it is compared too); whatever still differs is an unexplained override (the tests
    expect none).
    """
    restored = _map_strings(copy.deepcopy(dict(local)), lambda s: pod_path(s, where))
    rendered = yaml.safe_load(rendered_yaml)
    if "etcd3" in restored:  # localize 1., etcd: the one DCS section for the other
        rendered.pop("kubernetes", None)
        restored.pop("etcd3")
    return [key for key in sorted(set(rendered) | set(restored)) if rendered.get(key) != restored.get(key)]


def loopback_uri(uri: str, port: int, ca_file: Path | None = None) -> str:
    """A client URI from a Secret, reaching the server on 127.0.0.1:``port``.

    Same user, password, database, ``sslmode`` and host name (verify-full checks the certificate
    against it); only the port changes and ``hostaddr`` says where to connect. With ``ca_file``,
    its ``sslrootcert`` (``<secretMountPath>/ca.crt``, the Secret as an application mounts it)
    names that file instead: where the test wrote the Secret (:func:`write_secret`), the mount
    moved as in :func:`localize` 3. (An application pod keeps the URI whole: :func:`localize` 8.)
    """
    parts = urllib.parse.urlsplit(uri)
    credentials, _, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0]
    params = parts.query.split("&") if parts.query else []
    if ca_file is not None:
        if not any(p.startswith("sslrootcert=") for p in params):
            raise HarnessError(f"the URI names no sslrootcert to move: {parts.query}")
        params = [f"sslrootcert={ca_file}" if p.startswith("sslrootcert=") else p for p in params]
    query = "&".join([*params, f"hostaddr={LOCAL_POD_IP}"])
    return urllib.parse.urlunsplit((parts.scheme, f"{credentials}@{host}:{port}", parts.path, query, ""))


# pgBackRest repository types whose repoN-path is a path in a bucket or container, not a file system.
OBJECT_STORE_REPO_TYPES = frozenset({"s3", "gcs", "azure"})
# Options of a pgN-host/repoN-host entry that name files of the client (its certificate), not of the remote.
_CLIENT_HOST_OPTIONS = frozenset({"host-cert-file", "host-key-file", "host-ca-file", "host-ca-path"})
_INDEXED_OPTION = re.compile(r"(pg|repo)(\d+)-(.+)")


def _pgbackrest_options(conf: str) -> dict[str, str]:
    """key -> value of every ``key=value`` line of a pgBackRest config file, whatever the section."""
    options = {}
    for line in conf.splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", ";", "[")):
            continue
        key, sep, value = stripped.partition("=")
        if sep:
            options[key.strip()] = value.strip()
    return options


def pgbackrest_host_names(conf: str) -> list[str]:
    """The host names a pgBackRest config connects to by name (``pgN-host``, ``repoN-host``)."""
    options = _pgbackrest_options(conf)
    return sorted({v for k, v in options.items() if (m := _INDEXED_OPTION.fullmatch(k)) and m.group(3) == "host"})


def localize_pgbackrest_conf(conf: str, where: Placement) -> str:
    """The pgBackRest half of :func:`localize`: the same kinds of change, nothing else.

    ``conf`` is a rendered pgBackRest config (INI: ``[global]``, ``[db]``, ``key=value``).

    * Paths: values of ``*-path``, ``*-file`` and ``*-config`` options that are paths under a
      moved mount point into a local directory: the options of a ``pgN-host``/``repoN-host``
      entry into the directory of *that* pod (:attr:`Placement.peers`, found by the host's first
      label, the pod name; pgBackRest passes them to the remote), except the entry's own client
      files (``pgN-host-cert-file``, ...), which are this pod's. ``repoN-path`` of an object store
      repository (:data:`OBJECT_STORE_REPO_TYPES`) is a path in the bucket and stays.
    * Addresses: ``tls-server-address`` becomes 127.0.0.1 and ``tls-server-port`` this pod's
      :attr:`Placement.pgbackrest_port`; ``pgN-host-port``/``repoN-host-port`` the port of that
      pod's pgBackRest server, and ``pgN-port`` the PostgreSQL port of that pod (of this pod,
      :attr:`Placement.postgres_port`, when ``pgN`` is local). One left out because the
      default (8432, 5432) was meant is added after the ``pgN-host``/``repoN-host``/``pgN-path``
      or first ``tls-server-*`` line. Host names stay: they resolve to 127.0.0.1 in the pod's
      private /etc/hosts (:func:`prepare_container`).
    * Locks: pgBackRest's default ``lock-path``, /tmp/pgbackrest, is in the container's own /tmp in
      Kubernetes (a backup Job's emptyDir); here every container shares the machine's /tmp, and two
      tests' Jobs of stanza ``db`` would take each other's locks. A configuration without
      ``lock-path`` gets the container's local /tmp/pgbackrest (:data:`MOVED_FILES`), in [global].
    """
    options = _pgbackrest_options(conf)
    lock = where.paths.get("/tmp/pgbackrest")
    if lock is not None and "lock-path" not in options and "[global]" in conf.splitlines():
        conf = conf.replace("[global]\n", f"[global]\nlock-path={lock}\n", 1)
        options = _pgbackrest_options(conf)

    def peer(kind: str, index: str) -> Peer | None:
        host = options.get(f"{kind}{index}-host")
        if host is None:
            return None
        found = where.peers.get(host) or where.peers.get(host.split(".")[0])
        if found is None:
            raise HarnessError(f"pgBackRest {kind}{index}-host={host}: no such pod here (peers: {sorted(where.peers)})")
        return found

    def port(what: str, value: int | None) -> str:
        if value is None:
            raise HarnessError(f"pgBackRest option {what}: the placement has no local port for it")
        return str(value)

    def local_value(key: str, value: str) -> str:
        if key == "tls-server-address":
            return LOCAL_POD_IP
        if key == "tls-server-port":
            return port(key, where.pgbackrest_port)
        match = _INDEXED_OPTION.fullmatch(key)
        remote = None
        if match:
            kind, index, option = match.groups()
            remote = peer(kind, index)
            if option == "host-port":
                return port(key, remote.pgbackrest_port if remote else None)
            if kind == "pg" and option == "port":
                return port(key, remote.postgres_port if remote else where.postgres_port)
            if kind == "repo" and option == "path" and options.get(f"repo{index}-type") in OBJECT_STORE_REPO_TYPES:
                return value
            if option in _CLIENT_HOST_OPTIONS:
                remote = None
        if key.endswith(("-path", "-file", "-config")):
            return _local_path(value, remote.paths if remote else where.paths)
        return value

    def added_after(key: str) -> list[str]:
        """Options pgBackRest would take at their default, which the local run must set."""
        match = _INDEXED_OPTION.fullmatch(key)
        if match and match.group(3) == "host" and f"{match.group(1)}{match.group(2)}-host-port" not in options:
            name = f"{match.group(1)}{match.group(2)}-host-port"
            return [name]
        if match and match.group(1) == "pg" and match.group(3) == "path" and f"pg{match.group(2)}-port" not in options:
            return [f"pg{match.group(2)}-port"]
        if key.startswith("tls-server-") and "tls-server-port" not in options:
            options["tls-server-port"] = "(added)"  # once
            return ["tls-server-port"]
        return []

    out = []
    for line in conf.splitlines():
        stripped = line.strip()
        key, sep, value = line.partition("=")
        if not sep or stripped.startswith(("#", ";", "[")):
            out.append(line)
            continue
        key, value = key.strip(), value.strip()
        new = local_value(key, value)
        out.append(line if new == value else f"{line[: line.index('=') + 1]}{new}")
        out += [f"{name}={local_value(name, '')}" for name in added_after(key)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _process_group(pgid: int) -> dict[int, list[str]]:
    """The live processes of process group ``pgid``, by PID, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if os.getpgid(pid) != pgid or not _alive(pid):
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        found[pid] = [a.decode(errors="replace") for a in (argv[:-1] if argv and not argv[-1] else argv)]
    return found


def _stop_pid(pid: int, sig: int, timeout: float) -> None:
    """Send ``sig`` to ``pid`` and wait; SIGKILL if it is still there after ``timeout`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------------------
# Any container of a rendered pod, run here
# --------------------------------------------------------------------------------------------


def pod_spec_of(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template's spec of a rendered workload (a CronJob's is in its jobTemplate)."""
    kind = workload["kind"]
    if kind == "CronJob":
        spec: Mapping[str, Any] = workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif kind in ("Job", "StatefulSet", "Deployment", "DaemonSet"):
        spec = workload["spec"]["template"]["spec"]
    elif kind == "Pod":
        spec = workload["spec"]
    else:
        raise HarnessError(f"{kind} {workload['metadata']['name']} has no pod template")
    return spec


def default_pod_name(workload: Mapping[str, Any]) -> str:
    """A StatefulSet's pod is ``<name>-0`` (pgrender renders one replica per StatefulSet); any
    other pod is ``<name>-local``."""
    name: str = workload["metadata"]["name"]
    return f"{name}-0" if workload["kind"] == "StatefulSet" else f"{name}-local"


def _expand(value: str, env: Mapping[str, str]) -> str:
    """kubelet's ``$(VAR)`` expansion of command and args (``$$`` escapes; unknown names stay)."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        value,
    )


@dataclass(frozen=True)
class PodContainer:
    """One container of a rendered pod, with its volumes written and its command localized.

    It runs as the local postgres user (the pod's runAsUser) in a private mount namespace whose
    /etc/hosts maps :attr:`hosts` to 127.0.0.1, standing in for cluster DNS (root is needed for
    the namespace; the program itself runs as postgres).
    """

    name: str  # the container's name
    pod: PodFacts
    root: Path  # the pod's local directory, shared by its containers
    placement: Placement
    run: LocalRun
    hosts: tuple[str, ...]  # names that resolve to 127.0.0.1
    # (local directory, in-pod path) bind-mounted in the container's mount namespace: the service
    # account directory Kubernetes mounts into a pod that automounts its token, volumes mounted at
    # their in-pod path (``bound``), what stands in for files of the image (localize, 14.).
    binds: tuple[tuple[Path, str], ...] = ()

    @property
    def hosts_file(self) -> Path:
        return self.root / f"hosts.{self.name}"

    @property
    def workdir(self) -> Path:
        """The working directory and HOME: the pod's /tmp."""
        return self.root / "tmp"

    def environment(self) -> dict[str, str]:
        return image_environment(self.workdir) | self.run.env

    def argv(self) -> list[str]:
        """The command line that runs the container here (``unshare`` ... ``setpriv`` ... command)."""
        program = self.run.command[0]
        path = self.environment()["PATH"]
        if "/" not in program and shutil.which(program, path=path) is None and Path("/usr/sbin", program).exists():
            program = f"/usr/sbin/{program}"  # pgbouncer: on the image's PATH, in /usr/sbin here
        run_as = ["setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups", "--"]
        mounts = [(self.hosts_file, "/etc/hosts"), *self.binds]
        script = "".join(f"mount --bind {shlex.quote(str(local))} {shlex.quote(at)} && " for local, at in mounts)
        script += "exec " + shlex.join([*run_as, program, *self.run.command[1:]])
        # bash, not sh: dash drops environment variables whose names are no shell identifiers
        # (jdbc-uri from an envFrom), which kubelet hands the container's process all the same.
        return ["unshare", "--mount", "--propagation", "private", "bash", "-c", script]

    def run_once(self, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run it to completion (a Job's container); its output is captured, no check."""
        return subprocess.run(
            self.argv(),
            env=self.environment(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            errors="backslashreplace",  # a program may print bytes it read (a wrongly decrypted file)
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def popen(self, log: Path) -> subprocess.Popen[bytes]:
        """Start it in its own session, stdout and stderr appended to ``log``."""
        with log.open("ab") as out:
            return subprocess.Popen(
                self.argv(),
                env=self.environment(),
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )


def prepare_container(
    rendered: Rendered,
    workload: Mapping[str, Any],
    container: str,
    root: Path,
    where: Placement,
    *,
    pod: PodFacts | None = None,
    hosts: Sequence[str] = (),
    patroni_yaml: str | None = None,
    service_account: ServiceAccount | None = None,
    bound: Collection[str] = (),
) -> PodContainer:
    """Make container ``container`` of the rendered ``workload`` (a Job, a CronJob's jobTemplate,
    a StatefulSet, a Deployment) ready to run here, in the pod directory ``root``.

    What kubelet would do: its volumes are written under ``root`` (:func:`materialize_volumes`;
    containers of one pod share ``root`` and so their volumes), its environment is resolved
    (:func:`resolve_env`) and ``$(VAR)`` in its command and args expanded. Then :func:`localize`
    with ``where`` (whose ``paths`` are replaced by the container's mounts) and ``patroni_yaml``,
    and, when the pod's ``/etc/pgbackrest`` volume is written here for the first time, every
    ``*.conf`` in it through :func:`localize_pgbackrest_conf`.

    The private /etc/hosts maps ``hosts`` and every ``pgN-host``/``repoN-host`` of the pod's
    pgBackRest configs to 127.0.0.1. ``pod`` defaults to :func:`default_pod_name` in the
    rendered namespace, with the local pod IP. ``service_account``: the Kubernetes API stand-in
    the pod reaches, when its pod spec automounts a service account token (:func:`localize`, 6.).

    An application's pod (:func:`localize`, 8.): ``where.services`` maps the Service names it
    connects to to their stand-ins' addresses (:class:`ServiceStandIn`) in its /etc/hosts, and the
    volumes mounted at a path in ``bound`` are bind-mounted at that very path.
    """
    pod_spec = pod_spec_of(workload)
    by_name = {c["name"]: c for c in pod_spec["containers"]}
    if container not in by_name:
        raise HarnessError(f"{workload['metadata']['name']} has no container {container!r}; has {sorted(by_name)}")
    spec = by_name[container]
    pod = pod or PodFacts(default_pod_name(workload), rendered.namespace)
    make_dir(root)
    pgbackrest_dir = mount_paths(spec, root, bound).get("/etc/pgbackrest")
    fresh_pgbackrest = pgbackrest_dir is not None and not pgbackrest_dir.exists()
    paths = materialize_volumes(pod_spec, spec, rendered, root, bound, pod.namespace)
    if not (root / "tmp").exists():
        make_dir(root / "tmp", 0o2770)
    bind_mounts = tuple((paths.pop(at), at) for at in bound if at in paths)
    where = replace(where, paths=paths)
    names = list(hosts)
    if pgbackrest_dir is not None:
        gid = os_ids()[1]
        for conf in sorted(pgbackrest_dir.rglob("*.conf")):
            text = conf.read_text()
            if fresh_pgbackrest:
                text = localize_pgbackrest_conf(text, where)
                _write_file(conf, text.encode(), conf.stat().st_mode & 0o7777, gid)
            names += pgbackrest_host_names(text)
    env = resolve_env(spec, pod, rendered)
    command = [_expand(str(arg), env) for arg in [*spec.get("command", []), *spec.get("args", [])]]
    if not command:
        workload_name = workload["metadata"]["name"]
        raise HarnessError(f"container {container} of {workload_name} has no command (the image's default is unknown)")
    if "DATA_SOURCE_URI" in env:
        names.append(exporter_host(env))
    run = localize(command, env, patroni_yaml, where)
    binds: tuple[tuple[Path, str], ...] = (*bind_mounts, *run.image_binds)
    for _, at in binds:
        Path(at).mkdir(parents=True, exist_ok=True)  # the mount point; stays empty
    if service_account is not None and pod_spec.get("automountServiceAccountToken"):
        Path(SERVICE_ACCOUNT_PATH).mkdir(parents=True, exist_ok=True)  # the mount point; stays empty
        binds += ((service_account.directory, SERVICE_ACCOUNT_PATH),)
        run = replace(run, env=run.env | dict(service_account.env))
    # A bound /tmp last: the other mounts' local directories may be under the machine's /tmp.
    binds = tuple(sorted(binds, key=lambda bind: bind[1] == "/tmp"))
    hosts_file = root / f"hosts.{container}"
    unique = list(dict.fromkeys(names))
    lines = [f"{LOCAL_POD_IP} {n}" for n in unique] + [f"{ip} {n}" for n, ip in where.services.items()]
    hosts_file.write_text(Path("/etc/hosts").read_text() + "".join(f"\n{line}" for line in lines) + "\n")
    hosts_file.chmod(0o644)
    return PodContainer(container, pod, root, where, run, tuple(unique), binds)


class ContainerProcess:
    """A long-running container (a pgBackRest server, a sidecar): started in its own session,
    stopped with SIGTERM, and its whole process group killed after that."""

    def __init__(self, container: PodContainer, log: Path | None = None) -> None:
        self.container = container
        self.log = log or container.root / f"{container.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.running():
            raise HarnessError(f"container {self.container.name} of {self.container.pod.name} is already running")
        self.proc = self.container.popen(self.log)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_running(self) -> None:
        """Raise :class:`ProcessDied` (with the log) if it has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise ProcessDied(
                f"container {self.container.name} of {self.container.pod.name} exited with "
                f"{self.proc.returncode}:\n{self.log_tail()}"
            )

    def wait_listening(self, port: int, timeout: float = 20) -> None:
        """Wait until something accepts TCP connections on 127.0.0.1:``port``, failing if it dies."""

        def listening() -> bool:
            self.check_running()
            with socket.create_connection((LOCAL_POD_IP, port), timeout=1):
                return True

        wait_until(f"{self.container.name} of {self.container.pod.name} to listen on {port}", listening, timeout)

    def stop(self, timeout: float = 10) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        _stop_process(proc, signal.SIGTERM, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


@contextlib.contextmanager
def running_container(container: PodContainer, log: Path | None = None) -> Iterator[ContainerProcess]:
    """``container`` started as a long-running process, stopped (its process group killed) on exit."""
    process = ContainerProcess(container, log)
    try:
        process.start()
        yield process
    finally:
        process.stop()


class Etcd:
    """A single-member etcd on free loopback ports, with its data dir under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = make_dir(root)
        self.client_port, self.peer_port = free_ports(2)
        self.log = root / "etcd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def start(self) -> None:
        client, peer = f"http://{self.host}", f"http://127.0.0.1:{self.peer_port}"
        command = [
            shutil.which("etcd") or "etcd",
            "--name=local",
            f"--data-dir={self.root / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--enable-v2=false",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ProcessDied(f"etcd exited with {self.proc.returncode}:\n{_tail(self.log, 30)}")
            with urllib.request.urlopen(f"{client}/health", timeout=2) as response:
                return bool(json.load(response).get("health") == "true")

        wait_until("etcd to be healthy", healthy, timeout=20)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, 10)


@dataclass
class Member:
    """One instance: a StatefulSet's single pod, its ``database`` container run as a local Patroni
    process (:class:`PodContainer`)."""

    name: str  # the pod name, <statefulset>-0, which is also Patroni's member name
    statefulset: str
    root: Path
    rendered_yaml: str
    container: PodContainer
    uid: int
    gid: int
    # The pod's name under the StatefulSet's headless Service (<pod>.<c>-pods): the host of the
    # connect addresses in Kubernetes, and a name the server certificate carries.
    pod_dns_name: str
    proc: subprocess.Popen[bytes] | None = None
    wanted: bool = False  # True from start() until stop()/crash(): an exit in between is a failure
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "patroni.log"

    @property
    def placement(self) -> Placement:
        return self.container.placement

    @property
    def run(self) -> LocalRun:
        return self.container.run

    @property
    def pg_port(self) -> int:
        return self.placement.postgres_port

    @property
    def api_port(self) -> int:
        assert self.placement.api_port is not None
        return self.placement.api_port

    @property
    def data_dir(self) -> Path:
        return Path(self.run.env["PATRONI_POSTGRESQL_DATA_DIR"])

    @property
    def tls_dir(self) -> Path:
        return Path(self.placement.paths["/pgconf/tls"])

    def start(self) -> None:
        """Start Patroni as the pod would: its command, its environment, as the postgres user."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError(f"{self.name} is already running")
        self.wanted = True
        with self.log.open("ab") as log:
            log.write(f"\n===== harness: starting {self.name} at {time.strftime('%H:%M:%S')} =====\n".encode())
        self.proc = self.container.popen(self.log)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def postmaster_pid(self) -> int | None:
        """PID of this member's postmaster if one is running (from postmaster.pid)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError, PermissionError):
            return None
        return pid if _alive(pid) else None

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM Patroni (it stops PostgreSQL) and wait; then make sure no postmaster is left."""
        self.wanted = False
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, timeout)
        pid = self.postmaster_pid()
        if pid is not None:
            _stop_pid(pid, signal.SIGQUIT, 10)

    def crash(self) -> None:
        """What losing the pod looks like: Patroni SIGKILLed, PostgreSQL stopped without shutdown.

        In a pod, Patroni is the container's main process and PostgreSQL dies with the container;
        locally the postmaster lives in its own session, so it is stopped explicitly (SIGQUIT:
        immediate shutdown, no checkpoint — the data directory needs crash recovery afterwards).
        """
        self.wanted = False
        postmaster = self.postmaster_pid()
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGKILL, 5)
        if postmaster is not None:
            _stop_pid(postmaster, signal.SIGQUIT, 10)

    def processes(self) -> dict[int, list[str]]:
        """The processes of this member's container that are alive, by PID, with their command lines:
        Patroni's process group (what it runs, such as a bootstrap's pg_basebackup or pgBackRest)."""
        if self.proc is None:
            return {}
        return _process_group(self.proc.pid)

    def kill(self) -> dict[int, list[str]]:
        """What an OOM kill or an eviction does to the container: every process in it SIGKILLed at once,
        with no shutdown. Locally that is Patroni's process group and the postmaster, which lives in a
        session of its own (in a pod it dies with the container). Returns the processes killed."""
        self.wanted = False
        if self.proc is None:
            return {}
        group, postmaster = self.proc.pid, self.postmaster_pid()
        killed = self.processes()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.proc.wait()
        if postmaster is not None:
            _stop_pid(postmaster, signal.SIGKILL, 5)
        wait_until(f"every process of {self.name} to die", lambda: not _process_group(group), 10, 0.05)
        return killed

    def psql(self, sql: str, database: str = "postgres") -> list[list[str]]:
        """Run SQL as the ``postgres`` superuser over the rendered unix socket directory (peer auth)."""
        assert self.run.patroni_config is not None
        socket_dir = str(self.run.patroni_config["postgresql"]["parameters"]["unix_socket_directories"]).split(",")[0]
        connection = ["-h", socket_dir, "-p", str(self.pg_port), "-U", "postgres", "-d", database]
        result = subprocess.run(
            [pg_bin("psql"), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", *connection, "-c", sql],
            env=image_environment(self.root / "tmp"),
            user=self.uid,
            group=self.gid,
            extra_groups=[self.gid],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise HarnessError(f"psql on {self.name} failed: {result.stderr.strip()}\nSQL: {sql}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def api_response(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        client_cert: tuple[Path, Path] | None = None,
        server_name: str | None = None,
        timeout: float = 5,
    ) -> tuple[int, Any]:
        """Call Patroni's REST API over HTTPS, verifying the server certificate; return (status, body).

        The certificate is checked against the rendered ca.crt and against ``server_name`` (by
        default this pod's name under the ``<c>-pods`` service, the address its Patroni peers
        use in Kubernetes), while the TCP connection goes to 127.0.0.1. The body is JSON when it
        parses as JSON, else text.
        """
        context = ssl.create_default_context(cafile=str(self.tls_dir / "ca.crt"))
        if client_cert is not None:
            context.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
        name = server_name or self.pod_dns_name
        lines = [f"{method} {path} HTTP/1.0", f"Host: {name}", "Content-Length: 0"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        chunks = []
        with (
            socket.create_connection((LOCAL_POD_IP, self.api_port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            while chunk := tls.recv(65536):
                chunks.append(chunk)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode(errors="replace")
        return int(head.split(b" ", 2)[1]), parsed

    def api(self, path: str, *, server_name: str | None = None) -> Any:
        """The JSON of a REST API endpoint that is expected to answer 200."""
        status, body = self.api_response(path, server_name=server_name)
        if status != 200:
            raise HarnessError(f"GET {path} on {self.name}: HTTP {status}: {body}")
        return body

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log, lines)


def _is_member(statefulset: Mapping[str, Any]) -> bool:
    return any(c["name"] == "database" for c in pod_spec_of(statefulset)["containers"])


def _is_pgadmin(statefulset: Mapping[str, Any]) -> bool:
    """Whether a StatefulSet's pod is pgAdmin's (:func:`is_pgadmin`, by its literal command and the
    names of its environment variables)."""
    return any(
        is_pgadmin([str(a) for a in c.get("command", [])], {e["name"]: "" for e in c.get("env", [])})
        for c in pod_spec_of(statefulset)["containers"]
    )


class LocalCluster:
    """All members of one rendered cluster plus its DCS, under one temporary directory.

    Every pod of a StatefulSet (the members, and the pgBackRest repo host if there is one) has its
    directory ``<root>/<pod>`` and a local port for a pgBackRest server (:attr:`peers`); members
    also a PostgreSQL and a REST API port. Only the members are started here; any other container
    of these pods, or of a Job, runs through :meth:`pod_container`.

    ``dcs`` is the members' DCS (:func:`localize`, 1.): ``"etcd"``, a local etcd of the cluster's
    own (the default), or ``"kubernetes"``, the rendered ``kubernetes:`` section against the
    Kubernetes API stand-in (:attr:`kube`), as the pods would run it.

    pgAdmin's pod (spec.userInterface.pgAdmin) runs like the repository host, beside the members (its
    start is not waited for: :meth:`wait_pgadmin`), as an application's pod does (:func:`localize`,
    8. and 14.): its volumes at their in-pod paths, the primary Service's names resolving to a
    :class:`ServiceStandIn` of the cluster's, and its local port in :attr:`pgadmin_ports`.
    """

    def __init__(
        self,
        rendered: Rendered,
        root: Path,
        remote_services: Mapping[str, int] | None = None,
        dcs: str = "etcd",
    ) -> None:
        if dcs not in ("etcd", "kubernetes"):
            raise HarnessError(f"DCS {dcs!r}: the harness runs etcd or kubernetes")
        self.rendered = rendered
        self.root = make_dir(root)
        self.dcs = dcs
        self.etcd = Etcd(root / "etcd")
        self.kube: Any = self._kube_api()  # the Kubernetes API stand-in, started by start()
        statefulsets = sorted(rendered.all("StatefulSet"), key=lambda s: s["metadata"]["name"])
        members = [sts for sts in statefulsets if _is_member(sts)]
        ports = iter(free_ports(3 * len(members) + len(statefulsets)))
        # pgAdmin's pod -> the local port it serves on (localize, 14.); it is no pgBackRest peer.
        self.pgadmin_ports = {default_pod_name(sts): next(ports) for sts in statefulsets if _is_pgadmin(sts)}
        # Service name -> its stand-in, made when a pod that connects to it is first prepared (pgAdmin's).
        self.service_stand_ins: dict[str, ServiceStandIn] = {}
        # Every StatefulSet pod as a pgBackRest client elsewhere reaches it.
        self.peers: dict[str, Peer] = {}
        for sts in statefulsets:
            if _is_pgadmin(sts):
                continue
            pod_root = root / default_pod_name(sts)
            paths: dict[str, Path] = {}
            for container in pod_spec_of(sts)["containers"]:
                paths |= mount_paths(container, pod_root)
            postgres_port = next(ports) if _is_member(sts) else None
            self.peers[default_pod_name(sts)] = Peer(paths, postgres_port, next(ports))
        self.members: list[Member] = []
        self.containers: list[ContainerProcess] = []  # the pods' other containers, once started
        self.bootstrap_seconds: float | None = None
        self.remote_services = dict(remote_services or {})
        self.member_ports: dict[str, int] = {}  # pod -> REST API port
        self.exporter_ports: dict[str, int] = {}  # pod -> its exporter sidecar's port (localize, 12.)
        for sts in members:
            self.member_ports[default_pod_name(sts)] = next(ports)
            self.exporter_ports[default_pod_name(sts)] = next(ports)
            self.members.append(self._member(sts))
        self.pod_deletions: dict[str, tuple[float, float]] = {}  # pod -> when it was last stopped (monotonic)

    def _member(self, sts: Mapping[str, Any]) -> Member:
        """The member of StatefulSet ``sts`` as its pod would run now: its database container
        prepared from the current rendering, with Patroni's configuration directory as one file."""
        pod = PodFacts(default_pod_name(sts), self.rendered.namespace)
        peer = self.peers[pod.name]
        assert peer.postgres_port is not None
        where = Placement(
            {},
            peer.postgres_port,
            self.member_ports[pod.name],
            (self.etcd.host,),
            pgbackrest_port=peer.pgbackrest_port,
            peers=self.peers,
            remote_services=self.remote_services,
            exporter_port=self.exporter_ports[pod.name],
            dcs=self.dcs,
        )
        member_root = make_dir(self.root / pod.name)
        rendered_yaml = self.rendered.patroni_yaml
        # Every member reaches the others by the names they advertise (<pod>.<headless Service>).
        member_hosts = [
            f"{default_pod_name(s)}.{s['spec']['serviceName']}"
            for s in self.rendered.all("StatefulSet")
            if _is_member(s)
        ] + list(self.remote_services)
        container = prepare_container(
            self.rendered,
            sts,
            "database",
            member_root,
            where,
            pod=pod,
            patroni_yaml=rendered_yaml,
            hosts=member_hosts,
            # With etcd the members' Patroni has no business with the API: it gets no service account.
            service_account=self.service_account(pod_spec_of(sts)) if self.dcs == "kubernetes" else None,
        )
        assert container.run.patroni_config is not None
        config_dir = Path(container.run.command[-1])
        for other in config_dir.glob("*.y*ml"):
            other.unlink()
        config_file = config_dir / "patroni.yaml"
        config_file.write_text(yaml.safe_dump(container.run.patroni_config, sort_keys=False))
        config_file.chmod(0o644)
        uid, gid = os_ids()
        pods_host = f"{pod.name}.{sts['spec']['serviceName']}"
        return Member(pod.name, sts["metadata"]["name"], member_root, rendered_yaml, container, uid, gid, pods_host)

    def pod_container(
        self,
        workload: Mapping[str, Any],
        container: str,
        *,
        root: Path | None = None,
        postgres_port: int = 0,
        hosts: Sequence[str] = (),
    ) -> PodContainer:
        """Container ``container`` of a rendered ``workload``, placed among this cluster's pods.

        A container of a StatefulSet pod (a member's sidecar, the repo host) gets that pod's
        directory and placement, so it shares the volumes of the pod's other containers and its
        ports. Any other pod (a Job, a CronJob's Job) gets ``root`` (default
        ``<cluster root>/<pod>``) and reaches the members through :attr:`peers` (pgBackRest) and
        the REST API ports; ``postgres_port`` is the server it reaches as a PostgreSQL client (0:
        none directly). See :func:`prepare_container` for ``hosts``.
        """
        name = default_pod_name(workload)
        pod = PodFacts(name, self.rendered.namespace)
        api_ports = {m.name: m.api_port for m in self.members}
        if workload["kind"] == "StatefulSet" and name in self.pgadmin_ports:
            return self._pgadmin_container(workload, container, pod, root or self.root / name)
        if workload["kind"] == "StatefulSet" and name in self.peers:
            peer = self.peers[name]
            member = next((m for m in self.members if m.name == name), None)
            where = (
                member.placement
                if member is not None
                else Placement({}, 0, pgbackrest_port=peer.pgbackrest_port, peers=self.peers)
            )
            pod_root = self.root / name
        else:
            where = Placement({}, postgres_port, member_api_ports=api_ports, peers=self.peers)
            pod_root = root or self.root / name
        return prepare_container(self.rendered, workload, container, pod_root, where, pod=pod, hosts=hosts)

    def _pgadmin_container(
        self, statefulset: Mapping[str, Any], container: str, pod: PodFacts, root: Path
    ) -> PodContainer:
        """pgAdmin's container (:func:`localize`, 14.): every volume at its in-pod path (its /tmp the
        pod's own), the primary Service's names resolving to its stand-in, its local port."""
        spec = next(c for c in pod_spec_of(statefulset)["containers"] if c["name"] == container)
        bound = [m["mountPath"] for m in spec.get("volumeMounts", []) if m["mountPath"] != "/dev/shm"]
        primary = self.service_stand_in(f"{self.rendered.name}-primary")
        services = dict.fromkeys(dns_forms(primary.name, self.rendered.namespace, "cluster.local"), primary.address)
        where = Placement({}, 0, services=services, pgadmin_port=self.pgadmin_ports[pod.name])
        return prepare_container(self.rendered, statefulset, container, root, where, pod=pod, bound=bound)

    def service_stand_in(self, service: str) -> ServiceStandIn:
        """The stand-in of member Service ``service`` (:class:`ServiceStandIn`, on the Service's port):
        each connection goes to the member the Service selects at that moment (:meth:`service_port`).
        Made the first time it is asked for, stopped with the cluster."""
        if service not in self.service_stand_ins:
            port = int(self.rendered.get("Service", service)["spec"]["ports"][0]["port"])
            self.service_stand_ins[service] = ServiceStandIn(service, port, lambda: self.service_port(service)).start()
        return self.service_stand_ins[service]

    def pgadmin_url(self, pod: str | None = None) -> str:
        """Where pgAdmin's pod (the only one, unless named) serves here, as ``kubectl port-forward``
        would give it."""
        if pod is None:
            if len(self.pgadmin_ports) != 1:
                raise HarnessError(f"{len(self.pgadmin_ports)} pgAdmin pods: name one")
            pod = next(iter(self.pgadmin_ports))
        return f"http://{LOCAL_POD_IP}:{self.pgadmin_ports[pod]}"

    def wait_pgadmin(self, pod: str | None = None, timeout: float = 120) -> ContainerProcess:
        """Wait until pgAdmin's pod answers its probe (GET /misc/ping: 200), failing with its log
        when its container exits; return its process."""
        url = self.pgadmin_url(pod)
        name = pod or next(iter(self.pgadmin_ports))

        def answers() -> ContainerProcess | None:
            running = [p for p in self.containers if p.container.pod.name == name]
            if not running:
                return None
            running[0].check_running()
            with urllib.request.urlopen(f"{url}/misc/ping", timeout=5) as response:
                return running[0] if response.status == 200 else None

        return wait_until(f"pgAdmin of {name} to answer {url}/misc/ping", answers, timeout, interval=0.5)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        """Start etcd (with the etcd DCS), the Kubernetes API stand-in, every other container of the
        StatefulSet pods (pgBackRest's sidecars and repository host), then every member; wait until
        one leads and all others stream from it."""
        self.start_all_but_members()
        started = time.monotonic()
        for member in self.members:
            member.start()
        self.wait_healthy(timeout)
        self.bootstrap_seconds = time.monotonic() - started

    def start_all_but_members(self) -> None:
        """What start() starts before the members: etcd (with the etcd DCS), the Kubernetes API
        stand-in and the StatefulSet pods' other containers; a test then starts members one by one."""
        if self.dcs == "etcd":
            self.etcd.start()
        self._start_kube()
        self.start_containers()

    def _kube_api(self) -> Any:
        """The Kubernetes API stand-in of this cluster's namespace (not started): the reconcile Job's
        service account first, then every other rendered one."""
        from tests.runtime.kube_api import KubeAPI  # it imports this module

        job = self._reconcile_job()
        return KubeAPI(
            self.root / "kube-api",
            self.rendered.namespace,
            pod_spec_of(job)["serviceAccountName"],
            self.rendered.objects,
            delete_pod=self.delete_pod,
            create_pod=self.create_pod,
            ready=self.pod_ready,
            accounts=[account["metadata"]["name"] for account in self.rendered.all("ServiceAccount")],
            min_request_timeout=30,
        )

    def service_account(self, pod_spec: Mapping[str, Any]) -> ServiceAccount:
        """What Kubernetes gives a pod of ``pod_spec`` that automounts its token: the files of its
        ``serviceAccountName`` and the API's address (:func:`localize`, 7.)."""
        return ServiceAccount(self.kube.account_dir(pod_spec.get("serviceAccountName", "default")), self.kube.env)

    def _start_kube(self) -> None:
        self.kube.start()
        self.kube.apply(self.rendered.objects)
        # Every StatefulSet's pod runs (start_containers starts the repository host's), so that a
        # later apply finds each one there and creates none.
        for statefulset in self.rendered.all("StatefulSet"):
            self.kube.add_pod(statefulset["metadata"]["name"])

    def start_containers(self, pod: str | None = None) -> None:
        """Every container of the StatefulSets' pods (of ``pod`` only, when given) but the members'
        Patroni, as long-running processes (they run as rendered, like the members); wait for
        those with a pgBackRest port."""
        for sts in sorted(self.rendered.all("StatefulSet"), key=lambda s: s["metadata"]["name"]):
            if pod is not None and default_pod_name(sts) != pod:
                continue
            for spec in pod_spec_of(sts)["containers"]:
                if _is_member(sts) and spec["name"] == "database":
                    continue
                process = ContainerProcess(self.pod_container(sts, spec["name"]))
                process.start()
                self.containers.append(process)
                if any(port.get("name") == "pgbackrest" for port in spec.get("ports", [])):
                    process.wait_listening(self.peers[default_pod_name(sts)].pgbackrest_port)

    # -- what Kubernetes does: apply, and replace a deleted pod ---------------------------------

    def apply(self, rendered: Rendered) -> None:
        """``kubectl apply`` of a new rendering of this cluster: the Kubernetes API stores its
        StatefulSets (OnDelete: no pod changes) and RBAC; pods made from now on use its objects.
        A member StatefulSet scaled to 0 or back to 1 (spec.shutdown) has its pod stopped or
        started, all of them at once, as their controllers would; this returns when they have."""
        if (rendered.name, rendered.namespace) != (self.rendered.name, self.rendered.namespace):
            raise HarnessError(f"{rendered.name} is another cluster than {self.rendered.name}")
        self.rendered = rendered
        self.kube.set_rbac(rendered.objects)
        self.kube.apply(rendered.objects)
        self.kube.wait_idle(120)

    def delete_pod(self, name: str) -> None:
        """A pod deleted: its containers stop (a member's Patroni first, as kubelet sends SIGTERM)."""
        started = time.monotonic()
        if any(m.name == name for m in self.members):
            self.member(name).stop()
        for process in [p for p in self.containers if p.container.pod.name == name]:
            process.stop()
            self.containers.remove(process)
        self.pod_deletions[name] = (started, time.monotonic())

    def create_pod(self, name: str, statefulset: Mapping[str, Any]) -> None:
        """The StatefulSet made the pod anew from ``statefulset`` (as stored): a new pod directory
        (the old one is kept beside it, for its logs), the same claims and ports, and its
        containers started."""
        old = self.root / name
        old.rename(self.root / f"{name}.{int(time.time() * 1000)}")
        if not _is_member(statefulset):  # the repository host: its containers only
            self.start_containers(name)
            return
        index = self.members.index(self.member(name))
        self.members[index] = member = self._member(statefulset)
        self.start_containers(name)
        member.start()

    def pod_ready(self, name: str) -> bool:
        """The pod's readiness probe: Patroni's GET /readiness answers 200 (a pod that is no member,
        the repository host: its containers run)."""
        if not any(m.name == name for m in self.members):
            return any(p.container.pod.name == name and p.running() for p in self.containers)
        member = self.member(name)
        if not member.running():
            return False
        try:
            return member.api_response("/readiness")[0] == 200
        except (OSError, ValueError):
            return False

    def _reconcile_job(self) -> dict[str, Any]:
        jobs = [
            j for j in self.rendered.all("Job") if j["metadata"]["name"].startswith(f"{self.rendered.name}-reconcile-")
        ]
        if len(jobs) != 1:
            raise HarnessError(
                f"expected one reconcile Job, got {[j['metadata']['name'] for j in self.rendered.all('Job')]}"
            )
        return jobs[0]

    def run_job(self, root: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the current rendering's reconcile Job, as Kubernetes would once it is applied.

        Its volumes (reconcile.sh, members.py, the SQL from the ConfigMap, the superuser certificate
        from its Secret) and environment are built from the rendered Job exactly like for the
        members, localized by :func:`localize`, in a fresh ``root``; the primary Service reaches the
        current leader; its private /etc/hosts maps the members' pod names to 127.0.0.1, standing
        in for cluster DNS, so the REST API calls verify the names in the certificate; its service
        account reaches the Kubernetes API stand-in.
        """
        job = self._reconcile_job()
        container = pod_spec_of(job)["containers"][0]
        pod = PodFacts(default_pod_name(job), self.rendered.namespace)
        members_env = resolve_env(container, pod, self.rendered).get("PGRENDER_PATRONI_MEMBERS", "")
        names = [member.rpartition(":")[0] for member in members_env.split()]
        # The primary Service reaches whichever member leads (others may be down: a stopped rollout),
        # and follows the leader as it changes (a switchover the Job makes), each connection anew.
        leading = [wait_until("a leader", self.leader, 60).pg_port]

        def primary() -> int:
            with contextlib.suppress(Exception):  # no leader this moment: the one it had
                now = self.leader()
                if now is not None:
                    leading[0] = now.pg_port
            return leading[0]

        shutil.rmtree(root, ignore_errors=True)
        with service_stand_in(f"{self.rendered.name}-primary", 0, primary, address=LOCAL_POD_IP) as service:
            where = Placement({}, service.port, member_api_ports=dict(self.member_ports))
            account = self.service_account(pod_spec_of(job))
            prepared = prepare_container(
                self.rendered, job, container["name"], root, where, pod=pod, hosts=names, service_account=account
            )
            return prepared.run_once(timeout)

    def stop(self) -> list[int]:
        """Stop every process this cluster started, by PID; return stragglers that had to be killed.

        Patroni stops its PostgreSQL; a postmaster still running afterwards is stopped by the PID in
        its postmaster.pid. Anything else still mentioning this cluster's directory is a straggler.
        """
        for member in self.members:
            member.wanted = False
            if member.proc is not None and member.proc.poll() is None:
                member.proc.send_signal(signal.SIGTERM)
        for member in self.members:
            member.stop()
        for process in self.containers:
            process.stop()
        for stand_in in self.service_stand_ins.values():
            stand_in.stop()
        if self.kube is not None:
            self.kube.stop()
        self.etcd.stop()
        stragglers = self.leftover_pids()
        for pid in stragglers:
            _stop_pid(pid, signal.SIGKILL, 5)
        return stragglers

    def leftover_pids(self) -> list[int]:
        """Processes whose command line mentions this cluster's directory (postgres, tools)."""
        found = []
        needle = str(self.root).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if needle in (proc / "cmdline").read_bytes() and _alive(int(proc.name)):
                    found.append(int(proc.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        return found

    # -- state -------------------------------------------------------------------------------

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def cluster_state(self) -> dict[str, Any]:
        """Patroni's GET /cluster from the first member whose REST API answers."""
        errors = []
        for member in self.members:
            if not member.running():
                continue
            try:
                state: dict[str, Any] = member.api("/cluster")
                return state
            except (OSError, HarnessError, ValueError) as exc:
                errors.append(f"{member.name}: {exc!r}")
        raise HarnessError(f"no REST API answers: {errors}")

    def leader(self) -> Member | None:
        """The member that leads: with etcd, as Patroni says (GET /cluster); with the Kubernetes DCS,
        the one the primary Service selects by the role label Patroni set on its pod
        (:meth:`selected`); None unless exactly one."""
        if self.dcs == "kubernetes":
            primary = self.selected(f"{self.rendered.name}-primary")
            return primary[0] if len(primary) == 1 else None
        # A standby cluster's leader is its "standby_leader": it leads its own members all the same.
        members = self.cluster_state().get("members", [])
        leaders = [m["name"] for m in members if m.get("role") in ("leader", "standby_leader")]
        return self.member(leaders[0]) if len(leaders) == 1 else None

    def selected(self, service: str) -> list[Member]:
        """The members rendered Service ``service`` selects now, as its Endpoints list them: pods
        whose labels match its selector, not terminating, ready (their readiness probe, asked now).

        The labels are the pods' in the Kubernetes API stand-in. With the Kubernetes DCS, Patroni
        sets the role label there itself. With etcd nobody does: the role label is then the one
        Patroni would set for the role it reports (GET /cluster: the leader's ``master``, a running
        replica's ``replica``).
        """
        selector = self.rendered.get("Service", service)["spec"].get("selector") or {}
        roles: dict[str, str | None] = {}
        if self.dcs == "etcd":
            role_label = yaml.safe_load(self.rendered.patroni_yaml)["kubernetes"].get("role_label", "role")
            for state in self.cluster_state().get("members", []):
                if state.get("role") in ("leader", "standby_leader"):
                    roles[state["name"]] = "master"
                elif state.get("state") in ("running", "streaming"):
                    roles[state["name"]] = "replica"
        found = []
        for member in self.members:
            pod = self.kube.pod(member.name)
            if pod is None or "deletionTimestamp" in pod["metadata"]:
                continue
            labels = dict(pod["metadata"].get("labels") or {})
            if self.dcs == "etcd":
                labels.pop(role_label, None)
                if roles.get(member.name):
                    labels[role_label] = str(roles[member.name])
            if all(labels.get(key) == value for key, value in selector.items()) and self.pod_ready(member.name):
                found.append(member)
        return found

    def service_port(self, service: str) -> int:
        """The local PostgreSQL port of a member rendered Service ``service`` selects now (the first
        by name): what ``Placement.service_ports`` maps the Service's host to."""
        members = self.selected(service)
        if not members:
            raise HarnessError(f"Service {service} selects no ready pod")
        return members[0].pg_port

    def streaming(self, leader: Member) -> dict[str, dict[str, str]]:
        """pg_stat_replication on ``leader`` joined with pg_stat_ssl, by application_name."""
        rows = leader.psql(
            "SELECT r.application_name, r.usename, r.state, r.sync_state, s.ssl, coalesce(s.client_dn, '')"
            " FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"
        )
        keys = ("usename", "state", "sync_state", "ssl", "client_dn")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}

    def wait_healthy(self, timeout: float = 60) -> Member:
        """Wait until one member leads and every other running member streams from it; return it."""

        def healthy() -> Member | None:
            for member in self.members:
                if member.wanted and not member.running():
                    raise ProcessDied(f"Patroni of {member.name} exited:\n{member.log_tail()}")
            for process in self.containers:
                process.check_running()
            leader = self.leader()
            if leader is None:
                return None
            others = {m.name for m in self.members if m is not leader and m.running()}
            rows = self.streaming(leader)
            if all(rows.get(name, {}).get("state") == "streaming" for name in others):
                return leader
            return None

        try:
            return wait_until("one leader with every other member streaming", healthy, timeout)
        except HarnessError as exc:
            raise HarnessError(f"{exc}\n{self.log_tails()}") from None

    def log_tails(self, lines: int = 40) -> str:
        parts = [f"----- {m.name} ({m.log}) -----\n{m.log_tail(lines)}" for m in self.members]
        parts += [
            f"----- {p.container.pod.name}/{p.container.name} ({p.log}) -----\n{p.log_tail(lines)}"
            for p in self.containers
        ]
        if self.dcs == "etcd":
            parts.append(f"----- etcd ({self.etcd.log}) -----\n{_tail(self.etcd.log, 10)}")
        return "\n".join(parts)


# Clusters currently up; conftest prints their logs when a test fails.
ACTIVE: list[LocalCluster] = []


@contextlib.contextmanager
def running_cluster(
    rendered: Rendered,
    root: Path,
    remote_services: Mapping[str, int] | None = None,
    dcs: str = "etcd",
    members: bool = True,
) -> Iterator[LocalCluster]:
    """Bring ``rendered`` up under ``root`` (with ``dcs``: :class:`LocalCluster`); without its
    ``members``, all but them (:meth:`LocalCluster.start_all_but_members`), which a test starts.
    Stop every process and check for leftovers on exit."""
    cluster = LocalCluster(rendered, root, remote_services, dcs)
    ACTIVE.append(cluster)
    try:
        cluster.start() if members else cluster.start_all_but_members()
        yield cluster
    finally:
        ACTIVE.remove(cluster)
        stragglers = cluster.stop()
        if stragglers:
            raise HarnessError(f"processes of {rendered.name} outlived their Patroni and were killed: {stragglers}")


def temp_root(prefix: str = "pgrender-rt-") -> Path:
    """A fresh temporary directory the postgres user can enter (removed by the caller)."""
    return make_dir(Path(tempfile.mkdtemp(prefix=prefix)))


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------


def write_secret(rendered: Rendered, name: str, directory: Path) -> Path:
    """Write every key of Secret ``name`` as a file in ``directory`` (owner root, group postgres, 0640)."""
    gid = os_ids()[1]
    make_dir(directory)
    for key, content in rendered.secret(name).items():
        _write_file(directory / key, content, 0o640, gid)
    return directory


def update_mounted_secret(directory: Path, files: Mapping[str, bytes]) -> None:
    """What kubelet does when a mounted Secret changes: the files of its volume (``directory``, a
    mount point written by :func:`materialize_volumes`) get the new content in place, with the
    volume's ownership and mode. Kubelet swaps all of a volume's files at once (its ``..data``
    symlink); here each file is replaced whole by a rename, the key first, so a reader may for a
    moment see a new key beside the old certificate, as with a Secret someone edits key by key."""
    gid = os_ids()[1]
    for name in sorted(files, key=lambda n: (not n.endswith(".key"), n)):
        path = directory / name
        _write_file(path, files[name], path.stat().st_mode & 0o7777, gid)


def client_psql(conninfo: str, sql: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run psql as a client would (as root, with a clean environment plus ``env``); no check."""
    return subprocess.run(
        [pg_bin("psql"), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
        env=image_environment(Path("/nonexistent")) | dict(env or {}) | {"PGCONNECT_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class ServiceStandIn:
    """A Service as kube-proxy makes it, for an application's pod (:func:`localize`, 8.): an address
    of its own on loopback (its "cluster IP", 127.77.0.N) listening on the Service's own ``port``,
    each connection forwarded byte for byte to 127.0.0.1:``target()``, the local port of the pod
    the Service selects at that moment. TLS passes through untouched: the client negotiates it with
    the server behind, against the Service's name."""

    _next = 1

    CHUNK = 16384

    def __init__(
        self, name: str, port: int, target: Callable[[], int], address: str | None = None, rate: float | None = None
    ) -> None:
        self.name, self.port, self.target = name, port, target
        self.rate = rate  # bytes a second the answers flow at, at most (slow_link); None: full speed
        self.listener = self._bind() if address is None else self._bind_at(address)
        self.address: str = self.listener.getsockname()[0]
        self.port = self.listener.getsockname()[1]  # the one bound, where ``port`` was 0
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, name=f"service {name}", daemon=True)

    def _bind_at(self, address: str) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((address, self.port))
        listener.listen(64)
        return listener

    def _bind(self) -> socket.socket:
        errors = []
        for _ in range(50):
            address = f"127.77.0.{ServiceStandIn._next}"
            ServiceStandIn._next = ServiceStandIn._next % 250 + 1
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((address, self.port))
            except OSError as exc:
                listener.close()
                errors.append(f"{address}: {exc}")
                continue
            listener.listen(64)
            return listener
        raise HarnessError(f"no loopback address free for Service {self.name} on port {self.port}: {errors[-3:]}")

    def start(self) -> ServiceStandIn:
        self.thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                upstream = socket.create_connection((LOCAL_POD_IP, self.target()), timeout=5)
            except Exception:
                client.close()  # as a Service without ready endpoints: the connection is refused
                continue
            upstream.settimeout(None)
            with self.lock:
                self.connections += [client, upstream]
            for source, sink, answers in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(source, sink, answers), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while chunk := source.recv(self.CHUNK):
                rate = self.rate if answers else None
                if rate:
                    time.sleep(len(chunk) / rate)
                sink.sendall(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(5)
        with self.lock:
            for connection in self.connections:
                connection.close()
            self.connections.clear()


@contextlib.contextmanager
def slow_link(target: Callable[[], int], rate: float | None) -> Iterator[ServiceStandIn]:
    """A slow network in front of a local server: a forwarder on 127.0.0.1 (its ``port``) to
    127.0.0.1:``target()`` whose answers flow at most ``rate`` bytes a second (what the client sends
    goes at full speed; set its ``rate`` to None for full speed from then on), stopped on exit.

    It stands between a rendered client and its server where a test needs a copy to take long enough
    to interrupt it, without changing what is rendered: the client is given this port where a local
    port stands for the Service (``remote_services``) or is in the spec anyway (an object store's)."""
    with service_stand_in("slow link", 0, target, address=LOCAL_POD_IP, rate=rate) as link:
        yield link


@contextlib.contextmanager
def service_stand_in(
    name: str, port: int, target: Callable[[], int], address: str | None = None, rate: float | None = None
) -> Iterator[ServiceStandIn]:
    """A started :class:`ServiceStandIn`, stopped on exit."""
    stand_in = ServiceStandIn(name, port, target, address, rate).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


# --------------------------------------------------------------------------------------------
# pgBouncer
# --------------------------------------------------------------------------------------------


def localize_pgbouncer_ini(ini: str, where: Placement, listen_port: int) -> str:
    """The pgBouncer half of :func:`localize`: the same kinds of change, nothing else.

    * Addresses: ``listen_port`` becomes a free port, and each ``[databases]`` entry keeps the
      Service's name (pgBouncer verifies it: verify-full) with the local port of the member that
      Service selects: ``where.service_ports[host]`` when the placement names Services (a host it
      does not name is an error), else the leader's, ``where.postgres_port``. The name resolves to
      127.0.0.1 through a private ``/etc/hosts`` (see :class:`PgBouncer`), standing in for the
      cluster's DNS.
    * Paths of mounted volumes point into the pod's local directory.
    """
    out = []
    section = ""
    for line in ini.splitlines():
        key, sep, value = line.partition(" = ")
        if line.startswith("["):
            section = line
        if sep and key == "listen_port":
            line = f"{key} = {listen_port}"
        elif sep and section == "[databases]" and "port=" in value:
            port = where.postgres_port
            if where.service_ports:
                host = next(part for part in value.split() if part.startswith("host=")).removeprefix("host=")
                if host not in where.service_ports:
                    raise HarnessError(f"pgBouncer [databases] {key}: host={host}: no Service here by that name")
                port = where.service_ports[host]
            line = f"{key} = " + " ".join(
                f"port={port}" if part.startswith("port=") else part for part in value.split()
            )
        elif sep:
            line = f"{key} = {_local_path(value, where.paths)}"
        out.append(line)
    return "\n".join(out) + "\n"


def pgbouncer_version() -> tuple[int, int]:
    """(major, minor) of the pgBouncer installed here (``pgbouncer --version``: "PgBouncer 1.18.0")."""
    program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    found = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    if found is None:
        raise HarnessError(f"cannot tell pgBouncer's version from {out!r}")
    return int(found.group(1)), int(found.group(2))


# pgBouncer 1.21 added max_prepared_statements; older ones refuse to start with it.
PREPARED_STATEMENTS_SINCE = (1, 21)


class PgBouncer:
    """The rendered pgBouncer Deployment's container, run as the local postgres user.

    It runs in a private mount namespace whose /etc/hosts maps the host name of the Service it
    reaches (the primary's, or the replicas' for ``name`` the replicas' pgBouncer) to 127.0.0.1,
    so that ``server_tls_sslmode = verify-full`` checks the real name against the rendered
    certificate (root is needed for the namespace; the program itself drops to postgres).
    ``server_port`` is the local port of the leader; ``service_ports`` (Service host -> local port of
    the member it selects) decides instead, for every Service it names.
    """

    def __init__(
        self,
        rendered: Rendered,
        root: Path,
        server_port: int,
        name: str | None = None,
        service_ports: Mapping[str, int] | None = None,
    ) -> None:
        name = name or f"{rendered.name}-pgbouncer"
        deployment = rendered.get("Deployment", name)
        pod_spec = deployment["spec"]["template"]["spec"]
        container = pod_spec["containers"][0]
        self.root = make_dir(root)
        self.port = free_ports(1)[0]
        paths = materialize_volumes(pod_spec, container, rendered, self.root)
        where = Placement(paths, server_port, service_ports=dict(service_ports or {}))
        config_dir = paths["/etc/pgbouncer"]
        ini = config_dir / "pgbouncer.ini"
        rendered_ini = rendered.config_map(name)["pgbouncer.ini"]
        _write_file(ini, localize_pgbouncer_ini(rendered_ini, where, self.port).encode(), 0o644, os_ids()[1])
        self.command = [_local_path(arg, paths) for arg in container["command"]]
        server_host = next(
            line.split("host=")[1].split()[0] for line in rendered_ini.splitlines() if line.startswith("* = ")
        )
        self.hosts = self.root / "hosts"
        self.hosts.write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {server_host}\n")
        self.log = self.root / "pgbouncer.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        program = shutil.which(self.command[0]) or f"/usr/sbin/{self.command[0]}"
        script = (
            f"mount --bind {self.hosts} /etc/hosts && exec setpriv --reuid={OS_USER} --regid={OS_USER} "
            f"--init-groups {program} {' '.join(self.command[1:])}"
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ProcessDied(f"pgbouncer exited with {self.proc.returncode}:\n{_tail(self.log, 30)}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_until("pgbouncer to listen", listening, timeout=20)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, 10)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


# --------------------------------------------------------------------------------------------
# A bare server: what PostgreSQL itself makes of pgrender's pg_hba rules and parameter values
# --------------------------------------------------------------------------------------------


def missing_server_requirements(more_tools: tuple[str, ...] = (), major: int | None = None) -> list[str]:
    """What this machine lacks to run a bare PostgreSQL server of ``major`` (default: the default
    major) and ``more_tools`` of its bin."""
    missing: list[str] = []
    major = default_pg_major() if major is None else major
    if major is None:
        missing.append("PostgreSQL server (Debian package postgresql)")
    else:
        tools = (*SERVER_TOOLS, *more_tools)
        missing += [f"{PG_ROOT}/{major}/bin/{t}" for t in tools if not (PG_ROOT / str(major) / "bin" / t).exists()]
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        missing.append(f"OS user {OS_USER!r}")
    if os.geteuid() != 0:
        missing.append("root (Secret files are root-owned and PostgreSQL runs as the postgres user)")
    return missing


def missing_upgrade_target_requirements(more_tools: tuple[str, ...] = ()) -> list[str]:
    """What this machine lacks to upgrade the default major to :data:`UPGRADE_TARGET_MAJOR` for real:
    a server of each, the target's pg_upgrade (and ``more_tools`` of both), and its pgBackRest."""
    missing = missing_server_requirements(more_tools)
    tools = tuple(dict.fromkeys((*SERVER_TOOLS, "pg_upgrade", *more_tools)))
    target_bin = PG_ROOT / str(UPGRADE_TARGET_MAJOR) / "bin"
    target = [f"bin/{t}" for t in tools if not (target_bin / t).exists()]
    if not os.access(UPGRADE_TARGET_PGBACKREST, os.X_OK):
        target.append(str(UPGRADE_TARGET_PGBACKREST))
    if target:
        missing.append(f"PostgreSQL {UPGRADE_TARGET_MAJOR} ({', '.join(target)}; {UPGRADE_TARGET_SCRIPT} installs it)")
    if default_pg_major() == UPGRADE_TARGET_MAJOR:
        missing.append(f"a default major other than {UPGRADE_TARGET_MAJOR} to upgrade from")
    return missing


SERVER_TOOLS = ("postgres", "initdb", "pg_ctl", "psql")


def _self_signed(directory: Path, uid: int, gid: int) -> None:
    """server.crt/server.key for ssl = on (hostssl rules are refused by a server without TLS)."""
    cert, key = self_signed("localhost")
    for filename, content in (("server.crt", cert), ("server.key", key)):
        path = directory / filename
        path.write_bytes(content)
        os.chown(path, uid, gid)
        path.chmod(0o600)


def _patroni_escape(value: str) -> str:
    """Patroni's ConfigWriter.escape: single quotes and backslashes doubled."""
    return re.sub(r"(['\\])", r"\1\1", value)


class PlainServer:
    """One PostgreSQL server without Patroni, as the local postgres user: of the default major, or
    of ``major``.

    Its data directory and Unix socket live under ``root``; it listens on no TCP port at all, unless
    given ``port`` (then on 127.0.0.1:``port``). TLS is on, with a throwaway self-signed certificate,
    because a server without it refuses every hostssl rule. Queries run as the superuser over the
    socket (the initdb default: trust). ``initdb_options`` are added to initdb's (``--data-checksums``);
    a data directory that is already there (a base backup's, an upgraded one) is started as it is.
    """

    def __init__(
        self,
        root: Path,
        *,
        major: int | None = None,
        port: int | None = None,
        initdb_options: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.major = default_pg_major() if major is None else major
        self.port = port
        self.initdb_options = tuple(initdb_options)
        self.uid, self.gid = os_ids()
        self.started = False

    def bin(self, name: str) -> str:
        """A program of this server's major."""
        return pg_bin(name, self.major)

    def run(self, command: Sequence[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``command`` as the postgres user, with the image's environment, in ``root`` (pg_upgrade
        writes its files in its working directory, which this makes the postgres user's)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chown(self.root, self.uid, self.gid)
        result = subprocess.run(
            list(command),
            env=image_environment(self.root),
            cwd=self.root,
            user=self.uid,
            group=self.gid,
            extra_groups=[self.gid],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            output = f"{result.stdout.strip()}\n{result.stderr.strip()}".strip()
            raise HarnessError(f"{command[0]} failed: {output}\n{_tail(self.log, 20)}")
        return result

    def initdb(self) -> None:
        """A new data directory (and the self-signed certificate), as initdb of this major makes it."""
        initdb = [self.bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"]
        self.run([*initdb, *self.initdb_options])
        _self_signed(self.data, self.uid, self.gid)

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self.initdb()
        listen = f"-c listen_addresses='127.0.0.1' -c port={self.port}" if self.port else "-c listen_addresses=''"
        options = f"{listen} -c unix_socket_directories='{self.root}' -c ssl=on"
        self.run([self.bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start"])
        self.started = True

    def stop(self) -> None:
        """A clean (fast) shutdown: what pg_upgrade needs of the old server."""
        if self.started:
            self.run([self.bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], check=False)
            self.started = False

    def psql(self, sql: str, *, stop_on_error: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``sql`` as the superuser; no check (callers look at returncode and stderr)."""
        port = ["-p", str(self.port)] if self.port else []
        connection = ["-h", str(self.root), *port, "-U", "postgres", "-d", "postgres"]
        stop = ["-v", "ON_ERROR_STOP=1"] if stop_on_error else []
        return self.run([self.bin("psql"), "-X", "-A", "-t", *stop, *connection, "-c", sql], False)

    def json(self, query: str) -> list[dict[str, Any]]:
        """The rows of ``query`` as dicts, through json_agg (no escaping questions)."""
        result = self.psql(f"SELECT coalesce(json_agg(q), '[]') FROM ({query}) q")
        if result.returncode != 0:
            raise HarnessError(f"psql failed: {result.stderr.strip()}\nSQL: {query}")
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    def takes_settings(self, settings: Sequence[tuple[str, str]]) -> bool:
        """Whether the server would start with ``settings`` added to its postgresql.conf.

        Each is written as Patroni's ConfigWriter writes a parameter (``name = 'value'``, quotes and
        backslashes doubled), and ``postgres -C`` reads the file as the postmaster does at start,
        exiting non-zero on any error. The running server is not touched: the file is put back.
        """
        conf = self.data / "postgresql.conf"
        original = conf.read_text()
        lines = [f"{name} = '{_patroni_escape(value)}'" for name, value in settings]
        try:
            self.write_data_file("postgresql.conf", original + "\n" + "\n".join(lines) + "\n")
            return (
                self.run([self.bin("postgres"), "-D", str(self.data), "-C", "block_size"], check=False).returncode == 0
            )
        finally:
            self.write_data_file("postgresql.conf", original)

    def write_data_file(self, name: str, content: str) -> None:
        """Write a file of the data directory (pg_hba.conf) as the server's own user would."""
        path = self.data / name
        path.write_bytes(content.encode())
        os.chown(path, self.uid, self.gid)
        path.chmod(0o600)


@contextlib.contextmanager
def plain_server(
    root: Path, *, major: int | None = None, port: int | None = None, initdb_options: Sequence[str] = ()
) -> Iterator[PlainServer]:
    """A started :class:`PlainServer` under ``root``, stopped on exit."""
    server = PlainServer(root, major=major, port=port, initdb_options=initdb_options)
    try:
        server.start()
        yield server
    finally:
        server.stop()
