"""Crunchy PGO's PostgresCluster (postgres-operator.crunchydata.com v1beta1 and v1) to a pgrender spec.

pgrender's spec follows PGO's own shape (instance sets, users, proxy.pgBouncer, pgBackRest repositories),
so most fields carry over one to one; spec.naming: pgo keeps the <cluster>-pguser-<user> Secrets and
the <cluster>-primary, -replicas and -pgbouncer Services that applications use.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Callable
from typing import Any

from pgrender.convert import Inputs
from pgrender.convert.base import ANY, OWN_TLS, NoteKind, Output, Path_, Reason, Ref, Source, ignored, left_out
from pgrender.convert.kube import (
    append_hba_rule,
    claim,
    containers,
    image_pull_secrets,
    memory_limit_note,
    metadata,
    named_source,
    own_selector,
    parameter,
    postgres_version,
    primary_service_host,
    resources,
    service,
    topology_spread,
    unnamed_source,
)
from pgrender.frozen import field as frozen_field
from pgrender.frozen import frozen
from pgrender.load import Document, format_path
from pgrender.plan.patroni import PASSTHROUGH as PATRONI_PASSTHROUGH
from pgrender.plan.patroni import PASSTHROUGH_POSTGRESQL as PATRONI_PASSTHROUGH_POSTGRESQL
from pgrender.plan.pgbouncer import REFUSED_DATABASE_SETTINGS
from pgrender.plan.resources import ContainerKind
from pgrender.spec.rules.backups import check_backup_label, check_lsn, check_restore_point
from pgrender.spec.rules.pgbouncer import FIELD_SETTINGS as BOUNCER_FIELDS
from pgrender.spec.rules.pgbouncer import PASSTHROUGH_SETTINGS
from pgrender.spec.rules.user_interface import setting_problem

GROUP = "postgres-operator.crunchydata.com"
LABEL = f"{GROUP}/"
CLUSTER_LABEL = LABEL + "cluster"
SET_LABEL = LABEL + "instance-set"
DATA_LABEL = LABEL + "data"
ROLE_LABEL = LABEL + "role"
# PGO's repository path when repoN-path is not set (pgBackRest's own default is /var/lib/pgbackrest).
DEFAULT_REPO_PATH = "/pgbackrest/{repo}"

SPEC = ("spec",)
SET = ("spec", "instances", ANY)
BOUNCER = ("spec", "proxy", "pgBouncer")
PGADMIN = ("spec", "userInterface", "pgAdmin")
PGBACKREST = ("spec", "backups", "pgbackrest")
COMPRESS_TYPES = ("gz", "lz4", "zst", "bz2", "none")  # pgrender's backups.compressType

_ROLE_ATTRIBUTES = ("superuser", "createdb", "createrole", "login", "replication", "bypassrls", "inherit")
_IMAGE = (
    'pgrender runs an image with Patroni and Debian\'s PostgreSQL layout (README, "Image contract"); '
    "crunchy-postgres keeps PostgreSQL elsewhere: the default Spilo image is used"
)
_SIDECARS = "PGO's settings of its own sidecars; pgrender runs its own (a container of yours: containers)"


REASONS: tuple[Reason, ...] = (
    left_out(*SPEC, "image", why=_IMAGE),
    left_out(*SPEC, "imagePullPolicy", why="pgrender writes no imagePullPolicy (the cluster's default)"),
    left_out(*SPEC, "postGISVersion", why="PostGIS comes with the image: choose one with spec.image"),
    left_out(*SPEC, "paused", why="nothing reconciles a rendered cluster: stop applying its output instead"),
    left_out(*SPEC, "supplementalGroups", why="pgrender's pods run with the image contract's user and groups"),
    left_out(
        *SPEC,
        "customTLSSecret",
        why=OWN_TLS,
    ),
    left_out(
        *SPEC,
        "customReplicationTLSSecret",
        why=OWN_TLS,
    ),
    left_out(
        *SPEC, "monitoring", why="pgrender's exporter is set by spec.monitoring (README, 'Monitoring'): set it there"
    ),
    left_out(*SPEC, "instrumentation", why="pgrender renders no OpenTelemetry collector"),
    left_out(
        *PGADMIN,
        "image",
        why="PGO's pgAdmin 4.30 image does not run pgrender's pgAdmin start (pgAdmin 8 or later; default "
        "dpage/pgadmin4:9.18); logins stay <user>@pgo with the database passwords",
    ),
    left_out(*PGADMIN, "config", "files", why="pgrender mounts no files of yours into pgAdmin's pod"),
    left_out(*PGADMIN, "dataVolumeClaimSpec", "resources", "limits", why="a claim's size is its request"),
    left_out(*SPEC, "config", "files", why="pgrender mounts no files into /etc/postgres"),
    left_out(*SET, "minAvailable", why="pgrender writes the budget itself: one pod may go when a set has two or more"),
    left_out(*SET, "sidecars", why=_SIDECARS),
    left_out(*SET, "tablespaceVolumes", why="pgrender has no tablespace volumes"),
    left_out(*SET, "volumes", why="pgrender mounts no extra volumes"),
    left_out(*SET, "affinity", "podAffinity", why="pgrender writes no pod affinity for database pods"),
    left_out(*SET, "dataVolumeClaimSpec", "resources", "limits", why="a claim's size is its request"),
    left_out(*SPEC, "patroni", "port", why="Patroni's REST API listens on 8008 in pgrender's pods"),
    left_out(
        *SPEC,
        "patroni",
        "switchover",
        why="PGO's is set off by an annotation and names PGO's instances; pgrender's spec.patroni.switchover takes "
        "a run to raise and a member's pod name: set it when you want a switchover",
    ),
    left_out(*SPEC, "patroni", "logging", why="Patroni logs to the container's output"),
    ignored(
        *SPEC,
        "patroni",
        "dynamicConfiguration",
        "ttl",
        why="PGO sets ttl from leaderLeaseDurationSeconds, as pgrender does",
    ),
    ignored(
        *SPEC,
        "patroni",
        "dynamicConfiguration",
        "loop_wait",
        why="PGO sets loop_wait from syncPeriodSeconds, as pgrender does",
    ),
    left_out(
        *SPEC,
        "patroni",
        "dynamicConfiguration",
        ANY,
        why='a Patroni setting pgrender manages or does not pass through (README, "Patroni dynamic configuration")',
    ),
    left_out(*BOUNCER, "image", why="pgrender runs its own pgBouncer image (proxy.pgBouncer.image, run as 998:996)"),
    left_out(*BOUNCER, "customTLSSecret", why="pgrender makes pgBouncer's certificate (spec.tls.provider)"),
    left_out(
        *BOUNCER, "minAvailable", why="pgrender writes pgBouncer's budget itself when it has two replicas or more"
    ),
    left_out(*BOUNCER, "sidecars", why=_SIDECARS),
    left_out(*BOUNCER, "volumes", why="pgrender mounts no extra volumes"),
    left_out(*BOUNCER, "exposeSuperusers", why="pgrender's pgBouncer never admits superusers"),
    left_out(*BOUNCER, "config", "files", why="pgrender mounts no extra pgBouncer files"),
    left_out(*BOUNCER, "config", "global", ANY, why="a pgBouncer setting pgrender manages or does not pass through"),
    left_out(*PGBACKREST, "image", why="pgBackRest runs in pgrender's database image (imageContract.pgbackrest)"),
    *(
        left_out(*PGBACKREST, part, "resources", why="every pgBackRest container takes spec.backups.resources")
        for part in ("jobs", "repoHost")
    ),
    *(
        left_out(*PGBACKREST, part, "affinity", kind, why=f"pgrender places {what} by nodes only (nodeAffinity)")
        for part, what in (("jobs", "backup Jobs' pods"), ("repoHost", "the repository host's one pod"))
        for kind in ("podAffinity", "podAntiAffinity")
    ),
    left_out(
        *PGBACKREST,
        "jobs",
        "ttlSecondsAfterFinished",
        why="pgrender keeps finished backup Jobs: a CronJob's last three, the others until they are pruned",
    ),
    left_out(
        *PGBACKREST,
        "repoHost",
        "topologySpreadConstraints",
        why="the repository host is one pod: pgrender places it by nodes only (nodeAffinity)",
    ),
    left_out(*PGBACKREST, "sidecars", why="pgrender's pgBackRest sidecar takes no settings"),
    left_out(
        *PGBACKREST,
        "manual",
        why="PGO backs up when the cluster is annotated; pgrender when backups.manual.run changes: add "
        "backups.manual {repo, type, run: 1} for a backup now",
    ),
    left_out(
        *PGBACKREST,
        "restore",
        why="PGO restores in place when the cluster is annotated, and this is often left from a restore done: "
        "pgrender restores once per spec.restore.run, when the members start after a shutdown; add spec.restore "
        '{repo, run, target} when you mean it (README, "Restore in place")',
    ),
    left_out(*PGBACKREST, "global", ANY, why="a pgBackRest option pgrender does not pass through"),
    left_out(*PGBACKREST, "configuration", ANY, why="pgrender projects no pgBackRest configuration files"),
    left_out(
        *PGBACKREST,
        "repos",
        ANY,
        "volume",
        "volumeClaimSpec",
        ANY,
        why="pgrender's repository volume has a size and a class",
    ),
    left_out("spec", "backups", "snapshots", why="pgrender takes no volume snapshots"),
    left_out("spec", "dataSource", "volumes", why="pgrender makes its own claims; it cannot adopt existing volumes"),
)


@frozen
class _Pgo:
    name: str = "pgo"
    title: str = "Crunchy PGO"
    group: str = GROUP
    versions: tuple[str, ...] = ("v1beta1", "v1")
    cluster_kind: str = "PostgresCluster"
    companion_kinds: tuple[str, ...] = ()
    other_kinds: dict[str, str] = frozen_field(
        default_factory=lambda: {
            "PGUpgrade": (
                "pgrender's is spec.upgrade on the cluster: shut it down (spec.shutdown), then set postgresVersion "
                "to toPostgresVersion and spec.upgrade.fromVersion to fromPostgresVersion (README 'Major version "
                "upgrades')"
            ),
            "PGAdmin": (
                "pgrender writes a pgAdmin for each cluster: spec.userInterface.pgAdmin (README 'pgAdmin'), "
                "whose logins are the cluster's users"
            ),
            "CrunchyBridgeCluster": "a cluster of Crunchy Bridge, not of Kubernetes",
        }
    )
    naming: str = "pgo"

    def reasons(self, doc: Document) -> tuple[Reason, ...]:
        return REASONS

    def companion_of(self, doc: Document) -> tuple[str, str | None] | None:
        return None

    def build(self, source: Source, companions: list[Source], out: Output, inputs: Inputs) -> None:
        _Build(source, out, inputs).run()


CONVERTER = _Pgo()


class _Build:
    def __init__(self, source: Source, out: Output, inputs: Inputs) -> None:
        self.src = source
        self.out = out
        self.inputs = inputs
        self.name = str(source.get(("metadata", "name")))
        self.namespace: str | None = source.get(("metadata", "namespace"))

    def run(self) -> None:
        src, out = self.src, self.out
        out.set(("metadata", "name"), src.take_str(("metadata", "name")), src.at(("metadata", "name")))
        if self.namespace is not None:
            out.set(
                ("metadata", "namespace"), src.take_str(("metadata", "namespace")), src.at(("metadata", "namespace"))
            )
        metadata(src, ("spec", "metadata"), out, ("metadata",))
        if not src.has(("spec", "postgresVersion")):
            src.problem(("spec", "postgresVersion"), "required field is missing")
        else:
            postgres_version(src, ("spec", "postgresVersion"), src.take(("spec", "postgresVersion")), out)
        port = src.take_int(("spec", "port"))
        if port is not None:
            out.set(("spec", "port"), port, src.at(("spec", "port")))
        # PGO's and pgrender's openshift and shutdown mean the same (shutdown: the members scaled to zero).
        for field in ("openshift", "shutdown"):
            value = src.take_bool(("spec", field))
            if value is not None:
                out.set(("spec", field), value, src.at(("spec", field)))
        self.instances()
        self.users()
        self.patroni()
        service(src, ("spec", "service"), out, ("spec", "service"))
        service(src, ("spec", "replicaService"), out, ("spec", "replicaService"))
        self.pgbouncer()
        self.pgadmin()
        image_pull_secrets(src, out)
        self.init_sql()
        self.backups()
        self.data_source()
        self.standby()

    def init_sql(self) -> None:
        """databaseInitSQL: the same ConfigMap key, run once the same way (README 'Init SQL'). A note
        says that "once" is pgrender's own record: in a cluster made from PGO's (restored, or a standby
        promoted) the SQL runs again."""
        src, out = self.src, self.out
        for field in ("name", "key"):
            path = ("spec", "databaseInitSQL", field)
            if src.has(path):
                out.set(path, src.take_str(path), src.at(path))
        if src.has(("spec", "databaseInitSQL")):
            src.changed(
                ("spec", "databaseInitSQL"),
                "run once by pgrender's reconcile Job, which records it in table pgrender.init_sql (PGO "
                "records it in its status): in a cluster that holds PGO's data (restored from its backups, "
                "or a standby promoted) it runs once more, so make it idempotent, or remove it",
            )

    # Instances -----------------------------------------------------------------------------------

    def instances(self) -> None:
        src, out = self.src, self.out
        sets = src.get(("spec", "instances"))
        if not isinstance(sets, list) or not sets:
            src.problem(("spec", "instances"), "required field is missing: expected a list of instance sets")
            return
        no_default_spread = src.take_bool(("spec", "disableDefaultPodScheduling"))
        for i, path, item in src.elements(("spec", "instances")):
            if not isinstance(item, dict):
                src.expected(path, "a mapping")
                continue
            set_name = self.set_name(i, path)
            index = out.append(("spec", "instances"), {"name": set_name}, src.at(path))
            if index is None:
                continue
            to: Path_ = ("spec", "instances", index)
            replicas = src.take_int((*path, "replicas"))
            if replicas is not None:
                out.set((*to, "replicas"), replicas, src.at((*path, "replicas")))
            resources(src, (*path, "resources"), out, (*to, "resources"))
            memory_limit_note(src, (*path, "resources"), out, (*to, "resources"), "PGO sets none")
            claim(src, (*path, "dataVolumeClaimSpec"), out, (*to, "dataVolume"))
            claim(src, (*path, "walVolumeClaimSpec"), out, (*to, "walVolume"), required=False)
            self.scheduling(path, (*to, "scheduling"), set_name, len(sets))
            if no_default_spread:
                out.set(
                    (*to, "scheduling", "defaultTopologySpread"), False, src.at(("spec", "disableDefaultPodScheduling"))
                )
            metadata(src, (*path, "metadata"), out, (*to, "metadata"))
            containers(src, (*path, "containers"), out, (*to, "sidecars"))

    def set_name(self, i: int, path: Path_) -> str:
        src = self.src
        given = src.take_str((*path, "name")) or ""
        if re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", given):
            return given
        name = f"instance{i + 1}" if not given else f"set-{given}"
        where = (*path, "name") if given else path
        was = f"named {given!r}" if given else f"unnamed (PGO calls it {i:02d})"
        src.changed(where, f"the instance set was {was}; pgrender's set names start with a letter: {name}")
        return name

    def scheduling(self, path: Path_, to: Path_, set_name: str, sets: int) -> None:
        src, out = self.src, self.out
        affinity = (*path, "affinity")
        node_affinity = src.take((*affinity, "nodeAffinity"))
        if node_affinity:
            out.set((*to, "nodeAffinity"), node_affinity, src.at((*affinity, "nodeAffinity")))
        self.anti_affinity((*affinity, "podAntiAffinity"), (*to, "podAntiAffinity"), set_name)
        tolerations = src.take((*path, "tolerations"))
        if tolerations:
            out.set((*to, "tolerations"), tolerations, src.at((*path, "tolerations")))
        own = {CLUSTER_LABEL: self.name, SET_LABEL: set_name, DATA_LABEL: "postgres"}
        topology_spread(
            src,
            (*path, "topologySpreadConstraints"),
            out,
            (*to, "topologySpreadConstraints"),
            lambda selector: own_selector(selector, dict(own)),
            sets,
        )
        priority = src.take_str((*path, "priorityClassName"))
        if priority:
            out.set((*to, "priorityClassName"), priority, src.at((*path, "priorityClassName")))

    def anti_affinity(self, path: Path_, to: Path_, set_name: str | None) -> None:
        """PGO's examples' podAntiAffinity (one term on the cluster's or the set's labels) as pgrender's;
        ``set_name`` None: pgBouncer's (a term on its cluster and role labels)."""
        src, out = self.src, self.out
        rules = src.get(path)
        if not isinstance(rules, dict) or not rules:
            return
        preferred = rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        required = rules.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        if not isinstance(preferred, list) or not isinstance(required, list):
            preferred = required = []  # not a rule pgrender knows: left out below
        term: Any = None
        kind = weight = None
        if set(rules) <= {
            "preferredDuringSchedulingIgnoredDuringExecution",
            "requiredDuringSchedulingIgnoredDuringExecution",
        }:
            if len(preferred) == 1 and not required and isinstance(preferred[0], dict):
                kind, weight = "preferred", preferred[0].get("weight")
                term = (
                    preferred[0].get("podAffinityTerm") if set(preferred[0]) == {"weight", "podAffinityTerm"} else None
                )
            elif len(required) == 1 and not preferred:
                kind, term = "required", required[0]
        labels = _term_labels(term)
        own: dict[str, str | None] = (
            {CLUSTER_LABEL: self.name, SET_LABEL: set_name, DATA_LABEL: "postgres"}
            if set_name is not None
            else {CLUSTER_LABEL: self.name, ROLE_LABEL: "pgbouncer"}
        )
        needed = {CLUSTER_LABEL} if set_name is not None else {CLUSTER_LABEL, ROLE_LABEL}
        if (
            labels is None
            or not needed <= set(labels)
            or not own_selector({"matchLabels": labels}, own)
            or not isinstance(term.get("topologyKey"), str)
        ):
            whose = "the cluster's (or the set's) database pods" if set_name is not None else "pgBouncer's pods"
            src.left_out(
                path,
                f"pgrender writes anti-affinity among {whose}, from scheduling.podAntiAffinity {{type, "
                "topologyKey, weight, scope}; this rule is not one of those: pgrender's default (preferred, "
                "per host) is used",
            )
            return
        src.take(path)
        value: dict[str, Any] = {"type": kind, "topologyKey": term["topologyKey"]}
        if kind == "preferred" and isinstance(weight, int):
            value["weight"] = weight
        if set_name is not None:
            value["scope"] = "instanceSet" if SET_LABEL in labels else "cluster"
        out.set(to, value, src.at(path))
        if set_name is not None and SET_LABEL not in labels and DATA_LABEL not in labels:
            src.changed(
                path,
                "PGO's rule also counted the cluster's pgBouncer and repository host pods (they carry its "
                "cluster label); pgrender's counts its database pods",
            )

    # Users -----------------------------------------------------------------------------------------

    def users(self) -> None:
        src, out = self.src, self.out
        users = src.get(("spec", "users"))
        if users == []:
            src.take(("spec", "users"))
            src.changed(
                ("spec", "users"),
                "PGO creates no user for an empty list; pgrender creates one named after the cluster when "
                "spec.users is empty",
            )
            return
        for _, path, item in src.elements(("spec", "users")):
            if not isinstance(item, dict):
                src.expected(path, "a mapping")
                continue
            name = src.take_str((*path, "name"))
            if name is None:
                src.problem((*path, "name"), "required field is missing")
                continue
            if name == "postgres":
                src.take(path)
                src.left_out(
                    path,
                    "PGO's postgres user puts the superuser's password in <cluster>-pguser-postgres; pgrender's "
                    "superuser has no password: it authenticates with the client certificate <cluster>-superuser-cert",
                )
                continue
            index = out.append(("spec", "users"), {"name": name}, src.at(path))
            if index is None:
                continue
            to: Path_ = ("spec", "users", index)
            databases = src.take_list((*path, "databases"))
            if databases:
                out.set((*to, "databases"), [str(d) for d in databases], src.at((*path, "databases")))
            options = src.take_str((*path, "options"))
            if options:
                self.role_options((*path, "options"), options, to)
            if src.has((*path, "password")):
                src.left_out(
                    (*path, "password"),
                    "pgrender derives each password from the root key (bump passwordRotation for a new one)",
                )

    def role_options(self, path: Path_, text: str, to: Path_) -> None:
        src, out = self.src, self.out
        options: dict[str, bool] = {}
        rest: list[str] = []
        for word in text.split():
            key = word.lower()
            if key in _ROLE_ATTRIBUTES:
                options[key] = True
            elif key.startswith("no") and key[2:] in _ROLE_ATTRIBUTES:
                options[key[2:]] = False
            else:
                rest.append(word)
        if options:
            out.set((*to, "options"), options, src.at(path))
        if rest:
            src.left_out(
                path,
                f"{' '.join(rest)!r}: pgrender sets the role attributes {', '.join(_ROLE_ATTRIBUTES).upper()} "
                "and no other ALTER ROLE option",
            )

    # Patroni and PostgreSQL ----------------------------------------------------------------------

    def patroni(self) -> None:
        src, out = self.src, self.out
        patroni = ("spec", "patroni")
        for field in ("leaderLeaseDurationSeconds", "syncPeriodSeconds"):
            value = src.take_int((*patroni, field))
            if value is not None:
                out.set(("spec", "patroni", field), value, src.at((*patroni, field)))
        dynamic = (*patroni, "dynamicConfiguration")
        for field, target in (
            ("synchronous_mode", "synchronousMode"),
            ("synchronous_mode_strict", "synchronousModeStrict"),
        ):
            value = src.take_bool((*dynamic, field))
            if value is not None:
                out.set(("spec", "patroni", target), value, src.at((*dynamic, field)))
        for key, path, _ in src.items(dynamic):
            if key in PATRONI_PASSTHROUGH:
                out.set(("spec", "patroni", "dynamicConfiguration", key), src.take(path), src.at(path))
        for key, path, _ in src.items((*dynamic, "postgresql")):
            if key in PATRONI_PASSTHROUGH_POSTGRESQL:
                out.set(("spec", "patroni", "dynamicConfiguration", "postgresql", key), src.take(path), src.at(path))
        config = set()
        for key, path, value in src.items(("spec", "config", "parameters")):
            config.add(key)
            parameter(src, path, key, value, out)
        for key, path, value in src.items((*dynamic, "postgresql", "parameters")):
            src.take(path)
            if key in config:
                src.changed(path, "also set in spec.config.parameters, which pgrender takes")
                continue
            parameter(src, path, key, value, out)
        for _, path, rule in src.elements(("spec", "authentication", "rules")):
            line = self.hba_line(path, rule)
            if line is not None:
                append_hba_rule(src, path, line, out)
        for _, path, line in src.elements((*dynamic, "postgresql", "pg_hba")):
            append_hba_rule(src, path, line, out)

    def hba_line(self, path: Path_, rule: Any) -> str | None:
        """One of PGO's spec.authentication.rules as a pg_hba line (PGO's rules match any address)."""
        src = self.src
        if not isinstance(rule, dict):
            src.expected(path, "a mapping")
            return None
        src.take(path)
        if "hba" in rule:
            return str(rule["hba"])

        for field, kind in (("databases", list), ("users", list), ("options", dict)):
            if rule.get(field) is not None and not isinstance(rule[field], kind):
                src.expected((*path, field), "a list" if kind is list else "a mapping")
                return None

        def names(values: Any) -> str:
            plain = re.compile(r"[a-z_][a-z0-9_]*")
            return ",".join(v if plain.fullmatch(str(v)) else f'"{v}"' for v in values) if values else "all"

        options = " ".join(f'{k}="{v}"' for k, v in (rule.get("options") or {}).items())
        fields = [
            str(rule.get("connection", "")),
            names(rule.get("databases")),
            names(rule.get("users")),
            "all",
            str(rule.get("method", "")),
        ]
        return " ".join(fields) + (f" {options}" if options else "")

    # pgBouncer -----------------------------------------------------------------------------------

    def pgbouncer(self) -> None:
        src, out = self.src, self.out
        path = BOUNCER
        if not isinstance(src.get(path), dict):
            if src.has(path):
                src.expected(path, "a mapping")
            return
        if not out.set(("spec", "proxy", "pgBouncer"), {}, src.at(path)):
            return
        to: Path_ = ("spec", "proxy", "pgBouncer")
        for field in ("replicas", "port"):
            value = src.take_int((*path, field))
            if value is not None:
                out.set((*to, field), value, src.at((*path, field)))
        resources(src, (*path, "resources"), out, (*to, "resources"))
        memory_limit_note(src, (*path, "resources"), out, (*to, "resources"), "PGO sets none", ContainerKind.PGBOUNCER)
        settings = (*path, "config", "global")
        for key, key_path, value in src.items(settings):
            text = str(value)
            if key == "pool_mode":
                src.take(key_path)
                out.set((*to, "poolMode"), text, src.at(key_path))
            elif key in BOUNCER_FIELDS and text.isdigit():
                src.take(key_path)
                out.set((*to, BOUNCER_FIELDS[key]), int(text), src.at(key_path))
            elif key in PASSTHROUGH_SETTINGS:
                src.take(key_path)
                out.set((*to, "config", "global", key), int(text) if text.isdigit() else text, src.at(key_path))
        sched: Path_ = (*to, "scheduling")
        self.placement(path, sched)
        self.anti_affinity((*path, "affinity", "podAntiAffinity"), (*sched, "podAntiAffinity"), None)
        own = {CLUSTER_LABEL: self.name, ROLE_LABEL: "pgbouncer"}
        topology_spread(
            src,
            (*path, "topologySpreadConstraints"),
            out,
            (*sched, "topologySpreadConstraints"),
            lambda selector: own_selector(selector, dict(own)),
        )
        service(src, (*path, "service"), out, (*to, "service"))
        metadata(src, (*path, "metadata"), out, (*to, "metadata"))
        containers(src, (*path, "containers"), out, (*to, "sidecars"))
        self.pgbouncer_entries(path, to)

    def pgadmin(self) -> None:
        """PGO's cluster-scoped pgAdmin (spec.userInterface.pgAdmin): its claim, resources, scheduling,
        Service and metadata; its logins and servers are the cluster's users, as in PGO."""
        src, out = self.src, self.out
        path, to = PGADMIN, ("spec", "userInterface", "pgAdmin")
        if not isinstance(src.get(path), dict):
            if src.has(path):
                src.expected(path, "a mapping")
            return
        if not claim(src, (*path, "dataVolumeClaimSpec"), out, (*to, "dataVolume")):
            return
        resources(src, (*path, "resources"), out, (*to, "resources"))
        memory_limit_note(src, (*path, "resources"), out, (*to, "resources"), "PGO sets none", ContainerKind.PGADMIN)
        sched: Path_ = (*to, "scheduling")
        self.placement(path, sched)
        service(src, (*path, "service"), out, (*to, "service"))
        metadata(src, (*path, "metadata"), out, (*to, "metadata"))
        for key, key_path, value in src.items((*path, "config", "settings")):
            text_list = isinstance(value, list) and all(isinstance(v, str) for v in value)
            problem = setting_problem(key) or (
                None
                if isinstance(value, str | int | bool) or text_list
                else "pgrender takes text, numbers, true/false and lists of text"
            )
            if problem:
                src.left_out(key_path, problem)
                continue
            src.take(key_path)
            out.set((*to, "settings", key), value, src.at(key_path))
        bind = (*path, "config", "ldapBindPassword")
        secret, secret_key = src.take_str((*bind, "name")), src.take_str((*bind, "key"))
        if secret and secret_key:
            reference = {"secretName": secret, "key": secret_key}
            out.set((*to, "secretSettings", "LDAP_BIND_PASSWORD"), reference, src.at(bind))

    def placement(self, path: Path_, to: Path_) -> None:
        """PGO's nodeAffinity, tolerations and priorityClassName of the pods at ``path``, as pgrender's
        scheduling (or placement) at ``to``."""
        src, out = self.src, self.out
        node_affinity = src.take((*path, "affinity", "nodeAffinity"))
        if node_affinity:
            out.set((*to, "nodeAffinity"), node_affinity, src.at((*path, "affinity", "nodeAffinity")))
        for field in ("tolerations", "priorityClassName"):
            value = src.take((*path, field))
            if value:
                out.set((*to, field), value, src.at((*path, field)))

    def pgbouncer_entries(self, path: Path_, to: Path_) -> None:
        """PGO's config.databases and config.users: entries pgrender takes as they are, host and port left
        out (pgrender's reach this cluster's primary); one it refuses is left out whole."""
        src, out = self.src, self.out
        pooled = {
            u.get("name")
            for u in out.get(("spec", "users")) or []
            if not {"superuser", "replication"} & {k for k, v in u.get("options", {}).items() if v}
            and u.get("options", {}).get("login", True)
        }
        for key, key_path, value in src.items((*path, "config", "databases")):
            words = str(value).split()
            kept = [w for w in words if w.partition("=")[0] not in ("host", "port")]
            refused = sorted({w.partition("=")[0] for w in kept} & set(REFUSED_DATABASE_SETTINGS))
            if refused:
                src.left_out(key_path, f"pgrender refuses {', '.join(refused)} in a [databases] entry")
                continue
            src.take(key_path)
            if kept != words:
                src.changed(key_path, "host and port left out: pgrender's entries reach this cluster's primary")
            out.set((*to, "config", "databases", str(key)), " ".join(kept), src.at(key_path))
        for key, key_path, value in src.items((*path, "config", "users")):
            if key not in pooled:
                src.left_out(key_path, "not a user of spec.users that pgBouncer lets in (login, no superuser)")
                continue
            src.take(key_path)
            out.set((*to, "config", "users", str(key)), str(value), src.at(key_path))

    # Backups -------------------------------------------------------------------------------------

    def repos(self, base: Path_ = PGBACKREST) -> _Repos:
        """This document's repositories (``base``: where its pgBackRest section is)."""
        src = self.src
        return _Repos(src, base, lambda kind, path, message: src.note(path, kind, message), src.at, self.name)

    def backups(self) -> None:
        src, out = self.src, self.out
        repos = (*PGBACKREST, "repos")
        if not src.has(repos):
            return
        reader = self.repos()
        refused: list[Path_] = []
        for _, path, repo in src.elements(repos):
            if not isinstance(repo, dict):
                src.expected(path, "a mapping")
                continue
            name = src.take_str((*path, "name"))
            index = out.append(("spec", "backups", "repos"), {"name": name}, src.at(path))
            if index is None:
                refused.append(path)
                if name is not None:
                    reader.left_out_with(name, path)
                continue
            if name is None:
                continue
            to: Path_ = ("spec", "backups", "repos", index)
            reader.location(path, name, out, to, own=True)
            for kind in ("full", "differential", "incremental"):
                schedule = src.take_str((*path, "schedules", kind))
                if schedule:
                    out.set((*to, "schedules", kind), schedule, src.at((*path, "schedules", kind)))
            reader.retention(name, out, (*to, "retention"))
        if not out.get(("spec", "backups", "repos")):
            # What is left is noted: spec.backups without a repository is no spec. What would have
            # placed the repositories' pods, and their credentials, go with those pgrender refuses.
            if refused:
                self.left_out_with_repos(refused[0])
            return
        metadata(src, (*PGBACKREST, "metadata"), out, ("spec", "backups", "metadata"))
        for part in ("jobs", "repoHost"):
            self.placement((*PGBACKREST, part), ("spec", "backups", part, "scheduling"))
        self.tuning()

    def tuning(self) -> None:
        """PGO's global process-max, compress-type and backup-standby: pgrender's processMax,
        compressType and backupFrom."""
        src, out = self.src, self.out
        to: Path_ = ("spec", "backups")
        path = (*PGBACKREST, "global", "process-max")
        text = src.take_str(path)
        if text is not None:
            if text.isdigit() and 1 <= int(text) <= 64:
                out.set((*to, "processMax"), int(text), src.at(path))
            else:
                src.left_out(path, "pgrender's processMax is a whole number from 1 to 64")
        path = (*PGBACKREST, "global", "compress-type")
        text = src.take_str(path)
        if text is not None:
            if text in COMPRESS_TYPES:
                out.set((*to, "compressType"), text, src.at(path))
            else:
                src.left_out(path, f"pgrender's compressType is one of {', '.join(COMPRESS_TYPES)}")
        path = (*PGBACKREST, "global", "backup-standby")
        text = src.take_str(path)
        if text in ("y", "prefer"):
            out.set((*to, "backupFrom"), "prefer-standby", src.at(path))
            if text == "y":
                src.changed(
                    path,
                    "pgBackRest's backup-standby=y fails a backup when no replica streams; pgrender's "
                    "prefer-standby backs up from the primary then",
                )
        elif text is not None and text != "n":
            src.left_out(path, "expected y or n")

    def left_out_with_repos(self, first: Path_) -> None:
        """The pgBackRest fields that serve the repositories, every one of which pgrender refuses."""
        src = self.src
        why = f"goes with the repositories pgrender refuses ({format_path(first)}): no backups without one"
        for part in ("metadata", "jobs", "repoHost"):
            if src.has((*PGBACKREST, part)):
                src.left_out((*PGBACKREST, part), why)
        for _, path, item in src.elements((*PGBACKREST, "configuration")):
            if isinstance(item, dict) and isinstance(item.get("secret"), dict):
                src.left_out(path, why)

    # Bootstrap and standby -----------------------------------------------------------------------

    def data_source(self) -> None:
        src = self.src
        cloud = ("spec", "dataSource", "pgbackrest")
        if isinstance(src.get(cloud), dict):
            self.restore_from_cloud(cloud)
        clone = ("spec", "dataSource", "postgresCluster")
        if isinstance(src.get(clone), dict):
            self.clone(clone)

    def restore_from_cloud(self, path: Path_) -> None:
        src, out = self.src, self.out
        repo = (*path, "repo")
        name = src.take_str((*repo, "name"))
        if name is None:
            src.problem((*repo, "name"), "required field is missing")
            return
        to: Path_ = ("spec", "bootstrap", "fromBackup")
        source_name = f"{self.name}-source"
        if not out.set(to, {"cluster": source_name}, src.at(path)):
            return
        src.changed(path, _unnamed_source(source_name))
        stanza = src.take_str((*path, "stanza"))
        if stanza not in (None, "db"):
            src.left_out((*path, "stanza"), "pgrender's stanza is db")
        out.set((*to, "repo"), {"name": name}, src.at(repo))
        self.repos(path).location(repo, name, out, (*to, "repo"), own=False)
        self.target((*path, "options"), to)

    def clone(self, path: Path_) -> None:
        """dataSource.postgresCluster: the source's repository, read from its document among the inputs."""
        src, out = self.src, self.out
        cluster = src.take_str((*path, "clusterName")) or self.name
        namespace = src.take_str((*path, "clusterNamespace"))
        repo_name = src.take_str((*path, "repoName"))
        source_doc = self.inputs.find("PostgresCluster", cluster, namespace or self.namespace)
        repo_path: Path_ | None = None
        reader = Source(source_doc, ()) if source_doc is not None else None
        if reader is not None and repo_name:
            for _, candidate, repo in reader.elements((*PGBACKREST, "repos")):
                if isinstance(repo, dict) and repo.get("name") == repo_name:
                    repo_path = candidate
        if reader is None or repo_path is None or repo_name is None:
            src.left_out(
                path,
                f"pgrender restores from the source's repository as its spec describes it: give PostgresCluster "
                f"{cluster} in the same run (another FILE) to carry this clone, or write spec.bootstrap.fromBackup",
            )
            return
        to: Path_ = ("spec", "bootstrap", "fromBackup")
        value: dict[str, Any] = {"cluster": cluster}
        if namespace:
            value["namespace"] = namespace
        if not out.set(to, value, src.at(path)):
            return
        out.set((*to, "repo"), {"name": repo_name}, src.at((*path, "repoName")))

        def report(kind: NoteKind, field: Path_, message: str) -> None:
            src.note(path, kind, f"{cluster}'s {format_path(field)}: {message}")

        repos = _Repos(reader, PGBACKREST, report, lambda _: src.at(path), cluster, self.name)
        repos.location(repo_path, repo_name, out, (*to, "repo"), own=False)
        self.target((*path, "options"), to)

    def target(self, path: Path_, to: Path_) -> None:
        """--type=time --target=... of PGO's restore options as fromBackup.target."""
        src, out = self.src, self.out
        options = src.take_list(path)
        if not options:
            return
        words: list[str] = []
        for option in options:
            try:
                words += shlex.split(str(option))
            except ValueError:
                words.append(str(option))
        kind = target = backup_set = None
        rest = []
        for word in words:
            key, _, value = word.partition("=")
            if key == "--type":
                kind = value
            elif key == "--target":
                target = value
            elif key == "--set":
                backup_set = value
            else:
                rest.append(word)
        field, value = _recovery_target(kind, target)
        if field is not None:
            out.set((*to, field), value, src.at(path))
        elif kind not in (None, "default") or target is not None:
            src.left_out(
                path,
                "pgrender restores to a time, a restore point (name), a WAL location (lsn), a transaction (xid), "
                "the end of the backup (immediate) or the end of the archive, each with its --target",
            )
            return
        if backup_set is not None:
            try:
                out.set((*to, "backupSet"), check_backup_label(backup_set), src.at(path))
            except ValueError as exc:
                src.left_out(path, str(exc))
        if rest:
            src.left_out(path, f"{' '.join(rest)}: pgrender passes no other restore options")

    def standby(self) -> None:
        src, out = self.src, self.out
        path = ("spec", "standby")
        if not isinstance(src.get(path), dict):
            return
        enabled = src.take_bool((*path, "enabled"))
        to: Path_ = ("spec", "standby")
        repo_name = src.take_str((*path, "repoName"))
        host = src.take_str((*path, "host"))
        found = primary_service_host(host, "-primary") if host else None
        if repo_name:
            self.standby_repo(path, repo_name, to, found[0] if found else None)
        if host:
            self.standby_host(path, host, found, to)
        elif src.has((*path, "port")):
            src.left_out((*path, "port"), "a port without a host: nothing to stream from")
        if out.get(to) and enabled is not None:
            out.set((*to, "enabled"), enabled, src.at((*path, "enabled")))

    def standby_host(self, path: Path_, host: str, found: tuple[str, str | None] | None, to: Path_) -> None:
        """standby.host: the <cluster>-primary Service of a cluster in this Kubernetes cluster, or any
        other host (outside it: fromCluster.host), with standby.port."""
        src, out = self.src, self.out
        host_path, port_path = (*path, "host"), (*path, "port")
        if found is not None:
            value: dict[str, Any] = named_source(found)
            note = (
                "pgrender streams over TLS with certificates of the source's CA: the source must be rendered by "
                "pgrender with the same root key"
            )
        else:
            # The repository's source (standby_repo) has the same name: the one cluster it follows.
            value = {"cluster": f"{self.name}-source", "host": host}
            note = unnamed_source("PGO", host, value["cluster"], "spec.standby.fromCluster")
        if not out.set((*to, "fromCluster"), value, src.at(host_path)):
            if src.has(port_path):
                src.left_out(port_path, f"goes with {format_path(host_path)}, which pgrender refuses")
            return
        src.changed(host_path, note)
        port = src.take_int(port_path)
        if port is not None:
            out.set((*to, "fromCluster", "port"), port, src.at(port_path))

    def standby_repo(self, path: Path_, repo_name: str, to: Path_, followed: str | None) -> None:
        """The standby's repository; its cluster is the one it streams from, when it names one."""
        src, out = self.src, self.out
        for _, repo_path, repo in src.elements((*PGBACKREST, "repos")):
            if isinstance(repo, dict) and repo.get("name") == repo_name:
                source_name = followed if followed and followed != self.name else f"{self.name}-source"
                if not out.set((*to, "fromBackup"), {"cluster": source_name}, src.at((*path, "repoName"))):
                    return
                if source_name != followed:
                    src.changed((*path, "repoName"), _unnamed_source(source_name))
                out.set((*to, "fromBackup", "repo"), {"name": repo_name}, src.at((*path, "repoName")))
                self.standby_location(repo_path, repo_name, (*to, "fromBackup", "repo"), (*path, "repoName"))
                return
        src.left_out((*path, "repoName"), f"no repository {repo_name} in spec.backups.pgbackrest.repos")

    def standby_location(self, path: Path_, name: str, to: Path_, origin: Path_) -> None:
        """A repository of this cluster as the standby's source (its values from ``origin``). backups()
        noted its fields as this cluster's own; of what reading it as a source's says, only the
        passphrase is another matter."""
        src = self.src
        said: list[tuple[NoteKind, Path_, str]] = []
        reader = _Repos(src, PGBACKREST, lambda *note: said.append(note), lambda _: src.at(origin), self.name)
        reader.location(path, name, self.out, to, own=False)
        cipher = reader.by_repo.get(name, {}).get("cipher-type")
        for kind, field, message in said:
            if field == cipher:
                src.note(field, kind, message)


