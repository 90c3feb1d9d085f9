"""The per-request ledger of a closed-loop run: one row per request of the trace, written
by the gateway (routing, rejection) and by whichever group serves it (scheduling, first
token, finish). Groups hold only request ids; every figure is computed from here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from simulations.traces import FloatArray, IntArray, Trace


class Outcome(IntEnum):
    IN_FLIGHT = 0
    SERVED = 1
    FAILED = 2
    """In flight on a group that was removed (scale-down without drain)."""
    REJECTED = 3
    """Prompt plus output longer than the profile's maximum context."""


@dataclass
class RequestLog:
    """Per-request timeline shared by the gateway and every group (NaN = not yet)."""

    arrival: FloatArray
    prompt: IntArray
    output: IntArray
    routed: FloatArray
    started: FloatArray
    first_token: FloatArray
    finished: FloatArray
    outcome: NDArray[np.int8]

    @classmethod
    def for_trace(cls, trace: Trace) -> RequestLog:
        n = len(trace)

        def nans() -> FloatArray:
            return np.full(n, np.nan)

        return cls(
            trace.arrival,
            trace.prompt_tokens,
            np.maximum(trace.output_tokens, 1),
            nans(),
            nans(),
            nans(),
            nans(),
            np.zeros(n, dtype=np.int8),
        )

    def queue_wait(self) -> FloatArray:
        """Arrival to first scheduling (gateway wait included); NaN if never started."""
        return self.started - self.arrival
