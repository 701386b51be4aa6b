"""The bootstrap guard (components/bootstrap_guard.py): where it is rendered, and its script and the
bootstrap command's marker run for real, the guard against a stand-in of Patroni's DCS classes.

tests/runtime/test_backups.py kills a first member in the middle of each copy (pg_basebackup,
pgBackRest's restore) and checks that it bootstraps again with Patroni, etcd and the real tools.
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

from pgrender.components.bootstrap_guard import MARK, SCRIPT
from tests.conftest import base_spec, find

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
                self.initialize, self.leader = state["initialize"], state["leader"]

            def is_unlocked(self):
                return not self.leader

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


class Pod:
    """A data volume with a data directory (and a WAL directory), a store, and the guard's command."""

    def __init__(self, root: Path) -> None:
        for name, text in FAKE_PATRONI.items():
            (root / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "lib" / name).write_text(textwrap.dedent(text))
        self.root = root
        self.data, self.wal, self.marker = (
            root / "pgdata/pg16",
            root / "pgwal/pg16_wal",
            root / "pgdata/pg16.bootstrapping",
        )
        self.store, self.ran = root / "store.json", root / "ran.json"
        self.set_store(initialize="", leader=None)

    def set_store(self, **state: Any) -> None:
        self.store.write_text(json.dumps({"calls": [], **state}))

    def state(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.store.read_text())
        return loaded

    def half_copied(self) -> None:
        """What an interrupted copy leaves: files, a pg_wal link to the WAL directory, the marker."""
        for path in (self.data / "base/1", self.data / "global", self.wal):
            path.mkdir(parents=True, exist_ok=True)
        (self.data / "PG_VERSION").write_text("16\n")
        (self.data / "base/1/1259").write_bytes(b"x" * 8192)
        (self.data / "pg_wal").symlink_to(self.wal)
        (self.wal / "000000010000000000000002").write_bytes(b"\0" * 1024)
        self.marker.touch()

    def guard(self) -> subprocess.CompletedProcess[str]:
        """The container's command as rendered: the guard, then "Patroni" with its configuration directory."""
        patroni = [sys.executable, "-c", PATRONI, "/etc/patroni"]
        command = [sys.executable, "-c", SCRIPT, str(self.marker), str(self.data), str(self.wal), "--", *patroni]
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(self.root / "lib"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "FAKE_STORE": str(self.store),
            "RAN": str(self.ran),
            "PATRONI_NAME": "hippo-instance1-0-0",
        }
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30, check=False)

    def patroni_ran(self) -> bool:
        """Whether "Patroni" ran, with its command line and the environment the container was given."""
        if not self.ran.exists():
            return False
        assert json.loads(self.ran.read_text()) == [["/etc/patroni"], "hippo-instance1-0-0"]
        return True


@pytest.fixture
def pod(tmp_path: Path) -> Pod:
    return Pod(tmp_path)


def test_without_the_marker_it_is_patroni_at_once(pod: Pod) -> None:
    pod.half_copied()
    pod.marker.unlink()  # a member that is not bootstrapping (a replica copying: Patroni's own business)
    result = pod.guard()
    assert (result.returncode, result.stdout) == (0, "")
    assert pod.patroni_ran()
    assert pod.state()["calls"] == []  # the store is not even reached
    assert (pod.data / "base/1/1259").exists()


def test_an_interrupted_bootstrap_is_reset_and_patroni_starts_it_again(pod: Pod) -> None:
    pod.half_copied()
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state() == {
        "calls": ["get_dcs /etc/patroni patronictl=True", "cancel_initialization"],
        "initialize": None,
        "leader": None,
    }
    assert pod.data.is_dir() and not any(pod.data.iterdir())
    assert pod.wal.is_dir() and not any(pod.wal.iterdir())
    assert not pod.marker.exists()
    assert pod.patroni_ran()
    assert "removed the initialize key of the interrupted bootstrap" in result.stdout


def test_after_a_failed_copy_patroni_removed_the_key_itself(pod: Pod) -> None:
    """A copy that exits non-zero: Patroni removes the key and moves the directory aside, and exits."""
    pod.half_copied()
    pod.set_store(initialize=None, leader=None)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state()["calls"] == ["get_dcs /etc/patroni patronictl=True"]
    assert not any(pod.data.iterdir()) and not pod.marker.exists()
    assert pod.patroni_ran()


