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
    """``show(label, fraction)``: redraws only when the permille or the label changes."""
    last: list[object] = [-1, ""]

    def show(label: str, fraction: float) -> None:
        filled = int(WIDTH * fraction)
        permille = int(1000 * fraction)
        if permille == last[0] and label == last[1]:
            return
        last[0], last[1] = permille, label
        elapsed = time.monotonic() - started
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (WIDTH - filled)}] {100 * fraction:5.1f}% "
            f"{elapsed:5.0f}s {label:<22}"
        )
        sys.stderr.flush()

    return show


def with_progress(quiet: bool, work: Callable[[Progress | None], Result]) -> tuple[Result, float]:
    """``work(bar)``, with a bar unless ``quiet``; returns its result and the wall seconds."""
    started = time.monotonic()
    bar = None if quiet else progress_bar(started)
    result = work(bar)
    if bar is not None:
        sys.stderr.write("\n")
    return result, time.monotonic() - started
