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
- A rate scale below 1 keeps each of those requests with that probability, the same
  random thinning ``--rate-scale`` applies to any trace, without drawing every gap:
  ``language/m-mid`` records 160-230 million requests a day, and drawing them all to
  keep 0.08% cost 14-20 GB per day. The kept requests are a uniform random subset of the
  window's ``n`` (a binomial count, then distinct indices), and only the sums of the gaps
  between kept requests are drawn: for Gamma(k, s) gaps a sum of ``c`` gaps is exactly
  Gamma(c*k, s) (exponential gaps: Gamma(c, 1)), so the thinned arrivals have the very
  distribution of sampling everything and thinning afterwards. Weibull has no such sum:
  one gap is drawn as Weibull, a sum of two or more as a Gamma with the same mean and
  variance (at 0.08% a sum spans about 1,250 gaps, where that is close to exact).
  Thinning, not sampling ``rate * 600 * fraction`` gaps from the fit, is the point: with
  Gamma shape 0.06 (CV 4) the latter squeezes each window's requests into a few dense
  bursts, a workload far burstier than any thinned share of the real one (measured on
  m-mid day 2: the oracle's attainment fell from 99.8% to 92%).
- A rate scale above 1 draws each window ``floor(scale)`` times, independently, plus
  once more thinned to the fraction: the traffic of that many more clients like this
  one, each with its own bursts (copying each drawn request, as a request-level trace
  must, would repeat one client's bursts).

Token lengths are not in these files (the per-window length distributions were not
copied), so each request takes the (prompt, output) pair of a random request of a chosen
request-level trace, e.g. the Azure conversation trace.
"""

from __future__ import annotations

import math
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoscaler.errors import one_line
from simulations.servegen_fits import DISTRIBUTIONS, fit_problem, gap_sums, window_gaps
from simulations.trace_limits import RATE_SCALE, RateFlag, request_count_problem
from simulations.traces import FloatArray, Trace, TraceError, build_trace

WINDOW_SECONDS = 600.0
_MEMBER = re.compile(r"(?:^|/)data/(?P<category>[^/]+/[^/]+)/chunk-(?P<client>\d+)-trace\.csv$")
DEFAULT_CATEGORY = "reason/deepseek-r1"


def _client_text(data: bytes, source: str) -> str:
    """A client file's text; not UTF-8 is an error naming that file."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{source}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def _read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise TraceError(f"{file}: {exc.strerror or exc}") from None


def _client_files(path: Path, category: str) -> Iterator[tuple[int, str, str]]:
    """(client id, CSV text, the file's name for messages) of every client of
    ``category`` in a tar.gz, directory or file. The name is the file's own path, or
    ``archive[member]`` inside an archive, so that an error about a row points at it."""
    if path.is_file() and path.name.endswith("-trace.csv"):
        match = re.search(r"chunk-(\d+)-trace\.csv$", path.name)
        client = int(match.group(1)) if match else 0
        yield client, _client_text(_read_bytes(path), str(path)), str(path)
        return
    if path.is_dir():
        for file in sorted(path.rglob("chunk-*-trace.csv")):
            found = _MEMBER.search(file.as_posix())
            if found and found["category"] == category:
                text = _client_text(_read_bytes(file), str(file))
                yield int(found["client"]), text, str(file)
        return
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                found = _MEMBER.search(member.name)
                if not member.isfile() or not found or found["category"] != category:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    source = f"{path}[{member.name}]"
                    yield int(found["client"]), _client_text(handle.read(), source), source
    except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
        # tarfile.open("r:*") lists every method it tried, one line each: say it once.
        if isinstance(exc, tarfile.ReadError) and "could not be opened successfully" in str(exc):
            raise TraceError(
                f"{path}: not a ServeGen archive (a .tar.gz, a folder or a "
                "chunk-N-trace.csv file); check --trace and --format"
            ) from None
        # A cut download ends in EOFError ("Compressed file ended before the
        # end-of-stream marker was reached") or a zlib error, mid-archive.
        reason = one_line(str(exc)) or type(exc).__name__
        raise TraceError(f"{path}: cannot read the ServeGen archive ({reason})") from None


def _window_positions(
    dist: str, p1: float, p2: float, count: int, fraction: float, rng: np.random.Generator
) -> FloatArray:
    """Arrival positions in ``[0, 1)`` of the window: all ``count`` requests, or the
    random share ``fraction`` of them, drawn without the others (module docstring)."""
    if fraction >= 1.0:
        gaps = window_gaps(dist, p1, p2, count, rng)
        positions: FloatArray = np.cumsum(gaps) - rng.random() * gaps[0]
        return positions
    kept = int(rng.binomial(count, fraction))
    if kept == 0:
        return np.empty(0)
    # Request i (1-based) sits at S_i = g_1 + ... + g_i; the window ends at S_count.
    index = np.sort(rng.choice(count, kept, replace=False)) + 1
    first_gap = gap_sums(dist, p1, p2, np.ones(1, dtype=np.int64), rng)[0]
    spans = np.diff(index, prepend=1)  # gaps between kept requests; g_1 drawn apart
    spans = np.append(spans, count - index[-1])  # and after the last one
    sums = gap_sums(dist, p1, p2, spans, rng)
    cumulative = first_gap + np.cumsum(sums)
    total = float(cumulative[-1])
    if total <= 0:  # every draw underflowed (tiny shape): even spacing, as unthinned
        return index.astype(np.float64) / count
    kept_positions: FloatArray = (cumulative[:-1] - rng.random() * first_gap) / total
    return kept_positions


@dataclass(frozen=True)
class _Window:
    """One row of a client file that falls in the replayed span: requests to draw."""

    start: float
    expected: float  # requests at scale 1: rate x 600
    dist: str
    p1: float
    p2: float


# window_start_s,rate_req_per_s,cv,dist,param1,param2 (servegen/clientpool.py)
_FIELDS = 6


def _client_windows(text: str, start: float, end: float, source: str) -> list[_Window]:
    """The client's busy windows overlapping ``[start, end)``, each row checked (not
    the six fields, a non-finite rate, or a fit with a shape or scale not above 0 or
    gaps of no finite mean and variance, names its line)."""
    windows: list[_Window] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != _FIELDS:
            # A cut-off "0,1" was read as a Poisson window.
            raise TraceError(
                f"{source}:{number}: expected {_FIELDS} fields (window_start_s,"
                f"rate_req_per_s,cv,dist,param1,param2), got {len(fields)}; the file may "
                "be cut off or not a ServeGen client file"
            )
        try:
            window = float(fields[0])
            rate = float(fields[1] or 0.0)
            dist = fields[3].strip()
            p1 = float(fields[4]) if dist else 1.0
            p2 = float(fields[5]) if dist else 1.0
        except ValueError as exc:
            raise TraceError(f"{source}:{number}: malformed ServeGen row ({exc})") from exc
        if not all(math.isfinite(v) for v in (window, rate, p1, p2)) or rate < 0:
            raise TraceError(f"{source}:{number}: rate and parameters must be finite, rate >= 0")
        if rate == 0 or window + WINDOW_SECONDS <= start or window >= end:
            continue
        if dist not in DISTRIBUTIONS:
            raise TraceError(f"{source}:{number}: unknown inter-arrival distribution {dist!r}")
        if p1 <= 0 or p2 <= 0:
            raise TraceError(f"{source}:{number}: {dist} shape and scale must be > 0")
        problem = fit_problem(dist, p1, p2)
        if problem:
            raise TraceError(f"{source}:{number}: {problem}")
        windows.append(_Window(window, rate * WINDOW_SECONDS, dist, p1, p2))
    return windows


def _window_arrivals(
    window: _Window, scale: float, start: float, end: float, rng: np.random.Generator
) -> FloatArray:
    """Arrivals of one window at ``scale`` x its rate. Above 1, ``floor(scale)``
    independent draws of the window plus a thinned one for the fraction: the same
    window's traffic from that many more clients like it, each with the fitted
    burstiness (not one draw of ``scale`` times the requests, which would squeeze them
    into the fit's bursts; module docstring)."""
    layers = [1.0] * math.floor(scale)
    if scale - math.floor(scale) > 0:
        layers.append(scale - math.floor(scale))
    chunks: list[FloatArray] = []
    for fraction in layers:
        expected = window.expected
        count = int(expected) + int(rng.random() < expected - int(expected))
        if count == 0:
            continue
        positions = _window_positions(window.dist, window.p1, window.p2, count, fraction, rng)
        times = window.start + positions * WINDOW_SECONDS
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
    rate_scale: float = 1.0,
    flag: RateFlag = RATE_SCALE,
) -> Trace:
    """Arrivals of ``category``'s clients (the first ``clients`` by id, or all) between
    ``start`` and ``end`` seconds of the 14 days, at ``rate_scale`` times the recorded
    rate, with token lengths drawn from ``lengths``.

    Below 1 each window is thinned while it is sampled, above 1 it is sampled that many
    times over (module docstring). More than ``trace_limits.MAX_REQUESTS`` expected
    requests is an error that says which value of ``flag`` would fit, before anything is
    drawn.
    """
    if not math.isfinite(rate_scale) or rate_scale <= 0:
        raise TraceError(f"rate scale must be > 0, got {rate_scale}")
    if clients is not None and clients < 1:
        raise TraceError(f"the number of ServeGen clients must be at least 1, got {clients}")
    if len(lengths) == 0:
        raise TraceError("the token-length trace for ServeGen is empty")
    files = sorted(_client_files(path, category))
    if not files:
        raise TraceError(f"{path}: no ServeGen client files for category {category!r}")
    if clients is not None:
        files = files[:clients]
    windows = [_client_windows(text, start, end, source) for _, text, source in files]
    expected = rate_scale * math.fsum(w.expected for client in windows for w in client)
    problem = request_count_problem(str(path), expected, rate_scale, flag, category)
    if problem:
        raise TraceError(problem)
    arrivals = [
        _window_arrivals(window, rate_scale, start, end, rng)
        for client in windows
        for window in client
    ]
    arrival = np.concatenate(arrivals) if arrivals else np.empty(0)
    if len(arrival) == 0:
        raise TraceError(f"{path}: no requests in [{start:g}, {end:g}) s for {category!r}")
    pick = rng.integers(0, len(lengths), size=len(arrival))
    # Time 0 is ``start``: idle hours at the start are part of the load shape.
    name = f"servegen:{category}"
    return build_trace(
        name, arrival, lengths.prompt_tokens[pick], lengths.output_tokens[pick], origin=start
    )
