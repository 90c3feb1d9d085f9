"""The closed loop: arrivals -> gateway -> group engines -> leader metrics -> an
autoscaler -> ``spec.replicas`` -> the LWS model's groups, which take minutes to start.

Time advances in fixed steps (``LoopConfig.step``, 0.5 s by default); request timings
inside a step are continuous (see :mod:`simulations.serving`). Every
``scrape_interval`` the leaders of ready groups are scraped, and so is the gateway's
request counter (the activation signal of scale-to-zero policies, over
``LoopConfig.gateway_rate_window``); every controller period the controller decides.
A group removed by the LWS model fails its in-flight requests, or, with
``drain_seconds`` in the profile, stops receiving and finishes them first (its GPUs
still count until it is gone). A controller that drains before removal (:class:`Cordons`,
ours with ``scaleDown.drain``) names the groups the gateway must stop routing to while
they are still in the LWS; they keep serving what they hold and keep being scraped.

GPU-hours and replica-hours count every created group (starting, ready or draining) from
time 0 to the last arrival, so every policy is charged over the same interval; the loop
then runs on (``tail``) only so that in-flight requests can finish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from autoscaler.snapshot import GroupStatus, LwsKey, leader_pod_name
from autoscaler.sources.cluster import LeaderPod, LwsState
from simulations.decision_log import DecisionRow
from simulations.gateway import Gateway
from simulations.ledger import RequestLog
from simulations.metrics import ScrapeStore
from simulations.profile import ServingProfile
from simulations.serving import GroupEngine
from simulations.traces import Trace


class Fleet(Protocol):
    """The LWS model as the loop uses it: set ``spec.replicas``, advance the clock, list
    the groups that exist (starting ones have ``ready_at`` None or in the future)."""

    @property
    def spec_replicas(self) -> int: ...

    def scale(self, replicas: int, now: float) -> None: ...

    def groups(self, now: float) -> tuple[GroupStatus, ...]: ...


FleetFactory = Callable[[int, ServingProfile, np.random.Generator], Fleet]
"""(initial ready groups, profile, rng) -> a fleet whose initial groups are ready at 0."""


@dataclass(frozen=True)
class LoopView:
    """What a controller may look at when it decides."""

    now: float
    state: LwsState
    store: ScrapeStore
    gateway_waiting: int
    concurrency: float
    """Requests in the data path right now: held at the gateway plus outstanding at groups."""


class Controller(Protocol):
    name: str
    period: float

    def decide(self, view: LoopView) -> int | None:
        """The new ``spec.replicas``, or None to leave it."""
        ...


@runtime_checkable
class Cordons(Protocol):
    """A controller that takes groups out of routing before it removes them."""

    def cordoned(self) -> frozenset[int]:
        """Indices of the groups that must receive no new requests, as of its last decision."""
        ...


@dataclass(frozen=True)
class LoopConfig:
    step: float = 0.5
    scrape_interval: float = 15.0
    tail: float = 900.0
    timeline_interval: float = 15.0
    gateway_rate_window: float = 60.0
    """The range of the activation signal's rate, as in ``rate(...[1m])``."""
    engine_lag: float = 0.0
    """Ours only: how long before each HPA sync the server decides (``Ours``)."""
    key: LwsKey = field(default_factory=lambda: LwsKey("inference", "llm"))


@dataclass
class Timeline:
    """Sampled every ``timeline_interval`` seconds, for the plots."""

    time: list[float] = field(default_factory=list)
    spec: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)


@dataclass
class RunResult:
    name: str
    log: RequestLog
    timeline: Timeline
    gpu_hours: float
    replica_hours: float
    scale_events: int
    rejected: int
    held_requests: int
    end: float
    decisions: tuple[DecisionRow, ...] = ()
    """The engine's decisions, for a controller that runs it (ours)."""


def lws_state(key: LwsKey, spec: int, groups: tuple[GroupStatus, ...], now: float) -> LwsState:
    """The API server's view: created groups, ready ones, their leader pods."""
    ready = tuple(g for g in groups if g.ready_at is not None and g.ready_at <= now)
    shown = tuple(
        g if g.ready_at is None or g.ready_at <= now else GroupStatus(g.index, g.created_at)
        for g in groups
    )
    leaders = tuple(
        LeaderPod(leader_pod_name(key.name, g.index), g.index, ready=g in ready) for g in groups
    )
    return LwsState(key, spec, len(groups), len(ready), shown, leaders)


