"""argparse value types that reject bad numbers at parse time, with argparse's own
one-line usage error (exit 2), instead of a traceback from deep inside a run."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from autoscaler.errors import AutoscalerError
from simulations.profile import MAX_COLD_START_SPREAD


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
    if out.exists() and not out.is_dir():
        raise AutoscalerError(f"{flag} {out}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AutoscalerError(f"{flag} {out}: cannot create the folder: {exc.strerror}") from None
    # A file written, not os.access: root passes that check on a read-only mount or
    # /sys, and the run failed with "Permission denied" only after all its work.
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".lws-autoscaler-write-check-"):
            pass
    except OSError as exc:
        raise AutoscalerError(
            f"{flag} {out}: the folder is not writable ({exc.strerror or exc})"
        ) from None


# More processes than this is a typo (100 forked 100 processes for a 40-run benchmark):
# each run is CPU-bound, so beyond the cores they only queue, and 4x leaves room for a
# machine whose os.cpu_count() undercounts what the container may use.
JOBS_PER_CORE = 4


def job_count(text: str) -> int:
    """A count of processes: at least 1, at most 4 x the cores (refused above, not
    reduced: a typo should not run at all)."""
    value = positive_int(text)
    cores = os.cpu_count() or 1
    if value > JOBS_PER_CORE * cores:
        raise argparse.ArgumentTypeError(
            f"must be at most {JOBS_PER_CORE * cores} ({JOBS_PER_CORE} x the {cores} cores), "
            f"got {text!r}"
        )
    return value


def period_seconds(text: str) -> float:
    """A controller's period: at least 1 s (1e-9 s made a replay of hours take forever;
    the HPA controller's own flag is in seconds, 15 by default)."""
    value = positive_float(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second, got {text!r}")
    return value


def spread(text: str) -> float:
    """A lognormal cold-start spread (sigma of the log), bounded as serving profiles are."""
    value = non_negative_float(text)
    if value > MAX_COLD_START_SPREAD:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COLD_START_SPREAD:g}, got {text!r}")
    return value


def http_url(text: str) -> str:
    """An ``http://`` or ``https://`` URL with a host. ``127.0.0.1:8080`` without a
    scheme would otherwise fail late as "unknown url type" or "No host specified", and
    ``file://`` would read a local file as the server's answer."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8080)"
        )
    return text
