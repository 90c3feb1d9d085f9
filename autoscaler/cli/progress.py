"""The one-line progress bar the long-running commands (benchmark, tune) draw on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

WIDTH = 30


def progress_bar(started: float) -> Callable[[str, float], None]:
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
