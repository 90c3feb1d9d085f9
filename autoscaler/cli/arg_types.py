"""argparse value types that reject bad numbers at parse time, with argparse's own
one-line usage error (exit 2), instead of a traceback from deep inside a run."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from autoscaler.errors import AutoscalerError


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (a period, a median duration, a speed)."""
    try:
        value = _number(text)
    except argparse.ArgumentTypeError:
        value = math.nan
    if not value > 0:  # also NaN
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0 (a tolerance, a spread)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0 (a random seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number above 0 (a count of processes, of clients)."""
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def writable_folder(out: Path, flag: str = "--out") -> None:
    """Create ``out`` now, before a run of minutes whose results would go nowhere."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AutoscalerError(f"{flag} {out}: cannot create the folder: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise AutoscalerError(f"{flag} {out}: the folder is not writable")