def run(
    trace: Trace,
    profile: ServingProfile,
    controller: Controller,
    fleet_factory: FleetFactory,
    initial_replicas: int,
    seed: int = 0,
    config: LoopConfig | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Serve ``trace`` with ``controller`` scaling the groups; seeded and repeatable."""
    cfg = config or LoopConfig()
    rng = np.random.default_rng(seed)
    log = RequestLog.for_trace(trace)
    gateway = Gateway(log, profile.max_context_tokens)
    fleet = fleet_factory(initial_replicas, profile, rng)
    keep = max(300.0, 4 * cfg.scrape_interval)
    store = ScrapeStore(cfg.key, profile.model, keep=keep)
    engines: dict[int, GroupEngine] = {}
    draining: dict[int, GroupEngine] = {}
    timeline = Timeline()
    last_arrival = float(trace.arrival[-1])
    end = last_arrival + cfg.tail
    group_seconds, events = 0.0, 0
    cordoned: frozenset[int] = frozenset()
    next_scrape = next_decision = next_sample = 0.0
    t, step = 0.0, cfg.step
    while t < end:
        t1 = t + step
        groups = fleet.groups(t)
        ready = _sync_engines(groups, engines, draining, profile, log, t)
        live = [engines[g.index] for g in ready]
        # Observe and decide at t, before the step moves the engines to t1: a request
        # routed during (t, t1] arrives after t, and a gauge read after the step would
        # count it as waiting at t (at 4x the Azure rate, about 10 requests a scrape
        # that had not arrived yet, read as queue by every queue-driven policy).
        if t >= next_scrape:
            store.scrape(t, live)
            store.record_gateway_rate(t, gateway.request_rate(t, cfg.gateway_rate_window))
            next_scrape += cfg.scrape_interval
        if t >= next_decision:
            state = lws_state(cfg.key, fleet.spec_replicas, groups, t)
            outstanding = sum(e.outstanding for e in live)
            view = LoopView(t, state, store, gateway.waiting, gateway.waiting + outstanding)
            wanted = controller.decide(view)
            if isinstance(controller, Cordons):
                cordoned = controller.cordoned()
            if wanted is not None and wanted != fleet.spec_replicas:
                fleet.scale(wanted, t)
                events += 1
            next_decision += controller.period
        if t >= next_sample:
            timeline.time.append(t)
            timeline.spec.append(fleet.spec_replicas)
            timeline.ready.append(len(ready))
            timeline.created.append(len(groups))
            timeline.waiting.append(gateway.waiting + sum(e.waiting_at(t) for e in live))
            next_sample += cfg.timeline_interval
            if progress is not None:
                progress(min(1.0, t / end))
        routable = [e for e in live if e.index not in cordoned] if cordoned else live
        gateway.route_until(t1, routable, t)
        for engine in live:
            engine.step(t, t1)
        for index, engine in list(draining.items()):
            engine.step(t, t1)
            assert engine.draining_until is not None
            if not engine.outstanding or t1 >= engine.draining_until:
                engine.fail_all(t1)
                del draining[index]
        if t < last_arrival:
            group_seconds += (len(groups) + len(draining)) * min(step, last_arrival - t)
        t = t1
        if t > last_arrival and _all_resolved(gateway, engines, draining):
            break
    gateway.fail_held(t)
    for engine in (*engines.values(), *draining.values()):
        engine.fail_all(t)
    hours = group_seconds / 3600.0
    return RunResult(
        controller.name,
        log,
        timeline,
        gpu_hours=hours * profile.gpus_per_group,
        replica_hours=hours,
        scale_events=events,
        rejected=gateway.rejected,
        held_requests=gateway.held_requests,
        end=t,
    )


def _sync_engines(
    groups: tuple[GroupStatus, ...],
    engines: dict[int, GroupEngine],
    draining: dict[int, GroupEngine],
    profile: ServingProfile,
    log: RequestLog,
    now: float,
) -> list[GroupStatus]:
    """Create engines for newly ready groups; retire engines of removed groups."""
    present = {g.index: g for g in groups}
    gone = [i for i, e in engines.items() if i not in present or present[i].created_at != e.born]
    for index in gone:
        engine = engines.pop(index)
        if profile.drain_seconds > 0 and engine.outstanding:
            engine.draining_until = now + profile.drain_seconds
            draining[_fresh_key(draining, index)] = engine
        else:
            engine.fail_all(now)
    ready = [g for g in groups if g.ready_at is not None and g.ready_at <= now]
    for group in ready:
        if group.index not in engines:
            engines[group.index] = GroupEngine(group.index, profile, log, group.created_at)
    return ready


def _fresh_key(draining: dict[int, GroupEngine], index: int) -> int:
    # A group index can be re-created while its predecessor still drains.
    key = index
    while key in draining:
        key += 1_000_000
    return key


def _all_resolved(
    gateway: Gateway, engines: dict[int, GroupEngine], draining: dict[int, GroupEngine]
) -> bool:
    """Every arrival routed (the caller checks time) and nothing left in flight."""
    if gateway.waiting or draining:
        return False
    return not any(e.outstanding for e in engines.values())
