"""The copy guard: a member whose container was killed while data was copied into its data directory
(an OOM kill, an eviction, a lost node) copies again when its container starts again, instead of
waiting for a person. Every member's container runs it before Patroni (shipped in ConfigMap
<c>-config, run with the image's python3; it imports Patroni's DCS classes only to recover).

Patroni copies data into an empty data directory in two cases: the bootstrap of a cluster from a copy
(spec.bootstrap: pgBackRest's restore, or pg_basebackup from a running cluster; Patroni holds the DCS's
initialize key as "" meanwhile), and every new replica (pgBackRest's restore from the repository, else
pg_basebackup from the leader). Killed in the middle, the directory holds part of a copy without
global/pg_control (both tools write it last), and Patroni 3 does not finish by itself when it starts
again:

- a replica: "data dir for the cluster is not empty, but system ID is invalid; consider doing
  reinitialize", every loop, for ever, until someone runs ``patronictl reinit``;
- a bootstrap: the same, and with the directory emptied, the initialize key of a bootstrap in progress
  is still there: "waiting for leader to bootstrap", for ever, on every member (and ``patronictl
  reinit`` needs a leader, which there is none of).

Two markers, files beside the data directory on the data volume, say that a directory holds a copy of
Patroni's that may not have finished:

- the bootstrap marker (``<data>.bootstrapping``): the bootstrap command creates it before the copy
  and removes it when the copy succeeded (components/copy_guard.py, ``marked``);
- the copy marker (``<data>.copying``): this guard creates it when it finds the data directory empty
  or absent, before Patroni starts: whatever is in the directory later, Patroni put there. A later
  start that finds a control file there removes it.

So when the container starts, the guard:

1. with the bootstrap marker: if the cluster was not initialized meanwhile (the initialize key is ""
   or absent, and there is no leader), removes the initialize key and empties the data directory (and
   the WAL directory): Patroni then races for the key and runs the bootstrap again, from the start. If
   the cluster was initialized meanwhile, it leaves the directory to step 3. The marker goes.
2. with a control file in the data directory: the copy finished, the copy marker goes; with an empty
   or absent data directory: the copy marker is made, and a WAL directory that is not empty is
   emptied (pg_basebackup and initdb refuse one, and Patroni would retry for ever): what a copy that
   did not finish left there (the marker was there), or, on a new data volume beside an old WAL
   volume, segments that cannot start this member again, when another member leads the cluster
   (else nothing is removed and the container exits, as in step 3).
3. with the copy marker and part of a copy (no control file): if the cluster is initialized (its
   initialize key names a system) and another member leads, it empties the data directory and the WAL
   directory, as ``patronictl reinit`` would, and Patroni copies again from the leader or the
   repository. If the initialize key is "" and no member leads, the copy was this member's bootstrap
   without a bootstrap command (a standby cluster's leader, which Patroni copies from the source with
   its replica creation; initdb), and it is started again as in step 1. Otherwise (no leader to copy
   from yet) it removes nothing and exits, and the container starts again later, when there may be
   one.

Then it becomes Patroni (exec). A directory with no marker is left as it is: it was not copied in by a
Patroni this guard ran before. If the DCS cannot be reached, nothing is removed and the container exits,
to try again when it starts again.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any


def log(message: str) -> None:
    print("pgrender copy guard: " + message, flush=True)


def has_cluster(data_dir: str) -> bool:
    return os.path.isfile(os.path.join(data_dir, "global", "pg_control"))


def is_empty(directory: str) -> bool:
    try:
        return not os.listdir(directory)
    except FileNotFoundError:
        return True


def empty(directory: str) -> None:
    """Remove what ``directory`` holds, not the directory itself (its owner and mode stay)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def touch(path: str) -> None:
    with open(path, "a"):
        pass


class Store:
    """Patroni's DCS, reached as patronictl reaches it: the same configuration directory, any DCS."""

    def __init__(self, config_dir: str) -> None:
        from patroni.config import Config  # type: ignore[import-not-found]
        from patroni.dcs import get_dcs  # type: ignore[import-not-found]

        config: dict[str, Any] = Config(config_dir, validator=None).copy()
        config["patronictl"] = True  # a client of the store, as patronictl is
        self.name: str = config["name"]
        self.dcs = get_dcs(config)
        self.cluster = self.dcs.get_cluster()

    @property
    def initialize(self) -> str | None:
        initialize: str | None = self.cluster.initialize
        return initialize

    @property
    def leader(self) -> str | None:
        # Not cluster.leader: in Kubernetes the leader object stands for a leader key with no name.
        leader: str | None = None if self.cluster.is_unlocked() else self.cluster.leader_name
        return leader


