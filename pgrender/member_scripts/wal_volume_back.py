"""The WAL mover's way back: pg_wal back onto the data volume, for the spec's ``walVolume.retire`` (the
WAL volume on its way out; PGO moves WAL back alike when its WAL volume goes). Every member's container
runs it then, before the copy guard and Patroni, with the WAL volume still mounted (shipped in ConfigMap
<c>-config beside wal_volume.py, liveness.py and the copy guard, whose helpers it imports; run with the
image's python3, nothing of pgrender is imported).

With a cluster in the data directory (global/pg_control) whose pg_wal links to the WAL volume (what
``initdb --waldir`` or the WAL mover made), the segments are copied onto the data volume
(``<data>.pg_wal.partial``, emptied first of what a copy that did not finish left), made durable and
renamed ``<data>.pg_wal.back``: once that name is there the copy is whole, and what is left is to
replace the link by that directory. The WAL volume is left as it was. Afterwards nothing on the data
volume points at the WAL volume, and the volume may leave the pod. No server runs meanwhile (the
container started afresh, and Patroni starts after this); kubelet's liveness probe is answered while it
copies (liveness.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

try:  # imported as a part of pgrender: its tests, tools that walk the package
    from pgrender.member_scripts import liveness
    from pgrender.member_scripts.wal_volume import durable, log
except ModuleNotFoundError:  # run from <c>-config, beside liveness.py and wal_volume.py (the image has no pgrender)
    import liveness  # type: ignore[import-not-found,no-redef]
    from wal_volume import durable, log  # type: ignore[import-not-found,no-redef]


def move_back(data: str, wal: str, config_dir: str) -> None:
    """pg_wal back onto the data volume, replacing the link into the WAL volume; the steps a container
    stopped on the way left undone."""
    pg_wal = os.path.join(data, "pg_wal")
    partial, back = data + ".pg_wal.partial", data + ".pg_wal.back"
    forward = data + ".pg_wal"  # wal_volume.py's, set aside before its link
    if os.path.isdir(forward) and not os.path.lexists(pg_wal):
        back = forward  # the move onto the volume stopped before the link: the whole pg_wal, never left
    if os.path.islink(pg_wal):
        if os.path.isdir(forward):  # the move onto the volume stopped before it removed it: the same segments
            shutil.rmtree(forward)
        if not os.path.isdir(back):
            target = os.path.realpath(pg_wal)
            log(f"{pg_wal} links to {target} on the WAL volume: it moves back onto the data volume")
            with liveness.answered(config_dir):
                shutil.rmtree(partial, ignore_errors=True)  # what a copy that did not finish left
                shutil.copytree(target, partial, symlinks=True)
                durable(partial)
                os.rename(partial, back)
                durable(os.path.dirname(data), files=False)
        os.unlink(pg_wal)
    if os.path.isdir(back) and not os.path.lexists(pg_wal):
        os.rename(back, pg_wal)
        durable(data, files=False)
        log(f"{pg_wal} is on the data volume again; {wal} is left as it was")
    shutil.rmtree(partial, ignore_errors=True)


def main(argv: Sequence[str]) -> None:
    # wal_volume.main's, with the other move: a main of its own keeps wal_volume.py's text, which every
    # cluster with a WAL volume ships (a change of it restarts their members), as it was.
    split = list(argv).index("--")
    (data, wal), command = argv[:split], list(argv[split + 1 :])
    environment = dict(os.environ)  # Patroni's Config takes the PATRONI_* variables out of os.environ
    try:
        if os.path.isfile(os.path.join(data, "global", "pg_control")):
            move_back(data, wal, command[-1])
    except Exception as e:
        log(f"stopped: {type(e).__name__}: {e}; the container starts again and so does the move")
        sys.exit(1)
    os.execvpe(command[0], command, environment)


if __name__ == "__main__":
    main(sys.argv[1:])
