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

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pgrender import tuning
from pgrender.emit import Document, Manifest
from pgrender.frozen import replace

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

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
    """Each plan's output, finished in worker processes, yielded in the order of ``plans``."""
    import multiprocessing

    global _finisher
    _finisher = finisher
    workers = tuning.cpus()
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=tuning.worker) as pool:
            try:
                pending: deque[AsyncResult[ClusterOutput] | _Reused] = deque()
                for plan in plans:
                    warnings.extend(plan.warnings)
                    reused = finisher.reused(plan)
                    pending.append(_Reused(reused) if reused else pool.apply_async(_finish_one, (plan,)))
                    if len(pending) >= IN_FLIGHT * workers:
                        yield pending.popleft().get()
                while pending:
                    yield pending.popleft().get()
            finally:
                # The workers finish what they were given and exit before the pool's own exit, which
                # terminates them: killed while one wrote a result (a spec problem raised at the end
                # of the specs, or a caller that stops reading), it left the result queue's lock held
                # and the pool's shutdown waited on it forever (tests/test_fleet.py).
                pool.close()
                pool.join()
    finally:
        _finisher = None


class _Reused:
    """A cluster the main process took from the output (reuse.py), in line with the workers' results."""

    def __init__(self, output: ClusterOutput) -> None:
        self._output = output

    def get(self) -> ClusterOutput:
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
