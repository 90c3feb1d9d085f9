"""Static provisioning and the oracle: both plan from the future arrivals.

The oracle knows every arrival and sizes the fleet for the work that will arrive:
each request costs ``prompt / prefill_rate + output * step(b) / b`` busy seconds of one
group (decode amortised over a reference batch ``b`` of 64). Per minute, the groups
needed are ``ceil(busy seconds / 60 / utilization)``; the oracle asks at time t for the
most any minute of ``[t, t + cold start]`` needs, so a group is ordered exactly one
(median) cold start before its minute and released as soon as no minute ahead needs it.
Knowing the future, it knows its cold starts too: its fleet's starts are exactly that
median (``simulations.bench_runs.exact_fleet_factory``).
``utilization`` is swept and the cheapest setting meeting the SLO is kept, which makes
the oracle's GPU-hours a lower bound for reactive policies. Its floor is one group, or
zero when ours' policy scales to zero (``floor``): then no group runs while no arrival
is due within a cold start, and the bound has the option ours has. Static provisioning
runs the peak of the same need for the whole trace.
"""

from __future__ import annotations

import math

import numpy as np

from simulations.closedloop import LoopView
from simulations.profile import ServingProfile
from simulations.traces import Trace

BUCKET = 60.0
REFERENCE_BATCH = 64


def needed_groups(
    trace: Trace, profile: ServingProfile, utilization: float, floor: int = 1
) -> np.ndarray:
    """Groups needed per ``BUCKET`` seconds of the trace (at least ``floor``)."""
    mean_context = float(np.mean(trace.prompt_tokens + trace.output_tokens / 2))
    step = profile.decode.step_seconds(REFERENCE_BATCH, REFERENCE_BATCH * mean_context)
    work = trace.prompt_tokens / profile.prefill_tokens_per_second
    work = work + trace.output_tokens * step / REFERENCE_BATCH
    buckets = math.ceil((float(trace.arrival[-1]) + 1e-9) / BUCKET) or 1
    index = np.minimum((trace.arrival // BUCKET).astype(np.int64), buckets - 1)
    busy = np.bincount(index, weights=work, minlength=buckets)
    return np.maximum(floor, np.ceil(busy / BUCKET / utilization)).astype(np.int64)


class Oracle:
    name = "oracle"
    knows_cold_starts = True  # its fleet starts each group in exactly ``lead`` seconds
    # A lower bound fails no request it need not: a group it releases stops receiving
    # and finishes what it holds (its GPUs count until then), as ours drains.
    termination_grace_seconds = 300.0

    def __init__(
        self,
        trace: Trace,
        profile: ServingProfile,
        max_replicas: int,
        utilization: float,
        floor: int = 1,
    ) -> None:
        self.period = 15.0
        need = needed_groups(trace, profile, utilization, floor)
        self.need = np.minimum(need, max_replicas)
        self.lead = profile.cold_start.median_seconds

    def decide(self, view: LoopView) -> int | None:
        # Past the trace's last minute, the last minute's need.
        first = min(int(view.now // BUCKET), len(self.need) - 1)
        last = int((view.now + self.lead) // BUCKET)
        return int(self.need[first : last + 1].max())


class Static:
    name = "static"

    def __init__(self, replicas: int) -> None:
        self.period = 60.0
        self.replicas = replicas

    def decide(self, view: LoopView) -> int | None:
        return self.replicas
