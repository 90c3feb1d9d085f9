"""``lws-autoscaler record``: save the raw series of some policies from Prometheus to a
recording file, for dry-runs and replays (``docs/recording-format.md``).

Example::

    lws-autoscaler record --prometheus-url http://prometheus:9090 --policies policies/ \\
        --start now-7d --end now --step 15s -o week.json.gz

Times are RFC 3339 (``2026-01-05T00:00:00Z``), Unix seconds, ``now``, or ``now-<duration>``.
A progress bar goes to stderr; the range is queried in chunks under Prometheus's
points-per-series limit.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from autoscaler.durations import format_duration, parse_duration
from autoscaler.policy.loader import load_policies
from autoscaler.sources.base import Target
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.promql import DEFAULT_LWS_LABEL, LabelNames
from autoscaler.sources.recorder import ReplicaMetrics, record
from autoscaler.sources.recording_format import save_recording


def parse_time(text: str, now: float) -> float:
    """``now``, ``now-2h``, Unix seconds or RFC 3339 -> Unix seconds."""
    value = text.strip()
    if value == "now":
        return now
    if value.startswith("now-"):
        return now - parse_duration(value[4:])
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use now, now-<duration>, Unix seconds or RFC 3339"
        ) from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return parsed.timestamp()


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
        "name ends in .gz), to replay later with changed policies.",
    )
    parser.add_argument("--prometheus-url", required=True, help="e.g. http://prometheus:9090")
    parser.add_argument(
        "--policies", required=True, nargs="+", metavar="PATH", help="policy files or folders"
    )
    parser.add_argument("--start", required=True, help="now-7d, Unix seconds or RFC 3339")
    parser.add_argument("--end", default="now", help="default: now")
    parser.add_argument("--step", default="15s", help="resolution (default 15s, at least 1s)")
    parser.add_argument("-o", "--output", required=True, help="file to write (.json or .json.gz)")
    parser.add_argument(
        "--lws-label",
        default=DEFAULT_LWS_LABEL,
        help="series label holding the LWS name (default %(default)s)",
    )
    parser.add_argument("--timeout", default="30s", help="per-query timeout (default 30s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        start, end = parse_time(args.start, now), parse_time(args.end, now)
        step, timeout = parse_duration(args.step), parse_duration(args.timeout)
        labels = LabelNames(lws=args.lws_label)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        print(f"lws-autoscaler record: {exc}", file=sys.stderr)
        return 2
    if end <= start or step < 1:
        print("lws-autoscaler record: need --end after --start and --step >= 1s", file=sys.stderr)
        return 2
    targets = [Target(loaded.policy) for loaded in load_policies(args.policies)]
    client = PrometheusQueryClient(args.prometheus_url, timeout=timeout)
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
    finally:
        client.close()
    path = save_recording(recording, args.output)
    points = sum(len(s.points) for s in recording.series)
    print(
        f"wrote {path}: {len(targets)} LWS, {len(recording.series)} series, {points} points, "
        f"{format_duration(recording.end - recording.start)} at {format_duration(step)}"
    )
    return 0
