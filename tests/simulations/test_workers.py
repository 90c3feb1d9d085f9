"""``simulations.workers.run_pool``: an interrupt drops the queued runs."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future, wait
from pathlib import Path

import pytest

from simulations.workers import run_pool


def _held_until(release: str) -> None:
    """A run that lasts until the file ``release`` exists (60 s at most): how many runs
    have started when the interrupt comes then depends on the pool, not on how fast a
    loaded machine gets through timed runs."""
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.01)


def _sigint_ignored() -> bool:
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_an_interrupt_cancels_the_queued_runs_instead_of_waiting_for_them(
    tmp_path: Path,
) -> None:
    """20 runs on 2 workers, the first at once and the other 19 held until the test
    releases them: interrupted after the first result, the queued ones are cancelled
    (a plain ``with ProcessPoolExecutor`` would have run all 20). Only the first, the two
    the workers hold and the few in the executor's call queue (3 in CPython 3.11) can
    have started."""
    release = tmp_path / "release"
    futures: list[Future[int | None]] = []

    def interrupted_run() -> None:
        with run_pool(2) as pool:
            futures.append(pool.submit(os.getpid))
            futures.extend(pool.submit(_held_until, str(release)) for _ in range(19))
            futures[0].result()
            raise KeyboardInterrupt

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    # Nor waited for the held runs (60 s, until released below): the interrupt is
    # raised at once, the workers left to finish in the background.
    assert time.monotonic() - began < 30
    started = [f for f in futures if not f.cancelled()]
    assert len(futures) - len(started) >= 10, len(started)
    # Only the started runs are waited for: a future cancelled by ``cancel()`` counts as
    # done for ``wait`` once the executor notifies it, which an executor shut down with
    # its queue drained never does (``wait`` on it takes its whole timeout).
    release.touch()
    _, not_done = wait(started, timeout=30)
    assert not not_done


def test_the_workers_leave_sigint_to_the_parent() -> None:
    # Compared with the parent's own handler, not with the default: a test run started
    # in the background by a non-interactive shell already ignores SIGINT.
    before = signal.getsignal(signal.SIGINT)
    with run_pool(1) as pool:
        assert pool.submit(_sigint_ignored).result() is True
        assert pool.submit(os.getpid).result() != os.getpid()
    assert signal.getsignal(signal.SIGINT) is before
