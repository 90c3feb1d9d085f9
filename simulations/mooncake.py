"""Mooncake FAST'25 traces (Apache-2.0): JSONL with ``timestamp`` in ms, ``input_length``
and ``output_length``. Timestamps are quantised, so each is spread uniformly over its
slot: a request stamped 4297 ms on a 1 ms grid arrived somewhere in [4.297, 4.298) s.
Every value must be a whole JSON number: a string, a boolean or a fraction is an error
naming its line and field, not a value read some other way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from simulations.traces import IntArray, Trace, TraceError, build_trace


def _quantum_ms(stamps: IntArray) -> int:
    """The grid the timestamps sit on: their greatest common divisor, at least 1 ms.

    Stamps 0, 1000, 3000 (whole seconds) give 1000 ms; 0, 40, 277 give 1 ms.
    """
    positive = np.unique(stamps[stamps > 0])
    if len(positive) == 0:
        return 1
    return max(1, int(np.gcd.reduce(positive)))


_MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length")
_FIELD_LIST = ", ".join(_MOONCAKE_FIELDS)


def _mooncake_value(record: object, key: str) -> int | str:
    """A Mooncake field as a whole number, or what is wrong with it. Only a JSON number
    is taken, a float only when whole (``7000.0``): ``"7000"``, ``true`` and ``5.9``
    were read as 7000, 1 and 5."""
    if not isinstance(record, dict):
        return f"expected a JSON object with {_FIELD_LIST}, got {type(record).__name__}"
    if key not in record:
        return f"{key} is missing; each line needs {_FIELD_LIST}"
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"{key} {shown} is not a number; write it as a JSON number, e.g. 7000"
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return f"{key} {value!r} is not a whole number; write one, e.g. 7000"
        value = int(value)
    if not 0 <= value < 2**53:
        return f"{key} {value} is negative or out of range (must be 0 to 2**53 - 1)"
    return value


def read_mooncake(path: Path, rng: np.random.Generator) -> Trace:
    """Mooncake JSONL; each quantised timestamp is spread uniformly within its slot.

    Each line must be a JSON object whose ``timestamp`` (ms), ``input_length`` and
    ``output_length`` are whole non-negative JSON numbers; a bad line is an error naming
    its line and field."""
    stamps: list[int] = []
    prompt: list[int] = []
    output: list[int] = []
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise TraceError(
                        f"{path}:{number}: not valid JSON ({exc}); expected one object "
                        f"with {_FIELD_LIST} per line"
                    ) from exc
                except RecursionError:
                    # '[' * 200000 ran out of stack in the decoder.
                    raise TraceError(
                        f"{path}:{number}: JSON nested too deeply to read; expected one "
                        f"object with {_FIELD_LIST} per line"
                    ) from None
                values: list[int] = []
                for key in _MOONCAKE_FIELDS:
                    value = _mooncake_value(record, key)
                    if isinstance(value, str):
                        raise TraceError(f"{path}:{number}: {value}")
                    values.append(value)
                stamps.append(values[0])
                prompt.append(values[1])
                output.append(values[2])
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except OSError as exc:
        raise TraceError(f"{path}: {exc.strerror or exc}") from exc
    ms = np.asarray(stamps, dtype=np.int64)
    if len(ms) == 0:
        raise TraceError(f"{path}: no requests")
    quantum = _quantum_ms(ms)
    spread = (ms + rng.uniform(0.0, quantum, size=len(ms))) / 1000.0
    # Time 0 is the start of the first slot, not the jittered first arrival.
    return build_trace(
        path.name,
        spread,
        np.asarray(prompt, dtype=np.int64),
        np.asarray(output, np.int64),
        origin=float(ms.min()) / 1000.0,
    )