def _source_cipher(repo: str, cluster: str) -> str:
    """The note of a source's repository (restore, clone, standby) that PGO encrypts."""
    return (
        f"PGO encrypts {repo} with its {repo}-cipher-pass, and pgrender derives a source's passphrase from the "
        "root key, which cannot match it: render this cluster with the secrets provider existing, PGO's "
        f"passphrase as key source-cipher-pass of Secret {cluster}-pgbackrest, or with external, the passphrase "
        f"in the store's _pgrender_pgbackrest entry (property {repo}) under the source's namespace and name "
        "(fromBackup.cluster)"
    )


def _unnamed_source(name: str) -> str:
    return (
        f"PGO does not name the cluster whose repository this is; pgrender's spec does, and says {name}: set it "
        "to the source's name (with cipher none it only names the source; an encrypted source's passphrase is "
        "derived from it)"
    )


def _term_labels(term: Any) -> dict[str, Any] | None:
    if not isinstance(term, dict) or set(term) - {"topologyKey", "labelSelector"}:
        return None
    selector = term.get("labelSelector")
    if not isinstance(selector, dict) or set(selector) != {"matchLabels"}:
        return None
    labels = selector["matchLabels"]
    return labels if isinstance(labels, dict) else None


def _timestamp(text: str) -> str | None:
    """A restore target PGO passes to pgBackRest ("2021-06-09 14:15:11-04") as UTC ISO 8601."""
    cleaned = text.strip().strip("\"'")
    cleaned = re.sub(r"([+-]\d\d)$", r"\1:00", cleaned)
    try:
        when = dt.datetime.fromisoformat(cleaned.replace(" ", "T", 1))
    except ValueError:
        return None
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


