"""The one-line progress bar the long-running commands (benchmark, tune) draw on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")
Progress = Callable[[str, float], None]

WIDTH = 30


def progress_bar(started: float) -> Progress:
    """``show(label, fraction)``. On a terminal, one line redrawn in place when the
    permille or the label changes; otherwise (a log file, CI) one line per tenth done,
    since a log keeps every carriage-return frame (120 of them on one "line" for one
    benchmark)."""
    tty = sys.stderr.isatty()
    last: list[object] = [-1, ""]

    def show(label: str, fraction: float) -> None:
        filled = int(WIDTH * fraction)
        step = int(1000 * fraction) if tty else int(10 * fraction)
        if step == last[0] and (label == last[1] or not tty):
            return
        last[0], last[1] = step, label
        elapsed = time.monotonic() - started
        bar = (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {100 * fraction:5.1f}% "
            f"{elapsed:5.0f}s {label:<22}"
        )
        sys.stderr.write(f"\r{bar}" if tty else f"{bar.rstrip()}\n")
        sys.stderr.flush()

    return show


def with_progress(quiet: bool, work: Callable[[Progress | None], Result]) -> tuple[Result, float]:
    """``work(bar)``, with a bar unless ``quiet``; returns its result and the wall seconds."""
    started = time.monotonic()
    bar = None if quiet else progress_bar(started)
    result = work(bar)
    if bar is not None and sys.stderr.isatty():
        sys.stderr.write("\n")
    return result, time.monotonic() - started
