"""What a change of rendered output means for a running cluster: `pgrender diff`'s classes, and the guards.

Two renderings ({relative path: YAML text}) are matched object by object, by (apiVersion, kind,
namespace, name). Each field that differs is classified by the first rule of its kind's table whose
pattern its path starts with (KIND_RULES, then COMMON_RULES, then DEFAULT_RULE): a new kind or field
is one line. What only a whole cluster shows is found across objects: a major version change, users
and databases dropped from reconcile.sql, a cluster renamed or moved.

Only files whose text differs are parsed (and the few others a cluster-wide rule needs), so a diff of
a large repository costs what changed; the guard parses only the kinds it refuses changes of. What
looks across objects finds them by cluster, namespace or name in a map made once, so a change to
every cluster of a fleet costs what its objects cost (a search of every object for each cluster made
a 600-cluster fleet's guard take 25 s). Pure: no I/O; the CLI reads directories and git revisions.

Secrets: no message ever holds a value, or a digest of one (diffs go to CI logs); only key names.
"""

from __future__ import annotations

import enum
import fnmatch
import functools
import heapq
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, islice
from typing import Any

from pgrender import readback
from pgrender.components.reconcile import DATABASE_MARKER, ROLE_MARKER
from pgrender.errors import ChangeRefusedError
from pgrender.frozen import field, frozen, replace
from pgrender.plan.backups import SOURCE_CONFIG_KEY, SOURCE_INDEX, job_config_key
from pgrender.plan.defaults import WAL_VOLUME
from pgrender.plan.labels import (
    ACKNOWLEDGED_CHANGES_ANNOTATION,
    BACKUP_TYPE_LABEL,
    CA_ANNOTATION,
    CLUSTER_LABEL,
    CLUSTER_NAMESPACE_ANNOTATION,
    COMPONENT_DATABASE,
    COMPONENT_LABEL,
    PGUSER_LABEL,
    REPO_LABEL,
    RESTORE_RUN_ANNOTATION,
    UPGRADE_FROM_ANNOTATION,
    WAL_VOLUME_RETIRED_ANNOTATION,
)
from pgrender.plan.standby_sources import AT_LEAST_THE_PRIMARYS
from pgrender.record import differing, in_order
from pgrender.secrets.external import ROTATIONS_ANNOTATION as EXTERNAL_ROTATIONS
from pgrender.spec import cron

Manifest = dict[str, Any]
FieldPath = tuple[str, ...]  # map keys as they are; list items keyed by name as "[name]"
KUSTOMIZATION = "kustomization.yaml"


class ChangeClass(enum.StrEnum):
    """What a change means for the running cluster, from harmless to dangerous (the report's order)."""

    NO_OP = "no-op"
    LIVE = "live"
    RESTART = "restart"
    JOB = "job"
    MANUAL = "manual"
    REFUSED = "refused"
    RISK = "risk"


CLASS_ORDER = tuple(ChangeClass)
BLOCKING = frozenset({ChangeClass.REFUSED, ChangeClass.RISK})
# Ids (the part before ':') that render --write and check refuse whatever is acknowledged: Kubernetes
# or PostgreSQL would fail anyway. Each with what to do instead.
GUARDED: dict[str, str] = {
    "shrink-volume": "a claim cannot shrink (Kubernetes refuses it); keep the size at least as large as it is",
    "storage-class": (
        "an existing claim's storage class cannot change (Kubernetes refuses it); to move to another class, "
        "add an instance set on the new class, let its members join, then remove the old set"
    ),
    "remove-wal-volume": (
        "the WAL volume of members that stay: their pg_wal is a link into it (initdb --waldir), so PostgreSQL "
        "cannot start without it; set walVolume.retire: true first, let the rollout move each member's WAL "
        "back onto its data volume, then remove walVolume (README, 'Removing a WAL volume')"
    ),
    "major-version": (
        "PostgreSQL does not change a data directory's major version by itself, and a restore or clone is a "
        "physical copy at the old version; shut the cluster down (spec.shutdown: true), then raise "
        "postgresVersion with spec.upgrade.fromVersion set to the old one (pg_upgrade in place), or create a "
        "new cluster at the new postgresVersion and load this one's data logically (README 'Major version "
        "upgrades')"
    ),
    "upgrade-running": (
        "pg_upgrade needs every member stopped, and these members run: shut the cluster down first "
        "(spec.shutdown: true, at the old postgresVersion, without spec.upgrade), apply that, then upgrade; "
        "or set spec.shutdown: true in this change too, and false in the next"
    ),
    "restore-running": (
        "a restore in place needs every member stopped, and these members run: shut the cluster down first "
        "(spec.shutdown: true, without spec.restore), apply that, then add spec.restore; or set spec.shutdown: "
        "true in this change too, and false in the next"
    ),
}
# spec.restore, the cluster shut down before.
RESTORE = (
    "when the members start, the one that holds the latest data restores it from the repository to the target "
    "with pgBackRest's --delta and leads on a new timeline; the others' data is removed and they are copied anew "
    "from it. Everything the cluster wrote after the target is lost (README 'Restore in place')"
)
# spec.upgrade, the cluster shut down before.
UPGRADE = (
    "in place (spec.upgrade): when the members start, the one that stopped as the primary runs pg_upgrade "
    "--link and leads; the others' old data is removed and they are copied anew from it. Until the init backup "
    "Job has a full backup of the new version, the repository holds only the old version's, which this cluster "
    "cannot restore: no point-in-time recovery to before the upgrade (README 'Major version upgrades')"
)
ROLLING = (
    "a rolling restart with switchover by the reconcile Job (replicas first, then a switchover, then the old primary)"
)
# Settings a replica cannot run lower than its primary: PostgreSQL refuses to start a standby with a
# smaller value than the primary's (its WAL may need the room), so Patroni keeps a lowered value off
# the replicas until the primary runs it. A switchover does not help (the new primary would still run
# the old value): lowering one, the reconcile Job restarts the primary in place first, then the replicas.
PRIMARY_FIRST_WHEN_LOWERED = frozenset(AT_LEAST_THE_PRIMARYS)
PRIMARY_FIRST = (
    "a replica cannot run a lower value than its primary, so the reconcile Job restarts the primary in place first "
    "(a short write outage while PostgreSQL restarts; no switchover), then the replicas"
)
# ROLLING and PRIMARY_FIRST where the cluster has a single member: nothing takes over while it restarts.
ONLY_MEMBER = (
    "a restart of the cluster's only member by the reconcile Job: the cluster takes no reads or writes until "
    "PostgreSQL is back (there is no replica to switch over to)"
)
# A member StatefulSet's replicas to 0 and back: spec.shutdown.
SHUTDOWN = (
    "the member stops (spec.shutdown): its pod is deleted, its claims stay; the cluster takes no reads or writes "
    "until spec.shutdown is false again. Every member stops at once: a replica may miss the primary's last WAL, "
    "and a replica that starts first may be elected (README 'Shutting a cluster down')"
)
STARTUP = (
    "the member starts again (spec.shutdown false): Patroni elects the member with the most WAL among those up "
    "(in Argo CD's sync waves, member 0 starts alone and leads), the others follow it, then the reconcile Job runs"
)
UPGRADE_STARTUP = (
    "the member starts again (spec.shutdown false), its upgrade guard first: every member reports its data, the "
    "one that stopped as the primary upgrades it and leads, the others follow it, then the reconcile Job runs"
)
RESTORE_STARTUP = (
    "the member starts again (spec.shutdown false), its restore guard first: every member reports its data, the "
    "one with the latest restores it in place and leads, the others are copied from it, then the reconcile Job runs"
)
# A pod template changed while the member is shut down: no pod to replace.
STOPPED_TEMPLATE = "the member is shut down: its pod starts from the new template when it starts (no rolling restart)"
IMMUTABLE = "immutable: Kubernetes refuses the update (delete and re-create the object on purpose, or revert)"