@pytest.mark.parametrize(
    "store",
    [{"initialize": "7412345678901234567", "leader": None}, {"initialize": "", "leader": "hippo-instance1-1-0"}],
    ids=["initialized", "has-a-leader"],
)
def test_a_cluster_initialized_meanwhile_keeps_the_data(pod: Pod, store: dict[str, Any]) -> None:
    pod.half_copied()
    pod.set_store(**store)
    result = pod.guard()
    assert result.returncode == 0, result.stderr
    assert pod.state() == {"calls": ["get_dcs /etc/patroni patronictl=True"], **store}
    assert (pod.data / "base/1/1259").exists() and any(pod.wal.iterdir())
    assert not pod.marker.exists()
    assert pod.patroni_ran()
    assert "the cluster was initialized meanwhile" in result.stdout


def test_without_the_store_nothing_is_removed_and_the_container_fails(pod: Pod) -> None:
    pod.half_copied()
    pod.set_store(initialize="", leader=None, unreachable=True)
    result = pod.guard()
    assert result.returncode == 1
    assert "cannot start the bootstrap again (ConnectionError: the store does not answer)" in result.stdout
    assert (pod.data / "base/1/1259").exists() and pod.marker.exists()
    assert not pod.patroni_ran()


@pytest.mark.parametrize(("command", "status", "marked"), [("true", 0, False), ("false", 1, True)])
def test_the_marker_stays_unless_the_copy_succeeds(tmp_path: Path, command: str, status: int, marked: bool) -> None:
    marker = tmp_path / "pg16.bootstrapping"
    seen = tmp_path / "seen"
    # The copy runs with the marker there, and gets its arguments as given.
    copy = f'test -e {shlex.quote(str(marker))} && echo "$@" > {shlex.quote(str(seen))} && {command}'
    result = subprocess.run(["sh", "-c", MARK, str(marker), "sh", "-c", copy, "copy", "--a=b c"], check=False)
    assert result.returncode == status
    assert seen.read_text() == "--a=b c\n"
    assert marker.exists() == marked


def database_command(objects: list[dict[str, Any]], statefulset: str) -> list[str]:
    container = find(objects, "StatefulSet", statefulset)["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "database"
    command: list[str] = container["command"]
    return command


def test_rendered_with_a_custom_bootstrap_only(objects_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    plain = base_spec()
    assert database_command(objects_of(plain), "hippo-instance1-0") == ["patroni", "/etc/patroni"]
    standby = base_spec()  # its leader copies too, but as Patroni's replica creation (not a custom bootstrap)
    standby["metadata"]["name"] = "hippo-standby"
    standby["spec"]["standby"] = {"fromCluster": {"cluster": "hippo"}}
    assert database_command(objects_of(standby), "hippo-standby-instance1-0") == ["patroni", "/etc/patroni"]

    copy = base_spec()
    copy["metadata"]["name"] = "hippo-copy"
    copy["spec"]["bootstrap"] = {"fromCluster": {"cluster": "hippo"}}
    copy["spec"]["imageContract"] = {"patroni": "/usr/local/bin/patroni"}
    assert database_command(objects_of(copy), "hippo-copy-instance1-0") == [
        "python3",
        "-c",
        SCRIPT,
        "/pgdata/pg16.bootstrapping",
        "/pgdata/pg16",
        "--",
        "/usr/local/bin/patroni",
        "/etc/patroni",
    ]

    restore = base_spec()
    restore["metadata"]["name"] = "hippo-clone"
    repo = {"name": "repo1", "s3": {"bucket": "hippo-backups", "endpoint": "s3.example.com", "region": "eu"}}
    restore["spec"]["bootstrap"] = {
        "fromBackup": {"cluster": "hippo", "repo": {**repo, "credentials": {"secretName": "s"}}}
    }
    restore["spec"]["instances"][0]["walVolume"] = {"size": "1Gi"}
    assert database_command(objects_of(restore), "hippo-clone-instance1-1")[3:6] == [
        "/pgdata/pg16.bootstrapping",
        "/pgdata/pg16",
        "/pgwal/pg16_wal",
    ]
