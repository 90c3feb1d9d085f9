"""From a trace file and the benchmark's options to the arrivals every policy replays.

Order: read (format given or guessed from the name), keep the ``[start, start +
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

from simulations.servegen import DEFAULT_CATEGORY, read_servegen
from simulations.traces import (
    Trace,
    TraceError,
    TraceFormat,
    detect_format,
    read_azure,
    read_mooncake,
    rescale,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SHARED_TRACES = REPO.parent / "shared" / "traces"
CONV_EXCERPT = DATA / "azure_conv_excerpt.csv"


def default_trace() -> Path:
    """The Azure conversation trace from ../shared/traces, else the shipped excerpt."""
    full = SHARED_TRACES / "AzureLLMInferenceTrace_conv.csv"
    return full if full.is_file() else CONV_EXCERPT


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


def load_workload(path: Path, options: WorkloadOptions) -> Trace:
    if not path.exists():
        raise TraceError(f"{path}: no such trace file")
    fmt = options.format or detect_format(path)
    rng = np.random.default_rng(options.seed)
    end = options.start + options.duration if options.duration else float("inf")
    if fmt == "servegen":
        lengths = read_azure(options.lengths or default_trace())
        trace = read_servegen(
            path,
            lengths,
            rng,
            options.category,
            options.clients,
            options.start,
            end,
            options.rate_scale,
        )
        return rescale(trace, rng, 1.0, options.time_compression)
    else:
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
    return rescale(trace, rng, options.rate_scale, options.time_compression)