def restart_bootstrap(directories: Sequence[str], store: Store) -> bool:
    """Step 1: whether the bootstrap starts again (the key removed, the directories emptied)."""
    if store.initialize not in (None, "") or store.leader is not None:
        log(f"the cluster was initialized meanwhile (initialize key {store.initialize!r})")
        return False
    if store.initialize == "":
        if not store.dcs.cancel_initialization():
            raise RuntimeError("the initialize key could not be removed")
        log("removed the initialize key of the interrupted bootstrap")
    for directory in directories:
        empty(directory)
        log("emptied " + directory)
    return True


def leads_elsewhere(store: Store) -> bool:
    """Whether the cluster is initialized and a member other than this one leads it."""
    return bool(store.initialize) and store.leader is not None and store.leader != store.name


def copy_again(directories: Sequence[str], store: Store) -> bool:
    """Step 3: whether the copy starts again (the directories emptied)."""
    leader = store.leader
    if store.initialize == "" and leader is None:
        # A bootstrap that copies without a command to mark: a standby cluster's leader, which Patroni
        # makes with its replica creation from the source, holding the initialize key as "". Only the
        # member that took the key copies; the key of one killed in the middle stays until removed.
        log(f"a copy into {directories[0]} did not finish, and the initialize key says a bootstrap is under way")
        return restart_bootstrap(directories, store)
    if not leads_elsewhere(store):
        log(
            f"a copy into {directories[0]} did not finish, and no other member leads the cluster to copy from "
            f"(initialize key {store.initialize!r}, leader {leader!r}): nothing is removed; the container "
            "starts again later"
        )
        return False
    for directory in directories:
        empty(directory)
        log(f"emptied {directory}: a copy into it did not finish (no global/pg_control)")
    log(f"{leader} leads: Patroni copies this member's data again")
    return True


def guard(bootstrap_marker: str, copy_marker: str, directories: Sequence[str], config_dir: str) -> bool:
    """Whether Patroni may start."""
    data = directories[0]
    store: Store | None = None
    if os.path.exists(bootstrap_marker):
        log(f"the copy that bootstraps this cluster did not finish ({bootstrap_marker} is there)")
        store = Store(config_dir)
        if restart_bootstrap(directories, store):
            log("Patroni starts the bootstrap again")
        os.unlink(bootstrap_marker)
    if has_cluster(data):
        if os.path.exists(copy_marker):
            os.unlink(copy_marker)
        return True
    if is_empty(data):
        left = [d for d in directories[1:] if not is_empty(d)]  # pg_basebackup and initdb refuse them
        if left and not os.path.exists(copy_marker):
            # No copy was here since the guard ran: the data volume is new (lost, replaced), the WAL
            # volume is not. Its segments cannot start this member again; the leader holds the cluster.
            store = store or Store(config_dir)
            if not leads_elsewhere(store):
                log(
                    f"{data} is empty but {', '.join(left)} is not, and no other member leads the cluster to "
                    f"copy from (initialize key {store.initialize!r}, leader {store.leader!r}): nothing is "
                    "removed; the container starts again later"
                )
                return False
        for directory in left:
            empty(directory)
            log(f"emptied {directory}: WAL without its data directory (a copy that did not finish, a new data volume)")
        touch(copy_marker)
        return True
    if not os.path.exists(copy_marker):
        return True  # not a copy of Patroni's since this guard ran: as it is
    return copy_again(directories, store or Store(config_dir))


def main(argv: Sequence[str]) -> None:
    split = list(argv).index("--")
    (bootstrap_marker, copy_marker, *directories), command = argv[:split], list(argv[split + 1 :])
    environment = dict(os.environ)  # Patroni's Config takes the PATRONI_* variables out of os.environ
    try:
        ready = guard(bootstrap_marker, copy_marker, directories, command[-1])
    except Exception as e:
        log(f"stopped: {type(e).__name__}: {e}; nothing more was removed, the container starts again and tries again")
        sys.exit(1)
    if not ready:
        sys.exit(1)
    os.execvpe(command[0], command, environment)


if __name__ == "__main__":
    main(sys.argv[1:])
