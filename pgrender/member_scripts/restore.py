"""The restore guard: the cluster's data restored in place from one of its own repositories
(spec.restore), run in each member's container before the copy guard and Patroni (shipped in ConfigMap
<c>-config beside upgrade.py, whose helpers it imports: Patroni's DCS classes, pg_controldata, and
through it liveness.py's answer to kubelet's probe; nothing of pgrender is imported).

spec.restore.run renders every member's container as ``python3 restore.py ARGS -- python3
copy_guard.py ... patroni CONFIG_DIR``. After a shutdown (spec.shutdown) the members start together. A
restore throws away what the cluster wrote after its target, so it is made only while no member runs,
once per run, on one member, and the others copy that one. Each guard:

1. with a data directory that holds this run's restore (the file ``--restored-file``, which the
   restore writes into it and every copy of the directory carries) in a cluster the DCS calls
   initialized: Patroni starts, nothing else (the restore was made; a member started again later);
2. with a leader in the DCS: this member follows it. Its data on an earlier timeline than the
   leader's (a restore promotes on a timeline later than any the cluster had) is the history the
   restore left: the data and WAL directories are emptied and Patroni copies the leader anew. Otherwise
   (no data, or the leader's timeline: a cluster that was never shut down, where no restore is made)
   Patroni starts with the data as it is;
3. otherwise it publishes what its data's control file says (timeline, checkpoint, state) for this run
   in its member key of Patroni's DCS, again every few seconds, and waits until every member named in
   ``--members`` has; then every member takes the same decision (:func:`decide`): the member with the
   latest data restores (a primary's clean shutdown first on the same checkpoint, then the order of
   ``--members``), or the first member when none holds data;
4. the chosen member writes a marker beside its data directory (``<data>.restoring``, the run), so that
   a container stopped from here on carries on without deciding again; sets its data and WAL directories
   aside (renamed ``<dir><--set-aside>`` on the same volume: instant); removes the DCS's synchronous
   standby, timeline history and initialize key; and becomes the copy guard, then Patroni. With an
   empty data directory and no initialize key Patroni bootstraps the cluster, with the restore command
   of bootstrap.yaml: the directories put back, ``pgbackrest restore --delta`` to the target (only the
   files that differ from the backup are copied), the run written into the data directory. Recovery
   then promotes it on a new timeline, and it leads;
5. the others wait for that leader (2.).

A bootstrap that failed (recovery did not reach the target, say) leaves the data directory renamed
``<data>.failed`` by Patroni, which then stops: the guard starts again at 4. with it as the directory set
aside, so each attempt is a delta restore and none leaves a copy behind; the members' logs and Patroni's
say why it failed (fix the target, bump the run). While the guard runs, Patroni's REST API address
answers /liveness (and nothing else), so that kubelet's liveness probe does not restart a member that
waits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

try:  # imported as a part of pgrender: its tests, tools that walk the package
    from pgrender.member_scripts import upgrade
except ModuleNotFoundError:  # run from <c>-config, beside upgrade.py (the image has no pgrender)
    import upgrade  # type: ignore[import-not-found,no-redef]

log = upgrade.log

KEY = "pgrender_restore"  # where in a member key's data the facts are published
FAILED = ".failed"  # Patroni's suffix for the data and WAL directories of a bootstrap that failed


@dataclass(frozen=True)
class Decision:
    action: str  # wait, restore, start (Patroni as it is), follow (the data emptied, a replica)
    reason: str


def decide(
    me: str,
    members: Sequence[str],
    published: Mapping[str, upgrade.Facts | None],
    leader: str | None,
    leader_timeline: int | None,
    bootstrapping: bool,
) -> Decision:
    """What member ``me`` does, from the facts the members published for this run (``published``: member
    name -> its data's facts, None for a member without data; a member that did not publish is not in it),
    the DCS's leader, the timeline it runs on (asked only of a member with data beside a leader; None:
    not known) and whether a bootstrap is under way (the initialize key is ""). Every member that takes
    part decides the same."""
    mine = published.get(me)
    if leader:
        if mine is None:
            return Decision("start", f"{leader} leads and this member holds no data: Patroni copies it")
        if leader_timeline is None:
            return Decision("wait", f"{leader} leads, and its REST API does not say on which timeline")
        if leader_timeline > mine.timeline:
            return Decision(
                "follow",
                f"{leader} leads on timeline {leader_timeline}, this member's data is on timeline {mine.timeline}: "
                "the history the restore left",
            )
        return Decision(
            "start",
            f"{leader} leads on this member's timeline ({leader_timeline}): the cluster was not shut down, so no "
            "restore is made (spec.shutdown: true first, then spec.restore with a new run)",
        )
    if bootstrapping:
        return Decision("wait", "a member restores the cluster (a bootstrap is under way): waiting for it to lead")
    missing = [m for m in members if m not in published]
    if missing:
        return Decision("wait", f"waiting for {', '.join(missing)} to start and report its data")
    order = {name: i for i, name in enumerate(members)}
    holders = [
        (f.timeline, f.checkpoint, f.state == upgrade.SHUT_DOWN, -order[n], n) for n, f in published.items() if f
    ]
    chosen = max(holders)[-1] if holders else members[0]
    if chosen != me:
        return Decision("wait", f"{chosen} holds the cluster's latest data and restores it")
    if mine is None:
        return Decision("restore", "no member holds data: this one restores the cluster")
    return Decision(
        "restore", f"this member holds the latest data (timeline {mine.timeline}, checkpoint {mine.checkpoint})"
    )


class RestoreStore(upgrade.Store):
    """Patroni's DCS as the upgrade guard reaches it, with this guard's key."""

    def __init__(self, config: dict[str, Any], run: int) -> None:
        super().__init__(config)
        self.run = run

    def look_for_run(self) -> tuple[dict[str, upgrade.Facts | None], str | None, str | None]:
        """(facts published for this run by member, the initialize key, the leader's name)."""
        cluster = self.dcs.get_cluster()
        published: dict[str, upgrade.Facts | None] = {}
        for member in cluster.members:
            data = member.data.get(KEY)
            if isinstance(data, dict) and data.get("run") == self.run:
                published[member.name] = upgrade.Facts.from_data(data.get("facts"))
        leader = None if cluster.is_unlocked() else cluster.leader_name
        self.cluster = cluster
        return published, cluster.initialize, leader

    def publish(self, facts: upgrade.Facts | None) -> None:
        data = {"run": self.run, "facts": facts.as_data() if facts else None}
        self.dcs.touch_member({"state": "restoring", "role": "uninitialized", KEY: data})

    def timeline(self, name: str) -> int | None:
        timeline = (self.status(name) or {}).get("timeline")
        return timeline if isinstance(timeline, int) and timeline > 0 else None

    def make_room_for_bootstrap(self) -> None:
        """No synchronous standby (the old one would be the only member allowed to lead), no timeline
        history (the restored leader writes its own), and no initialize key: Patroni bootstraps."""
        dcs = self.dcs
        cluster = dcs.get_cluster()
        sync = cluster.sync
        if sync.leader:
            dcs.delete_sync_state(getattr(sync, "version", getattr(sync, "index", None)))
        if cluster.history is not None and dcs.set_history_value("[]") is False:
            raise RuntimeError("the DCS refused the timeline history")
        if cluster.initialize is not None and not dcs.cancel_initialization():
            raise RuntimeError("the initialize key could not be removed")


class Member:
    """This member's directories, from the command line."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.name: str = args.name
        self.run: int = args.run
        self.bin: str = args.bin
        self.data: str = args.data
        self.wal: str | None = args.wal
        self.aside: str = args.set_aside
        self.restored_file = os.path.join(self.data, args.restored_file)
        self.marker = self.data + ".restoring"

    def facts(self) -> upgrade.Facts | None:
        return upgrade.facts_of(upgrade.controldata(self.bin, self.data)) if upgrade.has_cluster(self.data) else None

    def restored_run(self) -> int | None:
        try:
            with open(self.restored_file) as file:
                return int(file.read().strip())
        except (OSError, ValueError):
            return None

    def chosen_before(self) -> bool:
        """Whether this member took this run's restore on before its container stopped (the marker's)."""
        try:
            with open(self.marker) as marker:
                return bool(json.load(marker).get("run") == self.run)
        except (OSError, ValueError, AttributeError):
            return False

    def begin(self) -> None:
        with open(self.marker, "w") as marker:
            json.dump({"run": self.run}, marker)
            marker.flush()
            os.fsync(marker.fileno())
        directory = os.open(os.path.dirname(self.data), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def directories(self) -> list[str]:
        return [self.data, *([self.wal] if self.wal else [])]

    def set_aside(self) -> None:
        """The data and WAL directories renamed for the bootstrap to put back. Already set aside (a
        container stopped after), what is in their place now is a restore that did not finish, which the
        bootstrap would remove: it goes now, or the copy guard would take it for a copy to wait on. A
        bootstrap that failed left them renamed .failed by Patroni: they become the ones set aside."""
        if not os.path.exists(self.data + self.aside) and os.path.isdir(self.data + FAILED):
            for directory in self.directories():
                if os.path.isdir(directory + FAILED):
                    upgrade.remove(directory + self.aside)
                    os.rename(directory + FAILED, directory + self.aside)
            log(f"took back {self.data}{FAILED}, which a restore that failed left, for the next one")
        for directory in self.directories():
            if os.path.exists(directory + self.aside):
                upgrade.remove(directory)
            elif os.path.isdir(directory) and os.listdir(directory):
                # A server of this container cannot run (it started afresh): its lock file is stale, and
                # pgBackRest refuses to restore beside one.
                pid = os.path.join(directory, "postmaster.pid")
                if directory == self.data and os.path.exists(pid):
                    os.unlink(pid)
                os.rename(directory, directory + self.aside)
                log(f"set {directory} aside as {directory}{self.aside} for the restore")

    def follow(self) -> None:
        for directory in self.directories():
            upgrade.empty(directory)
            log(f"emptied {directory}")

    def done(self) -> None:
        """This member does not restore (now): what a restore of its own left beside its directories goes,
        the marker and the directories set aside or failed (an attempt at a run given up for another)."""
        for directory in self.directories():
            for left in (directory + self.aside, directory + FAILED):
                if os.path.exists(left):
                    upgrade.remove(left)
                    log(f"removed {left}, which a restore of this member left")
        if os.path.exists(self.marker):
            os.unlink(self.marker)


def restore(member: Member, store: RestoreStore) -> None:
    member.begin()
    member.set_aside()
    store.make_room_for_bootstrap()
    log("Patroni bootstraps the cluster with the restore (pgbackrest restore --delta)")


def guard(member: Member, store: RestoreStore, members: Sequence[str]) -> None:
    """Returns when the copy guard, then Patroni, may start."""
    published, initialize, leader = store.look_for_run()
    if member.restored_run() == member.run and initialize:
        log(f"this member's data holds restore run {member.run}: Patroni starts")
        member.done()
        return
    if leader is None and member.chosen_before():
        log(f"this member took restore run {member.run} on before its container stopped: it carries on")
        restore(member, store)
        return
    mine = member.facts()
    said, last = 0.0, ""
    while True:
        if leader is None:
            store.publish(mine)
            published, initialize, leader = store.look_for_run()
        published[member.name] = mine
        timeline = store.timeline(leader) if leader and mine is not None else None
        decision = decide(member.name, members, published, leader, timeline, initialize == "")
        if decision.action == "start":
            log(decision.reason + ": Patroni starts")
            member.done()
            return
        if decision.action == "follow":
            log(decision.reason + ": Patroni copies the leader into this member anew")
            member.follow()
            member.done()
            return
        if decision.action == "restore":
            log(decision.reason + f": it restores run {member.run}")
            restore(member, store)
            return
        if decision.reason != last or time.monotonic() - said >= upgrade.REPORT_SECONDS:  # news, or again
            log(decision.reason)
            said, last = time.monotonic(), decision.reason
        time.sleep(upgrade.POLL_SECONDS)
        published, initialize, leader = store.look_for_run()


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    split = list(argv).index("--")
    parser = argparse.ArgumentParser(prog="restore.py")
    for option in ("bin", "data", "set-aside", "restored-file", "members"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--wal")
    return parser.parse_args(argv[:split]), list(argv[split + 1 :])


def main(argv: Sequence[str]) -> None:
    upgrade.GUARD = "pgrender restore guard"
    upgrade.guard_then_become(
        argv,
        parse,
        lambda args, config: guard(Member(args), RestoreStore(config, args.run), args.members.split(",")),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
