"""The upgrade guard: an in-place major version upgrade (pg_upgrade --link) of a cluster whose members
were shut down, run in each member's container before Patroni (shipped in ConfigMap <c>-config, run
with the image's python3 and Patroni's own DCS classes; nothing of pgrender is imported).

spec.upgrade.fromVersion renders every member's container as ``python3 upgrade.py ARGS -- patroni
CONFIG_DIR``. The members start together (one sync wave) at the new version, each with its own data
volume: the old version's data directory (/pgdata/pg<old>) is there, the new one (/pgdata/pg<new>)
is not. Which member holds the cluster's data is known only from the data: a primary that stopped
cleanly says "shut down" in its pg_control, a replica "shut down in recovery". So each guard:

1. reads its old data directory's control file (the old version's pg_controldata) and publishes
   what it found (system identifier, state, timeline, checkpoint) in its member key of Patroni's DCS,
   again every few seconds, as Patroni does (the key expires in etcd);
2. waits until every member named in ``--members`` has published, then takes the same decision on
   every member (:func:`decide`): the member shut down as a primary with the latest timeline and
   checkpoint upgrades; none, or data of two systems, and nothing happens (the log says why);
3. the chosen member: initdb at the new version with the old cluster's settings (checksums, encoding,
   superuser), ``pg_upgrade --link`` (the files are linked, not copied: seconds, whatever the size),
   then in the DCS: the dynamic configuration from bootstrap.yaml (the new version's settings; one the
   old version had may stop the new one), the last leader position (/status) and timeline history of
   the new cluster, no synchronous standby, and last the initialize key, which becomes the new system
   identifier: that is the signal to the others. Its old data directory goes (link mode: the new one
   holds the files), and it becomes Patroni, which starts the new data directory and takes the leader
   lock;
4. every other member, once the initialize key names another system than the old data's, removes its
   old data and becomes Patroni, which makes it a replica of the new leader (pg_basebackup: the
   repository holds no backup of the new version yet).

A member whose container stops in the middle starts the guard again and finds where it was: a marker
beside the new data directory says an upgrade was under way and is undone first (the new directory
emptied, the old control file given back its name if pg_upgrade had moved it, which link mode does
before it links and the new cluster never started), unless the initialize key already names the new
directory's system (then only Patroni is left to start). While the guard runs, Patroni's REST API address
answers /liveness (and nothing else), so that kubelet's liveness probe does not restart a member that
waits or upgrades.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

try:  # imported as a part of pgrender: its tests, tools that walk the package
    from pgrender.member_scripts import liveness
except ModuleNotFoundError:  # run from <c>-config, beside liveness.py (the image has no pgrender)
    import liveness  # type: ignore[import-not-found,no-redef]

KEY = "pgrender_upgrade"  # where in a member key's data the facts are published
SHUT_DOWN = "shut down"  # pg_control's state of a primary that stopped cleanly
IN_PRODUCTION = "in production"  # a primary's that runs, or stopped without a shutdown checkpoint
POLL_SECONDS = 2.0
REPORT_SECONDS = 30.0  # how often a waiting guard says again what it waits for
REPORT_LINES = 100  # of each file a failed pg_upgrade leaves: its reports' first lines, its logs' last


GUARD = "pgrender upgrade guard"  # what the log lines start with (restore.py, which imports this, says its own)


def log(message: str) -> None:
    print(f"{GUARD}: {message}", flush=True)


# --------------------------------------------------------------------------------------------
# What a data directory's control file says
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What one member's old data directory holds (None: it holds no cluster)."""

    system_id: str
    state: str  # pg_controldata's "Database cluster state"
    timeline: int
    checkpoint: int  # the latest checkpoint's location, as a number
    checksums: bool

    def as_data(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_data(data: Any) -> Facts | None:
        if not isinstance(data, dict):
            return None
        try:
            return Facts(
                str(data["system_id"]),
                str(data["state"]),
                int(data["timeline"]),
                int(data["checkpoint"]),
                bool(data["checksums"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def lsn(text: str) -> int:
    """A WAL location as PostgreSQL writes it (0/3000028) as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def has_cluster(data_dir: str) -> bool:
    return os.path.isfile(os.path.join(data_dir, "global", "pg_control"))


def controldata(bin_dir: str, data_dir: str) -> dict[str, str]:
    """pg_controldata's lines as a mapping, read in the C locale (its labels are translated)."""
    environment = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    done = subprocess.run(
        [os.path.join(bin_dir, "pg_controldata"), "-D", data_dir],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pg_controldata -D {data_dir} failed: {done.stderr.strip()}")
    return parse_controldata(done.stdout)


def parse_controldata(text: str) -> dict[str, str]:
    lines = (line.partition(":") for line in text.splitlines())
    return {key.strip(): value.strip() for key, colon, value in lines if colon}


def facts_of(control: Mapping[str, str]) -> Facts:
    return Facts(
        system_id=control["Database system identifier"],
        state=control["Database cluster state"],
        timeline=int(control["Latest checkpoint's TimeLineID"]),
        checkpoint=lsn(control["Latest checkpoint location"]),
        checksums=control.get("Data page checksum version", "0") != "0",
    )


# --------------------------------------------------------------------------------------------
# The decision: the same on every member, from what every member published
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    action: str  # wait, upgrade, follow (remove the old data, become a replica), start (Patroni as it is)
    reason: str


def decide(
    me: str,
    members: Sequence[str],
    published: Mapping[str, Facts | None],
    initialize: str | None,
    leader: str | None,
    leader_major: int | None = None,
    new_major: int = 0,
) -> Decision:
    """What member ``me`` does, from the facts the members published (``published``: member name ->
    its old data's facts, None for a member without old data; a member that did not publish is not in
    it), the DCS's initialize key and its leader. Every member that takes part decides the same.
    ``leader_major``: the major version the leader runs (None: not known), asked only of a member
    without old data beside a leader; ``new_major``: this member's."""
    mine = published.get(me)
    old = {f.system_id for f in published.values() if f is not None}
    if initialize and old and initialize not in old:
        return Decision("follow", f"the cluster was upgraded (the initialize key names system {initialize})")
    if leader:
        if mine is None:
            # Patroni would copy the leader into this member's new data directory, whatever its version:
            # pg_basebackup copies an older server, which PostgreSQL of the new version then cannot start.
            if leader_major is None:
                return Decision("wait", f"{leader} leads, and its REST API does not say which PostgreSQL it runs")
            if leader_major != new_major:
                return Decision(
                    "wait",
                    f"{leader} leads the cluster at PostgreSQL {leader_major}: this member, at {new_major} and "
                    "without data, follows only an upgraded leader (shut the cluster down: spec.shutdown: true)",
                )
            return Decision("start", f"{leader} leads at {new_major} and this member holds no data of the old version")
        return Decision(
            "wait",
            f"{leader} leads the cluster at the old version: the upgrade starts only once every member has "
            "stopped (spec.shutdown: true first)",
        )
    missing = [m for m in members if m not in published]
    if not old:
        if initialize:
            return Decision("wait", "no member has reported data of the old version yet, and none leads")
        if missing:  # Patroni would make a new cluster, and the data of the old one would then be removed
            return Decision("wait", f"waiting for {', '.join(missing)} to start and report its data")
        return Decision("start", "no member holds data of the old version, and the DCS holds no cluster")
    if len(old) > 1:
        return Decision("wait", f"the members' old data belongs to different systems ({', '.join(sorted(old))})")
    if missing:
        return Decision("wait", f"waiting for {', '.join(missing)} to start and report its data")
    candidates = [(f.timeline, f.checkpoint, name) for name, f in published.items() if f and f.state == SHUT_DOWN]
    if not candidates:
        states = ", ".join(f"{name}: {f.state if f else 'no data'}" for name, f in sorted(published.items()))
        return Decision(
            "wait",
            "no member's data was shut down as a primary, which pg_upgrade needs (" + states + "); start the "
            "cluster at its old version again (revert postgresVersion and spec.upgrade), then shut it down "
            "with spec.shutdown",
        )
    timeline, checkpoint, chosen = max(candidates)
    newer = sorted((name, f) for name, f in published.items() if f and _newer_than(f, timeline, checkpoint))
    if newer:
        states = "; ".join(f"{name}: {f.state}, timeline {f.timeline}, checkpoint {f.checkpoint}" for name, f in newer)
        return Decision(
            "wait",
            f"{chosen} stopped as the primary (timeline {timeline}, checkpoint {checkpoint}), but the data of "
            f"{', '.join(name for name, _ in newer)} may be newer ({states}): upgrading {chosen} would lose it. "
            "Start the cluster at "
            "its old version again (revert postgresVersion and spec.upgrade), let Patroni elect the member with "
            "the latest data, then shut it down with spec.shutdown",
        )
    if chosen == me:
        return Decision("upgrade", f"this member stopped as the primary (timeline {timeline}, checkpoint {checkpoint})")
    return Decision("wait", f"{chosen} holds the cluster's latest data and upgrades it")


def _newer_than(facts: Facts, timeline: int, checkpoint: int) -> bool:
    """Whether a member's data may hold what the primary that stopped at (``timeline``, ``checkpoint``)
    does not: a later timeline (promoted after it stopped), a later checkpoint, or a primary that did not
    stop cleanly ("in production": its WAL goes beyond its last checkpoint) on that timeline or a later
    one (a promotion's first checkpoint on its new timeline may not have been written yet). A replica
    (in recovery) never checkpoints beyond its primary's last checkpoint on the primary's timeline."""
    if (facts.timeline, facts.checkpoint) > (timeline, checkpoint):
        return True
    return facts.state == IN_PRODUCTION and facts.timeline >= timeline


# --------------------------------------------------------------------------------------------
# Patroni's DCS, reached as patronictl reaches it
# --------------------------------------------------------------------------------------------


class Store:
    """This member's view of Patroni's DCS (any DCS Patroni supports), with Patroni's own classes."""

    def __init__(self, config: dict[str, Any]) -> None:
        from patroni.dcs import get_dcs  # type: ignore[import-not-found]

        config = {**config, "patronictl": True}  # a client of the store, as patronictl is
        self.dynamic_configuration = config.get("bootstrap", {}).get("dcs", {})
        self.tls = client_tls(config)
        self.cluster: Any = None
        self.dcs: Any = get_dcs(config)

    def look(self) -> tuple[dict[str, Facts | None], str | None, str | None]:
        """(published facts by member, the initialize key, the leader's name)."""
        cluster = self.dcs.get_cluster()
        published: dict[str, Facts | None] = {}
        for member in cluster.members:
            if KEY in member.data:
                published[member.name] = Facts.from_data(member.data[KEY])
        # Not cluster.leader: in Kubernetes the leader object stands for a leader key with no name.
        leader = None if cluster.is_unlocked() else cluster.leader_name
        self.cluster = cluster
        return published, cluster.initialize, leader

    def status(self, name: str) -> dict[str, Any] | None:
        """What member ``name``'s REST API says of it (GET /patroni, as patronictl asks), with the TLS
        settings of patronictl's (ctl) or the REST API's own; None when it does not answer."""
        member = next((m for m in self.cluster.members if m.name == name), None) if self.cluster else None
        url = member.data.get("api_url") if member is not None else None
        if not url:
            return None
        try:
            with urllib.request.urlopen(url, context=self.tls, timeout=5) as answer:
                status = json.load(answer)
        except (OSError, ValueError):
            return None
        return status if isinstance(status, dict) else None

    def server_major(self, name: str) -> int | None:
        """The major version member ``name`` runs; None when it does not say."""
        version = (self.status(name) or {}).get("server_version")
        return int(version) // 10000 if isinstance(version, int) and version > 0 else None

    def publish(self, facts: Facts | None) -> None:
        data = {"state": "upgrading", "role": "uninitialized", KEY: facts.as_data() if facts else None}
        self.dcs.touch_member(data)

    def hand_over(self, system_id: str, position: int) -> None:
        """Make the DCS describe the upgraded cluster; the initialize key last (the others' signal)."""
        dcs = self.dcs
        if dcs.set_config_value(json.dumps(self.dynamic_configuration)) is False:
            raise RuntimeError("the DCS refused the dynamic configuration")
        # The old leader's position and slots go (etcd; Kubernetes keeps them on the leader object,
        # which Patroni writes once it leads). pg_upgrade starts the new WAL past the old cluster's, so
        # a stale position would not hold Patroni back as lagging: this only leaves no stale slots.
        dcs.write_status({"optime": position})
        if dcs.set_history_value("[]") is False:
            raise RuntimeError("the DCS refused the timeline history")
        sync = dcs.get_cluster().sync
        if sync.leader:  # the old synchronous standby would be the only one to promote
            # With the key's version (Patroni 3: index, 4: version): Kubernetes' DCS changes the sync object
            # only with one; without, it creates it, which exists, and Patroni swallows the conflict.
            dcs.delete_sync_state(getattr(sync, "version", getattr(sync, "index", None)))
        if dcs.initialize(create_new=dcs.get_cluster().initialize is None, sysid=system_id) is False:
            raise RuntimeError("the DCS refused the initialize key")


def client_tls(config: Mapping[str, Any]) -> ssl.SSLContext:
    """A client of the members' REST APIs, as patronictl is: its ctl settings, else the REST API's."""
    ctl, restapi = config.get("ctl") or {}, config.get("restapi") or {}
    context = ssl.create_default_context(cafile=ctl.get("cacert") or restapi.get("cafile") or None)
    if ctl.get("insecure"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    certfile, keyfile = ctl.get("certfile"), ctl.get("keyfile")
    if certfile:
        context.load_cert_chain(certfile, keyfile or None)
    return context


# --------------------------------------------------------------------------------------------
# The upgrade itself
# --------------------------------------------------------------------------------------------


def empty(directory: str | None) -> None:
    if not directory or not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def remove(directory: str | None) -> None:
    if directory and os.path.lexists(directory):
        shutil.rmtree(directory)


def run(command: list[str], cwd: str) -> None:
    log("running " + " ".join(command))
    done = subprocess.run(command, cwd=cwd, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{os.path.basename(command[0])} failed (exit status {done.returncode})")


class Member:
    """This member's directories and programs, from the command line."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.name
        self.old_bin: str = args.old_bin
        self.new_bin: str = args.new_bin
        self.old_data: str = args.old_data
        self.new_data: str = args.new_data
        self.old_wal: str | None = args.old_wal
        self.new_wal: str | None = args.new_wal
        self.superuser: str = args.superuser
        self.new_version: int = args.new_version
        self.marker = self.new_data + ".upgrading"
        self.work_dir = os.path.dirname(self.new_data)  # the data volume: pg_upgrade's sockets and logs

    def old_facts(self) -> Facts | None:
        self.give_back_control_file()
        if not has_cluster(self.old_data):
            return None
        return facts_of(controldata(self.old_bin, self.old_data))

    def other_versions(self) -> list[str]:
        """The data directories of other PostgreSQL versions on this member's data volume (pg<N>)."""
        found = []
        for name in sorted(os.listdir(self.work_dir)):
            path = os.path.join(self.work_dir, name)
            if (
                name[:2] == "pg"
                and name[2:].isdigit()
                and path not in (self.old_data, self.new_data)
                and os.path.isfile(os.path.join(path, "PG_VERSION"))
            ):
                found.append(path)
        return found

    def begin(self, facts: Facts) -> None:
        """The marker, with the facts that made this member the one to upgrade, on disk before anything
        changes: pg_upgrade runs the old cluster for a while (its schema dump), and a container stopped
        then leaves its control file "in production" (:meth:`replay_old`)."""
        with open(self.marker, "w") as marker:
            json.dump(facts.as_data(), marker)
            marker.flush()
            os.fsync(marker.fileno())
        directory = os.open(self.work_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def recorded_facts(self) -> Facts | None:
        """What the old data's control file said when this member's upgrade began (the marker's)."""
        try:
            with open(self.marker) as marker:
                return Facts.from_data(json.load(marker))
        except (OSError, ValueError):
            return None

    def replay_old(self) -> None:
        """The old cluster, which pg_upgrade ran when this container stopped, replayed and shut down cleanly
        (PostgreSQL in single-user mode: crash recovery, then a shutdown checkpoint), as it was when the
        upgrade began. pg_upgrade would try this itself (it starts a server whose postmaster.pid is left),
        but connects to libpq's default socket directory instead of the one the old server's configuration
        names (Patroni's), fails and stops. The container started afresh, so no server of it runs: the old
        lock files are stale (their PIDs may be this container's processes now)."""
        stale = [os.path.join(self.old_data, "postmaster.pid")]
        stale += [os.path.join(self.work_dir, n) for n in os.listdir(self.work_dir) if n.startswith(".s.PGSQL.")]
        for path in stale:
            if os.path.lexists(path):
                os.unlink(path)
        single = [os.path.join(self.old_bin, "postgres"), "--single", "-D", self.old_data, "-c", "archive_mode=off"]
        run([*single, "postgres"], self.work_dir)

    def give_back_control_file(self) -> None:
        """pg_upgrade --link renames the old global/pg_control before it links the files; until the new
        cluster starts, the old one is whole again with its name back (PostgreSQL's pg_upgrade docs).
        Only under the marker: then no Patroni has started the new directory."""
        control = os.path.join(self.old_data, "global", "pg_control")
        moved = control + ".old"
        if os.path.exists(self.marker) and os.path.exists(moved) and not os.path.exists(control):
            os.rename(moved, control)
            log("gave the old cluster its control file back (an earlier pg_upgrade stopped half-way)")

    def upgrade(self, facts: Facts) -> tuple[str, int]:
        """initdb and pg_upgrade --link; the new cluster's system identifier and checkpoint."""
        self.begin(facts)
        remove(self.new_data)
        empty(self.new_wal)
        initdb = [
            os.path.join(self.new_bin, "initdb"),
            "-D",
            self.new_data,
            f"--username={self.superuser}",
            "--encoding=UTF8",
        ]
        if facts.checksums:
            initdb.append("--data-checksums")
        elif self.new_version >= 18:  # 18's initdb turns checksums on unless told not to
            initdb.append("--no-data-checksums")
        if self.new_wal:
            initdb.append(f"--waldir={self.new_wal}")
        run(initdb, self.work_dir)
        pg_upgrade = [
            os.path.join(self.new_bin, "pg_upgrade"),
            "--link",
            f"--old-bindir={self.old_bin}",
            f"--new-bindir={self.new_bin}",
            f"--old-datadir={self.old_data}",
            f"--new-datadir={self.new_data}",
            f"--username={self.superuser}",
            f"--socketdir={self.work_dir}",
            # The old server it starts and stops archives nothing: the repository is the old version's.
            "--old-options=-c archive_mode=off",
        ]
        try:
            run(pg_upgrade, self.work_dir)
        except RuntimeError:
            self.report_pg_upgrade()
            raise
        new = facts_of(controldata(self.new_bin, self.new_data))
        log(f"{self.old_data} is upgraded into {self.new_data}, system {new.system_id}")
        return new.system_id, new.checkpoint

    def report_pg_upgrade(self) -> None:
        """A failed pg_upgrade names files for what it found (the problem columns, libraries, ...) and for
        its servers' and tools' logs, in the new data directory, which the next attempt removes (the
        container starts again at once): into the log with them, the reports whole, the logs' ends."""
        output = os.path.join(self.new_data, "pg_upgrade_output.d")
        for directory, subdirectories, names in os.walk(output):
            subdirectories.sort()
            for name in sorted(names):
                if name == "pg_upgrade_internal.log" or not name.endswith((".txt", ".log")):
                    continue  # the first is what pg_upgrade printed; the others are dumps
                path = os.path.join(directory, name)
                try:
                    with open(path, errors="replace") as file:
                        lines = file.read().splitlines()
                except OSError:
                    continue
                report = name.endswith(".txt")
                kept = lines[:REPORT_LINES] if report else lines[-REPORT_LINES:]
                if not any(line.strip() and not line.startswith(("-----", "  pg_upgrade run on")) for line in kept):
                    continue  # a log with its header only
                part = "" if len(kept) == len(lines) else f" (its {'first' if report else 'last'} {len(kept)} lines)"
                log(f"pg_upgrade wrote {path}{part}:\n" + "\n".join(kept))

    def finish(self) -> None:
        """The upgrade is in the DCS: the old data goes (link mode: the new directory holds its files),
        and pg_upgrade's script that would remove it."""
        remove(self.old_data)
        remove(self.old_wal)
        for name in ("delete_old_cluster.sh", "update_extensions.sql"):
            path = os.path.join(self.work_dir, name)
            if not os.path.exists(path):
                continue
            if name == "update_extensions.sql":  # extensions whose new version the databases should get
                with open(path) as script:
                    log("pg_upgrade says to run this with psql as the superuser:\n" + script.read())
            os.unlink(path)
        if os.path.exists(self.marker):
            os.unlink(self.marker)

    def follow(self) -> None:
        """Another member upgraded: the old data goes, and Patroni makes this member a replica."""
        remove(self.old_data)
        remove(self.old_wal)
        remove(self.new_data)
        empty(self.new_wal)
        if os.path.exists(self.marker):
            os.unlink(self.marker)


def guard(member: Member, store: Store, members: Sequence[str]) -> None:
    """Returns when Patroni may start."""
    if has_cluster(member.new_data) and not os.path.exists(member.marker):
        return  # upgraded (or made by Patroni since): nothing for the guard to do
    if os.path.exists(member.marker) and has_cluster(member.new_data):
        try:
            new: Facts | None = facts_of(controldata(member.new_bin, member.new_data))
        except (RuntimeError, KeyError, ValueError) as e:  # initdb stopped before its control file was whole
            log(f"the new data directory's control file cannot be read ({e})")
            new = None
        if new is not None and store.look()[1] == new.system_id:
            log("the upgrade was done and handed over before this container stopped")
            member.finish()
            return
        log("an upgrade of this member's data stopped half-way: it starts again")
    mine = member.old_facts()
    began = member.recorded_facts()  # the marker's: what made this member the one to upgrade
    if (
        began
        and mine
        and (mine.system_id, mine.timeline) == (began.system_id, began.timeline)
        and mine.state != SHUT_DOWN
    ):
        log(
            f"the old data's control file says {mine.state!r}, not {began.state!r} as when the upgrade began: this "
            "container stopped while pg_upgrade ran the old cluster, which is replayed and shut down again"
        )
        member.replay_old()
        mine = member.old_facts()
    others = member.other_versions() if mine is None else []
    if others:
        # Reported as no data, this member would let the others take the cluster for a new one (initdb).
        raise RuntimeError(
            f"{member.old_data} holds no cluster, but this member's data volume holds {', '.join(others)}: "
            "spec.upgrade.fromVersion must name the version the cluster ran before; nothing was changed"
        )
    said = 0.0
    while True:
        store.publish(mine)
        published, initialize, leader = store.look()
        published[member.name] = mine
        major = store.server_major(leader) if leader and mine is None else None
        decision = decide(member.name, members, published, initialize, leader, major, member.new_version)
        if decision.action == "start":
            log(decision.reason + ": Patroni starts")
            return
        if decision.action == "follow":
            log(decision.reason + f"; {member.old_data} goes and this member becomes a replica")
            member.follow()
            return
        if decision.action == "upgrade":
            assert mine is not None
            log(decision.reason + ": it upgrades the cluster")
            system_id, position = member.upgrade(mine)
            store.hand_over(system_id, position)
            member.finish()
            return
        if time.monotonic() - said >= REPORT_SECONDS:
            log(decision.reason)
            said = time.monotonic()
        time.sleep(POLL_SECONDS)


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    split = list(argv).index("--")
    parser = argparse.ArgumentParser(prog="upgrade.py")
    for option in ("old-bin", "new-bin", "old-data", "new-data", "superuser", "members"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--old-wal")
    parser.add_argument("--new-wal")
    parser.add_argument("--new-version", type=int, required=True)
    return parser.parse_args(argv[:split]), list(argv[split + 1 :])


def exit_on_sigterm() -> None:
    """Stop on SIGTERM (the pod deleted, its node drained). The guard is the container's first process,
    PID 1 of its PID namespace, which gets no default action for a signal: the kernel drops SIGTERM, and
    kubelet would wait terminationGracePeriodSeconds before it kills the container. Stopped in the middle
    of pg_upgrade, the guard takes the upgrade up again when it starts again, as after a kill; Patroni,
    which the guard becomes, handles SIGTERM itself (exec resets the handler)."""

    def stop(signum: int, frame: Any) -> None:
        log("SIGTERM: the container stops; the guard carries on when it starts again")
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def guard_then_become(
    argv: Sequence[str],
    parse: Callable[[Sequence[str]], tuple[argparse.Namespace, list[str]]],
    guard: Callable[[argparse.Namespace, dict[str, Any]], None],
) -> None:
    """A guard's main (this one's, restore.py's): its options (``parse``: they end at "--", the command
    after it ends with Patroni's configuration directory), the liveness probe answered while ``guard``
    runs with them and Patroni's configuration, then the command in its place (exec). A guard that fails
    says why and exits 1: the container starts again, and so does the guard, where it was."""
    exit_on_sigterm()
    args, command = parse(argv)
    environment = dict(os.environ)  # Patroni's Config takes the PATRONI_* variables out of os.environ
    with liveness.answered(command[-1]) as config:
        args.name = config["name"]
        try:
            guard(args, config)
        except Exception as e:
            log(f"stopped: {type(e).__name__}: {e}; the container starts again and the guard carries on")
            sys.exit(1)
    os.execvpe(command[0], command, environment)


def main(argv: Sequence[str]) -> None:
    guard_then_become(argv, parse, lambda args, config: guard(Member(args), Store(config), args.members.split(",")))


if __name__ == "__main__":
    main(sys.argv[1:])
