"""The WAL mover (member_scripts/wal_volume.py): pg_wal of a member made before it had a WAL volume,
moved onto it before the copy guard and Patroni start. Its script as <c>-config ships it, run for real
(without site-packages, as in the image: it imports liveness.py from beside it, here a stand-in that
records that kubelet's probe was answered), for each place a container stopped on the way leaves.
Its way back (wal_volume_back.py, walVolume.retire) alike. Where they are rendered;
tests/runtime/test_wal_volume.py adds a WAL volume to a running cluster and takes one away."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgrender import member_scripts
from pgrender.components.copy_guard import LIVENESS, SCRIPT, WAL_MOVER, WAL_MOVER_BACK
from pgrender.errors import SpecError
from pgrender.plans import validate
from tests.conftest import base_spec, find

SEGMENT = "000000010000000000000003"
# liveness.py's stand-in: it records the configuration directory the probe was answered for.
FAKE_LIVENESS = """
    import contextlib, os

    @contextlib.contextmanager
    def answered(config_dir):
        with open(os.environ["PROBED"], "a") as f:
            f.write(config_dir + "\\n")
        yield {}
"""
# What the mover execs in place of the copy guard: it writes its arguments to $RAN.
NEXT = 'import json, os, sys; json.dump(sys.argv[1:], open(os.environ["RAN"], "w"))'


class Member:
    """A data volume with a data directory, a WAL volume, and the mover's command."""

    def __init__(self, root: Path) -> None:
        self.root, self.data, self.wal = root, root / "pgdata" / "pg16", root / "pgwal" / "pg16_wal"
        self.moved, self.probed, self.ran = Path(f"{self.data}.pg_wal"), root / "probed", root / "ran"
        self.script = root / "etc-patroni" / WAL_MOVER
        self.script.parent.mkdir()
        self.script.write_text(member_scripts.text(WAL_MOVER))  # the text <c>-config ships
        self.script.with_name(WAL_MOVER_BACK).write_text(member_scripts.text(WAL_MOVER_BACK))
        (self.script.parent / LIVENESS).write_text(textwrap.dedent(FAKE_LIVENESS))
        (self.script.parent / SCRIPT).write_text(member_scripts.text(SCRIPT))  # the copy guard, whose helper it uses
        for path in (self.data / "global", self.data / "pg_wal" / "archive_status", self.wal):
            path.mkdir(parents=True)
        (self.data / "global" / "pg_control").write_bytes(b"\0" * 8192)
        (self.data / "pg_wal" / SEGMENT).write_bytes(b"w" * 4096)
        (self.data / "pg_wal" / "archive_status" / f"{SEGMENT}.ready").write_text("")

    def run(self, back: bool = False) -> subprocess.CompletedProcess[str]:
        script = self.script.with_name(WAL_MOVER_BACK) if back else self.script
        command = [sys.executable, "-S", str(script), str(self.data), str(self.wal), "--"]
        command += [sys.executable, "-c", NEXT, "/etc/patroni"]
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONDONTWRITEBYTECODE": "1",
            "PROBED": str(self.probed),
            "RAN": str(self.ran),
        }
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    def moved_whole(self) -> bool:
        """pg_wal is the link initdb --waldir makes, to the WAL directory, which holds what pg_wal held."""
        return (
            os.readlink(self.data / "pg_wal") == str(self.wal)
            and (self.wal / SEGMENT).read_bytes() == b"w" * 4096
            and sorted(str(p.relative_to(self.wal)) for p in self.wal.rglob("*"))
            == [SEGMENT, "archive_status", f"archive_status/{SEGMENT}.ready"]
            and not self.moved.exists()
            and self.ran.read_text() == '["/etc/patroni"]'  # then the copy guard, with its arguments
        )

    def moved_back_whole(self) -> bool:
        """pg_wal is a directory of the data directory's own again, holding what the WAL directory held,
        and nothing of the move is left beside it."""
        pg_wal = self.data / "pg_wal"
        return (
            not pg_wal.is_symlink()
            and (pg_wal / SEGMENT).read_bytes() == b"w" * 4096
            and sorted(str(p.relative_to(pg_wal)) for p in pg_wal.rglob("*"))
            == [SEGMENT, "archive_status", f"archive_status/{SEGMENT}.ready"]
            and sorted(p.name for p in self.data.parent.iterdir()) == ["pg16"]
            and self.ran.read_text() == '["/etc/patroni"]'
        )


