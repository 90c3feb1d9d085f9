"""Replaying ServeGen's per-client workload statistics as request arrivals.

ServeGen (alibaba/ServeGen, Apache-2.0) publishes, per client, one CSV row per 600 s
window: ``window_start_s,rate_req_per_s,cv,dist,param1,param2``; 2,016 rows are 14
days. These are statistics, not request records, so arrivals are *sampled*:

- ``Gamma`` windows draw inter-arrival times from Gamma(shape=param1, scale=param2)
  (checked on the data: shape 0.0604, scale 103.65 gives the stated CV 4.07 =
  1/sqrt(shape)); ``Weibull`` from Weibull(shape=param1, scale=param2); a positive rate
  with no distribution is a Poisson process; rate 0 is an idle window.
- The fitted distributions describe the *shape* of the gaps; the stated rate fixes their
  mean. So a window gets ``rate * 600`` requests (the fraction by a coin flip), and the
  sampled gaps are rescaled to fill the window exactly: burstiness from the fit, volume
  from the rate.

Token lengths are not in these files (the per-window length distributions were not
copied), so each request takes the (prompt, output) pair of a random request of a chosen
request-level trace, e.g. the Azure conversation trace.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from simulations.traces import FloatArray, Trace, TraceError, _build

WINDOW_SECONDS = 600.0
_MEMBER = re.compile(r"(?:^|/)data/(?P<category>[^/]+/[^/]+)/chunk-(?P<client>\d+)-trace\.csv$")
DEFAULT_CATEGORY = "reason/deepseek-r1"


def _client_files(path: Path, category: str) -> Iterator[tuple[int, str]]:
    """(client id, CSV text) of every client of ``category`` in a tar.gz, directory or file."""
    if path.is_file() and path.name.endswith("-trace.csv"):
        match = re.search(r"chunk-(\d+)-trace\.csv$", path.name)
        yield (int(match.group(1)) if match else 0), path.read_text()
        return
    if path.is_dir():
        for file in sorted(path.rglob("chunk-*-trace.csv")):
            found = _MEMBER.search(file.as_posix())
            if found and found["category"] == category:
                yield int(found["client"]), file.read_text()
        return
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                found = _MEMBER.search(member.name)
                if not member.isfile() or not found or found["category"] != category:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield int(found["client"]), io.TextIOWrapper(handle).read()
    except (OSError, tarfile.TarError) as exc:
        raise TraceError(f"{path}: cannot read the ServeGen archive ({exc})") from exc


def _window_gaps(
    dist: str, p1: float, p2: float, count: int, rng: np.random.Generator
) -> FloatArray:
    if dist == "Gamma":
        gaps = rng.gamma(p1, p2, size=count)
    elif dist == "Weibull":
        gaps = p2 * rng.weibull(p1, size=count)
    elif dist in ("", "Exponential", "Poisson"):
        gaps = rng.exponential(1.0, size=count)
    else:
        raise TraceError(f"unknown ServeGen inter-arrival distribution {dist!r}")
    # A fit with a tiny shape can underflow every draw to 0: fall back to even spacing.
    total = float(gaps.sum())
    return gaps / total if total > 0 else np.full(count, 1.0 / count)


def _client_arrivals(
    text: str, rng: np.random.Generator, start: float, end: float, source: str
) -> FloatArray:
    chunks: list[FloatArray] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        try:
            window = float(fields[0])
            rate = float(fields[1] or 0.0)
            dist = fields[3].strip() if len(fields) > 3 else ""
            p1 = float(fields[4]) if dist else 0.0
            p2 = float(fields[5]) if dist else 0.0
        except (ValueError, IndexError) as exc:
            raise TraceError(f"{source}:{number}: malformed ServeGen row ({exc})") from exc
        if rate <= 0 or window + WINDOW_SECONDS <= start or window >= end:
            continue
        expected = rate * WINDOW_SECONDS
        count = int(expected) + int(rng.random() < expected - int(expected))
        if count == 0:
            continue
        gaps = _window_gaps(dist, p1, p2, count, rng) * WINDOW_SECONDS
        times = window + np.cumsum(gaps) - rng.random() * gaps[0]
        chunks.append(times[(times >= start) & (times < end)])
    return np.concatenate(chunks) if chunks else np.empty(0)


def read_servegen(
    path: Path,
    lengths: Trace,
    rng: np.random.Generator,
    category: str = DEFAULT_CATEGORY,
    clients: int | None = None,
    start: float = 0.0,
    end: float = float("inf"),
) -> Trace:
    """Arrivals of ``category``'s clients (the first ``clients`` by id, or all) between
    ``start`` and ``end`` seconds of the 14 days, with token lengths drawn from ``lengths``.
    """
    if len(lengths) == 0:
        raise TraceError("the token-length trace for ServeGen is empty")
    files = sorted(_client_files(path, category))
    if not files:
        raise TraceError(f"{path}: no ServeGen client files for category {category!r}")
    if clients is not None:
        files = files[:clients]
    arrivals = [
        _client_arrivals(text, rng, start, end, f"{path}[client {client}]")
        for client, text in files
    ]
    arrival = np.concatenate(arrivals)
    if len(arrival) == 0:
        raise TraceError(f"{path}: no requests in [{start:g}, {end:g}) s for {category!r}")
    pick = rng.integers(0, len(lengths), size=len(arrival))
    # Time 0 is ``start``: idle hours at the start are part of the load shape.
    name = f"servegen:{category}"
    return _build(
        name, arrival, lengths.prompt_tokens[pick], lengths.output_tokens[pick], origin=start
    )
