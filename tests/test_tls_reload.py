"""The tls-reload sidecar's watcher (pod_parts/tls_reload.SCRIPT), run for real against stand-in processes.

A stand-in is a Python process whose command line ends like a target's (``dummy <config>``); it
counts the SIGHUPs it receives in a file. The watcher runs as the sidecar's command does, with a
short interval. (tests/runtime/test_tls_providers.py runs it against Patroni, PostgreSQL and pgBouncer.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgrender.pod_parts.tls_reload import SCRIPT
from tests.self_signed import self_signed

EVERY = 0.1
# The stand-in, run as `dummy <root>/config` (that file is this script): it counts SIGHUPs in
# $COUNT; with $MODE fork, a child that does the same into $COUNT.child; with deaf, it ignores none
# of them (SIGHUP kills it).
STAND_IN = """
import os, signal, time
count, mode = os.environ["COUNT"], os.environ.get("MODE", "")
if mode == "fork" and os.fork() == 0:
    count += ".child"
if mode != "deaf":
    signal.signal(signal.SIGHUP, lambda *_: open(count, "a").write("hup\\n"))
open(count + ".ready", "w").close()
while True:
    time.sleep(1)
"""


# The watcher as the sidecar runs it, but saying when it first sleeps, which it does after each
# digest: a test that waited a fixed time for the first one failed on a loaded machine, where the
# change it wrote came first and was taken for the state to watch.
DIGESTED = "test: digested"
WATCHER = f"""
import time
_sleep = time.sleep
def _said(seconds):
    print({DIGESTED!r}, flush=True)
    time.sleep = _sleep
    _sleep(seconds)
time.sleep = _said
exec(compile({SCRIPT!r}, "tls_reload", "exec"))
"""


def write(directory: Path, cert: bytes | None, key: bytes | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in (("tls.key", key), ("tls.crt", cert)):
        if content is not None:
            (directory / f".{name}.new").write_bytes(content)
            (directory / f".{name}.new").replace(directory / name)


def hups(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def eventually(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Pod:
    """A watched directory, the watcher, and stand-ins, all stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tls = root / "tls"
        self.config = str(root / "config")
        self.processes: list[subprocess.Popen[bytes]] = []
        write(self.tls, *self_signed("first"))
        write(self.tls / "replication", *self_signed("replication"))

    def stand_in(self, name: str, mode: str = "") -> Path:
        count = self.root / name
        script = self.root / "config"
        script.write_text(STAND_IN)
        env = {"COUNT": str(count), "MODE": mode, "PATH": "/usr/bin:/bin"}
        # Each process a session of its own: a forked stand-in's child goes with it at stop().
        started = subprocess.Popen(["dummy", str(script)], executable=sys.executable, env=env, start_new_session=True)
        self.processes.append(started)
        assert eventually(lambda: Path(f"{count}.ready").exists())
        return count

    def watch(self) -> Path:
        log = self.root / "watcher.log"
        with log.open("wb") as out:
            command = [sys.executable, "-c", WATCHER, str(EVERY), str(self.tls), "--", "dummy", self.config]
            self.processes.append(
                subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )
        # Its first digest, which later ones are compared with: a change written before it is no change.
        assert eventually(lambda: DIGESTED in log.read_text())
        return log

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # each leads its own process group
            process.kill()
            process.wait()


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Pod]:
    made = Pod(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def test_a_change_sends_one_sighup_and_none_at_start(pod: Pod) -> None:
    count = pod.stand_in("target")
    log = pod.watch()
    time.sleep(5 * EVERY)
    assert hups(count) == 0  # nothing changed since it started
    write(pod.tls, *self_signed("renewed"))
    assert eventually(lambda: hups(count) == 1), log.read_text()
    time.sleep(5 * EVERY)
    assert hups(count) == 1
    write(pod.tls / "replication", *self_signed("replication renewed"))  # any file below the watched directory
    assert eventually(lambda: hups(count) == 2), log.read_text()
    assert "sent SIGHUP to dummy" in log.read_text()


def test_a_key_without_its_certificate_waits(pod: Pod) -> None:
    """A Secret written key by key: no reload until the certificate matches the key again."""
    count = pod.stand_in("target")
    log = pod.watch()
    cert, key = self_signed("renewed")
    write(pod.tls, None, key)
    assert eventually(lambda: "waiting for a certificate to match its key" in log.read_text())
    assert hups(count) == 0
    write(pod.tls, cert, None)
    assert eventually(lambda: hups(count) == 1), log.read_text()


def test_a_process_that_would_die_of_sighup_is_not_signalled_and_the_reload_waits(pod: Pod) -> None:
    """One that does not catch SIGHUP (still starting) is left alone; the reload stays pending until
    a process that catches it runs (a restarted container)."""
    deaf = pod.stand_in("deaf", "deaf")
    log = pod.watch()
    write(pod.tls, *self_signed("renewed"))
    assert eventually(lambda: "dummy is not running yet" in log.read_text())
    assert pod.processes[0].poll() is None and hups(deaf) == 0
    pod.processes[0].kill()
    count = pod.stand_in("target")
    assert eventually(lambda: hups(count) == 1), log.read_text()


def test_only_the_topmost_of_forked_targets_is_signalled(pod: Pod) -> None:
    """A forked worker has its parent's command line (pgBackRest's server): only the parent is signalled."""
    count = pod.stand_in("target", "fork")
    assert eventually(lambda: Path(f"{count}.child.ready").exists())
    log = pod.watch()
    write(pod.tls, *self_signed("renewed"))
    assert eventually(lambda: hups(count) == 1), log.read_text()
    time.sleep(5 * EVERY)
    assert hups(Path(f"{count}.child")) == 0


def test_other_command_lines_are_left_alone(pod: Pod) -> None:
    """Only a process whose command line ends with the target's program and arguments."""
    count = pod.stand_in("target")
    log = pod.watch()
    write(pod.tls, *self_signed("renewed"))
    assert eventually(lambda: hups(count) == 1), log.read_text()
    other = subprocess.Popen(  # the same program with another argument: no target
        ["dummy", str(pod.root / "config"), "extra"],
        executable=sys.executable,
        env={"COUNT": str(pod.root / "x")},
        start_new_session=True,
    )
    pod.processes.append(other)
    write(pod.tls, *self_signed("again"))
    assert eventually(lambda: hups(count) == 2), log.read_text()
    assert hups(pod.root / "x") == 0
