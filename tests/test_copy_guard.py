"""The copy guard (member_scripts/copy_guard.py, components/copy_guard.py): where it is rendered, and
its script (as shipped in <c>-config) and the bootstrap command's marker run for real, the guard
against a stand-in of Patroni's DCS classes.

tests/runtime/test_copies.py kills a first member in the middle of each bootstrap copy (pg_basebackup,
pgBackRest's restore) and a replica in the middle of its restore, and checks that each copies again
with Patroni, etcd and the real tools.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pgrender import member_scripts
from pgrender.components.copy_guard import MARK, SCRIPT
from tests.conftest import base_spec, find

ME, OTHER = "hippo-instance1-0-0", "hippo-instance1-1-0"
SYSTEM = "7412345678901234567"

# Stand-ins for the parts of Patroni the guard imports. Config takes the PATRONI_* variables out of
# os.environ, as Patroni's does; the store is a JSON file ($FAKE_STORE) that also records the calls.
FAKE_PATRONI = {
    "patroni/__init__.py": "",
    "patroni/config.py": """
        import os

        class Config:
            def __init__(self, path, validator=None):
                assert validator is None
                self.path = path
                self.name = os.environ.pop("PATRONI_NAME", None)

            def copy(self):
                return {"config_dir": self.path, "name": self.name}
    """,
    "patroni/dcs/__init__.py": """
        import json, os

        PATH = os.environ["FAKE_STORE"]

        def load():
            with open(PATH) as f:
                return json.load(f)

        def save(state):
            with open(PATH, "w") as f:
                json.dump(state, f)

        class Cluster:
            def __init__(self, state):
                self.initialize, self.leader_name = state["initialize"], state["leader"]

            def is_unlocked(self):
                return not self.leader_name

        class Store:
            def get_cluster(self):
                state = load()
                if state.get("unreachable"):
                    raise ConnectionError("the store does not answer")
                return Cluster(state)

            def cancel_initialization(self):
                state = load()
                state["initialize"] = None
                state["calls"].append("cancel_initialization")
                save(state)
                return True

        def get_dcs(config):
            state = load()
            state["calls"].append("get_dcs %s patronictl=%s" % (config["config_dir"], config["patronictl"]))
            save(state)
            return Store()
    """,
}
# What the guard execs in place of Patroni: it writes its arguments and PATRONI_NAME to $RAN.
PATRONI = (
    'import json, os, sys; json.dump([sys.argv[1:], os.environ.get("PATRONI_NAME")], open(os.environ["RAN"], "w"))'
)
GET_DCS = "get_dcs /etc/patroni patronictl=True"


class Pod:
    """A data volume with a data directory (and a WAL directory), a store, and the guard's command."""

    def __init__(self, root: Path) -> None:
        for name, text in FAKE_PATRONI.items():
            (root / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "lib" / name).write_text(textwrap.dedent(text))
        self.root = root
        self.script = root / "etc-patroni" / "copy_guard.py"
        self.script.parent.mkdir()
        self.script.write_text(member_scripts.text(SCRIPT))  # the text <c>-config ships
        (root / "pgdata").mkdir()
        self.data, self.wal = root / "pgdata/pg16", root / "pgwal/pg16_wal"
        self.bootstrapping, self.copying = root / "pgdata/pg16.bootstrapping", root / "pgdata/pg16.copying"
        self.store, self.ran = root / "store.json", root / "ran.json"
        self.set_store(initialize=SYSTEM, leader=OTHER)

    def set_store(self, **state: Any) -> None:
        self.store.write_text(json.dumps({"calls": [], **state}))

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.store.read_text())
        return loaded

    def half_copied(self, *markers: Path) -> None:
        """What an interrupted copy leaves: files, a pg_wal link to the WAL directory, no control file."""
        for path in (self.data / "base/1", self.data / "global", self.wal):
            path.mkdir(parents=True, exist_ok=True)
        (self.data / "PG_VERSION").write_text("16\n")
        (self.data / "base/1/1259").write_bytes(b"x" * 8192)
        (self.data / "pg_wal").symlink_to(self.wal)
        (self.wal / "000000010000000000000002").write_bytes(b"\0" * 1024)
        for marker in markers:
            marker.touch()

    def copied(self) -> None:
        """What a finished copy leaves: the control file too."""
        self.half_copied()
        (self.data / "global/pg_control").write_bytes(b"\0" * 8192)

    def guard(self) -> subprocess.CompletedProcess[str]:
        """The container's command as rendered: the guard, then "Patroni" with its configuration directory."""
        patroni = [sys.executable, "-c", PATRONI, "/etc/patroni"]
        markers = [str(self.bootstrapping), str(self.copying)]
        command = [sys.executable, str(self.script), *markers, str(self.data), str(self.wal), "--", *patroni]
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(self.root / "lib"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "FAKE_STORE": str(self.store),
            "RAN": str(self.ran),
            "PATRONI_NAME": ME,
        }
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    def patroni_ran(self) -> bool:
        """Whether "Patroni" ran, with its command line and the environment the container was given."""
        if not self.ran.exists():
            return False
        assert json.loads(self.ran.read_text()) == [["/etc/patroni"], ME]
        return True

    def kept(self) -> bool:
        """Whether the copy's files are all still there."""
        return (self.data / "base/1/1259").exists() and any(self.wal.iterdir())

    def emptied(self) -> bool:
        """Whether the data and WAL directories are there, and empty."""
        return not any(self.data.iterdir()) and not any(self.wal.iterdir())


