"""Performance settings of a render, kept apart from the pipeline: interpreter tuning and the
thread pool that computes SCRAM verifiers while later clusters are built."""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Executor


# Clusters in a batch from which worker processes finish them (pgrender.fleet), and the CPUs they
# need. Measured on an idle 2-core machine (fleet_bench's break-even and cores rows): one process
# already keeps 1.75 cores busy, the SCRAM threads using the second core while the main thread
# builds; workers reach 1.8 cores and the same wall time (1.0x from 64 to 400 clusters), and are
# slower below that (1.3x at 8 and 24 clusters: starting them takes 12-20 ms). So they wait for a
# third CPU, which the threads leave idle, and for the batch size at which two cores broke even.
PROCESSES_FROM = 64
PROCESSES_CPUS = 3

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# The collector's first threshold while pgrender works, as mypy sets it: the objects built are trees
# of dicts, freed by reference counting, and the collector would walk them again and again.
YOUNG_THRESHOLD = 100_000


class ScramPool:
    """The SCRAM thread pool, made when a second cluster arrives, or a cluster with MANY verifiers:
    importing concurrent.futures costs a one-cluster render more (about 10 ms) than computing a
    few verifiers inline.

    hashlib.pbkdf2_hmac releases the GIL (measured: 200 verifiers take half the wall time on two
    threads as on one), so threads suffice. In a batch, one cluster's verifiers take about as long
    on one core as the rest of its render takes on the main thread, so two threads keep ahead; they
    leave a CPU to the main thread (CPU affinity counts, as in a container with a cpuset). A cluster
    with many users waits for its own verifiers: they get every CPU.
    """

    WORKERS = 2
    MANY = 16  # verifiers in one cluster worth a pool of their own (about 16 ms inline)
    AHEAD = 2  # clusters built while an earlier one is finished: their verifiers compute meanwhile

    def __init__(self) -> None:
        self._clusters = 0
        self._pool: Executor | None = None

    def next_cluster(self, verifiers: int = 0) -> Executor | None:
        """The executor for the next cluster's ``verifiers``; None: compute them inline."""
        self._clusters += 1
        if self._pool is None and (self._clusters >= 2 or verifiers >= self.MANY):
            from concurrent.futures import ThreadPoolExecutor

            workers = cpus() if verifiers >= self.MANY else min(self.WORKERS, cpus() - 1)
            self._pool = ThreadPoolExecutor(max(1, workers), "pgrender-scram")
        return self._pool

    def shutdown(self) -> None:
        if self._pool:
            self._pool.shutdown(cancel_futures=True)


def cpus() -> int:
    """The CPUs this process may run on (CPU affinity counts, as in a container with a cpuset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def tuned() -> Iterator[ScramPool]:
    """Interpreter settings for the length of a render, restored afterwards, and the SCRAM pool.

    - Collect cycles rarely (YOUNG_THRESHOLD).
    - Switch threads every 0.2 ms: a SCRAM thread needs the GIL back after each PBKDF2 (about
      1 ms) and would otherwise wait out the default 5 ms.
    """
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(YOUNG_THRESHOLD, *threshold[1:])
    sys.setswitchinterval(0.0002)
    pool = ScramPool()
    try:
        yield pool
    finally:
        pool.shutdown()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)


def command_process() -> None:
    """A pgrender command's process, for its whole life (record.main, a fleet worker): collect
    cycles rarely from the start, not only while rendering (tuned()). Importing the pipeline makes
    about 30,000 objects that live to the end: at the default threshold the collector walked them in
    20 collections, and once more all that a render had made as tuned() restored the threshold
    (together 6 ms, 6% of a cold render of one cluster; benchmarks/cold_bench.py)."""
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def worker(parent: int) -> None:
    """A fleet worker process's settings, for its whole life (see tuned()); ``parent``: the main
    process's pid.

    - Ctrl-C reaches every process of the terminal's group: a worker interrupted halfway through a
      cluster never returned it, and the render waited for it; the main process stops the render
      instead, and the workers finish what they hold. A worker is forked with SIGINT blocked
      (fleet._submit): one that arrived meanwhile is dropped as it is unblocked.
    - A worker dies with the main process, however that ends (SIGKILL, the OOM killer), where the
      system can say so (Linux's PR_SET_PDEATHSIG): its own copy of the work queue's pipe kept it
      waiting for work for good.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it ended before prctl() took effect
            os._exit(1)
    command_process()
