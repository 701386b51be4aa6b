"""The WAL mover: pg_wal onto the WAL volume for a member whose data was made before it had one (a
walVolume added to the spec since; PGO moves it alike at start-up). Every member's container runs it
when the spec has a WAL volume, before the copy guard and Patroni (shipped in ConfigMap <c>-config
beside liveness.py and the copy guard, whose helpers it imports; run with the image's python3, nothing of
pgrender is imported).

With a cluster in the data directory (global/pg_control) whose pg_wal is a directory of its own, not
the link ``initdb --waldir`` makes (a new member gets the link: initdb's, or the copy's of a replica
or a restore), the segments are copied into the WAL directory on the WAL volume (another volume: a
copy, emptied first of what a copy that did not finish left) and made durable; the directory is then
moved out of the data directory (``<data>.pg_wal``, a rename on the data volume), the link put in its
place, and the directory removed. ``<data>.pg_wal`` says how far a container stopped on the way got:
once it is there the copy is whole, and what is left is the link and its removal. No server runs
meanwhile (the container started afresh, and Patroni starts after this). Kubelet's liveness probe is
answered while it copies (liveness.py): a large pg_wal takes longer than the probe waits.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

try:  # imported as a part of pgrender: its tests, tools that walk the package
    from pgrender.member_scripts import liveness
    from pgrender.member_scripts.copy_guard import empty
except ModuleNotFoundError:  # run from <c>-config, beside liveness.py and copy_guard.py (the image has no pgrender)
    import liveness  # type: ignore[import-not-found,no-redef]
    from copy_guard import empty  # type: ignore[import-not-found,no-redef]


def log(message: str) -> None:
    print("pgrender WAL mover: " + message, flush=True)


def move_wal(data: str, wal: str, config_dir: str) -> None:
    """pg_wal onto the WAL volume, behind the link, when it is a directory of the data directory's own;
    the steps a container stopped on the way left undone."""
    pg_wal = os.path.join(data, "pg_wal")
    moved = data + ".pg_wal"
    if not os.path.islink(pg_wal) and os.path.isdir(pg_wal):
        log(f"{pg_wal} is on the data volume: it moves to {wal}, on the WAL volume")
        with liveness.answered(config_dir):
            empty(wal)  # what a copy that did not finish left
            os.makedirs(wal, mode=0o700, exist_ok=True)
            shutil.copytree(pg_wal, wal, symlinks=True, dirs_exist_ok=True)
            durable(wal)
            os.rename(pg_wal, moved)
    if os.path.isdir(moved) and not os.path.lexists(pg_wal):
        os.symlink(wal, pg_wal)
        durable(data, files=False)
        log(f"{pg_wal} links to {wal}")
    if os.path.islink(pg_wal) and os.path.isdir(moved):
        shutil.rmtree(moved)


def durable(directory: str, files: bool = True) -> None:
    """fsync of ``directory``'s files (``files``) and directories, itself included: on disk before the swap."""
    for root, _, names in os.walk(directory):
        for name in names if files else ():
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        descriptor = os.open(root, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if not files:
            return


def main(argv: Sequence[str]) -> None:
    split = list(argv).index("--")
    (data, wal), command = argv[:split], list(argv[split + 1 :])
    environment = dict(os.environ)  # Patroni's Config takes the PATRONI_* variables out of os.environ
    try:
        if os.path.isfile(os.path.join(data, "global", "pg_control")):
            move_wal(data, wal, command[-1])
    except Exception as e:
        log(f"stopped: {type(e).__name__}: {e}; the container starts again and so does the move")
        sys.exit(1)
    os.execvpe(command[0], command, environment)


if __name__ == "__main__":
    main(sys.argv[1:])