@pytest.fixture
def member(tmp_path: Path) -> Member:
    return Member(tmp_path)


@pytest.fixture
def linked(member: Member) -> Member:
    """A member whose pg_wal links to its WAL volume (moved there, as initdb --waldir would have it)."""
    assert member.run().returncode == 0 and member.moved_whole()
    member.probed.unlink()
    return member


def test_pg_wal_on_the_data_volume_moves_onto_the_wal_volume(member: Member) -> None:
    (member.wal / "00000001000000000000000F").write_bytes(b"")  # what a copy that did not finish left
    done = member.run()
    assert done.returncode == 0, done.stderr
    assert member.moved_whole()
    assert member.probed.read_text() == "/etc/patroni\n"  # kubelet's probe answered while it copied
    assert f"{member.data}/pg_wal is on the data volume: it moves to {member.wal}" in done.stdout


def test_stopped_once_the_copy_was_whole_it_only_links(member: Member) -> None:
    (member.data / "pg_wal").rename(member.moved)
    for path in sorted(member.moved.rglob("*")):
        target = member.wal / path.relative_to(member.moved)
        target.mkdir() if path.is_dir() else target.write_bytes(path.read_bytes())
    done = member.run()
    assert done.returncode == 0, done.stderr
    assert member.moved_whole() and not member.probed.exists()


def test_stopped_after_the_link_it_only_removes_the_old_directory(member: Member) -> None:
    assert member.run().returncode == 0
    member.moved.mkdir()
    (member.moved / SEGMENT).write_bytes(b"old")
    member.probed.unlink()
    done = member.run()
    assert done.returncode == 0 and member.moved_whole() and not member.probed.exists()


@pytest.mark.parametrize("state", ["the link", "no cluster"])
def test_nothing_to_move(member: Member, state: str) -> None:
    """pg_wal links to the WAL volume already (initdb --waldir, a copy's), or the directory holds no
    cluster (the copy guard's to look at): nothing changes."""
    if state == "the link":
        assert member.run().returncode == 0
        member.probed.unlink()
    else:
        (member.data / "global" / "pg_control").unlink()
    before = sorted(str(p) for p in member.root.rglob("*") if p.name != "ran")
    done = member.run()
    assert done.returncode == 0 and (done.stdout, member.probed.exists()) == ("", False)
    assert sorted(str(p) for p in member.root.rglob("*") if p.name != "ran") == before


