"""The bootstrap guard: a new cluster whose first member is killed while it copies its data (an OOM
kill, an eviction, a lost node) bootstraps again when its container starts again, instead of
waiting for a person.

With a custom bootstrap (spec.bootstrap.fromCluster: pg_basebackup; spec.bootstrap.fromBackup:
pgBackRest's restore), Patroni takes the DCS's initialize key (as "") before it runs the copy, and
writes the system identifier there once the copy runs as the primary. Killed in between, Patroni
does not finish the bootstrap by itself when it starts again:

- the data directory holds part of a copy, without global/pg_control (both tools write it last):
  "data dir for the cluster is not empty, but system ID is invalid; consider doing reinitialize",
  every loop, for ever (``patronictl reinit`` needs a leader, and there is none);
- with that directory emptied, the initialize key of a bootstrap in progress is still there:
  "waiting for leader to bootstrap", for ever, on every member.

So with a custom bootstrap the members' containers run this guard before Patroni, and the bootstrap
command leaves a mark:

1. The bootstrap command creates a marker beside the data directory, on the data volume
   (:func:`marker`), before the copy, and removes it when the copy succeeded (:func:`marked`).
2. The guard (:data:`SCRIPT`, in the image's python3) runs as the container's command and then
   becomes Patroni (exec). When the marker is there, this member's copy did not finish, and no
   Patroni ran on the directory since. If the cluster was not initialized meanwhile (the initialize
   key is "" or absent, and there is no leader), it removes the initialize key through Patroni's own
   DCS classes, reaching the store as patronictl does (the same configuration directory, any DCS),
   empties the data directory (and the WAL directory), and removes the marker. Patroni then races
   for the key and runs the bootstrap again, from the start. If the cluster was initialized
   meanwhile (by hand), it leaves the data directory as it is. If the store cannot be reached, it
   exits having removed nothing, and the container starts again later.

A copy that fails (Patroni still running) needs none of this: Patroni removes the key itself, moves
the data directory aside and exits; the guard then finds no key to remove.
"""

from __future__ import annotations

import shlex

from pgrender.plan import ClusterPlan, defaults

# sh -c SCRIPT MARKER COMMAND...: the marker while the copy runs, removed only when it succeeded.
MARK = 'touch -- "$0" && "$@" && rm -f -- "$0"'

# The guard, run as `python3 -c SCRIPT MARKER DIRECTORY... -- PATRONI CONFIG_DIR`. Paths only come as
# arguments: the text holds none of the pod's mount points.
SCRIPT = """\
import os, shutil, sys


def log(message):
    print("pgrender bootstrap guard: " + message, flush=True)


def empty(directory):
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


def reset(directories, config_dir):
    from patroni.config import Config
    from patroni.dcs import get_dcs

    config = Config(config_dir, validator=None).copy()
    config["patronictl"] = True  # a client of the store, as patronictl is
    dcs = get_dcs(config)
    cluster = dcs.get_cluster()
    if cluster.initialize not in (None, "") or not cluster.is_unlocked():
        log("the cluster was initialized meanwhile (initialize key %r); the data directory stays as it is"
            % cluster.initialize)
        return
    if cluster.initialize == "":
        if not dcs.cancel_initialization():
            raise RuntimeError("the initialize key could not be removed")
        log("removed the initialize key of the interrupted bootstrap")
    for directory in directories:
        empty(directory)
        log("emptied " + directory)


def main(argv):
    split = argv.index("--")
    (marker, *directories), command = argv[:split], argv[split + 1:]
    environment = dict(os.environ)  # Patroni's Config takes the PATRONI_* variables out of os.environ
    if os.path.exists(marker):
        log("the copy that bootstraps this cluster did not finish (%s is there): starting it again" % marker)
        try:
            reset(directories, command[-1])
        except Exception as e:
            log("cannot start the bootstrap again (%s: %s); the marker stays, the next start tries again"
                % (type(e).__name__, e))
            sys.exit(1)
        os.unlink(marker)
    os.execvpe(command[0], command, environment)


main(sys.argv[1:])
"""


def custom_bootstrap(plan: ClusterPlan) -> bool:
    """Whether Patroni bootstraps the cluster by copying data in (restore or clone), not initdb."""
    backups = plan.backups
    restore = bool(backups and backups.source and not backups.source.standby)
    return restore or plan.clone_source is not None


def marker(plan: ClusterPlan) -> str:
    """The file that says a copy into the data directory is under way: beside it, on the data volume."""
    return f"{plan.data_dir}.bootstrapping"


def marked(plan: ClusterPlan, command: str) -> str:
    """The bootstrap command ``command`` (a shell-quoted line) with the marker around it."""
    return shlex.join(["sh", "-c", MARK, marker(plan), *shlex.split(command)])


def member_command(plan: ClusterPlan) -> list[str]:
    """The database container's command: Patroni, after the guard with a custom bootstrap."""
    patroni = [plan.patroni_command, defaults.PATRONI_CONFIG_DIR]
    if not custom_bootstrap(plan):
        return patroni
    directories = [plan.data_dir, *([plan.wal_dir] if plan.wal_dir else [])]
    return ["python3", "-c", SCRIPT, marker(plan), *directories, "--", *patroni]
