"""``simulations.workers.run_pool``: an interrupt drops the queued runs."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future, wait

import pytest

from simulations.workers import run_pool


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _sigint_ignored() -> bool:
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_an_interrupt_cancels_the_queued_runs_instead_of_waiting_for_them() -> None:
    """20 runs of 0.2 s on 2 workers: interrupted after the first result, the queued
    ones are cancelled (a plain ``with ProcessPoolExecutor`` would have run all 20)."""
    futures: list[Future[float]] = []

    def interrupted_run() -> None:
        with run_pool(2) as pool:
            futures.extend(pool.submit(_nap, 0.2) for _ in range(20))
            futures[0].result()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    wait(futures, timeout=30)  # the pool's manager thread cancels them just after
    cancelled = sum(f.cancelled() for f in futures)
    assert cancelled >= 10, cancelled


def test_the_workers_leave_sigint_to_the_parent() -> None:
    # Compared with the parent's own handler, not with the default: a test run started
    # in the background by a non-interactive shell already ignores SIGINT.
    before = signal.getsignal(signal.SIGINT)
    with run_pool(1) as pool:
        assert pool.submit(_sigint_ignored).result() is True
        assert pool.submit(os.getpid).result() != os.getpid()
    assert signal.getsignal(signal.SIGINT) is before
