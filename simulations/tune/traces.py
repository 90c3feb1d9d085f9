"""The named traces a policy is tuned and checked on, and how each is set up.

| name | trace | set-up |
|---|---|---|
| ``azure-conv`` | Azure 2023 conversation (the benchmark's default) | rate x4, 1 hour |
| ``azure-code`` | Azure 2023 code | rate x4, 1 hour |
| ``servegen-dayN`` | ServeGen ``language/m-mid``, day N (0-13) | 24x to 1 hour, rate 0.0008 |
| ``servegen-dayN-M`` | the same, days N to M | 24x compressed, M-N+1 hours |
| ``mooncake`` | Mooncake synthetic | its own rate, 17 minutes |
| a ``.csv`` or ``.jsonl`` path | your own trace, Azure or Mooncake format | its own rate |

These are the set-ups of ``docs/engine.md`` (tuning) and ``docs/benchmark.md``
(held-out runs), so a name gives the same arrivals in both. Files are read from the
traces folder (``../shared/traces`` by default); the conversation trace falls back to
the excerpt shipped in ``simulations/data`` when the folder lacks it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from simulations.trace_limits import RateFlag
from simulations.tune.variants import TuningError
from simulations.workload import WorkloadOptions, conversation_trace

DAY = 86_400.0
SERVEGEN_FILE = "ServeGen-data-trace-csv.tar.gz"
SERVEGEN_CATEGORY = "language/m-mid"
SERVEGEN_RATE = 0.0008
SERVEGEN_COMPRESSION = 24.0
SERVEGEN_DAYS = 14
# ASCII digits, at most 4 (14 days): "servegen-day" and 5,000 digits is an unknown day,
# not an int() too long to convert.
_SERVEGEN = re.compile(r"servegen-day([0-9]{1,4})(?:-([0-9]{1,4}))?")


@dataclass(frozen=True)
class NamedTrace:
    name: str
    path: Path
    options: WorkloadOptions


def _servegen(name: str, first: int, last: int, folder: Path) -> NamedTrace:
    if not 0 <= first <= last < SERVEGEN_DAYS:
        raise TuningError(
            f"trace {name!r}: days must be within 0-{SERVEGEN_DAYS - 1}, first <= last"
        )
    options = WorkloadOptions(
        format="servegen",
        # Token lengths from the conversation trace of the same folder (the excerpt when
        # it lacks one), so a --traces-dir gives the same requests on every machine.
        lengths=conversation_trace(folder),
        category=SERVEGEN_CATEGORY,
        rate_scale=SERVEGEN_RATE,
        time_compression=SERVEGEN_COMPRESSION,
        start=first * DAY,
        duration=(last - first + 1) * DAY,
    )
    return NamedTrace(name, folder / SERVEGEN_FILE, options)


def resolve(
    name: str,
    folder: Path,
    seed: int = 0,
    seconds: float | None = None,
    rate_factor: float = 1.0,
) -> NamedTrace:
    """The file and options of the trace called ``name``.

    ``seconds`` keeps only the first SECONDS of replay (after compression), for quick
    looks. ``rate_factor`` multiplies the set-up's rate: the named set-ups load groups
    of the 70B profile, and a model whose group serves half as much (the 405B profile)
    meets the same traffic per group at 0.5 (``servegen-day2``: 0.0008 -> 0.0004;
    ``azure-code``: x4 -> x2). TuningError for an unknown name or a missing file.
    """
    match = _SERVEGEN.fullmatch(name)
    if match:
        first = int(match.group(1))
        trace = _servegen(name, first, int(match.group(2) or first), folder)
    elif name == "azure-conv":
        options = WorkloadOptions(format="azure", rate_scale=4.0)
        trace = NamedTrace(name, conversation_trace(folder), options)
    elif name == "azure-code":
        path = folder / "AzureLLMInferenceTrace_code.csv"
        trace = NamedTrace(name, path, WorkloadOptions(format="azure", rate_scale=4.0))
    elif name == "mooncake":
        path = folder / "synthetic_trace.jsonl"
        trace = NamedTrace(name, path, WorkloadOptions(format="mooncake"))
    elif Path(name).suffix.lower() in (".csv", ".jsonl"):
        # Your own request-level trace, at its own rate; the format from its content
        # (workload.detect_format), the suffix in any case, as benchmark --trace takes.
        if not Path(name).is_file():
            raise TuningError(f"trace {name!r}: no such file")
        trace = NamedTrace(name, Path(name), WorkloadOptions())
    else:
        raise TuningError(
            f"unknown trace {name!r}: expected azure-conv, azure-code, mooncake, "
            "servegen-dayN, servegen-dayN-M or a .csv/.jsonl trace file"
        )
    if not trace.path.is_file():
        raise TuningError(f"trace {name!r} needs {trace.path} (see --traces-dir)")
    setup = trace.options.rate_scale
    if not math.isfinite(setup * rate_factor):
        raise TuningError(
            f"--rate-factor {rate_factor:g}: trace {name!r} would run at {setup:g} x "
            f"{rate_factor:g}, an infinite rate; use a far smaller --rate-factor"
        )
    # A replay too large names tune's own flag and a value of it that fits.
    flag = RateFlag("--rate-factor", per=setup, clients=False)
    options = replace(trace.options, seed=seed, rate_scale=setup * rate_factor, rate_flag=flag)
    if seconds is not None:
        # ServeGen windows are in trace time: 1 s of replay is `compression` s of trace.
        span = seconds * options.time_compression
        options = replace(options, duration=min(options.duration or span, span))
    return replace(trace, options=options)