@frozen
class Finding:
    """One classified change of one object (or of a whole cluster, kind "PostgresCluster")."""

    change: ChangeClass
    kind: str
    namespace: str
    name: str
    path: str  # "" for the whole object
    message: str
    id: str | None = None  # refused and risk findings: what acknowledges them
    file: str = ""  # the output file of the object (relative), for annotations
    old_file: bool = False  # ``file`` is in the old rendering only (a removed object)
    acknowledged: bool = False
    scope: tuple[str, str] | None = field(default=None, compare=False)  # the cluster whose spec acknowledges it

    @property
    def blocking(self) -> bool:
        return self.change in BLOCKING and not self.acknowledged

    @property
    def object(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def as_json(self) -> dict[str, Any]:
        return {
            "class": self.change.value,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "path": self.path,
            "message": self.message,
            "id": self.id,
            "acknowledged": self.acknowledged,
        }


@frozen
class Changes:
    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> int:
        """1 when a refused or risky change is not acknowledged, else 0."""
        return 1 if any(f.blocking for f in self.findings) else 0


# --- Objects -----------------------------------------------------------------------------------


@frozen
class Obj:
    manifest: Manifest
    file: str

    @property
    def ident(self) -> tuple[str, str, str, str]:
        return (str(self.manifest.get("apiVersion", "")), self.kind, self.namespace, self.name)

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", ""))

    @property
    def meta(self) -> Manifest:
        meta = self.manifest.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace", ""))

    @property
    def labels(self) -> dict[str, Any]:
        return _map(self.meta.get("labels"))

    @property
    def annotations(self) -> dict[str, Any]:
        return _map(self.meta.get("annotations"))

    @property
    def spec(self) -> dict[str, Any]:
        return _map(self.manifest.get("spec"))

    @property
    def pod(self) -> dict[str, Any]:
        """A workload's pod template spec; {} where there is none."""
        return _map(_map(_map(self.manifest.get("spec")).get("template")).get("spec"))

    @property
    def cluster(self) -> tuple[str, str] | None:
        """(namespace, name) of the cluster it belongs to; a copy in an application's namespace names its
        cluster's namespace (CLUSTER_NAMESPACE_ANNOTATION)."""
        name = self.labels.get(CLUSTER_LABEL)
        namespace = self.annotations.get(CLUSTER_NAMESPACE_ANNOTATION) or self.namespace
        return (str(namespace), str(name)) if name else None

    @property
    def member(self) -> bool:
        """A StatefulSet that runs a database member (not the repository host)."""
        return self.kind == "StatefulSet" and self.labels.get(COMPONENT_LABEL) == COMPONENT_DATABASE

    def data(self) -> dict[str, Any]:
        data = self.manifest.get("data")
        return data if isinstance(data, dict) else {}


def _map(value: Any) -> dict[str, Any]:
    """``value`` where it is a map, else an empty one: a hand-edited file may hold anything."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` where it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def parse(
    files: Mapping[str, str],
    only: Iterable[str] | None = None,
    unreadable: list[str] | None = None,
    kinds: frozenset[str] | None = None,
) -> list[Obj]:
    """The objects in ``files`` (those named in ``only``, when given); kustomization files are skipped.
    With ``kinds``, a file that is surely one object of another kind (_another_kind) is not parsed:
    its objects may be missing from the result, never those of ``kinds``.

    A file that is not valid YAML (hand-edited, a duplicate key) adds no object; its path goes to
    ``unreadable``, its text nowhere (it may hold a Secret).
    """
    out = []
    for rel in in_order(files) if only is None else sorted(only):
        if _file_name(rel) == KUSTOMIZATION or not rel.endswith((".yaml", ".yml")):
            continue
        text = files[rel]
        if kinds is not None and _another_kind(text, kinds):
            continue
        try:
            documents = readback.load_all(text)
        except Exception:  # the loader raises more than YAMLError
            if unreadable is not None:
                unreadable.append(rel)
            continue
        out += [Obj(d, rel) for d in documents if isinstance(d, dict) and d.get("kind")]
    return out


# How pgrender writes every object: apiVersion, then kind, on the first two lines.
_WRITTEN_HEAD = re.compile(r"apiVersion: [A-Za-z0-9./-]+\nkind: ([A-Za-z]+)\n")


def _another_kind(text: str, kinds: frozenset[str]) -> bool:
    """Whether ``text`` is surely one document, a map whose kind is not in ``kinds``: it starts as
    pgrender writes an object (_WRITTEN_HEAD: the root map's apiVersion and kind keys, each with a
    plain scalar; a second kind key is a duplicate the loader refuses, and a value continued on an
    indented line gains a blank, which no kind has), its only line breaks are newlines (YAML takes
    a carriage return, NEL, LS and PS for line breaks too; pgrender writes them escaped), and no
    line starts a document marker. Anything else (a hand edit, a tag, a quoted kind, several
    documents) is not sure. Parsing costs a fleet's guard more than this, even of text pgrender wrote
    (readback, about 20 MB/s; ruamel.yaml's safe loader reads the rest at about 4 MB/s)."""
    match = _WRITTEN_HEAD.match(text)
    return (
        match is not None
        and match[1] not in kinds
        and "\n---" not in text
        and "\n..." not in text
        and not _OTHER_LINE_BREAK.search(text)
    )


_OTHER_LINE_BREAK = re.compile("[\r\x85\u2028\u2029]")


# --- Field paths -------------------------------------------------------------------------------

_MISSING: Any = object()
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Maps whose keys are data, not field names: written in brackets (metadata.labels[team]).
_KEYED = frozenset({"labels", "annotations", "data", "stringData", "binaryData", "encryptedData", "matchLabels"})
_PATTERN_PART = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def format_path(path: FieldPath) -> str:
    """spec.template.spec.containers[database].image; metadata.annotations[pgrender.io/config-digest]."""
    out = ""
    for i, part in enumerate(path):
        if part.startswith("["):
            out += part
        elif _IDENTIFIER.match(part) and not (i and path[i - 1] in _KEYED):
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
    return out


def _pattern(text: str) -> FieldPath:
    """A rule's pattern, written as a path ("data[patroni.yaml]", "spec.template"); '*' is a wildcard."""
    return tuple(m[1] if m[1] is not None else m[2] for m in _PATTERN_PART.finditer(text))


def _matches(pattern: FieldPath, path: FieldPath) -> bool:
    if len(pattern) > len(path):
        return False
    return all(
        fnmatch.fnmatchcase(part.removeprefix("[").removesuffix("]"), p)
        for p, part in zip(pattern, path[: len(pattern)], strict=True)
    )


def _named(items: list[Any]) -> dict[str, Any] | None:
    """A list of mappings with distinct names (containers, env, volumes) as name → item; else None."""
    if not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    named = {i["name"]: i for i in items}
    return named if len(named) == len(items) else None


def leaves(old: Any, new: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Any, Any]]:
    """Every place where ``old`` and ``new`` differ, as deep as both are mappings or named lists."""
    if path and path[-1] in _KEYED and {type(old), type(new)} == {dict, type(_MISSING)}:
        # A whole map of keys appears or goes (the first annotation): each key is its own change.
        old, new = ({} if old is _MISSING else old), ({} if new is _MISSING else new)
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            a, b = old.get(key, _MISSING), new.get(key, _MISSING)
            if a is _MISSING or b is _MISSING or a != b:
                yield from leaves(a, b, (*path, str(key)))
        return
    if isinstance(old, list) and isinstance(new, list) and old != new:
        a_named, b_named = _named(old), _named(new)
        if a_named is not None and b_named is not None:
            for name in [*a_named, *(n for n in b_named if n not in a_named)]:
                a, b = a_named.get(name, _MISSING), b_named.get(name, _MISSING)
                if a is _MISSING or b is _MISSING or a != b:
                    yield from leaves(a, b, (*path, f"[{name}]"))
            return
    if old is _MISSING or new is _MISSING or old != new:
        yield path, old, new


# --- Rules -------------------------------------------------------------------------------------


@frozen
class Change:
    """One leaf that differs, with what a handler may read."""

    obj: Obj  # the new object (the old one for a removal)
    path: FieldPath
    old: Any  # _MISSING when absent
    new: Any
    cluster: ClusterFacts
    before: Obj | None = None  # the old object, for a rule that reads another of its fields


@frozen
class Verdict:
    change: ChangeClass
    message: str
    id: str | None = None
    subpath: FieldPath = ()  # below the leaf (a key inside a JSON document held in a ConfigMap)


Handler = Callable[[Change], list[Verdict]]


@frozen
class Rule:
    """Paths starting with ``pattern`` get ``change`` and ``message`` (or what ``handler`` says).

    ``id`` is formatted with kind, name and path. A summary rule (a digest of the whole pod template)
    is reported only when nothing else of its object is.
    """

    pattern: str
    change: ChangeClass | Handler
    message: str = ""
    id: str | None = None
    summary: bool = False

    def verdicts(self, change: Change) -> list[Verdict]:
        if callable(self.change):
            return self.change(change)
        ident = self.id and self.id.format(
            kind=change.obj.kind.lower(), name=change.obj.name, path=format_path(change.path)
        )
        return [Verdict(self.change, self.message, ident)]


_IMMUTABLE_ID = "immutable:{kind}/{name}:{path}"


def _immutable(pattern: str) -> Rule:
    return Rule(pattern, ChangeClass.REFUSED, IMMUTABLE, _IMMUTABLE_ID)


def _storage(change: Change) -> list[Verdict]:
    from pgrender.spec.rules.base import quantity_bytes

    try:
        old, new = quantity_bytes(str(change.old)), quantity_bytes(str(change.new))
    except ValueError:
        return [Verdict(ChangeClass.REFUSED, "the size is not a quantity pgrender can compare", None)]
    if change.old is _MISSING or change.new is _MISSING or new < old:
        return [
            Verdict(
                ChangeClass.REFUSED,
                f"the claim would shrink from {change.old} to {change.new}: Kubernetes refuses it",
                f"shrink-volume:{change.obj.name}",
            )
        ]
    return [
        Verdict(
            ChangeClass.LIVE,
            f"the volume grows from {change.old} to {change.new} online; needs a storage class with "
            "allowVolumeExpansion: true (else Kubernetes refuses it)",
        )
    ]


_MANUAL_BACKUP_JOB = re.compile(r"-manual-\d+\Z")  # <c>-<repo>-manual-<run>: named by its run, not its content


def _job_template(change: Change) -> list[Verdict]:
    """A Job's template cannot change; a manual backup's Job (named by backups.manual.run) gets the way out."""
    ident = _IMMUTABLE_ID.format(kind="job", name=change.obj.name, path=format_path(change.path))
    if _MANUAL_BACKUP_JOB.search(change.obj.name):
        return [
            Verdict(
                ChangeClass.REFUSED,
                "the manual backup Job of this run changed under the same name (a new image, say): Kubernetes "
                "refuses it; raise backups.manual.run (a new Job: a new backup), or remove backups.manual (the "
                "finished Job is pruned)",
                ident,
            )
        ]
    return [Verdict(ChangeClass.REFUSED, IMMUTABLE, ident)]


def _cluster_ip(change: Change) -> list[Verdict]:
    """clusterIP, clusterIPs and ipFamilies cannot change once set; when neither side sets them, nothing does."""
    if change.old is _MISSING:
        return [Verdict(ChangeClass.LIVE, "set where it was left to Kubernetes: it must match what was allocated")]
    return [
        Verdict(
            ChangeClass.REFUSED,
            IMMUTABLE,
            _IMMUTABLE_ID.format(kind="service", name=change.obj.name, path=format_path(change.path)),
        )
    ]


SERVICE_PORT = (
    "the Service answers on {new} from now on, not {old}: clients that connect to {old} are refused at once, "
    "while applications read the new port from their Secrets (port, uri) only as they restart. Move them in "
    "the same sync (their pods restarted after it), or keep the port"
)


def _service_port(change: Change) -> list[Verdict]:
    """A Service's port number changed under clients (spec.port, pgBouncer's port): a risk to them; its
    other port fields (the pods' side) are applied in place."""
    if change.path[-1] == "port" and change.old is not _MISSING and change.new is not _MISSING:
        message = SERVICE_PORT.format(old=change.old, new=change.new)
        return [Verdict(ChangeClass.RISK, message, f"service-port:{change.obj.name}")]
    return [Verdict(ChangeClass.LIVE, "applied in place")]


LOAD_BALANCER = "LoadBalancer"
LOAD_BALANCER_CLASS = (
    "the class of a Service that is a LoadBalancer before and after cannot be set, changed or removed "
    "(Kubernetes refuses it: it is chosen when the Service becomes a LoadBalancer); delete and re-create the "
    "Service on purpose, or make it a ClusterIP in one change and a LoadBalancer of the new class in the next "
    "(either way a new load balancer, likely at a new address: clients reconnect), or revert"
)


def _load_balancer_class(change: Change) -> list[Verdict]:
    """spec.loadBalancerClass (ServiceSpec: "once set, it can not be changed"): refused while the
    Service stays a LoadBalancer; set or removed with the type, it is part of that change."""
    before = change.before.spec.get("type") if change.before else None
    if before == LOAD_BALANCER and change.obj.spec.get("type") == LOAD_BALANCER:
        ident = _IMMUTABLE_ID.format(kind="service", name=change.obj.name, path=format_path(change.path))
        return [Verdict(ChangeClass.REFUSED, LOAD_BALANCER_CLASS, ident)]
    return [
        Verdict(
            ChangeClass.LIVE, "set or removed as the Service becomes or stops being a LoadBalancer: applied in place"
        )
    ]


# Keys of a credentials Secret that name whom and where applications connect (PGO, Zalando, CNPG).
_WHO_AND_WHERE = {"user": "as another user", "username": "as another user", "dbname": "to another database"}


# pgBackRest's passphrases in <c>-pgbackrest: each repository's, and the source's of a standby or a
# restore (plan/backups.py names them).
_CIPHER_PASS = re.compile(r"^(repo\d+|source)-cipher-pass\Z")
PASSPHRASE_CHANGED = (
    "{whose} passphrase changed (values are not shown; another root key, or its derivation changed): the "
    "repository's files were written with the old one, so {fails}. Keep the old root key while the repository "
    "matters; to move to another passphrase, add a repository at a new path and remove the old one once its "
    "backups are no longer needed (README 'Rotating a repository's passphrase')"
)


SET_BY_JOB = "a user's password is set in the database by the reconcile Job"
# A standby's reconcile Job runs no SQL: its roles, passwords with them, are its source's (its Secrets'
# passwords are derived for the source), and come by replication.
SET_BY_SOURCE = (
    "a user's password is the source's (this standby's reconcile Job runs no SQL): set in the source's "
    "database by its reconcile Job, it reaches this standby by replication"
)


def _secret_value(change: Change) -> list[Verdict]:
    key = change.path[-1] if len(change.path) > 1 else "(all keys)"
    what = "added" if change.old is _MISSING else "removed" if change.new is _MISSING else "changed"
    passphrase = _CIPHER_PASS.match(str(key))
    if passphrase and what == "changed":
        if passphrase[1] == "source":
            message = PASSPHRASE_CHANGED.format(
                whose="the source repository's", fails="archive-get fails and the standby stops following"
            )
            return [Verdict(ChangeClass.RISK, message, _source_moved(change.obj))]
        message = PASSPHRASE_CHANGED.format(
            whose=f"repository {passphrase[1]}'s",
            fails="archive-push, backup and restore fail (WAL then piles up in pg_wal until the volume fills and "
            "the primary stops)",
        )
        return [Verdict(ChangeClass.RISK, message, f"repo-cipher:{passphrase[1]}")]
    if key in _WHO_AND_WHERE and what == "changed":
        return [
            Verdict(
                ChangeClass.RISK,
                f"key {key} changed (values are not shown): applications that read this Secret connect "
                f"{_WHO_AND_WHERE[str(key)]} from now on (under naming cnpg or pgd, the app Secret is the first "
                "login role's: a user added before it takes the Secret over); their writes and migrations go there",
                f"secret-user:{change.obj.name}",
            )
        ]
    return [
        Verdict(
            ChangeClass.LIVE,
            f"key {key} {what} (values are not shown): what reads the Secret gets the new value; {SET_BY_JOB}, "
            "and pods that mount the Secret are replaced one at a time through their template digest (listed there)",
        )
    ]


def _external_template(change: Change) -> list[Verdict]:
    """A key of the Secret an ExternalSecret makes (its template: text, never a value)."""
    key = change.path[4] if len(change.path) > 4 else "(all keys)"
    what = "added" if change.old is _MISSING else "removed" if change.new is _MISSING else "changed"
    return [
        Verdict(
            ChangeClass.LIVE,
            f"key {key} of the Secret External Secrets Operator makes {what}: it rewrites the Secret at once "
            "(the ExternalSecret changed); what reads the Secret gets the new value",
        )
    ]


def _dynamic_configuration(change: Change) -> list[Verdict]:
    """Patroni's dynamic configuration (patroni-dynamic.json): PUT by the reconcile Job, applied live,
    except parameters PostgreSQL reads only at start (context postmaster) and standby_cluster."""
    try:
        old = json.loads(change.old) if isinstance(change.old, str) else {}
        new = json.loads(change.new) if isinstance(change.new, str) else {}
    except ValueError:
        return [Verdict(ChangeClass.RESTART, "not JSON pgrender can read; counted as a restart to be safe")]
    out = []
    lowered = []
    cluster = change.obj.cluster[1] if change.obj.cluster else change.obj.name
    dropped = _dropped_slots(cluster, _map(old), _map(new))
    for path, a, b in leaves(old, new):
        # A slot dropped is told at the setting that drops it, in place of "applied live".
        mine = [verdict for cause, verdict in dropped if _related(cause, path)]
        if mine:
            dropped = [(cause, verdict) for cause, verdict in dropped if not _related(cause, path)]
            out += [replace(verdict, subpath=path) for verdict in mine]
            continue
        verdict = _dynamic_value(change, path, a, b)
        out.append(replace(verdict, subpath=path))
        if path[:2] == ("postgresql", "parameters") and len(path) == 3 and _lowered(path[2], a, b) is True:
            lowered.append(path[2])
    if lowered:
        # One Job run restarts the members once for all of them: as the lowered setting needs.
        together = f"restarted together with the lowered {', '.join(lowered)} (the primary in place, no switchover)"
        out = [replace(v, message=v.message.replace(ROLLING, together)) for v in out]
    return out + [replace(verdict, subpath=cause) for cause, verdict in dropped]  # a cause no leaf showed


def _related(cause: FieldPath, path: FieldPath) -> bool:
    """Whether a leaf at ``path`` is, holds or is held by the setting at ``cause``."""
    shorter = min(len(cause), len(path))
    return cause[:shorter] == path[:shorter]


# Patroni's replication slots (Patroni 3 and 4, "Dynamic Configuration Settings" and slots.py): each
# member keeps the permanent slots of `slots` while postgresql.use_slots is on, and drops every other
# slot it finds (but the members' own) unless an ignore_slots entry matches it; a permanent slot
# whose type, database or plugin changed is dropped and created anew. A slot is dropped once no
# consumer is connected to it. Its consumer's position goes with it, so these are risks.
USE_SLOTS: FieldPath = ("postgresql", "use_slots")
_SLOT_FIELDS = ("type", "database", "plugin")  # what Patroni compares of a slot, and ignore_slots matches
SLOT_LOST = (
    "the consumer's position and the WAL the slot keeps for it are lost: a logical consumer (Debezium, a "
    "subscription) misses the changes made until it has a slot again and has to take a new snapshot; a physical "
    "one (pg_receivewal, a standby outside the cluster) may find the WAL it needs removed"
)
SLOT_DROPPED = (
    "Patroni drops replication slot {name} ({why}) on every member once no consumer is connected to it: "
    f"{SLOT_LOST}. To keep it, {{keep}}"
)
SLOT_RECREATED = (
    "Patroni drops replication slot {name} and creates it anew ({what} in slots) on every member once no "
    f"consumer is connected to it: {SLOT_LOST}; the new slot starts at the current WAL position. To keep the old "
    "one, define the new slot under another name, move the consumer to it, then remove the old one"
)
SLOT_UNIGNORED = (
    "ignore_slots entry {entry} removed: Patroni drops every slot it matched that is neither a member's nor "
    "in slots (slots that applications made themselves, Debezium's or a subscription's) on every member once no "
    f"consumer is connected to it; for each, {SLOT_LOST}. To keep them, keep the entry, or define them in slots"
)
MEMBER_SLOTS_DROPPED = (
    "postgresql.use_slots: false: Patroni drops the slot it keeps on the primary for each replica, so the "
    "primary no longer keeps the WAL a replica has not received: a replica that falls behind further than "
    "pg_wal holds needs the archive (restore_command) or a new copy. To keep them, leave use_slots true"
)


def _dropped_slots(cluster: str, old: dict[str, Any], new: dict[str, Any]) -> list[tuple[FieldPath, Verdict]]:
    """Each slot (or set of slots) Patroni drops once ``new`` is its dynamic configuration, with the
    setting that drops it: a permanent slot removed, redefined or no longer kept (use_slots off), an
    ignore_slots entry removed, and with use_slots off the members' own slots."""
    before, after = _permanent_slots(old), _permanent_slots(new)
    ignored = [m for m in _list(new.get("ignore_slots")) if isinstance(m, dict)]
    out: list[tuple[FieldPath, Verdict]] = []
    for name, slot in sorted(before.items()):
        written = _map(old.get("slots")).get(name) != _map(new.get("slots")).get(name, _MISSING)
        cause = ("slots", name) if written else USE_SLOTS
        if name in after:
            changed = _slot_changes(slot, after[name])
            if changed:
                out.append(
                    (cause, Verdict(ChangeClass.RISK, SLOT_RECREATED.format(name=name, what=changed), _slot_id(name)))
                )
        elif not any(_matches_slot(m, {**slot, "name": name}) for m in ignored):
            out.append((cause, _slot_dropped(name, uses_slots=_uses_slots(new))))
    out += _unignored(cluster, old, new, after)
    if not before and _uses_slots(old) and not _uses_slots(new):
        out.append((USE_SLOTS, Verdict(ChangeClass.RISK, MEMBER_SLOTS_DROPPED, f"drop-slots:{cluster}")))
    return out


def _slot_dropped(name: str, uses_slots: bool) -> Verdict:
    if uses_slots:
        why = "no longer in slots, and no ignore_slots entry matches it"
        keep = "leave it in slots, or add an ignore_slots entry that matches it (its consumer then manages it)"
    else:
        why = "postgresql.use_slots: false: Patroni keeps no slots, neither those of slots nor the members' own"
        keep = "leave use_slots true, or add an ignore_slots entry that matches it (its consumer then manages it)"
    return Verdict(ChangeClass.RISK, SLOT_DROPPED.format(name=name, why=why, keep=keep), _slot_id(name))


def _unignored(
    cluster: str, old: dict[str, Any], new: dict[str, Any], after: dict[str, dict[str, Any]]
) -> list[tuple[FieldPath, Verdict]]:
    """An ignore_slots entry removed, unless an entry left matches all it matched, or slots now
    defines the slot it named (Patroni keeps that one)."""
    before_list, after_list = _list(old.get("ignore_slots")), _list(new.get("ignore_slots"))
    named = _named(before_list) is not None and _named(after_list) is not None  # as leaves() keys them
    out: list[tuple[FieldPath, Verdict]] = []
    for entry in before_list:
        if not isinstance(entry, dict) or entry in after_list:
            continue
        name = entry.get("name")
        if (name is not None and str(name) in after) or any(
            _matches_slot(m, entry) for m in after_list if isinstance(m, dict)
        ):
            continue
        cause = ("ignore_slots", f"[{name}]") if named and name is not None else ("ignore_slots",)
        ident = _slot_id(str(name)) if name is not None else f"drop-slots:{cluster}"
        out.append((cause, Verdict(ChangeClass.RISK, SLOT_UNIGNORED.format(entry=_value(entry)), ident)))
    return out


def _slot_id(name: str) -> str:
    return f"drop-slot:{name}"


def _uses_slots(configuration: dict[str, Any]) -> bool:
    return _map(configuration.get("postgresql")).get("use_slots") is not False  # Patroni's default: on


def _permanent_slots(configuration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The slots Patroni keeps of ``slots``, each as Patroni reads it: none while use_slots is off."""
    if not _uses_slots(configuration):
        return {}
    return {str(name): _slot_as_patroni_reads(slot) for name, slot in _map(configuration.get("slots")).items()}


def _slot_as_patroni_reads(value: Any) -> dict[str, Any]:
    """Patroni's own reading of a permanent slot (dcs/__init__.py): an empty one is physical, and one
    without a type is logical where it names a database and a plugin, else physical."""
    slot = dict(value) if isinstance(value, dict) and value else {"type": "physical"}
    if "type" not in slot:
        slot["type"] = "logical" if slot.get("database") and slot.get("plugin") else "physical"
    return slot


def _slot_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What of a permanent slot changed that Patroni compares ("" when nothing): its type, and a
    logical slot's database and plugin."""
    fields = _SLOT_FIELDS if "logical" in (old.get("type"), new.get("type")) else ("type",)
    return ", ".join(
        f"{k} {_values(old.get(k, _MISSING), new.get(k, _MISSING))}" for k in fields if old.get(k) != new.get(k)
    )


def _matches_slot(matcher: dict[str, Any], slot: dict[str, Any]) -> bool:
    """Whether an ignore_slots entry matches ``slot`` (a slot's name and fields, or another entry:
    then whether it matches every slot that entry does), as Patroni matches: each field it gives."""
    name = matcher.get("name")
    return (name is None or name == slot.get("name")) and all(
        not matcher.get(k) or matcher.get(k) == slot.get(k) for k in _SLOT_FIELDS
    )


def _dynamic_value(change: Change, path: FieldPath, old: Any, new: Any) -> Verdict:
    if _fewer_slots(path, old, new):
        cluster = change.obj.cluster[1] if change.obj.cluster else change.obj.name
        return Verdict(ChangeClass.RISK, f"{_values(old, new)}, lowered; {FEWER_SLOTS}", f"replication-slots:{cluster}")
    if path[:2] == ("postgresql", "parameters") and len(path) > 2:
        return _parameter(change.cluster.major_version, path[2], old, new)
    if path[:1] == ("postgresql",) and path[1:2] == ("pg_hba",):
        return Verdict(
            ChangeClass.LIVE, f"{_hba_lines(old, new)}: Patroni rewrites pg_hba.conf and reloads (no restart)"
        )
    if path[:1] == ("standby_cluster",) and new is _MISSING and len(path) == 1:
        return Verdict(
            ChangeClass.LIVE,
            "promotion: without standby_cluster the standby leader becomes a primary (the reconcile Job applies it), "
            "takes writes on a new timeline and stops following its source",
        )
    if path[:1] == ("standby_cluster",) and old is _MISSING and len(path) == 1:
        return Verdict(
            ChangeClass.RISK,
            "a running cluster becomes a standby: its primary is demoted and follows another cluster; writes "
            "it took that the source lacks are lost",
            f"make-standby:{change.obj.cluster[1] if change.obj.cluster else change.obj.name}",
        )
    if (
        path[:1] == ("standby_cluster",)
        and path[1:] in (("host",), ("restore_command",))
        and _MISSING not in (old, new)
    ):
        return Verdict(
            ChangeClass.RISK,
            f"the standby follows another source ({path[1]} changed): if it is another cluster (another system "
            "identifier), streaming and archive-get fail and the standby stops following, with no error a client "
            "sees; to follow another cluster, create a new standby (a new name). Acknowledge it when the source "
            "is the same cluster at a new address",
            f"standby-source:{change.obj.cluster[1] if change.obj.cluster else change.obj.name}",
        )
    return Verdict(
        ChangeClass.LIVE,
        f"{_values(old, new)}; Patroni's dynamic configuration, applied live by the reconcile Job (no restart)",
    )


def _parameter(version: int | None, name: str, old: Any, new: Any) -> Verdict:
    """A PostgreSQL parameter in the dynamic configuration: its values, and how the members take it."""
    from pgrender.plan.parameters import catalogue

    versions = _catalogue_versions()
    known = version if version in versions else versions[-1]
    setting = catalogue(known).get(name.lower())
    values = _values(old, new)
    if setting is None:
        return Verdict(
            ChangeClass.RESTART,
            f"{values}; not a parameter of PostgreSQL {known} pgrender knows, so counted as a restart: {ROLLING}",
        )
    if setting.context != "postmaster":
        return Verdict(ChangeClass.LIVE, f"{values}; applied by a reload (context {setting.context}), no restart")
    restart = f"{values}; read only at server start (context postmaster)"
    lowered = _lowered(name, old, new)
    if lowered is None:  # set or reset: the default may be lower
        return Verdict(ChangeClass.RESTART, f"{restart}: {ROLLING}; if this lowers it, {PRIMARY_FIRST}")
    if lowered:
        return Verdict(
            ChangeClass.RESTART,
            f"{values}, lowered; read only at server start (context postmaster), and {PRIMARY_FIRST}",
        )
    return Verdict(ChangeClass.RESTART, f"{restart}: {ROLLING}")


def _lowered(name: str, old: Any, new: Any) -> bool | None:
    """Whether a setting of PRIMARY_FIRST_WHEN_LOWERED is lowered (False for any other parameter);
    None when either side is not a number (not set: the default applies)."""
    if name.lower() not in PRIMARY_FIRST_WHEN_LOWERED:
        return False
    before, after = _number(old), _number(new)
    return None if before is None or after is None else after < before


def _number(value: Any) -> float | None:
    from pgrender.plan.parameters import parse_number

    return parse_number(str(value), None, integer=True) if isinstance(value, str | int) else None


SLOTS = "max_replication_slots"
DEFAULT_SLOTS = 10  # PostgreSQL's max_replication_slots when it is not set (since version 10)
FEWER_SLOTS = (
    "PostgreSQL refuses to start while it holds more replication slots than this, and the members restart "
    "to take it: Patroni keeps a slot on the primary for each other member, and applications may hold "
    "logical ones. Count them on every member (SELECT count(*) FROM pg_replication_slots) and drop those "
    "over the new value first"
)


def _fewer_slots(path: FieldPath, old: Any, new: Any) -> bool:
    """Whether ``path`` is max_replication_slots, lowered (a side not set is PostgreSQL's default)."""
    if path[:2] != ("postgresql", "parameters") or len(path) != 3 or path[2].lower() != SLOTS:
        return False
    before, after = (DEFAULT_SLOTS if v is _MISSING else _number(v) for v in (old, new))
    return before is not None and after is not None and after < before


def _values(old: Any, new: Any) -> str:
    """old → new, for a reviewer: values of ConfigMaps and pod specs, never of a Secret."""
    return f"{_value(old)} → {_value(new)}"


def _value(value: Any, limit: int = 60) -> str:
    if value is _MISSING:
        return "(not set)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hba_lines(old: Any, new: Any, shown: int = 3) -> str:
    """The pg_hba lines added and removed (Patroni writes them in order: the first that matches wins)."""
    before = [str(line) for line in old] if isinstance(old, list) else []
    after = [str(line) for line in new] if isinstance(new, list) else []
    parts = []
    for what, lines in (
        ("added", [x for x in after if x not in before]),
        ("removed", [x for x in before if x not in after]),
    ):
        if lines:
            listed = ", ".join(f'"{_value(x, 100)}"' for x in lines[:shown])
            more = f" and {len(lines) - shown} more" if len(lines) > shown else ""
            parts.append(f"pg_hba {what} {listed}{more}")
    return "; ".join(parts) or "pg_hba lines reordered (the first line that matches a connection wins)"


MOUNTED = (
    "read by what mounts it: a workload restarts through its template digest, a Job by its new name "
    "(each listed on its own)"
)
# A repository's place: its files (backup.info, archive.info, the backups, the WAL) are there.
_REPOSITORY_PLACE = (
    "type",
    "path",
    "host",
    "s3-bucket",
    "s3-endpoint",
    "gcs-bucket",
    "azure-container",
    "azure-account",
)
_REPOSITORY_CONF = re.compile(r"^job-(repo\d+)\.conf\Z")
REPOSITORY_GONE = (
    "pgBackRest no longer backs up to or archives into this repository: point-in-time recovery from it ends at "
    "this change, standbys and clones that read it get no more WAL, and its backups stay where they are "
    "(nothing expires them)"
)
REPOSITORY_LEFT = REPOSITORY_GONE.replace("this repository", "the old place")


def _repository(change: Change) -> list[Verdict]:
    """A pgBackRest repository's options (the backup Jobs' job-repoN.conf, which holds every one of
    them): a repository removed, moved, encrypted otherwise, or kept for less time is named, since
    each loses backups or breaks archiving; anything else reaches the Jobs and members as mounted."""
    repo = _REPOSITORY_CONF.sub(r"\1", str(change.path[-1])) if len(change.path) > 1 else "repo"
    old, new = (_repository_options(v, repo) for v in (change.old, change.new))
    if old is None:
        return [
            Verdict(
                ChangeClass.NO_OP, f"a new repository {repo}: its init Job makes the stanza and a first full backup"
            )
        ]
    if new is None:
        return [Verdict(ChangeClass.RISK, f"repository {repo} removed: {REPOSITORY_GONE}", f"remove-repo:{repo}")]
    moved = [k for k in _REPOSITORY_PLACE if old.get(k) != new.get(k)]
    if moved:
        what = ", ".join(f"{k} {_value(old.get(k))} → {_value(new.get(k))}" for k in moved)
        return [
            Verdict(
                ChangeClass.RISK,
                f"repository {repo} moves ({what}): backups and archiving start over in an empty repository there "
                f"(its init Job makes the stanza and a full backup); {REPOSITORY_LEFT}",
                f"move-repo:{repo}",
            )
        ]
    verdicts = []
    if old.get("cipher-type") != new.get("cipher-type"):
        verdicts.append(
            Verdict(
                ChangeClass.RISK,
                f"repository {repo}'s cipher {_value(old.get('cipher-type', 'none'))} → "
                f"{_value(new.get('cipher-type', 'none'))} in the same place: its files were written with the old "
                "one, so archive-push, backup and restore fail with the new one (WAL then piles up in pg_wal until "
                "the volume fills and the primary stops); change the repository's path with it, to start a new one",
                f"repo-cipher:{repo}",
            )
        )
    shorter = _retention_shortened(old, new)
    if shorter:
        # Days for a count (or back): fewer are kept or not by how often full backups run.
        other_type = old.get("retention-full-type", "count") != new.get("retention-full-type", "count")
        verdicts.append(
            Verdict(
                ChangeClass.RISK,
                f"repository {repo} {'may keep' if other_type else 'keeps'} less ({shorter}"
                f"{'; whether fewer are kept depends on how often full backups run' if other_type else ''}): "
                "pgBackRest's expire, run after every scheduled backup, "
                "deletes the backups and the WAL the new retention no longer keeps, and point-in-time recovery "
                "reaches back less far; copy them elsewhere first if they matter",
                f"retention:{repo}",
            )
        )
    return verdicts or [Verdict(ChangeClass.NO_OP, MOUNTED)]


DYNAMIC_KEY = "patroni-dynamic.json"
_SOURCE_REPO = f"repo{SOURCE_INDEX}"
SOURCE_MOVED = (
    "the standby replays WAL from another repository ({what}): if it holds another cluster's archive "
    "(another system identifier), archive-get fails and the standby stops following, with no error a client "
    "sees; to follow another cluster, create a new standby (a new name). Acknowledge it when the source is the "
    "same cluster's repository at a new address"
)
SOURCE_OF_A_RESTORE = (
    "the repository the cluster was restored or cloned from ({what}): read only when the cluster is created, so "
    "its data is not affected (its members restart to mount the new file: see their StatefulSets)"
)


def _source_repository(change: Change) -> list[Verdict]:
    """source.conf: the repository a standby replays WAL from (and a restore or clone was made
    from). Its place changed is a risk of a standby's (the dynamic configuration's standby_cluster
    does not change with it); _compare makes it a no-op for a cluster that is not a standby."""
    old, new = (_repository_options(v, _SOURCE_REPO) for v in (change.old, change.new))
    moved = [k for k in _REPOSITORY_PLACE if old is not None and new is not None and old.get(k) != new.get(k)]
    if not moved or old is None or new is None:
        return [Verdict(ChangeClass.NO_OP, MOUNTED)]
    what = ", ".join(f"{k} {_value(old.get(k))} → {_value(new.get(k))}" for k in moved)
    return [Verdict(ChangeClass.RISK, SOURCE_MOVED.format(what=what), _source_moved(change.obj))]


def _source_moved(obj: Obj) -> str:
    return f"standby-source:{obj.cluster[1] if obj.cluster else obj.name}"


def _not_a_standby(finding: Finding, obj: Obj) -> Finding:
    """A finding of the source's repository, for a cluster that is no standby: it was read when the
    cluster was created, and is not read again."""
    if finding.id != _source_moved(obj):
        return finding
    if finding.path.endswith("source-cipher-pass]"):
        what = "its passphrase"
    else:
        what = finding.message[finding.message.index("(") + 1 : finding.message.index(")")]
    return replace(finding, change=ChangeClass.NO_OP, message=SOURCE_OF_A_RESTORE.format(what=what), id=None)


def _repositories(obj: Obj) -> list[tuple[str, str]]:
    """(key, repository) of each job-repoN.conf a ConfigMap holds (the backup Jobs' one does)."""
    data = _map(obj.manifest.get("data"))
    return [(key, _REPOSITORY_CONF.sub(r"\1", key)) for key in sorted(data) if _REPOSITORY_CONF.match(key)]


def _repository_options(text: Any, repo: str) -> dict[str, str] | None:
    """``repo``'s options (without the ``repoN-`` prefix) in a pgBackRest configuration; None
    when there is no such text."""
    if not isinstance(text, str):
        return None
    prefix = f"{repo}-"
    options = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith(prefix):
            options[key[len(prefix) :]] = value
    return options


def _retention_shortened(old: dict[str, str], new: dict[str, str]) -> str:
    """What of a repository's retention is shorter in ``new`` ("" when nothing is): full backups
    kept (a count or days; unset keeps every one), and the full backups whose WAL is kept (unset:
    as many as the full backups kept, when that is a count)."""

    def number(options: dict[str, str], key: str) -> int | None:
        value = options.get(key)
        return int(value) if value is not None and value.isdigit() else None

    said = []
    kinds = (old.get("retention-full-type", "count"), new.get("retention-full-type", "count"))
    full = (number(old, "retention-full"), number(new, "retention-full"))
    if full[1] is not None and (full[0] is None or kinds[0] != kinds[1] or full[1] < full[0]):
        unit = {"count": "full backups", "time": "days of full backups"}
        said.append(
            f"{full[0] if full[0] is not None else 'every one of the'} {unit.get(kinds[0], kinds[0])} → "
            f"{full[1]} {unit.get(kinds[1], kinds[1])}"
        )
    archive = tuple(
        number(o, "retention-archive") or (f if k == "count" else None)
        for o, f, k in zip((old, new), full, kinds, strict=True)
    )
    if archive[1] is not None and archive[0] is not None and archive[1] < archive[0]:
        said.append(f"WAL of the newest {archive[0]} → {archive[1]} full backups")
    return "; ".join(said)


WEEK_MINUTES = 7 * 24 * 60
FULLS_SPAN_LESS = (
    "repository {repo} keeps its newest {count} full backups (a count: retention.full), and full backups run "
    "more often ({schedules}): those {count} reach back {after} instead of {before}, so pgBackRest's expire, run "
    "after every scheduled backup, deletes the older full backups and their WAL, and point-in-time recovery "
    "reaches back less far. Raise retention.full with the schedule (or keep them for days: fullType time); copy "
    "the backups elsewhere first if they matter"
)
FULLS_UNCOUNTED = (
    "repository {repo} keeps its newest {count} full backups (a count: retention.full), and their schedule "
    "changed ({schedules}) to or from one that does not repeat weekly, which pgrender cannot count: if full "
    "backups run more often, pgBackRest's expire, run after every scheduled backup, deletes the older full "
    "backups and their WAL sooner. Check retention.full against the new schedule (or keep them for days: "
    "fullType time)"
)


def _full_schedule(
    before: Obj, after: Obj, found: list[Finding], config_maps: tuple[_ConfigMaps, _ConfigMaps]
) -> list[Finding]:
    """A full backup CronJob's schedule: where its repository keeps a count of full backups, a more
    frequent schedule keeps them for less time, a risk as a retention shortened is (retention:<repo>)."""
    repo = str(after.labels.get(REPO_LABEL, ""))
    schedules = (before.spec.get("schedule"), after.spec.get("schedule"))
    if not repo or schedules[0] == schedules[1]:
        return found
    key = job_config_key(repo)
    old, new = (
        _repository_options(maps.text(o, key), repo) for maps, o in zip(config_maps, (before, after), strict=True)
    )
    message = _fulls_for_less_time(repo, (str(schedules[0]), str(schedules[1])), old or new, new)
    if message is None:
        return found
    return [
        replace(f, change=ChangeClass.RISK, message=message, id=f"retention:{repo}") if f.path == "spec.schedule" else f
        for f in found
    ]


def _fulls_for_less_time(
    repo: str, schedules: tuple[str, str], old: dict[str, str] | None, new: dict[str, str] | None
) -> str | None:
    """What a full backup schedule changed means where the repository keeps a count of full backups
    (``new``, its options now; ``old``, before): None when they reach back as far as before, or further."""
    if old is None or new is None or new.get("retention-full-type", "count") != "count":
        return None
    count = new.get("retention-full", "")
    if not count.isdigit():
        return None  # every full backup is kept
    said = {"repo": repo, "count": count, "schedules": " → ".join(schedules)}
    reach = [_fulls_reach(options, schedule) for options, schedule in zip((old, new), schedules, strict=True)]
    if reach[0] is None or reach[1] is None:
        return FULLS_UNCOUNTED.format(**said)
    if reach[1] >= reach[0]:
        return None
    return FULLS_SPAN_LESS.format(**said, before=_about(reach[0]), after=_about(reach[1]))


def _fulls_reach(options: dict[str, str], schedule: str) -> float | None:
    """About how many minutes a repository's full backups reach back: the days of a time retention,
    or a count of them times the schedule's interval (a weekly one's, counted as plan/backups.py
    counts full backups in a window); infinite when every one is kept, None when not countable."""
    kept = options.get("retention-full", "")
    if not kept.isdigit():
        return float("inf")
    if options.get("retention-full-type", "count") == "time":
        return int(kept) * 24 * 60.0
    try:
        parsed = cron.parse(schedule)
    except ValueError:
        return None
    fires = parsed.most_in(WEEK_MINUTES) if parsed.weekly else 0
    return int(kept) * WEEK_MINUTES / fires if fires else None


def _about(minutes: float) -> str:
    """A span for a reviewer: about N days, hours or minutes."""
    if minutes == float("inf"):
        return "to the oldest (every one was kept)"
    for unit, size in (("days", 24 * 60), ("hours", 60)):
        if minutes >= 2 * size:
            return f"about {round(minutes / size)} {unit}"
    return f"about {round(minutes)} minutes"


class _ConfigMaps:
    """One side's ConfigMaps, looked up for an object beside them: parsed (its file differs), else
    read from the unchanged file in the object's directory (one per cluster) that holds it. The
    files' names are indexed by directory once, when first asked."""

    def __init__(self, files: Mapping[str, str], parsed: Mapping[tuple[str, str, str, str], Obj]) -> None:
        self._files, self._parsed = files, parsed
        self._by_directory: dict[str, list[str]] | None = None

    def text(self, near: Obj, key: str) -> str | None:
        """The text at ``key`` of the ConfigMap whose ``key`` the pods of ``near`` mount."""
        name = _config_map_of(near, key)
        if name is None:
            return None
        found = self._parsed.get(("v1", "ConfigMap", near.namespace, name)) or self._unparsed(near, name)
        text = found.data().get(key) if found else None
        return text if isinstance(text, str) else None

    def _unparsed(self, near: Obj, name: str) -> Obj | None:
        if self._by_directory is None:
            self._by_directory = {}
            for rel in self._files:
                self._by_directory.setdefault(_directory(rel), []).append(rel)
        line = f"\n  name: {name}\n"
        held = [rel for rel in self._by_directory.get(_directory(near.file), ()) if line in self._files[rel]]
        return next(
            (
                o
                for o in parse(self._files, held)
                if (o.kind, o.namespace, o.name) == ("ConfigMap", near.namespace, name)
            ),
            None,
        )


def _config_map_of(obj: Obj, key: str) -> str | None:
    """The ConfigMap whose ``key`` the pods of ``obj`` mount (a configMap or projected volume)."""
    for volume in map(_map, _list(_pod_spec(obj).get("volumes"))):
        for source in [volume, *map(_map, _list(_map(volume.get("projected")).get("sources")))]:
            config_map = _map(source.get("configMap"))
            if any(_map(item).get("key") == key for item in _list(config_map.get("items"))):
                return str(config_map.get("name", ""))
    return None


def _member_template(change: Change) -> list[Verdict]:
    """A member's pod template: its pods are replaced one at a time (OnDelete, by the reconcile Job).

    A value of the pod's spec (an image, a resource) is shown; the template's annotations (digests, of
    Secrets too) never are."""
    shown = change.path[:3] == ("spec", "template", "spec") and all(
        v is _MISSING or isinstance(v, str | int | float | bool) for v in (change.old, change.new)
    )
    return [Verdict(ChangeClass.RESTART, f"{_values(change.old, change.new)}; {ROLLING}" if shown else ROLLING)]


def _member_replicas(change: Change) -> list[Verdict]:
    """A member stopped or started: spec.shutdown (each member is a StatefulSet of one replica)."""
    if change.new == 0:
        return [Verdict(ChangeClass.RESTART, SHUTDOWN)]
    if change.old == 0 and change.obj.annotations.get(UPGRADE_FROM_ANNOTATION):
        return [Verdict(ChangeClass.RESTART, UPGRADE_STARTUP)]
    if change.old == 0 and change.obj.annotations.get(RESTORE_RUN_ANNOTATION):
        return [Verdict(ChangeClass.RESTART, RESTORE_STARTUP)]
    if change.old == 0:
        return [Verdict(ChangeClass.RESTART, STARTUP)]
    return [Verdict(ChangeClass.LIVE, "scaled in place")]


def _pooler_replicas(change: Change) -> list[Verdict]:
    """pgBouncer's replicas: to 0 and back with spec.shutdown, or another count."""
    if change.new == 0:
        return [Verdict(ChangeClass.LIVE, "scaled to zero (spec.shutdown): its clients are refused until it is back")]
    if change.old == 0:
        return [Verdict(ChangeClass.LIVE, "scaled up again (spec.shutdown false): its clients connect again")]
    return [Verdict(ChangeClass.LIVE, "scaled in place")]


# The reconcile Job's line for spec.patroni.switchover (components/reconcile.py writes it).
_SWITCHOVER_LINE = re.compile(r" switchover .*--run=(?P<run>[0-9]+)(?: --target=(?P<target>\S+))?")


def _planned_switchover(change: Change) -> list[Verdict]:
    """spec.patroni.switchover: a run the Job has not made (a new one, or another run) hands the
    leader role over; anything else in the script is the Job's own (MOUNTED)."""
    old, new = (_SWITCHOVER_LINE.search(v) if isinstance(v, str) else None for v in (change.old, change.new))
    if new is None or (old is not None and old["run"] == new["run"]):
        return [Verdict(ChangeClass.NO_OP, MOUNTED)]
    to = new["target"] or "an up-to-date replica (in synchronous mode, the synchronous standby)"
    message = (
        f"spec.patroni.switchover run {new['run']}: after its rollout the reconcile Job hands the leader role to "
        f"{to}, once; writes wait while the primary changes, and the primary's clients reconnect"
    )
    return [Verdict(ChangeClass.RESTART, message)]


def _catalogue_versions() -> tuple[int, ...]:
    from pgrender.spec import SUPPORTED_POSTGRES_VERSIONS

    return SUPPORTED_POSTGRES_VERSIONS


# cert-manager (TLS provider cert-manager): what a changed Certificate means for the running cluster.
RELOADED = "the pods' tls-reload sidecars make PostgreSQL, Patroni, pgBouncer and pgBackRest load it (no restart)"
REISSUED = f"cert-manager issues a new certificate (and key) into the same Secret; {RELOADED}"
NEW_CA = (
    "certificates from another CA are served as soon as they are issued, while applications verify with "
    "spec.tls.caCertificate (their Secrets' ca.crt): give both CAs there until every certificate is reissued"
)
_STATEFULSET_IMMUTABLE = tuple(
    _immutable(p)
    for p in ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates", "spec.podManagementPolicy")
)
_DIGESTS = (
    ("pgrender.io/config-digest", "a ConfigMap the pods mount changed (patroni.yaml, pgBackRest, ...)"),
    ("pgrender.io/secrets-digest", "a Secret the pods mount changed (certificates, credentials)"),
    (
        "pgrender.io/account-digest",
        "the labels or annotations of their ServiceAccount changed (spec.serviceAccountTemplate: a cloud "
        "identity reaches a pod when it is created)",
    ),
)
MEMBER = "StatefulSet (member)"  # a StatefulSet running PostgreSQL: KIND_RULES key

# kind → rules, first match wins; then COMMON_RULES, then DEFAULT_RULE.
KIND_RULES: dict[str, tuple[Rule, ...]] = {
    MEMBER: (
        *_STATEFULSET_IMMUTABLE,
        Rule(
            "spec.updateStrategy", ChangeClass.LIVE, "how pods are replaced; takes effect at the next template change"
        ),
        Rule("spec.replicas", _member_replicas),
        Rule(
            "spec.template.metadata.annotations[pgrender.io/template-digest]",
            ChangeClass.RESTART,
            ROLLING,
            summary=True,
        ),
        *(
            Rule(f"spec.template.metadata.annotations[{key}]", ChangeClass.RESTART, f"{what}: {ROLLING}")
            for key, what in _DIGESTS
        ),
        Rule("spec.template", _member_template),
    ),
    "StatefulSet": (
        *_STATEFULSET_IMMUTABLE,
        Rule(
            "spec.template", ChangeClass.LIVE, "its pod is replaced (not a database member: PostgreSQL keeps running)"
        ),
    ),
    "Deployment": (
        _immutable("spec.selector"),
        Rule("spec.replicas", _pooler_replicas),
        Rule(
            "spec.template",
            ChangeClass.LIVE,
            "pods replaced one at a time by its RollingUpdate (clients of a replaced pgBouncer reconnect); "
            "no database restart",
        ),
    ),
    "PersistentVolumeClaim": (
        Rule("spec.resources.requests.storage", _storage),
        Rule("spec.storageClassName", ChangeClass.REFUSED, IMMUTABLE, "storage-class:{name}"),
        Rule(
            "spec",
            ChangeClass.REFUSED,
            "only resources.requests of a claim may change (and only grow): " + IMMUTABLE,
            _IMMUTABLE_ID,
        ),
    ),
    "Job": (
        Rule("spec.template", _job_template),
        _immutable("spec.selector"),
    ),
    "RoleBinding": (_immutable("roleRef"),),
    "Service": (
        Rule("spec.clusterIP", _cluster_ip),
        Rule("spec.clusterIPs", _cluster_ip),
        Rule("spec.ipFamilies", _cluster_ip),
        Rule("spec.loadBalancerClass", _load_balancer_class),
        Rule("spec.ports", _service_port),
        Rule("spec.selector", ChangeClass.LIVE, "updated in place: the Service reaches other pods from now on"),
    ),
    "Secret": (
        Rule("data", _secret_value),
        Rule("stringData", _secret_value),
        _immutable("type"),
    ),
    "SealedSecret": (
        Rule("spec.encryptedData", _secret_value),
        Rule(
            "metadata.annotations[pgrender.io/sealed-digests]",
            ChangeClass.NO_OP,
            "pgrender's keyed digests of the sealed values (secrets/sealed.py): they change with the ciphertexts, "
            "which are listed on their own",
        ),
    ),
    "ExternalSecret": (
        Rule(
            f"metadata.annotations[{EXTERNAL_ROTATIONS}]",
            ChangeClass.LIVE,
            "a rotation counter changed: External Secrets Operator reads the store again at once; put the new "
            "value in the store first. A user's new password reaches the database through the reconcile Job "
            "(its new name runs it), pods that mount the Secret are replaced through their template digest",
        ),
        Rule("spec.target.template.data", _external_template),
        Rule(
            "spec.data",
            ChangeClass.LIVE,
            "where a value is read from the store changed: the store must hold it there before this is applied",
        ),
    ),
    "ConfigMap": (
        Rule(f"data[{DYNAMIC_KEY}]", _dynamic_configuration),
        Rule(f"data[{SOURCE_CONFIG_KEY}]", _source_repository),
        Rule(
            "data[bootstrap.yaml]",
            ChangeClass.NO_OP,
            "read only when the cluster is created; a running cluster gets the same settings from the reconcile "
            "Job (patroni-dynamic.json: each change listed there, once)",
        ),
        Rule(
            "data[patroni.yaml]",
            ChangeClass.NO_OP,
            "reaches the members through their pod template digest: see the restart findings of their StatefulSets",
        ),
        Rule(
            "data[reconcile*.sql]",
            ChangeClass.NO_OP,
            "run by the reconcile Job (see its job finding); users and databases dropped are listed on their own",
        ),
        Rule("data[job-repo*.conf]", _repository),
        Rule("data[reconcile.sh]", _planned_switchover),
        Rule(  # <namespace>_<cluster>.json: '_' is in no other key pgrender writes (names cannot hold it)
            "data[*_*.json]",
            ChangeClass.LIVE,
            "the Grafana dashboard (spec.monitoring.grafanaDashboard): Grafana's dashboard sidecar loads the new "
            "one; nothing restarts",
        ),
        Rule("data", ChangeClass.NO_OP, MOUNTED),
    ),
    "CronJob": (Rule("spec", ChangeClass.LIVE, "applied in place; the next scheduled run uses it"),),
    "Certificate": (
        Rule(
            "spec.issuerRef",
            ChangeClass.LIVE,
            "another issuer signs from the next issuance, which cert-manager starts at once: " + NEW_CA,
        ),
        Rule("spec.secretTemplate", ChangeClass.LIVE, "labels and annotations cert-manager copies to the Secret"),
        Rule("spec", ChangeClass.LIVE, REISSUED),
    ),
    "Issuer": (
        Rule("spec.ca.secretName", ChangeClass.LIVE, "the CA Issuer signs with another CA's key: " + NEW_CA),
        Rule("spec", ChangeClass.LIVE, "applied in place; cert-manager uses it for the next issuance"),
    ),
}
COMMON_RULES: tuple[Rule, ...] = (
    Rule(
        f"metadata.annotations[{ACKNOWLEDGED_CHANGES_ANNOTATION}]",
        ChangeClass.NO_OP,
        "acknowledgements for pgrender diff; nothing in the cluster reads them",
    ),
    Rule(
        "metadata.annotations[argocd.argoproj.io/sync-wave]",
        ChangeClass.NO_OP,
        "only the order Argo CD applies objects in",
    ),
    Rule("metadata.labels", ChangeClass.LIVE, "labels of the object: applied in place"),
    Rule("metadata.annotations", ChangeClass.LIVE, "annotations of the object: applied in place"),
)
DEFAULT_RULE = Rule("", ChangeClass.LIVE, "applied in place")

# Objects that appear or disappear, by kind (MEMBER for database StatefulSets); else the defaults below.
ADDED: dict[str, tuple[ChangeClass, str]] = {
    MEMBER: (ChangeClass.LIVE, "a new member joins: it copies the data from the repository or the primary"),
    "PersistentVolumeClaim": (ChangeClass.LIVE, "a new claim: provisioned when its pod starts"),
    "Job": (ChangeClass.JOB, "runs once"),
}
ADDED["Certificate"] = (ChangeClass.LIVE, "cert-manager issues it into its spec.secretName, a Secret the pods mount")
ADDED_DEFAULT = (ChangeClass.LIVE, "created")
REMOVED: dict[str, tuple[ChangeClass, str, str | None]] = {
    MEMBER: (
        ChangeClass.RISK,
        "the member is stopped and deleted when pruned; if it is the primary, Patroni fails over first",
        "remove-instance:{name}",
    ),
    "Job": (ChangeClass.NO_OP, "a finished Job no longer rendered: deleted when pruned", None),
    "Secret": (
        ChangeClass.LIVE,
        "deleted when pruned: whatever reads it (an application's credentials) loses it",
        None,
    ),
    # Applications connect through Services: a rename, another naming profile or host suffix
    # removes the old name, and every client still using it fails to connect.
    "Service": (
        ChangeClass.RISK,
        "deleted when pruned: applications connecting through this name fail (a renamed Service, another "
        "naming profile or host suffix); move them to the new name first",
        "remove-service:{name}",
    ),
}
REMOVED["Certificate"] = (
    ChangeClass.LIVE,
    "deleted when pruned: cert-manager stops renewing it; the Secret it wrote stays until deleted, valid until "
    "it expires",
    None,
)
REMOVED_DEFAULT = (ChangeClass.LIVE, "deleted when the GitOps tool prunes", None)
PROTECTED_CLAIM = (
    "kept (protected from pruning); delete it on purpose with kubectl delete pvc -n {namespace} {name} "
    "when its data is no longer needed"
)
UNREADABLE = "not valid YAML, so its change cannot be classified (its text is not shown); look at it, or re-render"
PRUNE_PROTECTED = ("argocd.argoproj.io/sync-options", "Prune=false")

_JOB_FAMILY = re.compile(r"^(?P<family>.+)-(?:[0-9a-f]{10}|[0-9]+)\Z")  # <c>-reconcile-<hash>, <c>-<repo>-manual-<run>
_DATA_DIR_ENV = "PATRONI_POSTGRESQL_DATA_DIR"
_VERSION_IN_DIR = re.compile(r"/pg(\d+)(?:_wal)?/?\Z")
_VERSION_IN_IMAGE = re.compile(r"(?:spilo|postgres(?:ql)?)[-:](\d+)")
_DATA_DIR_TEXT = re.compile(rf"name: {_DATA_DIR_ENV}\s*\n\s*value: \"?[^\s\"]*/pg(\d+)")
_ROLE_LINE = re.compile("^" + re.escape(ROLE_MARKER).replace(r"\{\}", r"(\S+)") + r"\s*$", re.MULTILINE)
_DATABASE_LINE = re.compile("^" + re.escape(DATABASE_MARKER).replace(r"\{\}", r"(\S+)") + r"\s*$", re.MULTILINE)
_RECONCILE_SQL = re.compile(r"^reconcile(-\d+)?\.sql\Z")


# --- Clusters ----------------------------------------------------------------------------------


@frozen
class ClusterFacts:
    """What rules need to know about the cluster an object belongs to."""

    major_version: int | None = None


def _rule_key(obj: Obj) -> str:
    return MEMBER if obj.member else obj.kind


def _major_version(members: Iterable[Obj]) -> int | None:
    """The PostgreSQL major of member StatefulSets: the data directory /pgdata/pgNN, else the image."""
    for obj in members:
        for container in _list(obj.pod.get("containers")):
            if not isinstance(container, dict):
                continue
            for env in _list(container.get("env")):
                if isinstance(env, dict) and env.get("name") == _DATA_DIR_ENV:
                    match = _VERSION_IN_DIR.search(str(env.get("value", "")))
                    if match:
                        return int(match[1])
            match = _VERSION_IN_IMAGE.search(str(container.get("image", "")))
            if match and container.get("name") == "database":
                return int(match[1])
    return None


def _markers(objs: Iterable[Obj]) -> tuple[dict[str, Obj], dict[str, Obj]]:
    """Roles and databases reconcile.sql (and its parts) creates, each with the ConfigMap saying so."""
    roles: dict[str, Obj] = {}
    databases: dict[str, Obj] = {}
    for obj, text in _reconcile_sql(objs):
        roles.update((m, obj) for m in _ROLE_LINE.findall(text))
        databases.update((m, obj) for m in _DATABASE_LINE.findall(text))
    return roles, databases


def _reconcile_sql(objs: Iterable[Obj]) -> Iterator[tuple[Obj, str]]:
    """Each text of reconcile.sql (and its parts) among ``objs``, with its ConfigMap."""
    for obj in objs:
        if obj.kind != "ConfigMap":
            continue
        for key, text in obj.data().items():
            if _RECONCILE_SQL.match(str(key)) and isinstance(text, str):
                yield obj, text


# A database's owner, as _database_sql (components/reconcile.py) writes it under its marker.
_OWNER = re.compile(
    "^"
    + re.escape(DATABASE_MARKER).replace(r"\{\}", r"(\S+)")
    + r"\nSELECT format\('CREATE DATABASE %I OWNER %I', '(?:[^']|'')*', '((?:[^']|'')*)'\)$",
    re.MULTILINE,
)


# A role's attributes, as _role_sql (components/reconcile.py) writes them under its marker.
_ATTRIBUTES = re.compile(
    "^"
    + re.escape(ROLE_MARKER).replace(r"\{\}", r"(\S+)")
    + r"\n(?:.*\n){0,3}?SELECT format\('ALTER ROLE %I WITH ([A-Z ]+)',",
    re.MULTILINE,
)


def _owners(objs: Iterable[Obj]) -> dict[str, str]:
    """Each database reconcile.sql creates → its owner."""
    return {name: owner.replace("''", "'") for name, owner in _sql_findall(objs, _OWNER)}


def _attributes(objs: Iterable[Obj]) -> dict[str, frozenset[str]]:
    """Each role reconcile.sql creates → its attributes (LOGIN, NOSUPERUSER, ...)."""
    return {name: frozenset(words.split()) for name, words in _sql_findall(objs, _ATTRIBUTES)}


def _sql_findall(objs: Iterable[Obj], pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return [found for _, text in _reconcile_sql(objs) for found in pattern.findall(text)]


def _holds_reconcile_sql(text: str) -> bool:
    return "reconcile" in text and (ROLE_MARKER.format("") in text or DATABASE_MARKER.format("") in text)


# --- The comparison ----------------------------------------------------------------------------


def changes(old_files: Mapping[str, str], new_files: Mapping[str, str], acknowledge: Iterable[str] = ()) -> Changes:
    """Every change from ``old_files`` to ``new_files`` (relative path → YAML text), classified.

    Acknowledgements come from ``acknowledge`` (for every cluster) and from the annotation
    pgrender.io/acknowledged-changes of the new rendering (for the cluster that carries it).
    """
    differing = _differing(old_files, new_files)
    unreadable: list[str] = []
    old_objs = parse(old_files, (p for p in differing if p in old_files), unreadable)
    new_objs = parse(new_files, (p for p in differing if p in new_files), unreadable)
    findings = _kustomizations(old_files, new_files, differing)
    findings += [
        Finding(ChangeClass.MANUAL, "File", "", rel, "", UNREADABLE, file=rel) for rel in sorted(set(unreadable))
    ]
    findings += _streaming_across_new_cas(
        _compare(old_files, new_files, differing, old_objs, new_objs), old_files, new_files
    )
    findings = [replace(f, old_file=True) if f.file and f.file not in new_files else f for f in findings]
    return Changes(tuple(sorted(_acknowledged(findings, new_files, acknowledge), key=_order)))


def _differing(old_files: Mapping[str, str], new_files: Mapping[str, str]) -> set[str]:
    """The files whose text differs, or that only one side has (_differing_by_directory's, together)."""
    return set().union(*_differing_by_directory(old_files, new_files))


def _order(f: Finding) -> tuple[Any, ...]:
    from pgrender.emit import KIND_ORDER

    rank = KIND_ORDER.index(f.kind) if f.kind in KIND_ORDER else len(KIND_ORDER)
    return (CLASS_ORDER.index(f.change), rank, f.namespace, f.name, f.path, f.message)


def _kustomizations(old: Mapping[str, str], new: Mapping[str, str], differing: set[str]) -> list[Finding]:
    out = []
    for rel in sorted(differing):
        if _file_name(rel) != KUSTOMIZATION:
            continue
        before, after = _resources(old.get(rel)), _resources(new.get(rel))
        message = (
            "only the order of its resources changed"
            if sorted(before) == sorted(after)
            else "lists the files; what they hold is reported per object"
        )
        out.append(Finding(ChangeClass.NO_OP, "Kustomization", "", rel, "", message, file=rel))
    return out


def _resources(text: str | None) -> list[str]:
    return [line[2:].strip() for line in (text or "").splitlines() if line.startswith("- ")]


def _compare(
    old_files: Mapping[str, str],
    new_files: Mapping[str, str],
    differing: set[str],
    old_objs: list[Obj],
    new_objs: list[Obj],
    rosters: bool = True,
) -> list[Finding]:
    """The findings of each object and each cluster; ``rosters``: with the users and databases added
    and dropped (which parses the unchanged files that hold reconcile.sql)."""
    old_by_id = {o.ident: o for o in old_objs}
    new_by_id = {o.ident: o for o in new_objs}
    old_clusters, new_clusters = _by_cluster(old_objs), _by_cluster(new_objs)
    findings: list[Finding] = []

    # Clusters that vanish entirely, and clusters that appear: a rename or move is one finding.
    vanished = old_clusters.keys() - new_clusters.keys()
    arrived = new_clusters.keys() - old_clusters.keys()
    still_there = _StillThere(new_files, differing, vanished | arrived)
    gone = sorted(c for c in vanished if not still_there(c))
    appeared = sorted(c for c in arrived if not still_there(c))
    whole = set(gone) | set(appeared)
    findings += _whole_clusters(gone, appeared, old_clusters, new_clusters)

    facts = _facts(new_files, new_clusters)
    removed_statefulsets = {o.name for i, o in old_by_id.items() if i not in new_by_id and o.kind == "StatefulSet"}
    claim_owners = _claim_owners(old_objs)
    # Members whose WAL went back onto their data volume (walVolume.retire): their WAL claims may go.
    wal_retired = {
        o.name
        for o in old_objs
        if o.kind == "StatefulSet" and o.annotations.get(WAL_VOLUME_RETIRED_ANNOTATION) == "true"
    }
    added_jobs = {ident: o for ident, o in new_by_id.items() if ident not in old_by_id and o.kind == "Job"}
    removed_jobs = {ident: o for ident, o in old_by_id.items() if ident not in new_by_id and o.kind == "Job"}
    families = {_job_family(o): o for o in removed_jobs.values()}
    added_families = {_job_family(o) for o in added_jobs.values()}
    removed_secrets = {(o.namespace, o.name) for i, o in old_by_id.items() if i not in new_by_id and o.kind == "Secret"}
    secrets = _SecretUses(new_objs, new_by_id.values(), new_files, differing, removed_secrets)
    described = _NewClusters(new_files, new_clusters)
    config_maps = (_ConfigMaps(old_files, old_by_id), _ConfigMaps(new_files, new_by_id))

    for ident, obj in sorted(new_by_id.items()):
        if obj.cluster in whole:
            continue
        before = old_by_id.get(ident)
        cluster = facts.get(obj.cluster, ClusterFacts())
        if before is None:
            findings.append(_added(obj, families))
        elif before.manifest != obj.manifest:
            found = _changed(before, obj, cluster)
            if obj.kind == "CronJob" and obj.labels.get(BACKUP_TYPE_LABEL) == "full":
                found = _full_schedule(before, obj, found, config_maps)
            if obj.member and before.spec.get("replicas") == 0:  # shut down: no pod to restart
                found = [replace(f, message=_stopped_member(f.message)) for f in found]
            elif (
                obj.cluster and any(_restarts_members(f.message) for f in found) and described.members(obj.cluster) == 1
            ):
                found = [replace(f, message=_only_member(f.message)) for f in found]
            if obj.cluster and any(f.id == _source_moved(obj) for f in found) and not described.standby(obj.cluster):
                found = [_not_a_standby(f, obj) for f in found]
            if obj.cluster and any(SET_BY_JOB in f.message for f in found) and described.standby(obj.cluster):
                found = [replace(f, message=f.message.replace(SET_BY_JOB, SET_BY_SOURCE)) for f in found]
            findings += found
    for ident, obj in sorted(old_by_id.items()):
        if ident in new_by_id or obj.cluster in whole:
            continue
        if ident in removed_jobs and _job_family(obj) in added_families:
            findings.append(
                _finding(
                    obj,
                    ChangeClass.NO_OP,
                    "",
                    "a finished Job, replaced by a new one (listed as job): deleted when pruned",
                )
            )
        elif obj.kind == "PersistentVolumeClaim":
            findings.append(_removed_claim(obj, claim_owners, removed_statefulsets | wal_retired))
        elif obj.kind == "Secret":
            findings.append(_removed_secret(obj, secrets))
        elif obj.kind == "ConfigMap" and (repositories := _repositories(obj)):
            findings += [
                _finding(
                    obj,
                    ChangeClass.RISK,
                    f"data[{key}]",
                    f"repository {repo} removed: {REPOSITORY_GONE}",
                    f"remove-repo:{repo}",
                )
                for key, repo in repositories
            ]
        else:
            findings.append(_removed(obj))
    findings += _cluster_wide(old_files, new_files, differing, (old_clusters, new_clusters), whole, rosters)
    return findings


Cluster = tuple[str, str]


def _restarts_members(message: str) -> bool:
    return ROLLING in message or PRIMARY_FIRST in message


def _only_member(message: str) -> str:
    # "set or reset" names both ways a restart goes (_parameter): with one member, they are one.
    message = message.replace(f"{ROLLING}; if this lowers it, {PRIMARY_FIRST}", ONLY_MEMBER)
    return message.replace(PRIMARY_FIRST, ONLY_MEMBER).replace(ROLLING, ONLY_MEMBER)


def _stopped_member(message: str) -> str:
    message = message.replace(f"{ROLLING}; if this lowers it, {PRIMARY_FIRST}", STOPPED_TEMPLATE)
    return message.replace(PRIMARY_FIRST, STOPPED_TEMPLATE).replace(ROLLING, STOPPED_TEMPLATE)


_REPLICAS_LINE = re.compile(r"^  replicas: (\d+)$", re.MULTILINE)


class _NewClusters:
    """What the new rendering says of a cluster as a whole, from its objects parsed, else from the
    text of the files of its kind beside them (one directory per cluster): the names are walked once,
    when first asked, and only clusters a finding asks about are read."""

    def __init__(self, files: Mapping[str, str], clusters: dict[Cluster, list[Obj]]) -> None:
        self._files, self._clusters = files, clusters
        self._by_directory: dict[str, list[str]] | None = None  # directory → its StatefulSet and ConfigMap files

    def members(self, cluster: Cluster) -> int:
        """Its member StatefulSets (one a member) not scaled to 0."""
        count = sum(1 for o in self._clusters.get(cluster, []) if o.member and o.spec.get("replicas") != 0)
        lines = (f"\n    {COMPONENT_LABEL}: {COMPONENT_DATABASE}\n", *_cluster_lines(cluster))
        for _, text in self._unparsed(cluster, "statefulset-"):
            replicas = _REPLICAS_LINE.search(text)
            if all(line in text for line in lines) and not (replicas and replicas[1] == "0"):
                count += 1
        return count

    def standby(self, cluster: Cluster) -> bool:
        """Whether Patroni's dynamic configuration (patroni-dynamic.json, parsed) makes it a standby."""
        objs = self._clusters.get(cluster, [])
        lines = (f"{DYNAMIC_KEY}:", *_cluster_lines(cluster))
        # A file that surely holds none is not parsed: the reconcile ConfigMap is tens of kilobytes.
        held = [rel for rel, text in self._unparsed(cluster, "configmap-") if all(line in text for line in lines)]
        objs = [*objs, *(o for o in parse(self._files, held) if o.cluster == cluster)]
        return any(_standby(o.data().get(DYNAMIC_KEY)) for o in objs if o.kind == "ConfigMap")

    def _unparsed(self, cluster: Cluster, prefix: str) -> Iterator[tuple[str, str]]:
        """Each file named ``prefix``... beside the cluster's objects and not parsed, with its text."""
        if self._by_directory is None:
            self._by_directory = {}
            for rel in in_order(self._files):
                if _file_name(rel).startswith(("statefulset-", "configmap-")):
                    self._by_directory.setdefault(_directory(rel), []).append(rel)
        objs = self._clusters.get(cluster, [])
        parsed = {o.file for o in objs}
        for directory in sorted({_directory(o.file) for o in objs}):
            for rel in self._by_directory.get(directory, ()):
                if rel not in parsed and _file_name(rel).startswith(prefix):
                    yield rel, self._files[rel]


def _cluster_lines(cluster: Cluster) -> tuple[str, str]:
    """Lines every object of ``cluster`` holds, as pgrender writes it."""
    return f"\n  namespace: {cluster[0]}\n", f"\n    {CLUSTER_LABEL}: {cluster[1]}\n"


def _standby(dynamic: Any) -> bool:
    """Whether a patroni-dynamic.json text makes the cluster a standby (standby_cluster set)."""
    return bool(_dynamic(dynamic).get("standby_cluster"))


def _dynamic(dynamic: Any) -> dict[str, Any]:
    """A patroni-dynamic.json text, parsed; {} where it is none."""
    try:
        return _map(json.loads(dynamic) if isinstance(dynamic, str) else None)
    except ValueError:
        return {}


def _by_cluster(objs: Iterable[Obj]) -> dict[Cluster, list[Obj]]:
    """The objects of each cluster, in their order. The rules across objects look at one cluster at
    a time: looked up here, a change to every cluster of a fleet costs what its objects cost, where
    a search of every object for each cluster grew with the square of the fleet."""
    out: dict[Cluster, list[Obj]] = {}
    for obj in objs:
        cluster = obj.cluster
        if cluster:
            out.setdefault(cluster, []).append(obj)
    return out


class _StillThere:
    """Whether an unparsed (unchanged) file belongs to a cluster: it holds the cluster's label line
    and its namespace line. The unchanged files are the same texts on both sides, read one at a time
    (a large render's are spooled: write.SpooledTexts), once for all the clusters asked about."""

    def __init__(self, files: Mapping[str, str], differing: set[str], asked: set[Cluster]) -> None:
        self._files, self._differing = files, differing
        self._names = {name for _, name in asked}
        self._found: set[Cluster] | None = None

    def __call__(self, cluster: Cluster) -> bool:
        namespace, name = cluster
        if "\n" in namespace or "\n" in name:  # not a line: what the text search says
            label = f"{CLUSTER_LABEL}: {name}\n"
            return any(label in t and f"namespace: {namespace}\n" in t for t in self._unchanged())
        if self._found is None:
            self._found = set()
            for text in self._unchanged():
                names = _line_values(text, f"{CLUSTER_LABEL}: ") & self._names
                if names:
                    self._found.update((ns, n) for ns in _line_values(text, "namespace: ") for n in names)
        return cluster in self._found

    def _unchanged(self) -> Iterator[str]:
        return (self._files[p] for p in self._files if p not in self._differing)


def _line_values(text: str, prefix: str) -> set[str]:
    """What follows ``prefix`` up to the end of its line, wherever ``prefix`` is in ``text``: a value
    v is there exactly when ``prefix + v + "\\n"`` is a part of ``text``."""
    out = set()
    at = text.find(prefix)
    while at >= 0:
        start = at + len(prefix)
        end = text.find("\n", start)
        if end < 0:
            break
        out.add(text[start:end])
        at = text.find(prefix, at + 1)
    return out


def _whole_clusters(
    gone: list[Cluster],
    appeared: list[Cluster],
    old_clusters: dict[Cluster, list[Obj]],
    new_clusters: dict[Cluster, list[Obj]],
) -> list[Finding]:
    out = []
    pairs = _paired(gone, appeared)
    matched = {to for _, to in pairs if to}
    for (namespace, name), to in pairs:
        files = sorted(o.file for o in (new_clusters[to] if to else old_clusters[(namespace, name)]))
        if to is None:
            message = (
                "the cluster is no longer rendered: its members stop and are deleted when pruned; its claims are "
                "kept (protected from pruning)"
            )
            ident, scope = f"remove-cluster:{name}", (namespace, name)
        else:
            message = (
                f"cluster renamed/moved to {to[0]}/{to[1]}: the new one starts empty (new claims, a new Patroni "
                "cluster, bootstrapped as its spec says); the old one's claims are kept (protected from pruning) "
                "and its members are deleted when pruned"
            )
            ident, scope = f"rename-cluster:{name}", to
        first = files[0] if files else ""
        out.append(
            Finding(ChangeClass.RISK, "PostgresCluster", namespace, name, "", message, ident, first, scope=scope)
        )
    for namespace, name in (c for c in appeared if c not in matched):
        objs = new_clusters[(namespace, name)]
        files = sorted(o.file for o in objs)
        out.append(
            Finding(
                ChangeClass.LIVE,
                "PostgresCluster",
                namespace,
                name,
                "",
                f"a new cluster ({len(objs)} objects): its volumes are created empty and filled as its spec "
                "bootstraps it (initdb, or from its source: a restore, a copy, a standby)",
                file=files[0] if files else "",
            )
        )
    return out


def _paired(gone: list[Cluster], appeared: list[Cluster]) -> list[tuple[Cluster, Cluster | None]]:
    """Each cluster gone (in order) with the cluster that replaces it: the first that appeared with
    its name (moved), else the first that appeared (renamed), else none; each taken once."""
    by_name: dict[str, deque[Cluster]] = {}
    for cluster in appeared:
        by_name.setdefault(cluster[1], deque()).append(cluster)
    taken: set[Cluster] = set()
    first = 0  # appeared[first] is the earliest not taken, once the taken ones are skipped
    pairs: list[tuple[Cluster, Cluster | None]] = []
    for cluster in gone:
        same = by_name.get(cluster[1], deque())
        while same and same[0] in taken:
            same.popleft()
        while first < len(appeared) and appeared[first] in taken:
            first += 1
        match = same[0] if same else (appeared[first] if first < len(appeared) else None)
        if match is not None:
            taken.add(match)
        pairs.append((cluster, match))
    return pairs


def _facts(new_files: Mapping[str, str], new_clusters: dict[Cluster, list[Obj]]) -> dict[Cluster | None, ClusterFacts]:
    """Each cluster's major version, from its member StatefulSets (parsed, else read from the text of
    the StatefulSet files beside its objects: one directory per cluster). The files are walked once,
    for the StatefulSet files of the directories of the clusters not parsed with one."""
    out: dict[Cluster | None, ClusterFacts] = {}
    unparsed: dict[Cluster, set[str]] = {}  # each cluster without a member parsed: its objects' directories
    for cluster, objs in new_clusters.items():
        version = _major_version(o for o in objs if o.member)
        if version is None:
            unparsed[cluster] = {_directory(o.file) for o in objs}
        out[cluster] = ClusterFacts(version)
    if not unparsed:
        return out
    wanted = set().union(*unparsed.values())
    statefulsets: dict[str, list[str]] = {}  # directory → its StatefulSet files, in order
    for rel in in_order(new_files):
        if _file_name(rel).startswith("statefulset-") and (directory := _directory(rel)) in wanted:
            statefulsets.setdefault(directory, []).append(rel)
    for cluster, directories in unparsed.items():
        for rel in heapq.merge(*(statefulsets.get(d, []) for d in sorted(directories))):
            match = _DATA_DIR_TEXT.search(new_files[rel])
            if match:
                out[cluster] = ClusterFacts(int(match[1]))
                break
    return out


def _file_name(rel: str) -> str:
    """PurePosixPath(rel).name of a path as the output's files are named (normalized: write._normal),
    without interning its parts, as pathlib does: a fleet's names grew the interpreter's table of
    interned strings by megabytes (0.9 MB at the guard of 1000 changed clusters)."""
    return rel.rpartition("/")[2]


def _directory(rel: str) -> str:
    """str(PurePosixPath(rel).parent) of such a path, likewise."""
    head, slash, _ = rel.rpartition("/")
    return head or ("/" if slash else ".")


def _claim_owners(objs: list[Obj]) -> dict[tuple[str, str], set[str]]:
    """(namespace, claim) → the StatefulSets whose pods mount it."""
    owners: dict[tuple[str, str], set[str]] = {}
    for obj in objs:
        if obj.kind != "StatefulSet":
            continue
        for volume in _list(obj.pod.get("volumes")):
            claim = _map(volume.get("persistentVolumeClaim")).get("claimName") if isinstance(volume, dict) else None
            if claim:
                owners.setdefault((obj.namespace, str(claim)), set()).add(obj.name)
    return owners


def _job_family(obj: Obj) -> str:
    match = _JOB_FAMILY.match(obj.name)
    return f"{obj.namespace}/{match['family'] if match else obj.name}"


def _finding(obj: Obj, change: ChangeClass, path: str, message: str, ident: str | None = None) -> Finding:
    return Finding(change, obj.kind, obj.namespace, obj.name, path, message, ident, obj.file, scope=obj.cluster)


def _added(obj: Obj, removed_families: dict[str, Obj]) -> Finding:
    if obj.kind == "Job":
        before = removed_families.get(_job_family(obj))
        if before is not None:
            return _finding(obj, ChangeClass.JOB, "", f"runs once: its content changed, so it replaces {before.name}")
    if obj.kind == "PersistentVolumeClaim" and obj.name.endswith(f"-{WAL_VOLUME}"):
        return _finding(obj, ChangeClass.LIVE, "", NEW_WAL_CLAIM)
    change, message = ADDED.get(_rule_key(obj), ADDED_DEFAULT)
    return _finding(obj, change, "", message)


NEW_WAL_CLAIM = (
    "a new WAL claim, provisioned when its pod starts: a member made from now on puts its WAL there (initdb "
    "--waldir, or a new replica's copy); a member that exists moves its pg_wal there when its pod is replaced "
    "(the WAL mover, before Patroni starts)"
)


RENAMED_CREDENTIALS = (
    "the user stays but this Secret of its credentials is deleted when pruned (another naming profile, or "
    "the first login role changed): applications that read it lose them; move them to the new Secret first"
)

CREDENTIALS_REMOVED = (
    "a Secret of a user's credentials, deleted when pruned (its user removed, its login or accessSecret off, its "
    "namespace left out of secretNamespaces, or provider existing, where you make it): pods that read it (env or "
    "volume) fail to start from then on, unless it is made another way"
)
MADE_ELSEWHERE = (
    "made from now on by the {maker} of the same name, whose controller writes the Secret (another secrets "
    "provider): this one is deleted when pruned, and until the controller writes it again, pods that read it "
    "cannot start"
)


SECRET_STILL_USED = (
    "deleted when pruned, yet the new output still uses it ({users}): pods started from then on (a member "
    "replaced, a Job, a CronJob's next run) cannot start without it. Where you make it from now on (the secrets "
    "provider existing, or spec.tls.existing naming it), keep it from being pruned before this is applied (on "
    "the Secret in the cluster: argocd.argoproj.io/sync-options: Prune=false, or Flux's "
    "kustomize.toolkit.fluxcd.io/prune: disabled), or create it again as soon as it is pruned (the secrets "
    "provider existing: `pgrender render --only-secrets --stdout` prints it); spec.tls.existing may instead name "
    "a Secret pgrender never wrote"
)
SHOWN_USERS = 3  # the workloads a finding names; the rest are counted


class _SecretUses:
    """What the new objects say of Secrets, looked up per removed Secret: the user Secrets (by
    namespace, user and cluster), the Secrets Certificates ask for and the Secrets pod templates
    use (by namespace and name). Each is gathered once, when a removed Secret first asks."""

    def __init__(
        self,
        new: list[Obj],
        by_id: Iterable[Obj],
        files: Mapping[str, str],
        differing: set[str],
        removed: set[tuple[str, str]],
    ) -> None:
        self._new, self._by_id = new, by_id  # every new object parsed; one an identity (the last of each)
        self._files, self._differing = files, differing  # the new output, and its files parsed
        self._removed = removed  # (namespace, name) of each Secret removed

    @functools.cached_property
    def _user_secrets(self) -> tuple[set[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The (namespace, user, cluster) of each user Secret: those a set can hold, and the others (a
        hand-edited label that is a list or a map), which are compared one by one."""
        held: set[tuple[Any, ...]] = set()
        others: list[tuple[Any, ...]] = []
        for o in self._by_id:
            if o.kind == "Secret" and o.labels.get(PGUSER_LABEL) is not None:
                key = (o.namespace, *_user_and_cluster(o))
                try:
                    held.add(key)
                except TypeError:
                    others.append(key)
        return held, others

    @functools.cached_property
    def certified(self) -> set[tuple[str, str]]:
        out = set()
        for o in self._new:
            spec = o.manifest.get("spec") if o.kind == "Certificate" else None
            name = spec.get("secretName") if isinstance(spec, dict) else None
            if isinstance(name, str):
                out.add((o.namespace, name))
        return out

    def users(self, obj: Obj) -> list[str]:
        """The workloads of the new output whose pods need the Secret ``obj`` ("<Kind> <name>")."""
        return sorted(self._users.get((obj.namespace, obj.name), ()))

    @functools.cached_property
    def _users(self) -> dict[tuple[str, str], set[str]]:
        out: dict[tuple[str, str], set[str]] = {}
        for o in chain(self._new, self._unchanged_workloads()):
            for name in _secret_references(o):
                out.setdefault((o.namespace, name), set()).add(f"{o.kind} {o.name}")
        return out

    def _unchanged_workloads(self) -> list[Obj]:
        """The objects of the new output's unchanged files that may use a removed Secret (a workload
        that still uses one is often unchanged, so not parsed yet). Only a file that names one as
        pgrender writes a reference (`name: <secret>` or `secretName: <secret>`, ending its line) and
        is not surely of a kind without pods is parsed: a fleet's diff parses the few that do."""
        wanted = {name for _, name in self._removed}
        if not wanted:
            return []
        held = []
        for rel in self._files:
            if rel in self._differing:
                continue
            text = self._files[rel]
            if (
                not _another_kind(text, POD_KINDS)
                and (_line_values(text, "name: ") | _line_values(text, "secretName: ")) & wanted
            ):
                held.append(rel)
        return parse(self._files, held)

    @functools.cached_property
    def _makers(self) -> dict[tuple[str, str], str]:
        """(namespace, name) of each Secret a SealedSecret or an ExternalSecret makes → its kind."""
        out = {}
        for o in self._new:
            if o.kind == "SealedSecret":
                out[(o.namespace, o.name)] = o.kind
            elif o.kind == "ExternalSecret":
                target = _map(o.spec.get("target")).get("name")
                out[(o.namespace, str(target) if target else o.name)] = o.kind
        return out

    def made_by(self, obj: Obj) -> str | None:
        """The kind of the new object that makes the removed Secret ``obj``, if one does."""
        return self._makers.get((obj.namespace, obj.name))

    def renamed_credentials(self, obj: Obj) -> bool:
        """A user Secret removed while its user keeps a Secret under another name."""
        user, cluster = _user_and_cluster(obj)
        if obj.kind != "Secret" or user is None:
            return False
        key, (held, others) = (obj.namespace, user, cluster), self._user_secrets
        try:
            if key in held:
                return True
        except TypeError:  # unhashable: compared with every one
            return any(key == k for k in (*held, *others))
        return any(key == k for k in others)


def _user_and_cluster(obj: Obj) -> tuple[Any, Any]:
    labels = obj.labels
    return labels.get(PGUSER_LABEL), labels.get(CLUSTER_LABEL)


TLS_SECRET_TYPE = "kubernetes.io/tls"


def _removed_secret(obj: Obj, secrets: _SecretUses) -> Finding:
    """A Secret the new output no longer holds: a user's credentials under another name, one that
    cert-manager or another secrets provider's controller makes from now on, one a workload of the
    new output still uses (made by you from now on, or by nobody), or one nothing uses."""
    if secrets.renamed_credentials(obj):
        return _finding(obj, ChangeClass.RISK, "", RENAMED_CREDENTIALS, f"remove-secret:{obj.name}")
    if (obj.namespace, obj.name) in secrets.certified:
        return _finding(
            obj,
            ChangeClass.LIVE,
            "",
            "cert-manager writes this Secret from now on (a Certificate names it): a new key and certificate from "
            "its issuer; if the GitOps tool prunes it first, cert-manager writes it again and the pods wait for it",
        )
    if maker := secrets.made_by(obj):
        return _finding(obj, ChangeClass.LIVE, "", MADE_ELSEWHERE.format(maker=maker))
    if users := secrets.users(obj):
        shown = ", ".join(users[:SHOWN_USERS]) + (
            f" and {len(users) - SHOWN_USERS} more" if len(users) > SHOWN_USERS else ""
        )
        return _finding(obj, ChangeClass.RISK, "", SECRET_STILL_USED.format(users=shown), f"remove-secret:{obj.name}")
    if obj.manifest.get("type") == TLS_SECRET_TYPE:
        return _finding(
            obj,
            ChangeClass.LIVE,
            "",
            "a certificate Secret pgrender no longer writes (another TLS provider, or the part that used it "
            "removed: pgBackRest, pgBouncer): deleted when pruned; no pod of the new output uses it",
        )
    if obj.labels.get(PGUSER_LABEL) is not None:
        return _finding(obj, ChangeClass.LIVE, "", CREDENTIALS_REMOVED)
    return _removed(obj)


# Where each kind that runs pods holds its pod template's spec.
_POD_SPECS: dict[str, FieldPath] = {
    "StatefulSet": ("spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
POD_KINDS = frozenset(_POD_SPECS)


def _pod_spec(obj: Obj) -> dict[str, Any]:
    """The spec of the pods ``obj`` runs; {} for a kind that runs none."""
    node: Any = obj.manifest if obj.kind in _POD_SPECS else {}
    for key in _POD_SPECS.get(obj.kind, ()):
        node = _map(node).get(key)
    return _map(node)


def _secret_references(obj: Obj) -> set[str]:
    """The Secrets the pods of ``obj`` cannot start without: secret and projected volumes, and each
    container's env (valueFrom.secretKeyRef) and envFrom (secretRef); those marked optional are not."""
    pod = _pod_spec(obj)
    out: set[str] = set()
    for volume in map(_map, _list(pod.get("volumes"))):
        out |= _required(_map(volume.get("secret")), "secretName")
        for source in _list(_map(volume.get("projected")).get("sources")):
            out |= _required(_map(_map(source).get("secret")), "name")
    for container in map(_map, chain(_list(pod.get("initContainers")), _list(pod.get("containers")))):
        for env in _list(container.get("env")):
            out |= _required(_map(_map(_map(env).get("valueFrom")).get("secretKeyRef")), "name")
        for source in _list(container.get("envFrom")):
            out |= _required(_map(_map(source).get("secretRef")), "name")
    return out


def _required(reference: dict[str, Any], key: str) -> set[str]:
    """The Secret a reference names, unless it is optional (then a pod starts without it)."""
    name = reference.get(key)
    return {str(name)} if name and reference.get("optional") is not True else set()


def _removed(obj: Obj) -> Finding:
    change, message, ident = REMOVED.get(_rule_key(obj), REMOVED_DEFAULT)
    return _finding(obj, change, "", message, ident.format(name=obj.name) if ident else None)


def _removed_claim(obj: Obj, owners: dict[tuple[str, str], set[str]], removed_statefulsets: set[str]) -> Finding:
    """Kept and left for a person when nothing mounts it any more; a risk when its pods stay without it."""
    mounted_by = owners.get((obj.namespace, obj.name), set())
    protected = PRUNE_PROTECTED[1] in str(obj.annotations.get(PRUNE_PROTECTED[0], ""))
    if protected and mounted_by <= removed_statefulsets:
        return _finding(obj, ChangeClass.MANUAL, "", PROTECTED_CLAIM.format(namespace=obj.namespace, name=obj.name))
    if obj.name.endswith(f"-{WAL_VOLUME}") and not mounted_by <= removed_statefulsets:
        return _finding(obj, ChangeClass.REFUSED, "", GUARDED["remove-wal-volume"], f"remove-wal-volume:{obj.name}")
    message = (
        "kept (protected from pruning), but the pods that mount it stay and lose it at their next start"
        if protected
        else "the claim, and the data on it, is deleted when pruned"
    )
    return _finding(obj, ChangeClass.RISK, "", message, f"remove-volume:{obj.name}")


def _changed(before: Obj, after: Obj, cluster: ClusterFacts) -> list[Finding]:
    rules = (*KIND_RULES.get(_rule_key(after), ()), *COMMON_RULES, DEFAULT_RULE)
    found: list[tuple[Rule, Finding]] = []
    for path, old, new in leaves(before.manifest, after.manifest):
        rule = next(r for r in rules if _matches(_pattern(r.pattern), path))
        for verdict in rule.verdicts(Change(after, path, old, new, cluster, before)):
            where = format_path((*path, *verdict.subpath))
            found.append((rule, _finding(after, verdict.change, where, verdict.message, verdict.id)))
    if any(not rule.summary for rule, _ in found):
        found = [(rule, f) for rule, f in found if not rule.summary]
    return [f for _, f in found]


def _cluster_wide(
    old_files: Mapping[str, str],
    new_files: Mapping[str, str],
    differing: set[str],
    clusters: tuple[dict[Cluster, list[Obj]], dict[Cluster, list[Obj]]],
    whole: set[Cluster],
    rosters: bool,
) -> list[Finding]:
    """Major version changes, TLS provider changes, and users and databases dropped or added
    (reconcile.sql's markers: with ``rosters``)."""
    old_clusters, new_clusters = clusters
    out: list[Finding] = []
    for cluster in sorted(new_clusters.keys() - whole):
        old_members = [o for o in old_clusters.get(cluster, ()) if o.member]
        new_members = [o for o in new_clusters[cluster] if o.member]
        provider = _tls_provider_change(cluster, old_members, new_members)
        out += provider
        staying = {o.name for o in old_members} & {o.name for o in new_members}
        if staying:
            out += _ca_change(
                cluster, old_clusters.get(cluster, []), new_clusters[cluster], new_members, bool(provider)
            )
            out += _role_label_change(cluster, old_clusters.get(cluster, []), new_clusters[cluster], new_members)
        if old_members and new_members and not staying:
            out.append(
                _finding(new_members[0], ChangeClass.RISK, "", EVERY_MEMBER_REPLACED, f"replace-members:{cluster[1]}")
            )
        before, after = _major_version(old_members), _major_version(new_members)
        if before is not None and after is not None and before != after:
            out.append(_version_change(new_members[0], before, after, old_members, new_members))
        if staying:
            out += _restore(new_members[0], old_members, new_members)
    if rosters and any(_holds_reconcile_sql(old_files.get(p, "") + new_files.get(p, "")) for p in differing):
        # The SQL may be spread over several ConfigMaps: the unchanged ones count on both sides.
        extra_old = [p for p in old_files if p not in differing and _holds_reconcile_sql(old_files[p])]
        extra_new = [p for p in new_files if p not in differing and _holds_reconcile_sql(new_files[p])]
        every_old = _by_cluster([*(o for objs in old_clusters.values() for o in objs), *parse(old_files, extra_old)])
        every_new = _by_cluster([*(o for objs in new_clusters.values() for o in objs), *parse(new_files, extra_new)])
        for cluster in sorted((every_old.keys() | every_new.keys()) - whole):
            old_roles, old_databases = _markers(every_old.get(cluster, ()))
            new_roles, new_databases = _markers(every_new.get(cluster, ()))
            out += _roster("user", "role", old_roles, new_roles)
            out += _roster("database", "database", old_databases, new_databases)
            old_objs, new_objs = every_old.get(cluster, ()), every_new.get(cluster, ())
            out += _owner_changes(_owners(old_objs), _owners(new_objs), new_databases)
            out += _attribute_changes(_attributes(old_objs), _attributes(new_objs), new_roles)
    return out


def _version_change(member: Obj, before: int, after: int, old_members: list[Obj], new_members: list[Obj]) -> Finding:
    """A major version change: an upgrade in place (spec.upgrade from ``before``), refused while the
    members run before and after it; or one that cannot work."""
    path = f"spec.template.spec.containers[database].env[{_DATA_DIR_ENV}]"
    upgrade = {o.annotations.get(UPGRADE_FROM_ANNOTATION) for o in new_members}
    if upgrade != {str(before)} or after < before:
        message = f"PostgreSQL {before} → {after}: {GUARDED['major-version']}"
        return _finding(member, ChangeClass.RISK, path, message, f"major-version:{before}-{after}")
    if _running(old_members) and _running(new_members):
        message = f"PostgreSQL {before} → {after} in place: {GUARDED['upgrade-running']}"
        return _finding(member, ChangeClass.RISK, path, message, f"upgrade-running:{before}-{after}")
    return _finding(
        member, ChangeClass.RISK, path, f"PostgreSQL {before} → {after} {UPGRADE}", f"major-upgrade:{before}-{after}"
    )


def _restore(member: Obj, old_members: list[Obj], new_members: list[Obj]) -> list[Finding]:
    """A restore in place (spec.restore) of a new run: refused while the members run before and after it."""
    runs = {o.annotations.get(RESTORE_RUN_ANNOTATION) for o in new_members} - {None}
    if not runs or runs == {o.annotations.get(RESTORE_RUN_ANNOTATION) for o in old_members}:
        return []
    run = ",".join(sorted(r for r in runs if r))
    path = f"metadata.annotations[{RESTORE_RUN_ANNOTATION}]"
    if _running(old_members) and _running(new_members):
        message = f"restore run {run} in place: {GUARDED['restore-running']}"
        return [_finding(member, ChangeClass.RISK, path, message, f"restore-running:{run}")]
    return [_finding(member, ChangeClass.RISK, path, f"restore run {run} in place: {RESTORE}", f"restore:{run}")]


def _running(members: list[Obj]) -> bool:
    """Whether any member StatefulSet asks for a pod (spec.shutdown makes them 0)."""
    return any(o.spec.get("replicas", 1) != 0 for o in members)


# What a role's attribute, gained, means for those who use it (the others are only named).
_GAINED = {
    "NOLOGIN": "new connections as it are refused (sessions already open go on)",
    "SUPERUSER": "it bypasses every permission check",
    "BYPASSRLS": "row-level security policies no longer apply to it",
    "REPLICATION": "it may stream the whole cluster's WAL",
}


def _attribute_changes(
    old: dict[str, frozenset[str]], new: dict[str, frozenset[str]], roles: dict[str, Obj]
) -> list[Finding]:
    out = []
    for name in sorted(old.keys() & new.keys()):
        gained = sorted(new[name] - old[name])
        if not gained or name not in roles:
            continue
        lost = ", ".join(sorted(old[name] - new[name]))
        message = f"user {name}: {lost} → {', '.join(gained)}, set by the reconcile Job"
        meaning = "; ".join(_GAINED[word] for word in gained if word in _GAINED)
        out.append(
            _finding(
                roles[name], ChangeClass.LIVE, "data[reconcile.sql]", f"{message}: {meaning}" if meaning else message
            )
        )
    return out


def _owner_changes(old: dict[str, str], new: dict[str, str], databases: dict[str, Obj]) -> list[Finding]:
    return [
        _finding(
            databases[name],
            ChangeClass.LIVE,
            "data[reconcile.sql]",
            f"owner of database {name}: {old[name]} → {new[name]}: the reconcile Job runs ALTER DATABASE … OWNER "
            f"TO {new[name]}, and {old[name]} loses the owner's rights on the database itself (to alter or drop "
            "it); its schemas, tables and other objects keep their owner (REASSIGN OWNED BY … TO … in that "
            "database moves them)",
        )
        for name in sorted(old.keys() & new.keys())
        if old[name] != new[name] and name in databases
    ]


EVERY_MEMBER_REPLACED = (
    "every member is replaced at once (an instance set renamed, or one set for another): the old members are "
    "deleted when pruned while the new ones start, so no member is left for them to copy from. Without a "
    "backup repository a new member waits for a leader that never comes (an outage); with one, it restores "
    "from the repository and becomes the leader without what was not archived yet. Add the new set first, "
    "let its members join, then remove the old one in a second change"
)


ROLE_LABEL_CHANGED = (
    "the pods' role label changes ({before} → {after}, a naming profile to or from zalando): Patroni sets the new "
    "one on a member only when it restarts, so the Services that select by it (the primary's, the replicas') "
    "reach no member until then, and the reconcile Job, which reaches the primary through its Service, waits "
    "and never restarts them. After the sync, delete every member pod at once (an outage until they are back), "
    "or keep the naming profile"
)


def _role_label_change(cluster: tuple[str, str], old: list[Obj], new: list[Obj], members: list[Obj]) -> list[Finding]:
    """A risk when the members' Services select by another role label than before."""
    before, after = _role_keys(old), _role_keys(new)
    if not before or not after or before & after:
        return []
    message = ROLE_LABEL_CHANGED.format(before=", ".join(sorted(before)), after=", ".join(sorted(after)))
    return [_cluster_risk(cluster, "spec.naming", message, "role-label", members[0])]


def _cluster_risk(cluster: tuple[str, str], path: str, message: str, kind: str, member: Obj) -> Finding:
    """A risk of the whole cluster (kind PostgresCluster, id ``kind``:<cluster>), in a member's file."""
    return Finding(
        ChangeClass.RISK, "PostgresCluster", *cluster, path, message, f"{kind}:{cluster[1]}", member.file, scope=cluster
    )


def _role_keys(objs: Iterable[Obj]) -> set[str]:
    """The role labels the cluster's Services select members by."""
    from pgrender.plan.profiles import ROLE_LABELS

    return {
        key for obj in objs if obj.kind == "Service" for key in _map(obj.spec.get("selector")) if key in ROLE_LABELS
    }


CA_REPLACED = (
    "the cluster's CA changes (spec.tls.caRotation, another root key, a standby's source, the TLS provider). The "
    "members serve certificates of the old CA until they restart, while the reconcile Job that restarts them, "
    "pgBouncer's new pods and applications that read the new ca.crt trust only the new one: the Job reaches no "
    "member, so the rollout never starts, and those clients are refused. After the sync, delete every member "
    "pod at once (an outage until they are back). To keep the CA, leave caRotation and the root key as they "
    "were (spec.tls.rotation renews certificates under the same CA; before caRotation it made a new CA too: "
    "a cluster whose rotation was raised keeps its CA with caRotation set to that number), and promote a "
    "standby with standby.enabled: false, which keeps its source's CA"
)


def _ca_change(
    cluster: tuple[str, str], old: list[Obj], new: list[Obj], members: list[Obj], provider_changed: bool
) -> list[Finding]:
    """A risk when the CA the members' certificates come from is not among the CAs the new output
    trusts (told by the CA annotation, or a plaintext ca.crt), and at a TLS provider change: what
    the pods and the Job trust is then the new provider's Secrets', which the output does not hold
    (a caCertificate bundle reaches the applications' Secrets only)."""
    before, after = _ca_keys(old), _ca_keys(new)
    unnamed = not before and after and _sealed_ca_changed(old, new)
    if not provider_changed and not unnamed and not (before and after and not before & after):
        return []
    message = f"{CA_UNNAMED}{CA_REPLACED}" if unnamed else CA_REPLACED
    return [_cluster_risk(cluster, "spec.tls", message, "new-ca", members[0])]


CA_UNNAMED = (
    "the sealed ca.crt changed, and the output it replaces (written before the pgrender.io/ca annotation) does "
    "not say which CA it held: if "
)


def _sealed_ca_changed(old: list[Obj], new: list[Obj]) -> bool:
    """Whether a SealedSecret's ca.crt ciphertext changed (its value did: an unchanged value keeps its
    ciphertext), where the old one names no CA."""
    sealed = {o.name: o for o in new if o.kind == "SealedSecret"}
    for obj in old:
        after = sealed.get(obj.name) if obj.kind == "SealedSecret" else None
        if after is None or CA_ANNOTATION in obj.annotations:
            continue
        before_ca = _map(obj.spec.get("encryptedData")).get("ca.crt")
        if before_ca is not None and before_ca != _map(after.spec.get("encryptedData")).get("ca.crt"):
            return True
    return False


def _ca_keys(objs: Iterable[Obj]) -> set[str]:
    """The identifiers of the CA keys the cluster's Secrets hold: their CA annotation, else (output
    written before it) the ca.crt of a plaintext Secret, parsed."""
    keys: set[str] = set()
    for obj in objs:
        if obj.kind not in ("Secret", "SealedSecret"):
            continue
        named = obj.annotations.get(CA_ANNOTATION)
        if isinstance(named, str):
            keys.add(named)
        elif obj.kind == "Secret" and isinstance(obj.data().get("ca.crt"), str):
            keys |= _pem_ca_keys(obj.data()["ca.crt"])
    return keys


def _pem_ca_keys(encoded: str) -> set[str]:
    """Key identifiers (RFC 5280 4.2.1.2 method 1) of the certificates in a base64 ca.crt; none when
    it is not one."""
    import base64
    import binascii

    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(base64.b64decode(encoded, validate=True))
    except (ValueError, binascii.Error):
        return set()
    return {x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest.hex() for c in certificates}


# A streaming standby's certificates come from its source's CA (fromCluster.tls), and the two verify each other
# against it: what a new CA of one means for the other, said in each's new-ca (_streaming_across_new_cas).
STANDBYS_STREAM = (
    " Standbys in this output stream from this cluster, verifying it against their CA as it verifies them against "
    "its own: none streams while one side runs certificates of the old CA and the other of the new one (one that "
    "also restores from a repository, fromBackup, replays its archive meanwhile)."
)
STANDBYS_RENEWED = (
    " {names}: the CA changes with this one (fromCluster.tls; each has its own new-ca): delete their member pods at "
    "once as well, and they stream again once both clusters' pods are back."
)
STANDBYS_ADDED = (
    " {names}: new in this output, so they stream from this cluster only once its member pods are back with the "
    "new CA's certificates."
)
STANDBYS_KEPT = (
    " {names}: the CA does not change here, so they stop streaming once this cluster's members restart, until "
    "their certificates come from its new CA too (from a derived source's: fromCluster.tls repeats its new "
    "spec.tls; from cert-manager or existing: the same issuer or CA) and their member pods are deleted at once."
)
SOURCE_RENEWED = (
    " This standby streams from {source}, whose CA changes too (new-ca:{name}): it streams again once both "
    "clusters' member pods are back."
)
SOURCE_ELSEWHERE = (
    " This standby streams from {host}, whose cluster this output does not hold: that cluster's members must get "
    "certificates of this new CA too (a derived source: the same root key, and the spec.tls this standby's "
    "fromCluster.tls repeats), their pods deleted at once as well; it streams again once both clusters' pods are "
    "back."
)


def _streaming_across_new_cas(
    findings: list[Finding], old_files: Mapping[str, str], new_files: Mapping[str, str]
) -> list[Finding]:
    """Each new-ca finding with the streaming standbys of the new output that follow its cluster (their
    CA changing with it, new, or kept), and, of a streaming standby, its source (also changing, or not
    in the output). Only read when a CA changes: the standbys from their dynamic configuration, their
    sources from the Services their host names; a host outside this Kubernetes cluster (fromCluster.host)
    names none, and its source is the one other cluster, not streaming itself, that shares the standby's
    CA in the old or the new output (a streaming standby's CA is its source's: the CA annotation)."""
    renewed = {(f.namespace, f.name) for f in findings if f.kind == "PostgresCluster" and f.id == f"new-ca:{f.name}"}
    if not renewed:
        return findings
    streams = _streams(new_files)
    sources = _service_clusters(new_files, {host for host, _ in streams.values()})
    source_of = {standby: sources[host] for standby, (host, _) in streams.items() if host in sources}
    if len(source_of) < len(streams):
        source_of |= _sources_by_ca([s for s in streams if s not in source_of], streams, old_files, new_files)
    followers: dict[Cluster, list[Cluster]] = {}
    for standby, source in sorted(source_of.items()):
        if source != standby:
            followers.setdefault(source, []).append(standby)
    notes: dict[Cluster, str] = {}
    for cluster in renewed:
        note = ""
        if following := followers.get(cluster):
            added = [s for s in following if s not in renewed and not _was_there(s, streams[s][1], old_files)]
            note += STANDBYS_STREAM
            for template, standbys in (
                (STANDBYS_RENEWED, [s for s in following if s in renewed]),
                (STANDBYS_ADDED, added),
                (STANDBYS_KEPT, [s for s in following if s not in renewed and s not in added]),
            ):
                if standbys:
                    note += template.format(names=", ".join(f"{namespace}/{name}" for namespace, name in standbys))
        if cluster in streams:
            host = streams[cluster][0]
            followed = source_of.get(cluster)
            if followed is None:
                note += SOURCE_ELSEWHERE.format(host=host)
            elif followed in renewed:
                note += SOURCE_RENEWED.format(source=f"{followed[0]}/{followed[1]}", name=followed[1])
        if note:
            notes[cluster] = note
    return [
        replace(f, message=f.message + notes[(f.namespace, f.name)])
        if f.kind == "PostgresCluster" and f.id == f"new-ca:{f.name}" and (f.namespace, f.name) in notes
        else f
        for f in findings
    ]


def _sources_by_ca(
    standbys: list[Cluster],
    streams: Mapping[Cluster, tuple[str, str]],
    old_files: Mapping[str, str],
    new_files: Mapping[str, str],
) -> dict[Cluster, Cluster]:
    """Each of ``standbys`` with the one cluster, not streaming itself, whose CA it shares (by the CA
    annotation of their Secrets, in either output: a source whose CA changes alone still shared the old
    one); none where no cluster or more than one (a promoted standby keeps its source's CA) does."""
    cas: dict[Cluster, set[str]] = {}
    for files in (old_files, new_files):
        held = [rel for rel in in_order(files) if CA_ANNOTATION in files[rel] and "ecret-" in _file_name(rel)]
        for obj in parse(files, held, kinds=frozenset({"Secret", "SealedSecret"})):
            named = obj.annotations.get(CA_ANNOTATION)
            if obj.cluster and isinstance(named, str):
                cas.setdefault(obj.cluster, set()).add(named)
    out = {}
    for standby in standbys:
        mine = cas.get(standby, set())
        shared = [c for c, keys in cas.items() if c != standby and c not in streams and keys & mine]
        if len(shared) == 1:
            out[standby] = shared[0]
    return out


def _streams(files: Mapping[str, str]) -> dict[Cluster, tuple[str, str]]:
    """Each streaming standby of ``files`` (its dynamic configuration's standby_cluster has a host): that
    host, and the file of its dynamic configuration. Read from the files that hold one: a reconcile
    ConfigMap, named configmap-..., with the key and standby_cluster in JSON."""
    held = [
        rel
        for rel in in_order(files)
        if _file_name(rel).startswith("configmap-")
        and f"{DYNAMIC_KEY}:" in (text := files[rel])
        and '"standby_cluster"' in text
    ]
    out: dict[Cluster, tuple[str, str]] = {}
    for obj in parse(files, held, kinds=frozenset({"ConfigMap"})):
        host = _map(_dynamic(obj.data().get(DYNAMIC_KEY)).get("standby_cluster")).get("host")
        if obj.kind == "ConfigMap" and obj.cluster and isinstance(host, str):
            out[obj.cluster] = (host, obj.file)
    return out


def _service_clusters(files: Mapping[str, str], hosts: set[str]) -> dict[str, Cluster]:
    """The cluster of the Service each host names (<service>.<namespace>.svc: hosts.service_host, as
    standby_cluster names its source's primary), where ``files`` hold it (a file named service-...)."""
    wanted: dict[tuple[str, str], str] = {}
    for host in hosts:
        parts = host.split(".")
        if len(parts) == 3 and parts[2] == "svc":
            wanted[(parts[1], parts[0])] = host
    names = {f"service-{service}.yaml" for _, service in wanted}
    held = [rel for rel in in_order(files) if _file_name(rel) in names]
    out: dict[str, Cluster] = {}
    for obj in parse(files, held, kinds=frozenset({"Service"})):
        named = wanted.get((obj.namespace, obj.name))
        if obj.kind == "Service" and named and obj.cluster:
            out[named] = obj.cluster
    return out


def _was_there(cluster: Cluster, rel: str, old_files: Mapping[str, str]) -> bool:
    """Whether the old output held the cluster's file ``rel`` (its dynamic configuration's): a cluster
    keeps its directory while the output holds more than one (a flat output of one cluster holds no
    source beside it)."""
    text = old_files.get(rel)
    return text is not None and all(line in text for line in _cluster_lines(cluster))


TLS_PROVIDER_CHANGES = {
    "cert-manager": (
        "cert-manager issues the certificates into the Secrets pgrender wrote (your issuer's CA from now on)"
    ),
    "existing": "the pods mount your Secrets (spec.tls.existing) instead of pgrender's",
    "derived": "pgrender writes its own certificates again, from the root key; renewing them is a render",
}


def _tls_provider(member: Obj) -> str | None:
    """The TLS provider a member's pod template shows: no tls-reload sidecar is derived; with one, the
    server certificate mounted from <cluster>-cluster-cert is cert-manager's, any other Secret the user's."""
    from pgrender.pod_parts.tls_reload import CONTAINER

    pod = _map(_map(member.manifest.get("spec")).get("template")).get("spec", {})
    if not isinstance(pod, dict) or member.cluster is None:
        return None
    if not any(isinstance(c, dict) and c.get("name") == CONTAINER for c in _list(pod.get("containers"))):
        return "derived"
    return "cert-manager" if f"{member.cluster[1]}-cluster-cert" in _secret_references(member) else "existing"


def _tls_provider_change(cluster: tuple[str, str], old: list[Obj], new: list[Obj]) -> list[Finding]:
    """One finding for a cluster whose TLS provider changed, read from a member present on both sides."""
    old_by_name = {o.name: o for o in old}
    pairs = [(old_by_name[o.name], o) for o in new if o.name in old_by_name]
    if not pairs:
        return []
    before, after = (_tls_provider(o) for o in pairs[0])
    if before is None or after is None or before == after:
        return []
    message = (
        f"TLS provider {before} → {after}: {TLS_PROVIDER_CHANGES[after]}; the members and pgBouncer are replaced "
        "once (their templates change), one at a time by the reconcile Job"
    )
    if sum(1 for o in new if o.spec.get("replicas") != 0) == 1:  # each member is a StatefulSet of its own
        message += f" ({ONLY_MEMBER})"
    if after != "derived":
        message += "; from then on renewed or replaced certificates are reloaded without restarts"
    if after != "existing":
        message += (
            ". Applications' Secrets get the new CA as ca.crt at once, while members still serve certificates of "
            "the old one until they are replaced (new-ca)"
            if after == "cert-manager"
            else ". Applications' Secrets get pgrender's CA as ca.crt at once: clients verify against it as soon "
            "as they read it"
        )
    member = pairs[0][1]
    return [
        Finding(
            ChangeClass.RESTART,
            "PostgresCluster",
            cluster[0],
            cluster[1],
            "spec.tls.provider",
            message,
            file=member.file,
            scope=cluster,
        )
    ]


def _roster(what: str, sql_word: str, old: dict[str, Obj], new: dict[str, Obj]) -> list[Finding]:
    out = []
    for name in sorted(old.keys() - new.keys()):
        message = (
            f"{what} {name} removed from the spec: the {sql_word} stays in the database (pgrender never drops "
            f"roles or databases); "
            + (
                "its Secret is deleted when pruned, so applications using it lose their credentials; "
                if what == "user"
                else ""
            )
            + f"drop it by hand (DROP {sql_word.upper()} {name}) once nothing uses it"
        )
        out.append(_finding(old[name], ChangeClass.RISK, "data[reconcile.sql]", message, f"remove-{what}:{name}"))
    for name in sorted(new.keys() - old.keys()):
        out.append(
            _finding(
                new[name], ChangeClass.LIVE, "data[reconcile.sql]", f"new {what} {name}: created by the reconcile Job"
            )
        )
    return out


STALE_ACKNOWLEDGEMENT = (
    "acknowledges {id}, which no change of this cluster now has: remove it from spec.acknowledgedChanges, or it "
    "accepts the next change of that id unseen (most ids do not name the values they were given for)"
)


def _acknowledged(findings: list[Finding], new_files: Mapping[str, str], acknowledge: Iterable[str]) -> list[Finding]:
    """The findings with those acknowledged marked; and, for each cluster that changes, a manual
    finding for each id its spec acknowledges that none of its findings has (one left from an
    earlier change would accept a later one of the same id)."""
    everywhere = set(acknowledge)
    per_cluster: dict[tuple[str, str] | None, set[str]] = {}
    holder_files: dict[tuple[str, str] | None, str] = {}
    changing = {f.scope for f in findings if f.scope is not None}
    holders = [p for p, text in new_files.items() if ACKNOWLEDGED_CHANGES_ANNOTATION in text]
    for obj in parse(new_files, holders) if changing else ():
        ids = str(obj.annotations.get(ACKNOWLEDGED_CHANGES_ANNOTATION, "")).split()
        per_cluster.setdefault(obj.cluster, set()).update(ids)
        holder_files.setdefault(obj.cluster, obj.file)
    marked = [
        replace(f, acknowledged=True)
        if f.change in BLOCKING and f.id and (f.id in everywhere or f.id in per_cluster.get(f.scope, set()))
        else f
        for f in findings
    ]
    used = {(f.scope, f.id) for f in marked if f.acknowledged}
    stale = [
        Finding(
            ChangeClass.MANUAL,
            "PostgresCluster",
            cluster[0],
            cluster[1],
            "spec.acknowledgedChanges",
            STALE_ACKNOWLEDGEMENT.format(id=ident),
            file=holder_files[cluster],
            scope=cluster,
        )
        for cluster, ids in sorted(per_cluster.items(), key=lambda item: item[0] or ("", ""))
        if cluster in changing
        for ident in sorted(ids)
        if (cluster, ident) not in used
    ]
    return marked + stale


# --- Guards ------------------------------------------------------------------------------------


# The kinds whose rules make GUARDED findings: a claim's size and class, a member's major version.
GUARDED_KINDS = frozenset({"PersistentVolumeClaim", "StatefulSet"})


def guard(old_files: Mapping[str, str], new_files: Mapping[str, str]) -> None:
    """Raise ChangeRefusedError for changes no acknowledgement makes possible (GUARDED).

    A GUARDED finding is made of objects of GUARDED_KINDS on both sides of one cluster, which is not
    gone or new. So only those objects are parsed (a change to every cluster of a fleet parses a
    fifth of its text), while they show each cluster on both sides; where a cluster shows on one side
    only (renamed, moved, removed, new, or a label edited), whether it is gone or new is for every
    object to say, and every file that differs is parsed. tests/test_changes.py holds this to
    refuse(changes())."""
    found = _guarded_by_directories(old_files, new_files)
    if found is None:
        differing = _differing(old_files, new_files)
        old_objs = parse(old_files, (p for p in differing if p in old_files), kinds=GUARDED_KINDS)
        new_objs = parse(new_files, (p for p in differing if p in new_files), kinds=GUARDED_KINDS)
        if {o.cluster for o in old_objs} != {o.cluster for o in new_objs}:
            old_objs = _and_the_rest(old_files, differing, old_objs)
            new_objs = _and_the_rest(new_files, differing, new_objs)
        found = _compare(old_files, new_files, differing, old_objs, new_objs, rosters=False)
    refuse(Changes(tuple(sorted(found, key=_order))))


GUARD_DIRECTORIES = 64  # the clusters' directories whose objects guard() holds at once


def _guarded_by_directories(old_files: Mapping[str, str], new_files: Mapping[str, str]) -> list[Finding] | None:
    """guard()'s findings, made GUARD_DIRECTORIES directories of the output at a time (a cluster's
    files are in a directory of their own), so that a change to every cluster of a fleet holds the
    objects of a few clusters, not of all (1000 clusters, each with a larger volume: 20 MB more at
    the guard than the render's own peak), nor the names of every file that differs (3.6 MB more at
    1000). The same findings where every object and every cluster shows in one batch, on both sides
    or one; None when one does not (a cluster renamed or moved, an object moved to another
    directory), or when the files differ in GUARD_DIRECTORIES directories or fewer: then guard()
    compares the whole. Only the findings that refuse() raises for are kept."""
    from pgrender.spill import DigestMap

    groups = _differing_by_directory(old_files, new_files)
    first = list(islice(groups, GUARD_DIRECTORIES + 1))
    if len(first) <= GUARD_DIRECTORIES:
        return None
    batches = chain(first, groups)
    seen = DigestMap()  # hashes of the objects and clusters of the batches before: a clash only costs the whole
    found: list[Finding] = []
    try:
        while directories := list(islice(batches, GUARD_DIRECTORIES)):
            batch = set().union(*directories)
            old_objs = parse(old_files, (p for p in sorted(batch) if p in old_files), kinds=GUARDED_KINDS)
            new_objs = parse(new_files, (p for p in sorted(batch) if p in new_files), kinds=GUARDED_KINDS)
            clusters = {o.cluster for o in old_objs}
            if clusters != {o.cluster for o in new_objs}:
                return None
            held = {str(hash(o.ident)) for o in (*old_objs, *new_objs)} | {str(hash(c)) for c in clusters}
            if any(seen.get(h) is not None for h in held):
                return None
            for h in held:
                seen.put(h, 0)
            found += [
                f for f in _compare(old_files, new_files, batch, old_objs, new_objs, rosters=False) if _refused(f)
            ]
    finally:
        seen.close()
    return found


def _differing_by_directory(old_files: Mapping[str, str], new_files: Mapping[str, str]) -> Iterator[set[str]]:
    """The files whose text differs, or that only one side has, in path order (record.differing: a
    render's output and the one it replaces compare a directory at a time): a top directory's at a
    time, and last those without one (an absolute path is without one)."""
    top: set[str] = set()
    held: set[str] = set()
    current = None
    for rel in differing(old_files, new_files):
        if "/" not in rel or rel.startswith("/"):
            top.add(rel)
            continue
        directory = rel.partition("/")[0]  # a directory's paths are together in path order
        if directory != current and held:
            yield held
            held = set()
        current = directory
        held.add(rel)
    for found in (held, top):
        if found:
            yield found


def _and_the_rest(files: Mapping[str, str], differing: set[str], parsed: list[Obj]) -> list[Obj]:
    """``parsed`` (the objects of GUARDED_KINDS) with those of the differing files it left out, in the
    order parse() gives every object: by file, each file's in its order."""
    rest = parse(files, (p for p in differing if p in files and _another_kind(files[p], GUARDED_KINDS)))
    return sorted([*parsed, *rest], key=lambda o: o.file)


def _refused(finding: Finding) -> bool:
    return finding.id is not None and finding.id.split(":")[0] in GUARDED


def refuse(found: Changes) -> None:
    """Raise ChangeRefusedError when ``found`` holds a change no acknowledgement makes possible."""
    refused = [f for f in found.findings if _refused(f)]
    if not refused:
        return
    lines = [f"{f.object}: {f.id}: {GUARDED[f.id.split(':')[0]]}" for f in refused if f.id]
    raise ChangeRefusedError(
        "refusing a change Kubernetes or PostgreSQL would refuse; nothing was written:\n  " + "\n  ".join(lines)
    )
