"""The control loop: every cycle, fetch, decide for every policy, publish, and relabel
the leaders of draining groups (``scaleDown.drain``, through :mod:`~autoscaler.server.cordon`).

- **The only clock reader.** Cycles run on ticks aligned to multiples of the cycle
  period (like Prometheus rule evaluation), and the tick is the ``now`` given to the
  source and the engine. Two replicas therefore decide at the same instants.
- **Failures hold.** A source that raises (``SourceError`` or anything unexpected)
  gives every policy ``decide(policy, None, ...)``, which holds the last good value; a
  target-level error does the same for that LWS only. An engine failure for one LWS is
  logged and skipped (its series go stale rather than wrong); so is a series whose value
  cannot be published (see :mod:`~autoscaler.server.store`). Nothing stops the loop.
- **Restart safety.** Before the first cycle, :meth:`ControlLoop.restore` replays the
  source's history over the longest window any policy uses (scale-down stabilisation,
  step periods, forecast lookback, hold time, idle time) through ``decide`` with the
  historical ``now``s. A restarted replica, or a second one, then carries the same
  engine state as one that never stopped, and gives the same recommendation. If
  history is unavailable it starts cold, and the engine's warm-up rule (no scale-down
  until the down window was observed in full) keeps it safe.
- **One actor.** Relabelling and Events (:mod:`~autoscaler.server.event_writer`, with the
  HPA audit's, :mod:`~autoscaler.server.hpa_audit`) are the only writes to the cluster.
  With ``--leader-elect`` they run only in the replica that holds the Lease this cycle
  (:mod:`~autoscaler.server.leader`); the others decide, audit and serve all the same.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from autoscaler.engine import Decision, EngineState, decide
from autoscaler.engine.horizon import policy_horizon
from autoscaler.errors import SourceError
from autoscaler.policy.model import ScalingPolicy
from autoscaler.server.clock import Clock
from autoscaler.server.cordon import Cordon
from autoscaler.server.event_writer import EventRecorder
from autoscaler.server.hpa_audit import HpaAudit
from autoscaler.server.hpa_findings import PolicyBounds
from autoscaler.server.leader import LeaderElector
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import MetricSource, SourceResult, Target

log = logging.getLogger(__name__)

DEFAULT_CYCLE_SECONDS = 15.0
DEFAULT_MAX_REPLAY_SECONDS = 3600.0


def _key(policy: ScalingPolicy) -> LwsKey:
    return LwsKey(policy.spec.target.namespace, policy.spec.target.name)


class ControlLoop:
    """Owns the engine states; publishes each cycle's decisions to the store."""

    def __init__(
        self,
        source: MetricSource,
        watcher: PolicyWatcher,
        store: DecisionStore,
        telemetry: Telemetry,
        clock: Clock,
        cycle_seconds: float = DEFAULT_CYCLE_SECONDS,
        max_replay_seconds: float = DEFAULT_MAX_REPLAY_SECONDS,
        cordon: Cordon | None = None,
        leader: LeaderElector | None = None,
        events: EventRecorder | None = None,
        hpa_audit: HpaAudit | None = None,
    ) -> None:
        """``cordon``: relabels draining leaders (``scaleDown.drain``); ``events``: writes
        Events on the LWSes; ``hpa_audit``: checks the HPAs that target them; None
        without a cluster to act on (recordings, the demo). ``leader``: with several
        replicas, only the lease holder relabels and writes events; None: this process
        always does."""
        if cycle_seconds <= 0:
            raise ValueError("the cycle must be longer than 0s")
        self.source, self.watcher, self.store = source, watcher, store
        self.telemetry, self.clock = telemetry, clock
        self.cycle = cycle_seconds
        self.max_replay = max_replay_seconds
        self.cordon, self.leader, self.events = cordon, leader, events
        self.hpa_audit = hpa_audit
        self.states: dict[LwsKey, EngineState] = {}
        # Wall-clock (monotonic) time of the last sign of progress: the loop's start and
        # the end of each cycle. Read by the liveness probe (``ServerProcess``), never by
        # a decision, which sees only the ticks.
        self.progressed_at = time.monotonic()

    def align(self, t: float) -> float:
        """The tick at or before ``t``: 1000.7 with a 15 s cycle -> 990.0."""
        return math.floor(t / self.cycle) * self.cycle

    def _decide_all(
        self,
        policies: Sequence[ScalingPolicy],
        result: SourceResult | None,
        now: float,
        *,
        replaying: bool = False,
    ) -> tuple[list[tuple[ScalingPolicy, Decision]], list[tuple[ScalingPolicy, Decision]]]:
        """(this cycle's decisions, last cycle's kept for LWSes whose engine failed).

        ``replaying``: a start-up replay of history; its gaps were the past's, so they
        neither count in ``source_errors_total`` nor log a warning each."""
        decisions = []
        kept = []
        states: dict[LwsKey, EngineState] = {}
        for policy in policies:
            key = _key(policy)
            state = self.states.get(key, EngineState())
            snapshot = result.snapshots.get(key) if result is not None else None
            if result is not None and key in result.errors and not replaying:
                self.telemetry.source_errors.labels("target").inc()
                log.warning("no data for %s at %.0f: %s", key, now, result.errors[key])
            try:
                decision, state = decide(policy, snapshot, state, now)
            except Exception:
                log.exception("engine failed for %s; its recommendation goes stale", key)
                states[key] = state
                # Published again with its own time: served until it is older than the
                # max age, then a 503. Dropping it would turn the series into a 404 at
                # once, and a selector over several LWSes would silently sum fewer.
                previous = self.store.decision(key)
                if previous is not None:
                    kept.append((previous.policy, previous.decision))
                continue
            states[key] = state
            decisions.append((policy, decision))
        self.states = states
        return decisions, kept

    def restore(self, now: float, stop: threading.Event | None = None) -> int:
        """Replay history up to the tick before ``now``; returns the instants replayed.

        ``stop`` ends it between two instants: at a 100 ms cycle an hour of history is
        36,000 instants, and a SIGTERM during that replay waited out the 10 s join of
        the loop's thread."""
        policies = self.watcher.policies
        if not policies:
            return 0
        window = min(self.max_replay, max(policy_horizon(p) for p in policies) + self.cycle)
        start, end = self.align(now - window), self.align(now) - self.cycle
        if end < start:
            return 0
        targets = [Target(p) for p in policies]
        replayed = 0
        try:
            for at, result in self.source.history(targets, start, end, self.cycle):
                if stop is not None and stop.is_set():
                    log.info("stopped during the history replay, after %d instants", replayed)
                    return replayed
                self._decide_all(policies, result, at, replaying=True)
                replayed += 1
        except Exception as exc:  # any failure: a partial replay would be misleading
            log.warning("could not replay history (%s); starting cold", exc)
            self.states = {}
            return 0
        log.info(
            "replayed %d instants (%.0fs) of history for %d policies",
            replayed,
            end - start,
            len(policies),
        )
        return replayed

    def run_cycle(self, now: float) -> list[Decision]:
        """One cycle at ``now``: reload policies, fetch, decide, publish."""
        started = time.perf_counter()  # cycle duration metric only
        try:
            self.watcher.refresh()
        except Exception:  # the watcher guards each file; this keeps the policies in force
            log.exception("reloading policies failed; keeping the ones in force")
        policies = self.watcher.policies
        result: SourceResult | None = None
        try:
            result = self.source.fetch([Target(p) for p in policies], now)
        except SourceError as exc:
            log.warning("metric source %s failed, holding: %s", self.source.name, exc)
        except Exception:
            log.exception("metric source %s failed unexpectedly, holding", self.source.name)
        if result is None:
            self.telemetry.source_errors.labels("backend").inc()
        decisions, kept = self._decide_all(policies, result, now)
        try:
            self.store.publish(
                [*decisions, *kept],
                now,
                source_ok=result is not None,
                finished_at=self.clock.now(),
            )
        except Exception:  # publish guards each series; this is a last resort
            log.exception("publishing the cycle failed; the previous values go stale")
        acts = self.cordon is not None or self.events is not None
        leading = acts and (self.leader is None or self.leader.leads(now))
        if self.cordon is not None and leading:
            try:
                # The kept decisions too: an engine failure for one LWS is not its policy
                # gone, and must not send traffic back to the leaders it drains.
                self.cordon.apply(d for _, d in [*decisions, *kept])
            except Exception:  # relabelling is retried next cycle; deciding must go on
                log.exception("relabelling draining leaders failed; retrying next cycle")
        if self.events is not None:
            try:  # followed in every replica, written by the leader only
                fresh, failed = (d for _, d in decisions), (d.key for _, d in kept)
                self.events.record(fresh, now, write=leading, kept=failed)
            except Exception:  # events are best effort
                log.exception("recording events failed")
        if self.hpa_audit is not None and self.hpa_audit.due(now):
            try:  # every replica audits, for its gauges; the leader writes the Events
                bounds = {_key(p): PolicyBounds.of(p) for p in policies}
                found = self.hpa_audit.run(list(bounds), now, bounds)
                if self.events is not None:
                    self.events.send(found, now, write=leading)
            except Exception:  # a health check of the HPAs, never a reason to stop
                log.exception("auditing the HPAs failed")
        try:
            self.telemetry.record_decisions((d for _, d in decisions), (d for _, d in kept))
        except Exception:  # the gauges are for people; the decisions are already served
            log.exception("recording this cycle's decisions in /metrics failed")
        self.telemetry.cycles.labels("ok" if result is not None else "source_error").inc()
        self.telemetry.last_cycle.set(now)
        self.telemetry.cycle_duration.observe(time.perf_counter() - started)
        return [d for _, d in decisions]

    def run(self, stop: threading.Event, wait: Callable[[float], bool] | None = None) -> None:
        """Restore, then cycle until ``stop`` is set. ``wait(seconds)`` sleeps in wall
        seconds and returns True to stop (default: ``stop.wait``).

        No single wait is longer than one cycle, whatever the clock does. If the clock
        goes back (an NTP step, a VM restored from a snapshot) by less than a cycle
        before the tick just run, the loop waits for the next tick as usual, at most two
        cycles in all. If it goes back further, the loop does not wait until the clock
        is back where it was: it resyncs at once onto the tick at or before the new time
        and cycles from there, so decisions keep coming every cycle and the ones stamped
        in the clock's future are replaced at once."""
        try:
            self._run(stop, wait or stop.wait)
        finally:
            if self.events is not None:
                self.events.close()  # what is queued, for 2 s at most
            if self.leader is not None:
                # The other replica takes over at its next cycle, not a lease later.
                self.leader.release(self.clock.now())

    def _run(self, stop: threading.Event, wait: Callable[[float], bool]) -> None:
        self.progressed_at = time.monotonic()
        tick = self.align(self.clock.now())
        self.restore(tick, stop)
        while not stop.is_set():
            self.run_cycle(tick)
            self.progressed_at = time.monotonic()
            next_tick = tick + self.cycle
            while True:
                now = self.clock.now()
                went_back = now < tick - self.cycle
                if went_back or now >= next_tick:
                    break
                if wait(self.clock.wall_seconds(min(self.cycle, next_tick - now))):
                    return
            if went_back:
                log.warning(
                    "the clock went back %.0fs (from tick %.0f to %.0f): resuming at tick %.0f",
                    tick - now,
                    tick,
                    now,
                    self.align(now),
                )
                tick = self.align(now)
                continue
            tick = max(next_tick, self.align(now))
            if tick > next_tick:
                log.warning("cycle overran: skipped to %.0f", tick)
