"""A Knative-KPA-style concurrency autoscaler (knative/serving ``pkg/autoscaler``
semantics, described in shared/reference/llm-autoscaler-anchors.md §d; no code copied).

Every tick (2 s) it samples the concurrency in the data path (requests held at the
gateway, which plays Knative's activator, plus requests outstanding at the groups) and
averages it over a stable window (60 s) and a panic window (6 s). With a per-group target
``target * utilization`` (100 * 0.7 = 70 by default):

- ``stable = ceil(avg60 / 70)``, ``panic = ceil(avg6 / 70)``, both clamped to
  ``[floor(ready / 2), ceil(ready * 1000)]`` (max scale-down and scale-up rates, on
  *ready* groups, at least 1);
- panic starts when ``panic / ready >= 2.0`` and lasts until a full stable window passes
  without that condition; in panic the count only grows (the highest panic proposal is
  kept), out of panic it follows ``stable``. A fresh autoscaler that finds more than one
  ready group starts in panic. Worked example: 3 ready groups, 6 s average
  of 500 in flight -> panic proposal ceil(500/70) = 8, 8/3 = 2.7 >= 2 -> panic, scale to 8.
"""

from __future__ import annotations

import math
from collections import deque

from simulations.closedloop import LoopView

# Knative's container-concurrency-target-default: the published target.
KPA_TARGET = 100.0


class KnativeKpa:
    name = "knative"
    # Knative gives a pod ``terminationGracePeriodSeconds`` = the revision's timeout
    # (300 s by default) and a preStop hook that waits for the queue-proxy to drain: a
    # removed pod finishes the requests it holds. (The HPA recipes kill them: vLLM's
    # default shutdown aborts in-flight requests on SIGTERM.)
    termination_grace_seconds = 300.0

    def __init__(
        self,
        max_replicas: int,
        min_replicas: int = 1,
        target: float = KPA_TARGET,
        utilization: float = 0.7,
        stable_window: float = 60.0,
        panic_window: float = 6.0,
        panic_threshold: float = 2.0,
        max_scale_up_rate: float = 1000.0,
        max_scale_down_rate: float = 2.0,
        tick: float = 2.0,
    ) -> None:
        self.period = tick
        self.per_group = target * utilization
        self.bounds = (min_replicas, max_replicas)
        self.stable_window, self.panic_window = stable_window, panic_window
        self.panic_threshold = panic_threshold
        self.up_rate, self.down_rate = max_scale_up_rate, max_scale_down_rate
        self.samples: deque[tuple[float, float]] = deque()
        self.panic_since: float | None = None
        self.max_panic = 0

    def _average(self, now: float, window: float) -> float:
        values = [v for t, v in self.samples if t > now - window]
        return sum(values) / len(values) if values else 0.0

    def decide(self, view: LoopView) -> int | None:
        now = view.now
        if not self.samples and view.state.ready_replicas > 1:
            # Knative starts a new autoscaler in panic when it finds more than one pod,
            # so that a restart (or here, the first tick) does not halve a warm fleet.
            self.panic_since, self.max_panic = now, view.state.spec_replicas
        self.samples.append((now, view.concurrency))
        while self.samples[0][0] <= now - self.stable_window:
            self.samples.popleft()
        return self.desired(now, view.state.ready_replicas)

    def desired(self, now: float, ready_count: int) -> int:
        """The decision from the recorded samples (separate from sampling for tests)."""
        ready = max(1, ready_count)
        low = math.floor(ready / self.down_rate)
        high = math.ceil(ready * self.up_rate)
        stable = min(
            max(math.ceil(self._average(now, self.stable_window) / self.per_group), low), high
        )
        panic = min(
            max(math.ceil(self._average(now, self.panic_window) / self.per_group), low), high
        )
        if panic / ready >= self.panic_threshold:
            self.panic_since = now
        elif self.panic_since is not None and now - self.panic_since > self.stable_window:
            # Knative un-panics once ``panicTime + StableWindow`` is *before* now: strictly
            # later than one window (at a 2 s tick, 62 s after the last panic reading).
            self.panic_since, self.max_panic = None, 0
        if self.panic_since is not None:
            wanted = max(stable, panic, self.max_panic)
            self.max_panic = wanted
        else:
            wanted = stable
        return min(max(wanted, self.bounds[0]), self.bounds[1])
