"""The gateway in front of an LWS: rejects over-long requests, holds requests while no
group is ready, and routes each request to the least-loaded ready group.

"Least loaded" is the fewest requests outstanding at the group (waiting + running): a
least-request balancer over every ready group; the Gateway API inference extension's
endpoint picker also prefers the endpoints with the shortest queues. (vLLM
production-stack's router, which the KEDA recipe comes with, routes round-robin by
default.)
Each arrival sees the load at its own time: the count at the step's start, plus what
was sent since, minus the running sequences the group predicts to have finished by then
(:attr:`~simulations.serving.GroupEngine.finishes`, at the last step's decode pace).
A request held at the gateway is routed at the start of the step a group becomes ready;
the time it waited there counts in its queue wait (``held_requests`` says how many were
held).

The gateway also counts the requests that reach it (rejected ones included), as an
Envoy-style gateway's request counter does; :meth:`Gateway.request_rate` is that
counter's rate, which stands in for a scale-to-zero policy's activation query.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from simulations.ledger import Outcome, RequestLog
from simulations.serving import GroupEngine


class Gateway:
    """Routes the arrivals of each step; one instance per simulated run."""

    def __init__(self, log: RequestLog, max_context_tokens: int) -> None:
        self.log = log
        self.held: deque[int] = deque()
        self.held_requests = 0
        too_long = (log.prompt + log.output) > max_context_tokens
        log.outcome[too_long] = np.int8(Outcome.REJECTED)
        log.finished[too_long] = log.arrival[too_long]
        self.rejected = int(np.count_nonzero(too_long))
        self._routable = ~too_long
        self._next = 0  # index of the first arrival not yet routed

    def route_until(self, t1: float, groups: Sequence[GroupEngine], t0: float) -> None:
        """Route everything held and every arrival before ``t1`` to ``groups`` (the ready,
        non-draining ones); with none, hold them."""
        log = self.log
        end = int(np.searchsorted(log.arrival, t1, side="left"))
        arriving = (np.flatnonzero(self._routable[self._next : end]) + self._next).tolist()
        self._next = end
        if not groups:
            self.held.extend(arriving)
            self.held_requests += len(arriving)
            return
        loads = [g.outstanding for g in groups]
        while self.held:
            rid = self.held.popleft()
            log.routed[rid] = max(t0, float(log.arrival[rid]))
            self._send(rid, groups, loads)
        if not arriving:
            return
        at = log.arrival[arriving]
        log.routed[arriving] = at
        # Running sequences predicted to finish before an arrival no longer load its group.
        last = at[-1]
        ends = sorted(
            (eta, i)
            for i, g in enumerate(groups)
            for eta in g.finishes[: np.searchsorted(g.finishes, last, "right")].tolist()
        )
        j = 0
        for rid, now in zip(arriving, at.tolist(), strict=True):
            while j < len(ends) and ends[j][0] <= now:
                loads[ends[j][1]] -= 1
                j += 1
            self._send(rid, groups, loads)

    @staticmethod
    def _send(rid: int, groups: Sequence[GroupEngine], loads: list[int]) -> None:
        best = loads.index(min(loads))  # the first of the least loaded
        loads[best] += 1
        groups[best].enqueue(rid)

    def request_rate(self, now: float, window: float) -> float:
        """Requests per second that reached the gateway in ``(now - window, now]``: what
        ``sum(rate(<gateway request counter>[window]))`` reads (without PromQL's
        extrapolation). E.g. 12 arrivals in the last 60 s: 0.2."""
        arrival = self.log.arrival
        recent = int(np.searchsorted(arrival, now, side="right")) - int(
            np.searchsorted(arrival, now - window, side="right")
        )
        return recent / window

    @property
    def waiting(self) -> int:
        return len(self.held)

    def fail_held(self, now: float) -> int:
        """At the end of a run, requests still held never got served."""
        lost = list(self.held)
        self.held.clear()
        self.log.outcome[lost] = np.int8(Outcome.FAILED)
        self.log.finished[lost] = now
        return len(lost)
