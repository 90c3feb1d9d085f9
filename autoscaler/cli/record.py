"""``lws-autoscaler record``: save the raw series of some policies from Prometheus to a
recording file, for dry-runs and replays (``docs/recording-format.md``).

Example::

    lws-autoscaler record --prometheus-url http://prometheus:9090 --policies policies/ \\
        --start now-7d --end now --step 15s -o week.json.gz

Times are RFC 3339 (``2026-01-05T00:00:00Z``), Unix seconds, ``now``, or ``now-<duration>``.
A progress bar goes to stderr; the range is queried in chunks under Prometheus's
points-per-series limit.

Every flag is checked before the first query (exit 2, one line naming the flag): the URL,
the times, the span against what ``simulate`` can replay, and the output file's folder.
A recording of hours must not be lost to a typo found only when it is written.

A Prometheus failure, an answer that is not a matrix of samples, and a range in which no
policy's LWS has a single leader series with its pod label (a wrong ``--lws-label``) are
one line, exit 2, and no file. An LWS without leader series while others have some is a
warning: it may have been scaled to zero throughout. A ``user:password@`` in the URL is
used, and shown nowhere (neither in messages nor in the file).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from autoscaler.cli.arg_types import http_url
from autoscaler.durations import format_duration, format_duration_ms, parse_duration
from autoscaler.errors import SourceError, one_line
from autoscaler.policy.loader import load_policies
from autoscaler.sources.base import Target
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.promql import DEFAULT_LWS_LABEL, LabelNames
from autoscaler.sources.recorder import ReplicaMetrics, leaderless, range_problem, record
from autoscaler.sources.recording_format import save_recording

CLOCK_SKEW_SECONDS = 300.0
"""How far past this machine's ``now`` ``--end`` may be: a workstation without NTP drifts
by seconds to a few minutes from Prometheus's clock; ``--end 1e15`` (31 million years
ahead) is a typo."""
MAX_TIMEOUT_SECONDS = 3600.0
"""The longest per-query ``--timeout``: Prometheus's own ``--query.timeout`` defaults to
2m, so a query still running after an hour is stuck, not slow."""
MAX_MESSAGE_CHARS = 400
"""A Prometheus failure is reported in one line of at most this many characters (an HTML
error page from a proxy would otherwise fill the terminal)."""


def parse_time(text: str, now: float) -> float:
    """``now``, ``now-2h``, Unix seconds or RFC 3339 -> Unix seconds (finite)."""
    value = text.strip()
    if value == "now":
        return now
    if value.startswith("now-"):
        return now - parse_duration(value[4:])
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):  # nan, inf, 1e999: no instant
            raise argparse.ArgumentTypeError(f"{text!r} is not a time: it must be finite")
        return seconds
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use now, now-<duration>, Unix seconds or RFC 3339"
        ) from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return parsed.timestamp()


def _duration(low: float, high: float, what: str) -> Any:
    def parse(text: str) -> float:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not low <= seconds <= high or seconds <= 0:
            raise argparse.ArgumentTypeError(f"{what}, got {text!r}")
        return seconds

    return parse


def output_problem(output: str) -> str | None:
    """Why ``-o output`` cannot be written, found by creating (and removing) a file in its
    folder: permission bits say nothing when running as root, nor on a read-only mount."""
    path = Path(output)
    if path.is_dir():
        return f"-o {output}: is a folder; name a file in it (e.g. {path / 'rec.json.gz'})"
    if path.parent.exists() and not path.parent.is_dir():
        return f"-o {output}: {path.parent} is a file, not a folder"
    if not path.parent.is_dir():
        return f"-o {output}: the folder {path.parent} does not exist"
    try:
        descriptor, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        return f"-o {output}: cannot write in {path.parent}: {exc.strerror or exc}"
    os.close(descriptor)
    os.unlink(probe)
    return None


class ProgressBar:
    """``[#########...........]  45%  9/20 queries`` on stderr, redrawn in place on a TTY."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self._last_percent = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        tty = self.stream.isatty()
        if not tty and percent // 10 == self._last_percent // 10 and done != total:
            return  # in logs, one line per 10%
        self._last_percent = percent
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\r" if tty and done < total else "\n"
        self.stream.write(f"[{bar}] {percent:3d}%  {done}/{total} queries{end}")
        self.stream.flush()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record the raw series of some policies from Prometheus",
        description="Record the raw series (gauges, counters, histogram buckets) every "
        "policy needs from Prometheus into a versioned JSON recording (gzipped when the "
        "name ends in .gz), to replay later with changed policies. Bad flags are refused "
        "before the first query (exit 2).",
    )
    parser.add_argument(
        "--prometheus-url", required=True, type=http_url, help="e.g. http://prometheus:9090"
    )
    parser.add_argument(
        "--policies", required=True, nargs="+", metavar="PATH", help="policy files or folders"
    )
    parser.add_argument("--start", required=True, help="now-7d, Unix seconds or RFC 3339")
    parser.add_argument("--end", default="now", help="default: now (at most a few minutes on)")
    parser.add_argument(
        "--step",
        default="15s",
        type=_duration(1.0, math.inf, "must be at least 1s"),
        help="resolution (default 15s, at least 1s)",
    )
    parser.add_argument("-o", "--output", required=True, help="file to write (.json or .json.gz)")
    parser.add_argument(
        "--lws-label",
        default=DEFAULT_LWS_LABEL,
        help="series label holding the LWS name (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        default="30s",
        type=_duration(0.0, MAX_TIMEOUT_SECONDS, "must be above 0s and at most 1h"),
        help="per-query timeout (default 30s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"lws-autoscaler record: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    now = time.time()
    times = []
    for flag, text in (("--start", args.start), ("--end", args.end)):
        try:
            times.append(parse_time(text, now))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            return _usage(f"{flag}: {exc}")
    start, end = times
    step: float = args.step
    try:
        labels = LabelNames(lws=args.lws_label)
    except ValueError as exc:
        return _usage(f"--lws-label: {exc}")
    if end > now + CLOCK_SKEW_SECONDS:
        ahead = (
            f"{(end - now) / 86400:.4g} days" if end - now > 86400 else format_duration(end - now)
        )
        return _usage(
            f"--end {args.end} is {ahead} after now (allowed: "
            f"{format_duration(CLOCK_SKEW_SECONDS)} of clock skew); Prometheus has no future data"
        )
    problem = range_problem(start, end, step)
    if problem is not None:
        return _usage(f"--start {args.start} --end {args.end} --step {args.step:g}s: {problem}")
    problem = output_problem(args.output)
    if problem is not None:
        return _usage(problem)
    targets = [Target(loaded.policy) for loaded in load_policies(args.policies)]
    client = PrometheusQueryClient(args.prometheus_url, timeout=args.timeout)
    try:
        recording = record(
            client,
            targets,
            start,
            end,
            step,
            labels=labels,
            replicas=ReplicaMetrics(),
            progress=None if args.quiet else ProgressBar(sys.stderr),
        )
    except SourceError as exc:
        # Its body excerpt may be a proxy's whole HTML page, over many lines.
        raise type(exc)(one_line(str(exc), MAX_MESSAGE_CHARS)) from None
    finally:
        client.close()
    # Leader series all without the pod label: a replay cannot tell leaders apart.
    unlabelled = set(leaderless(recording)) - set(leaderless(recording, pod=False))
    for key in leaderless(recording):
        # Written all the same: an LWS scaled to zero throughout has no leaders to record.
        print(
            f"lws-autoscaler record: warning: the leader series of {key} lack the label "
            f"{labels.pod!r}: a replay skips them"
            if key in unlabelled
            else f"lws-autoscaler record: warning: no leader series for {key} in the range "
            f"(scaled to zero throughout, or its leaders lack the label {labels.lws!r}?)",
            file=sys.stderr,
        )
    path = save_recording(recording, args.output)
    points = sum(len(s.points) for s in recording.series)
    print(
        f"wrote {path}: {len(targets)} LWS, {len(recording.series)} series, {points} points, "
        f"{format_duration_ms(recording.end - recording.start)} at "
        f"{format_duration_ms(recording.step)}"
    )
    return 0