@pytest.fixture
def pod(tmp_path: Path) -> Pod:
    return Pod(tmp_path)


# -- a member with no copy in its data directory -----------------------------------------------


@pytest.mark.parametrize("directory", ["absent", "empty"])
def test_before_patroni_makes_the_data_directory_the_copy_marker_is_made(pod: Pod, directory: str) -> None:
    if directory == "empty":
        pod.data.mkdir()
    result = pod.guard()
    assert (result.returncode, result.stdout) == (0, "")
    assert pod.copying.exists() and not pod.bootstrapping.exists()
    assert pod.patroni_ran()
    assert pod.state()["calls"] == []  # the store is not even reached


def test_a_finished_copy_loses_its_marker(pod: Pod) -> None:
    pod.copied()
    pod.copying.touch()
    result = pod.guard()
    assert (result.returncode, result.stdout) == (0, "")
    assert not pod.copying.exists() and pod.kept()
    assert pod.patroni_ran() and pod.state()["calls"] == []


@pytest.mark.parametrize("contents", ["copied", "half_copied"])
def test_without_a_marker_the_data_stays_as_it_is(pod: Pod, contents: str) -> None:
    """A data directory Patroni did not copy into since the guard ran (made before there was one)."""
    getattr(pod, contents)()
    result = pod.guard()
    assert (result.returncode, result.stdout) == (0, "")
    assert pod.kept() and not pod.copying.exists()
    assert pod.patroni_ran() and pod.state()["calls"] == []


