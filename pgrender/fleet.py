"""Large batches on every CPU: clusters finished in worker processes, output in the specs' order.

Building, transforming and emitting a cluster is Python code that holds the GIL, so threads cannot
spread it; processes can. The main process loads, validates and resolves every spec (the rules
across clusters need them all) and hands each plan to a worker, which builds, derives and emits
the cluster and sends its output back; a bounded window of clusters in flight keeps memory flat.

Workers are forked (they start with every module imported, in a few milliseconds) before any
thread exists in the main process, and only for a batch of more than tuning.PROCESSES_FROM
clusters: below that, starting them costs more than they save. Where fork is not offered, the
batch is finished in one process.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pgrender import tuning
from pgrender.emit import Document, Manifest
from pgrender.errors import InternalError, PgrenderError
from pgrender.frozen import replace

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from pgrender.errors import Problem
    from pgrender.plan import ClusterPlan
    from pgrender.render import ClusterOutput, Finisher

IN_FLIGHT = 4  # clusters per worker handed out ahead of the one being written

_finisher: Finisher | None = None  # the render's, in a worker (set before the fork)


def available() -> bool:
    """Whether worker processes can help: a CPU the SCRAM threads leave idle (tuning.PROCESSES_CPUS),
    and fork (see the module docstring)."""
    import multiprocessing

    return tuning.cpus() >= tuning.PROCESSES_CPUS and "fork" in multiprocessing.get_all_start_methods()


def finish(finisher: Finisher, plans: Iterator[ClusterPlan], warnings: list[Problem]) -> Iterator[ClusterOutput]:
    """Each plan's output, finished in worker processes, yielded in the order of ``plans``.

    concurrent.futures' pool rather than multiprocessing's: a worker that dies (the kernel's OOM
    killer) fails every cluster not yet returned (BrokenProcessPool), where multiprocessing.Pool
    replaced the worker and waited for the lost cluster forever. On every way out (the end, an
    error, Ctrl-C, a caller that stops reading) the clusters not started are dropped and the
    workers finish the ones they hold and exit; none is killed halfway through writing a result
    (multiprocessing.Pool's terminate() did that, and its shutdown then waited on a lock forever)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _finisher
    _finisher = finisher  # before the workers are forked: the first submit() forks them all
    workers = tuning.cpus()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, context, initializer=tuning.worker, initargs=(os.getpid(),))
    try:
        pending: deque[Future[ClusterOutput] | _Reused] = deque()
        for plan in plans:
            warnings.extend(plan.warnings)
            reused = finisher.reused(plan)
            pending.append(_Reused(reused) if reused else _submit(pool, plan))
            if len(pending) >= IN_FLIGHT * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool as exc:  # from a result, or from submit() once the pool knows
        if exc.__cause__ is not None:  # a result that could not be read back: pgrender's own doing
            raise InternalError(f"a worker's result could not be read: {exc.__cause__}") from exc
        raise PgrenderError(
            "a worker process died before its clusters were finished (killed: for lack of memory?); nothing was written"
        ) from None
    finally:
        # Not cut short by Ctrl-C (a second one, or one on the way out): the workers would be left
        # waiting for work. It is raised once they have exited.
        with _sigint_blocked():
            pool.shutdown(wait=True, cancel_futures=True)
        _finisher = None


def _submit(pool: ProcessPoolExecutor, plan: ClusterPlan) -> Future[ClusterOutput]:
    """submit() forks the workers (all of them at the first, with fork). SIGINT is blocked meanwhile,
    so a worker is born with it blocked until tuning.worker ignores it: a Ctrl-C in between would
    raise KeyboardInterrupt wherever the worker was in starting, and kill it. The pool's threads,
    started there too, keep it blocked: only the main thread takes Ctrl-C."""
    with _sigint_blocked():
        return pool.submit(_finish_one, plan)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held back from the main thread; one that came meanwhile is raised as the block ends."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _Reused:
    """A cluster the main process took from the output (reuse.py), in line with the workers' results."""

    def __init__(self, output: ClusterOutput) -> None:
        self._output = output

    def result(self) -> ClusterOutput:
        return self._output


def _finish_one(plan: ClusterPlan) -> ClusterOutput:
    """In a worker: one cluster, its verifiers computed inline (the other workers use the other CPUs).

    Only each object's identity goes back with its text: unpickling whole objects in the main
    process cost it as much as the rest of its share of the work."""
    assert _finisher is not None, "a worker is forked after fleet.finish set the render's finisher"
    done = _finisher.finish(*_finisher.build(plan, None))
    return replace(done, documents=tuple(Document(_identity(d.manifest), d.text) for d in done.documents))


def _identity(manifest: Manifest) -> Manifest:
    meta = manifest["metadata"]
    kept = {k: meta[k] for k in ("name", "namespace") if k in meta}
    return {"apiVersion": manifest["apiVersion"], "kind": manifest["kind"], "metadata": kept}
