"""Request traces for the closed-loop benchmark: reading, de-quantising and rescaling.

A :class:`Trace` is three aligned numpy arrays (arrival second, prompt tokens, output
tokens), sorted by arrival, with time 0 at the first request. Readers:

- Azure LLM inference trace 2023 (Splitwise, CC-BY 4.0): CSV ``TIMESTAMP,ContextTokens,
  GeneratedTokens`` with wall-clock timestamps such as ``2023-11-16 18:17:03.9799600``;
- Mooncake FAST'25 traces (Apache-2.0): see :mod:`simulations.mooncake`;
- ServeGen per-client rate files (Apache-2.0): see :mod:`simulations.servegen`.

``rescale`` multiplies the request rate (``rate_scale``) without changing the load's
shape in time, and compresses time (``time_compression``) so that a long trace (14 days
of ServeGen) plays in hours. Every random choice takes a seeded ``numpy`` generator.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from autoscaler.errors import AutoscalerError
from simulations.azure_stamps import stamp_problem, stamps_fit
from simulations.trace_limits import (
    RATE_SCALE,
    RateFlag,
    compression_problem,
    request_count_problem,
)

TraceFormat = Literal["azure", "mooncake", "servegen"]
FORMATS: tuple[TraceFormat, ...] = ("azure", "mooncake", "servegen")

# The largest token count a trace may hold (Azure or Mooncake): whole in a float64, and
# prompt plus output still fits an int64.
MAX_TOKENS = 2**53 - 1

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class TraceError(AutoscalerError):
    """A trace file is missing, malformed, or empty."""


@dataclass(frozen=True)
class Trace:
    """Requests of one trace: arrival (s from the first request), prompt and output tokens."""

    name: str
    arrival: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray

    def __post_init__(self) -> None:
        n = len(self.arrival)
        if len(self.prompt_tokens) != n or len(self.output_tokens) != n:
            raise TraceError(f"{self.name}: arrival and token arrays differ in length")
        if n and np.any(np.diff(self.arrival) < 0):
            raise TraceError(f"{self.name}: arrivals are not sorted")

    def __len__(self) -> int:
        return len(self.arrival)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last arrival."""
        return float(self.arrival[-1] - self.arrival[0]) if len(self) else 0.0

    def window(self, start: float, end: float) -> Trace:
        """Requests arriving in ``[start, end)``, times kept (not re-based)."""
        lo, hi = np.searchsorted(self.arrival, [start, end], side="left")
        return Trace(
            self.name,
            self.arrival[lo:hi],
            self.prompt_tokens[lo:hi],
            self.output_tokens[lo:hi],
        )


def build_trace(
    name: str,
    arrival: FloatArray,
    prompt: IntArray,
    output: IntArray,
    origin: float | None = None,
) -> Trace:
    """Sort by arrival and shift time so ``origin`` (default: the first arrival) is 0."""
    if len(arrival) == 0:
        raise TraceError(f"{name}: no requests")
    if np.any(prompt < 0) or np.any(output < 0):
        raise TraceError(f"{name}: negative token counts")
    order = np.argsort(arrival, kind="stable")
    arrival = arrival[order]
    zero = float(arrival[0]) if origin is None else origin
    return Trace(name, arrival - zero, prompt[order], output[order])


def _shown_header(header: list[str] | None) -> str:
    """The first line as read, cut to 80 characters: a JSONL file read as CSV has a
    "header" of hundreds of fields (a Mooncake line's hash_ids), which would bury the
    message."""
    if header is None:
        return "an empty file"
    text = ",".join(header)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def read_azure(path: Path) -> Trace:
    """Azure 2023 CSV. Timestamps keep their 100 ns resolution (numpy datetime64[ns]).

    A bad row (not three fields, an empty time, one not in the shape
    ``YYYY-MM-DD hh:mm:ss[.fraction]`` or out of range, a count that is not a whole
    number) is an error naming its line: one blank time used to turn into NaT, and
    every request of the trace then arrived at t=0; a bare ``1`` was read as the year 1.
    """
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        # utf-8-sig: a file saved by a spreadsheet starts with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != [
                "TIMESTAMP",
                "ContextTokens",
                "GeneratedTokens",
            ]:
                raise TraceError(
                    f"{path}: expected header TIMESTAMP,ContextTokens,GeneratedTokens, "
                    f"got {_shown_header(header)}"
                )
            for row in reader:
                if row:
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except csv.Error as exc:
        # A field over csv's limit (131,072 characters: a file that is not a trace, or a
        # quote left open) escaped as a traceback.
        raise TraceError(f"{path}:{reader.line_num}: not a CSV row ({exc})") from None
    except OSError as exc:
        raise TraceError(f"{path}: {exc.strerror or exc}") from exc
    if not rows:
        raise TraceError(f"{path}: no requests")
    if set(map(len, rows)) != {3}:  # in C: the loop naming the line runs only on a bad row
        for row, line in zip(rows, lines, strict=True):
            if len(row) != 3:
                raise TraceError(f"{path}:{line}: expected 3 fields, got {len(row)}")
    texts = [r[0] for r in rows]
    if not stamps_fit(texts):
        raise _first_bad_azure_row(path, rows, lines)
    try:
        stamps = np.array(texts, dtype="datetime64[ns]")
        prompt = np.array([int(r[1]) for r in rows], dtype=np.int64)
        output = np.array([int(r[2]) for r in rows], dtype=np.int64)
    except (ValueError, OverflowError):
        raise _first_bad_azure_row(path, rows, lines) from None
    for name, counts in (("ContextTokens", prompt), ("GeneratedTokens", output)):
        negative = np.flatnonzero(counts < 0)
        if len(negative):
            first = int(negative[0])
            raise TraceError(f"{path}:{lines[first]}: {name} {counts[first]} is negative")
        # Mooncake's bound: 2**63 - 1 prompt tokens plus one output token wrapped to a
        # negative int64 in the gateway's context-length check and was admitted.
        huge = np.flatnonzero(counts > MAX_TOKENS)
        if len(huge):
            first = int(huge[0])
            raise TraceError(
                f"{path}:{lines[first]}: {name} {counts[first]} is out of range "
                "(must be 0 to 2**53 - 1)"
            )
    # The offsets from the earliest stamp as unsigned: stamps 1678-2261 are up to 584
    # years apart, over the 292 of a signed int64 in ns, where the difference wrapped
    # (a later request came out before the first). Unsigned holds every difference.
    ns = stamps.astype(np.int64)
    offsets = ns.view(np.uint64) - ns.min().view(np.uint64)
    return build_trace(path.name, offsets.astype(np.float64) / 1e9, prompt, output)