def test_the_members_run_the_mover_before_the_copy_guard_with_a_wal_volume(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spec = base_spec()
    plain = objects_of(spec)
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    walled = objects_of(spec)

    def command(objects: list[dict[str, Any]]) -> list[str]:
        sts = next(o for o in objects if o["kind"] == "StatefulSet")
        return list(sts["spec"]["template"]["spec"]["containers"][0]["command"])

    assert command(plain)[:2] == ["python3", f"/etc/patroni/{SCRIPT}"]
    mover = ["python3", f"/etc/patroni/{WAL_MOVER}", "/pgdata/pg16", "/pgwal/pg16_wal", "--"]
    assert command(walled) == [*mover, *command(plain)[:5], "/pgwal/pg16_wal", *command(plain)[5:]]
    config = find(walled, "ConfigMap", "hippo-config")["data"]
    assert config[WAL_MOVER] == member_scripts.text(WAL_MOVER) and config[LIVENESS] == member_scripts.text(LIVENESS)
    assert WAL_MOVER not in find(plain, "ConfigMap", "hippo-config")["data"]


# walVolume.retire: the way back (wal_volume_back.py), at each place a container stopped on the way leaves.
def test_back_pg_wal_on_the_wal_volume_moves_back_onto_the_data_volume(linked: Member) -> None:
    done = linked.run(back=True)
    assert done.returncode == 0, done.stderr
    assert linked.moved_back_whole()
    assert linked.probed.read_text() == "/etc/patroni\n"  # kubelet's probe answered while it copied
    assert f"{linked.data}/pg_wal links to {linked.wal} on the WAL volume: it moves back" in done.stdout
    assert (linked.wal / SEGMENT).exists()  # the WAL volume is left as it was


def test_back_stopped_while_it_copied_copies_again(linked: Member) -> None:
    partial = Path(f"{linked.data}.pg_wal.partial")
    partial.mkdir()
    (partial / "00000001000000000000000F").write_bytes(b"half")
    assert linked.run(back=True).returncode == 0 and linked.moved_back_whole()


def test_back_stopped_once_the_copy_was_whole_it_only_swaps(linked: Member) -> None:
    back = Path(f"{linked.data}.pg_wal.back")
    shutil.copytree(linked.wal, back)
    (linked.wal / SEGMENT).write_bytes(b"not read again")  # the whole copy is taken as it is
    assert linked.run(back=True).returncode == 0 and linked.moved_back_whole()
    assert not linked.probed.exists()


def test_back_stopped_between_unlink_and_rename_only_renames(linked: Member) -> None:
    shutil.copytree(linked.wal, Path(f"{linked.data}.pg_wal.back"))
    (linked.data / "pg_wal").unlink()
    assert linked.run(back=True).returncode == 0 and linked.moved_back_whole()


def test_back_after_a_forward_move_stopped_before_the_link_keeps_the_directory(member: Member) -> None:
    """The spec retired the volume before a member finished moving onto it: its own pg_wal was set aside
    whole (<data>.pg_wal) and never left the data volume; it goes back in place."""
    (member.data / "pg_wal").rename(member.moved)
    assert member.run(back=True).returncode == 0 and member.moved_back_whole()


@pytest.mark.parametrize("state", ["a directory", "no cluster"])
def test_back_nothing_to_move(member: Member, state: str) -> None:
    """pg_wal is the data directory's own (a member made since the volume retired, or moved back), or the
    directory holds no cluster: nothing changes."""
    if state == "no cluster":
        (member.data / "global" / "pg_control").unlink()
    before = sorted(str(p) for p in member.root.rglob("*") if p.name != "ran")
    done = member.run(back=True)
    assert done.returncode == 0 and (done.stdout, member.probed.exists()) == ("", False)
    assert sorted(str(p) for p in member.root.rglob("*") if p.name != "ran") == before


def test_a_retired_wal_volume_stays_mounted_and_the_mover_runs_back(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """walVolume.retire: the claim stays and is mounted, the mover runs with --back, new members keep
    pg_wal at home (no waldir for initdb or pg_basebackup), and the StatefulSets say so for `diff`."""
    spec = base_spec()
    plain = objects_of(spec)
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi", "retire": True}
    retired = objects_of(spec)
    sts = find(retired, "StatefulSet", "hippo-instance1-0")
    pod = sts["spec"]["template"]["spec"]
    mover = ["python3", f"/etc/patroni/{WAL_MOVER_BACK}", "/pgdata/pg16", "/pgwal/pg16_wal", "--"]
    plain_command = find(plain, "StatefulSet", "hippo-instance1-0")["spec"]["template"]["spec"]["containers"][0]
    assert pod["containers"][0]["command"] == [*mover, *plain_command["command"]]
    assert {"name": "pgwal", "mountPath": "/pgwal"} in pod["containers"][0]["volumeMounts"]
    assert find(retired, "PersistentVolumeClaim", "hippo-instance1-0-pgwal")
    assert sts["metadata"]["annotations"]["pgrender.io/wal-volume-retired"] == "true"
    config = find(retired, "ConfigMap", "hippo-config")["data"]
    assert "waldir" not in config["patroni.yaml"] + config["bootstrap.yaml"]
    for script in (WAL_MOVER_BACK, WAL_MOVER, LIVENESS):  # the way back imports the other two
        assert config[script] == member_scripts.text(script), script


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"upgrade": {"fromVersion": 15}}, "spec.upgrade works on members that were shut down"),
        ({"instances": [{"name": "b", "dataVolume": {"size": "1Gi"}, "walVolume": {"size": "1Gi"}}]}, "retires"),
    ],
)
def test_retire_refused_with(write_spec: Callable[..., Path], change: dict[str, Any], message: str) -> None:
    spec = base_spec()
    spec["spec"]["instances"][0]["walVolume"] = {"size": "1Gi", "retire": True}
    extra = change.pop("instances", [])
    spec["spec"]["instances"] += extra
    spec["spec"].update(change)
    with pytest.raises(SpecError) as exc:
        validate((str(write_spec(spec)),))
    assert any(message in p.message for p in exc.value.problems), exc.value.problems
