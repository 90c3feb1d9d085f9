"""From a trace file and the benchmark's options to the arrivals every policy replays.

Order: read (format given or guessed: :func:`detect_format`), keep the ``[start, start +
duration)`` window, then rescale the rate and compress time (both seeded). ServeGen
needs a request-level trace for token lengths (default: the Azure conversation trace
shipped as an excerpt, or the full one in ``../shared/traces`` when present). For
ServeGen the rate scale is applied while sampling each window (below 1 thinned, above 1
drawn that many times over: :mod:`simulations.servegen`), so the rescale step only
compresses time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulations.mooncake import read_mooncake
from simulations.servegen import DEFAULT_CATEGORY, read_servegen
from simulations.trace_limits import MIN_REPLAY_SECONDS, RATE_SCALE, RateFlag
from simulations.traces import (
    Trace,
    TraceError,
    TraceFormat,
    read_azure,
    rescale,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SHARED_TRACES = REPO.parent / "shared" / "traces"
CONV_EXCERPT = DATA / "azure_conv_excerpt.csv"


CONV_FILE = "AzureLLMInferenceTrace_conv.csv"


def conversation_trace(folder: Path) -> Path:
    """The Azure conversation trace in ``folder``, else the shipped excerpt."""
    full = folder / CONV_FILE
    return full if full.is_file() else CONV_EXCERPT


def default_trace() -> Path:
    """The Azure conversation trace from ../shared/traces, else the shipped excerpt."""
    return conversation_trace(SHARED_TRACES)


@dataclass(frozen=True)
class WorkloadOptions:
    format: TraceFormat | None = None
    rate_scale: float = 1.0
    time_compression: float = 1.0
    start: float = 0.0
    duration: float | None = None
    seed: int = 0
    lengths: Path | None = None
    category: str = DEFAULT_CATEGORY
    clients: int | None = None
    # The flag that set rate_scale, for the value a "too many requests" error suggests.
    rate_flag: RateFlag = RATE_SCALE


AZURE_HEADER = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def detect_format(path: Path) -> TraceFormat:
    """Guess the format: ``.jsonl`` Mooncake, ``.tar.gz``/``.tgz``/a folder ServeGen;
    a ``.csv`` (any case) by its first line: Azure's header, or a ServeGen client row
    (``0,1.5,...``: a number first); a file that cannot be read by its name
    (``-trace.csv`` ServeGen, other ``.csv`` Azure). By content, because the name is
    the user's: ``my-trace.csv`` of the Azure trace was read as ServeGen."""
    name = path.name.lower()
    if name.endswith(".jsonl"):
        return "mooncake"
    if path.is_dir() or name.endswith((".tar.gz", ".tgz")):
        return "servegen"
    if name.endswith(".csv"):
        first = _first_fields(path)
        if first is None:
            return "servegen" if name.endswith("-trace.csv") else "azure"
        if first[:3] != AZURE_HEADER and (
            first[0].replace(".", "", 1).isdigit() or name.endswith("-trace.csv")
        ):
            return "servegen"  # a ServeGen file's own name, even with a header row added
        return "azure"  # the Azure header, or what its reader reports as not that
    raise TraceError(f"{path}: cannot tell the trace format; pass --format azure|mooncake|servegen")


def _first_fields(path: Path) -> tuple[str, ...] | None:
    """The first line's comma-separated fields, stripped; None when unreadable."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            line = handle.readline(4096)
    except (OSError, UnicodeDecodeError):
        return None
    return tuple(field.strip() for field in line.split(","))


def load_workload(path: Path, options: WorkloadOptions) -> Trace:
    """The arrivals to replay, as the options ask; a ``TraceError`` for a trace that
    cannot be read, or that leaves too little to replay."""
    trace = _read(path, options)
    if len(trace) < 2 or trace.duration < MIN_REPLAY_SECONDS:
        # One request (or a burst within a second) makes every GPU-hour figure round to
        # 0.0, and the comparison of policies divides by it.
        raise TraceError(
            f"{path}: {len(trace)} request(s) over {trace.duration:.3g} s with these "
            f"options; a replay needs at least 2 requests over {MIN_REPLAY_SECONDS:g} s "
            f"or more (a longer --duration, or a higher {options.rate_flag.name})"
        )
    return trace


def _read(path: Path, options: WorkloadOptions) -> Trace:
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    fmt = options.format or detect_format(path)
    rng = np.random.default_rng(options.seed)
    end = options.start + options.duration if options.duration else float("inf")
    if fmt == "servegen":
        try:
            lengths = read_azure(options.lengths or default_trace())
        except TraceError as exc:
            raise TraceError(f"--lengths (the ServeGen requests' token lengths): {exc}") from None
        trace = read_servegen(
            path,
            lengths,
            rng,
            options.category,
            options.clients,
            options.start,
            end,
            options.rate_scale,
            options.rate_flag,
        )
        try:
            return rescale(trace, rng, 1.0, options.time_compression)
        except TraceError as exc:
            # The sampled trace is named by its category: a window far off (a start of
            # 1e17 s) was refused without naming the file that holds it.
            raise TraceError(f"{path}: {exc}") from None
    else:
        unused = [
            flag
            for flag, given in (
                ("--lengths", options.lengths is not None),
                ("--servegen-category", options.category != DEFAULT_CATEGORY),
                ("--servegen-clients", options.clients is not None),
            )
            if given
        ]
        if unused:  # they used to be ignored without a word
            raise TraceError(
                f"{path}: {', '.join(unused)} apply to ServeGen traces only, and this trace "
                f"is in the {fmt} format"
            )
        trace = read_azure(path) if fmt == "azure" else read_mooncake(path, rng)
        if options.start or options.duration:
            trace = trace.window(options.start, end)
            if len(trace) == 0:
                raise TraceError(f"{path}: no requests in [{options.start:g}, {end:g}) s")
            trace = Trace(
                trace.name,
                trace.arrival - options.start,
                trace.prompt_tokens,
                trace.output_tokens,
            )
    return rescale(trace, rng, options.rate_scale, options.time_compression, options.rate_flag)