Report = Callable[[NoteKind, Path_, str], None]


def _recovery_target(kind: str | None, target: str | None) -> tuple[str | None, Any]:
    """pgbackrest restore's --type and --target as bootstrap.fromBackup's field and value; (None,
    None) for what pgrender cannot say (or a target its field refuses)."""
    try:
        if kind == "time" and target is not None:
            when = _timestamp(target)
            return ("target", when) if when is not None else (None, None)
        if kind == "name" and target is not None:
            return "targetName", check_restore_point(target)
        if kind == "lsn" and target is not None:
            return "targetLsn", check_lsn(target)
        if kind == "xid" and target is not None and target.isdigit() and int(target) >= 3:
            return "targetXid", int(target)
        if kind == "immediate" and target is None:
            return "targetImmediate", True
    except ValueError:
        pass
    return None, None


class _Repos:
    """Repositories of a PGO spec with their pgBackRest options (repoN-* of ``global``), read into pgrender's.

    ``reader`` holds them; ``report`` says what happened to a field, and ``ref`` names the field a value
    comes from: the repository's own fields, or the field that points at another document's (a clone's).
    """

    _PATTERN = re.compile(r"^repo([1-4])-(.+)$")

    def __init__(
        self,
        reader: Source,
        base: Path_,
        report: Report,
        ref: Callable[[Path_], Ref],
        cluster: str,
        this: str | None = None,
    ) -> None:
        self.src = reader
        self.base = base
        self.report = report
        self.ref = ref
        self.cluster = cluster  # whose repositories these are
        self.this = this or cluster  # the cluster converted, which reads them
        self.by_repo: dict[str, dict[str, Path_]] = {}
        for key, path, _ in reader.items((*base, "global")):
            match = self._PATTERN.match(key)
            if match:
                self.by_repo.setdefault(f"repo{match[1]}", {})[match[2]] = path

    def _take(self, repo: str, option: str) -> tuple[str | None, Path_]:
        path = self.by_repo.get(repo, {}).get(option, ())
        value = self.src.take(path) if path else None
        return (None if value is None else str(value)), path

    def location(self, path: Path_, name: str, out: Output, to: Path_, *, own: bool) -> bool:
        """A repository's store, path, credentials and cipher.

        ``own``: a repository of this cluster. pgrender's cluster is a new PostgreSQL system, which
        pgBackRest does not let into another system's stanza, so it keeps its own default path; a
        source's repository (restore, clone, standby) keeps the path its backups are at.
        """
        src = self.src
        for store in ("s3", "gcs", "azure"):
            store_path = (*path, store)
            if not isinstance(src.get(store_path), dict):
                continue
            value = {k: src.take_str((*store_path, k)) for k in ("bucket", "endpoint", "region", "container")}
            value = {k: v for k, v in value.items() if v is not None}
            endpoint = value.get("endpoint")
            port = None
            if endpoint and re.fullmatch(r".+:\d+", endpoint):
                host, _, port_text = endpoint.rpartition(":")
                value["endpoint"], port = host, int(port_text)
            if not out.set((*to, store), value, self.ref(store_path)):
                return False
            if port is not None:
                out.set((*to, store, "port"), port, self.ref((*store_path, "endpoint")))
            self._options(path, name, store, out, to, own=own)
            return True
        volume = (*path, "volume", "volumeClaimSpec")
        if src.has(volume):
            if own:
                return claim(src, volume, out, (*to, "volume"))
            self.report(
                NoteKind.LEFT_OUT,
                (*path, "volume"),
                "a volume repository lives on its cluster's repository host; pgrender restores and follows "
                "object stores (s3, gcs, azure) only",
            )
            return False
        src.problem(path, "expected one of s3, gcs, azure or volume")
        return False

    def _options(self, path: Path_, repo: str, store: str, out: Output, to: Path_, *, own: bool) -> None:
        repo_path, where = self._take(repo, "path")
        if repo_path is not None:
            if own:
                self.report(
                    NoteKind.LEFT_OUT,
                    where,
                    "pgrender's cluster is a new PostgreSQL system, and pgBackRest keeps one system per "
                    "repository: it backs up to a path of its own (/pgbackrest/<namespace>/<cluster>/<repo>); "
                    "restores and standbys read this one",
                )
            else:
                out.set((*to, "path"), repo_path, self.ref(where))
        elif not own:
            out.set((*to, "path"), DEFAULT_REPO_PATH.format(repo=repo), self.ref(path))
        for option, field in (("s3-uri-style", "uriStyle"), (f"{store}-key-type", "keyType"), ("storage-port", "port")):
            value, where = self._take(repo, option)
            if value is not None:
                out.set(
                    (*to, store, field), int(value) if field == "port" and value.isdigit() else value, self.ref(where)
                )
        cipher, where = self._take(repo, "cipher-type")
        if cipher is not None:
            out.set((*to, "cipher"), cipher, self.ref(where))
            if not own and cipher != "none":
                self.report(NoteKind.CHANGED, where, _source_cipher(repo, self.this))
        elif not own:
            out.set((*to, "cipher"), "none", self.ref(path))  # PGO encrypts a repository only when asked
        self._credentials(path, repo, store, out, to)

    def _credentials(self, path: Path_, repo: str, store: str, out: Output, to: Path_) -> None:
        src = self.src
        key_type = out.get((*to, store, "keyType"))
        if (store == "s3" and key_type in ("auto", "web-id")) or (store == "gcs" and key_type == "auto"):
            return
        keys = {"s3": "key and key-secret", "gcs": "key", "azure": "account and key"}[store]
        for _, item_path, item in src.elements((*self.base, "configuration")):
            secret = item.get("secret") if isinstance(item, dict) else None
            if isinstance(secret, dict) and isinstance(secret.get("name"), str):
                src.take(item_path)
                out.set((*to, "credentials", "secretName"), secret["name"], self.ref(item_path))
                self.report(
                    NoteKind.CHANGED,
                    item_path,
                    f"pgrender reads {repo}'s credentials from the keys {keys} of Secret {secret['name']}; PGO "
                    "reads pgBackRest options from the files it holds: add those keys",
                )
                return
        name = f"{self.cluster}-pgbackrest-{repo}"
        out.set((*to, "credentials", "secretName"), name, self.ref(path))
        self.report(
            NoteKind.CHANGED,
            path,
            f"no Secret in the pgBackRest configuration holds {repo}'s credentials; pgrender reads them from "
            f"the keys {keys} of Secret {name}: create it",
        )

    def left_out_with(self, repo: str, path: Path_) -> None:
        """The repoN-* options of a repository pgrender refuses (at ``path``), left out with it."""
        for where in self.by_repo.get(repo, {}).values():
            self.report(NoteKind.LEFT_OUT, where, f"goes with {repo} ({format_path(path)}), which pgrender refuses")

    def retention(self, repo: str, out: Output, to: Path_) -> None:
        for option, field in (
            ("retention-full", "full"),
            ("retention-full-type", "fullType"),
            ("retention-diff", "differential"),
            ("retention-archive", "archive"),
            ("retention-archive-type", "archiveType"),
        ):
            value, where = self._take(repo, option)
            if value is not None:
                out.set((*to, field), int(value) if value.isdigit() else value, self.ref(where))
