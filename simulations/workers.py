"""Process pools for the simulations' independent runs (benchmark, tune) that stop on
Ctrl-C: the queued runs are dropped at once instead of being waited for one by one.

A plain ``with ProcessPoolExecutor()`` block waits for every submitted run on its way
out, whatever the exception: Ctrl-C in a benchmark of 142 runs on 2 workers went on for
minutes. The workers ignore SIGINT (the terminal sends it to the whole process group),
so the parent alone decides: it cancels the queue and re-raises; the runs in progress,
a few seconds each, finish in their workers.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class RunPool:
    """``submit`` as on the executor, keeping the futures so that they can be cancelled
    here: ``shutdown(cancel_futures=True)`` leaves the cancelling to the pool's manager
    thread, which skips it when the executor has been garbage-collected first (as it is
    once the exception has left the function that made it)."""

    def __init__(self, executor: ProcessPoolExecutor) -> None:
        self._executor = executor
        self._futures: list[Future[object]] = []

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future = self._executor.submit(fn, *args, **kwargs)
        self._futures.append(future)  # type: ignore[arg-type]
        return future

    def run_all(self, tasks: Sequence[Callable[[], R]]) -> list[R]:
        """Call every (picklable) task on the pool; the results in the order of ``tasks``."""
        futures = [self.submit(task) for task in tasks]
        return [future.result() for future in futures]

    def cancel_queued(self) -> None:
        for future in self._futures:
            future.cancel()  # False (and harmless) for a run already started or done


@contextmanager
def run_pool(workers: int) -> Iterator[RunPool]:
    executor = ProcessPoolExecutor(workers, initializer=_ignore_interrupts)
    pool = RunPool(executor)
    try:
        yield pool
    except BaseException:
        pool.cancel_queued()
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown()