def _first_bad_azure_row(path: Path, rows: list[list[str]], lines: list[int]) -> TraceError:
    """The error for the first row the vectorised parse could not take."""
    for (stamp, context, generated), line in zip(rows, lines, strict=True):
        if not stamp.strip() or stamp.strip().lower() == "nat":
            return TraceError(f"{path}:{line}: TIMESTAMP is empty")
        problem = stamp_problem(stamp)
        if problem:
            return TraceError(f"{path}:{line}: {problem}")
        try:
            np.datetime64(stamp, "ns")
        except ValueError as exc:
            return TraceError(f"{path}:{line}: TIMESTAMP {stamp!r} is not a time ({exc})")
        for name, text in (("ContextTokens", context), ("GeneratedTokens", generated)):
            try:
                value = int(text)
            except ValueError:
                return TraceError(f"{path}:{line}: {name} {text!r} is not a whole number")
            if not -(2**63) <= value < 2**63:
                return TraceError(f"{path}:{line}: {name} {text!r} is out of range")
    return TraceError(f"{path}: malformed rows")


# How far a rate-scaled copy of a request may land from it: a uniform shift in
# [-15, +15) s. Wider than the bursts that make a trace's second-to-second load (a
# conversation's turns, a batch job's fan-out), narrower than its ramps, which take
# minutes: the copies keep the load's shape over minutes but not its fine structure.
COPY_SPREAD_SECONDS = 30.0


def rescale(
    trace: Trace,
    rng: np.random.Generator,
    rate_scale: float = 1.0,
    time_compression: float = 1.0,
    flag: RateFlag = RATE_SCALE,
) -> Trace:
    """Scale the request rate by ``rate_scale`` and compress time by ``time_compression``.

    Rate: each request is kept ``floor(x)`` times plus once more with probability
    ``x - floor(x)`` (so 0.5 thins to half, 2.5 keeps two or three copies). The first
    copy stays at the original's arrival; every further copy is shifted by its own
    uniform draw in ``COPY_SPREAD_SECONDS`` (reflected at the trace's first and last
    arrival, so none falls outside it). Independent shifts make the copies behave like
    other users' requests: x4 of a Poisson trace is a Poisson trace at four times the
    rate. (Placing the copies between a request and the next one, as before 2026-11-24,
    put the same number in every gap: short gaps got crowded, long idle gaps got stray
    requests, and a Poisson trace at x4 came out with inter-arrival CV 1.48 instead of
    1.) A copy keeps the original's token lengths. Time: every arrival is divided by
    the compression, so an hour at ``time_compression=4`` lasts 15 minutes at 4x the
    rate. A replay too large or too short (:mod:`simulations.trace_limits`) is refused
    first, naming ``flag``.
    """
    if not math.isfinite(rate_scale) or rate_scale <= 0:
        raise TraceError(f"rate scale must be > 0, got {rate_scale}")
    if not math.isfinite(time_compression) or time_compression <= 0:
        raise TraceError(f"time compression must be > 0, got {time_compression}")
    problem = request_count_problem(trace.name, len(trace) * rate_scale, rate_scale, flag)
    problem = problem or compression_problem(trace.name, trace.duration, time_compression)
    if problem:
        raise TraceError(problem)
    arrival, prompt, output = trace.arrival, trace.prompt_tokens, trace.output_tokens
    if rate_scale != 1.0:
        whole = math.floor(rate_scale)
        copies = np.full(len(trace), whole, dtype=np.int64)
        copies += rng.random(len(trace)) < (rate_scale - whole)
        index = np.repeat(np.arange(len(trace)), copies)
        if len(index) == 0:
            raise TraceError(f"{trace.name}: rate scale {rate_scale} left no requests")
        first = np.concatenate(([True], index[1:] != index[:-1]))
        half = COPY_SPREAD_SECONDS / 2
        shift = np.where(first, 0.0, rng.uniform(-half, half, len(index)))
        arrival = _reflect(arrival[index] + shift, float(arrival[0]), float(arrival[-1]))
        prompt, output = prompt[index], output[index]
    order = np.argsort(arrival, kind="stable")
    return Trace(trace.name, arrival[order] / time_compression, prompt[order], output[order])


def _reflect(times: FloatArray, low: float, high: float) -> FloatArray:
    """Fold times outside ``[low, high]`` back in, as a mirror at each end (a copy 4 s
    before the first request lands 4 s after it). A span shorter than the shift can
    still leave a fold outside; those are clipped."""
    folded = np.where(times < low, 2 * low - times, times)
    folded = np.where(folded > high, 2 * high - folded, folded)
    clipped: FloatArray = np.clip(folded, low, high)
    return clipped