def test_what_an_earlier_copy_left_in_the_wal_directory_goes(pod: Pod) -> None:
    """Patroni removed the data directory of a copy that failed; pg_basebackup refuses a WAL directory
    that is not empty."""
    pod.half_copied(pod.copying)
    (pod.data / "pg_wal").unlink()
    for path in sorted(pod.data.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    pod.data.rmdir()
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert not any(pod.wal.iterdir()) and pod.copying.exists()
    assert pod.patroni_ran() and pod.state()["calls"] == []
    assert f"emptied {pod.wal}: WAL without its data directory" in result.stdout


def without_the_data_directory(pod: Pod) -> None:
    """A new data volume beside an old WAL volume: WAL segments, no data directory, no marker."""
    pod.wal.mkdir(parents=True)
    (pod.wal / "000000010000000000000002").write_bytes(b"\0" * 1024)


def test_wal_without_its_data_directory_goes_when_another_member_leads(pod: Pod) -> None:
    """pg_basebackup refuses a WAL directory that is not empty: Patroni would retry for ever."""
    without_the_data_directory(pod)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert not any(pod.wal.iterdir()) and pod.copying.exists()
    assert pod.state()["calls"] == [GET_DCS]
    assert pod.patroni_ran()


@pytest.mark.parametrize(("initialize", "leader"), [(SYSTEM, None), (SYSTEM, ME), (None, None), ("", None)])
def test_wal_without_its_data_directory_stays_when_no_other_member_leads(
    pod: Pod, initialize: str | None, leader: str | None
) -> None:
    without_the_data_directory(pod)
    pod.set_store(initialize=initialize, leader=leader)
    result = pod.guard()
    assert result.returncode == 1
    assert any(pod.wal.iterdir()) and not pod.copying.exists()
    assert not pod.patroni_ran()
    assert "no other member leads the cluster to copy from" in result.stdout


# -- a replica whose copy did not finish ----------------------------------------------------------


def test_a_replica_copy_that_did_not_finish_starts_again(pod: Pod) -> None:
    pod.half_copied(pod.copying)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.emptied() and pod.data.is_dir() and pod.wal.is_dir()
    assert pod.copying.exists()  # what Patroni copies next is a copy too
    assert pod.state()["calls"] == [GET_DCS]
    assert pod.patroni_ran()
    assert f"{OTHER} leads: Patroni copies this member's data again" in result.stdout


@pytest.mark.parametrize(
    ("initialize", "leader"),
    [(SYSTEM, None), (SYSTEM, ME), (None, OTHER), (None, None), ("", OTHER)],
    ids=["no-leader", "leader-is-me", "not-initialized", "no-cluster", "bootstrapping-with-a-leader"],
)
def test_without_another_leader_nothing_is_removed_and_the_container_fails(
    pod: Pod, initialize: str | None, leader: str | None
) -> None:
    pod.half_copied(pod.copying)
    pod.set_store(initialize=initialize, leader=leader)
    result = pod.guard()
    assert result.returncode == 1
    assert pod.kept() and pod.copying.exists()
    assert not pod.patroni_ran()
    assert "no other member leads the cluster to copy from" in result.stdout


def test_without_the_store_nothing_is_removed_and_the_container_fails(pod: Pod) -> None:
    pod.half_copied(pod.copying)
    pod.set_store(initialize=SYSTEM, leader=OTHER, unreachable=True)
    result = pod.guard()
    assert result.returncode == 1
    assert "stopped: ConnectionError: the store does not answer" in result.stdout
    assert pod.kept() and pod.copying.exists()
    assert not pod.patroni_ran()


# -- a bootstrap whose copy did not finish ------------------------------------------------------


def test_an_interrupted_bootstrap_is_reset_and_patroni_starts_it_again(pod: Pod) -> None:
    pod.half_copied(pod.bootstrapping, pod.copying)
    pod.set_store(initialize="", leader=None)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state() == {"calls": [GET_DCS, "cancel_initialization"], "initialize": None, "leader": None}
    assert pod.emptied()
    assert not pod.bootstrapping.exists() and pod.copying.exists()
    assert pod.patroni_ran()
    assert "removed the initialize key of the interrupted bootstrap" in result.stdout


def test_an_interrupted_bootstrap_without_a_command_is_reset_too(pod: Pod) -> None:
    """A standby cluster's leader: Patroni copies the source with its replica creation, holding the
    initialize key as "" (no bootstrap command, so no bootstrap marker)."""
    pod.half_copied(pod.copying)
    pod.set_store(initialize="", leader=None)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state() == {"calls": [GET_DCS, "cancel_initialization"], "initialize": None, "leader": None}
    assert pod.emptied() and pod.copying.exists()
    assert pod.patroni_ran()
    assert "the initialize key says a bootstrap is under way" in result.stdout


def test_after_a_failed_bootstrap_copy_patroni_removed_the_key_itself(pod: Pod) -> None:
    """A copy that exits non-zero: Patroni removes the key and the data directory, and exits."""
    pod.half_copied(pod.bootstrapping, pod.copying)
    pod.set_store(initialize=None, leader=None)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state()["calls"] == [GET_DCS]
    assert pod.emptied() and not pod.bootstrapping.exists()
    assert pod.patroni_ran()


def test_a_cluster_initialized_meanwhile_with_a_leader_is_copied_from(pod: Pod) -> None:
    pod.half_copied(pod.bootstrapping, pod.copying)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state()["calls"] == [GET_DCS]  # reached once
    assert pod.emptied() and not pod.bootstrapping.exists()
    assert pod.patroni_ran()
    assert "the cluster was initialized meanwhile" in result.stdout


def test_a_cluster_initialized_meanwhile_without_a_leader_keeps_the_data(pod: Pod) -> None:
    pod.half_copied(pod.bootstrapping, pod.copying)
    pod.set_store(initialize=SYSTEM, leader=None)
    result = pod.guard()
    assert result.returncode == 1
    assert pod.kept() and not pod.bootstrapping.exists() and pod.copying.exists()
    assert not pod.patroni_ran()


def test_without_the_store_a_bootstrap_marker_stays(pod: Pod) -> None:
    pod.half_copied(pod.bootstrapping, pod.copying)
    pod.set_store(initialize="", leader=None, unreachable=True)
    result = pod.guard()
    assert result.returncode == 1
    assert "stopped: ConnectionError: the store does not answer" in result.stdout
    assert pod.kept() and pod.bootstrapping.exists() and pod.copying.exists()
    assert not pod.patroni_ran()


@pytest.mark.parametrize(("command", "status", "marked"), [("true", 0, False), ("false", 1, True)])
def test_the_bootstrap_marker_stays_unless_the_copy_succeeds(
    tmp_path: Path, command: str, status: int, marked: bool
) -> None:
    marker = tmp_path / "pg16.bootstrapping"
    seen = tmp_path / "seen"
    # The copy runs with the marker there, and gets its arguments as given.
    copy = f'test -e {shlex.quote(str(marker))} && echo "$@" > {shlex.quote(str(seen))} && {command}'
    result = subprocess.run(["sh", "-c", MARK, str(marker), "sh", "-c", copy, "copy", "--a=b c"], check=False)
    assert result.returncode == status
    assert seen.read_text() == "--a=b c\n"
    assert marker.exists() == marked


# -- where it is rendered -----------------------------------------------------------------------


def database_command(objects: list[dict[str, Any]], statefulset: str) -> list[str]:
    container = find(objects, "StatefulSet", statefulset)["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "database"
    command: list[str] = container["command"]
    return command


GUARD = ["python3", "/etc/patroni/copy_guard.py", "/pgdata/pg16.bootstrapping", "/pgdata/pg16.copying"]


def test_every_member_runs_the_guard_shipped_in_its_config(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    plain = objects_of(base_spec())
    assert database_command(plain, "hippo-instance1-0") == [*GUARD, "/pgdata/pg16", "--", "patroni", "/etc/patroni"]
    assert find(plain, "ConfigMap", "hippo-config")["data"]["copy_guard.py"] == member_scripts.text(SCRIPT)

    copy = base_spec()
    copy["metadata"]["name"] = "hippo-copy"
    copy["spec"]["bootstrap"] = {"fromCluster": {"cluster": "hippo"}}
    copy["spec"]["imageContract"] = {"patroni": "/usr/local/bin/patroni"}
    assert database_command(objects_of(copy), "hippo-copy-instance1-0") == [
        *GUARD,
        "/pgdata/pg16",
        "--",
        "/usr/local/bin/patroni",
        "/etc/patroni",
    ]

    wal = base_spec()
    wal["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    # after the WAL mover (tests/test_wal_volume.py): python3 wal_volume.py DATA WAL --
    assert database_command(objects_of(wal), "hippo-instance1-1")[7:12] == [
        "/pgdata/pg16.bootstrapping",
        "/pgdata/pg16.copying",
        "/pgdata/pg16",
        "/pgwal/pg16_wal",
        "--",
    ]


def test_an_upgrading_member_runs_the_upgrade_guard_then_the_copy_guard(
    objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spec = base_spec()
    spec["spec"]["postgresVersion"] = 17
    spec["spec"]["upgrade"] = {"fromVersion": 16}
    command = database_command(objects_of(spec), "hippo-instance1-0")
    assert command[:2] == ["python3", "/etc/patroni/upgrade.py"]
    split = command.index("--")
    assert command[split + 1 :] == [
        "python3",
        "/etc/patroni/copy_guard.py",
        "/pgdata/pg17.bootstrapping",
        "/pgdata/pg17.copying",
        "/pgdata/pg17",
        "--",
        "patroni",
        "/etc/patroni",
    ]
