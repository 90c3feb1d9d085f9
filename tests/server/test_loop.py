"""The control loop: aligned ticks, hold on source errors, policy hot reload (ConfigMap
symlink swaps), restart safety by replaying history, containment of engine failures."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.engine import Decision
from autoscaler.engine.horizon import policy_horizon
from autoscaler.server import loop as loop_module
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey
from tests.server.helpers import (
    T0,
    FunctionSource,
    ManualClock,
    constant,
    make_policy,
    policy_document,
    write_policy,
)

LLAMA = LwsKey("inference", "llama-70b")
DEV = LwsKey("inference", "dev-8b")


def _build(
    paths: list[Path],
    source: FunctionSource,
    clock: ManualClock,
    max_replay_seconds: float = loop_module.DEFAULT_MAX_REPLAY_SECONDS,
) -> tuple[ControlLoop, Telemetry, DecisionStore]:
    telemetry = Telemetry()
    watcher = PolicyWatcher(paths, telemetry)
    watcher.load_initial()
    store = DecisionStore(max_age=45)
    loop = ControlLoop(source, watcher, store, telemetry, clock, 15.0, max_replay_seconds)
    return loop, telemetry, store


def _by_key(decisions: list[Decision]) -> dict[LwsKey, Decision]:
    return {d.key: d for d in decisions}


def _metric(telemetry: Telemetry, name: str, labels: dict[str, str] | None = None) -> float:
    value = telemetry.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


class ConfigMapDir:
    """A folder laid out like a mounted ConfigMap: key -> ..data/key, ..data -> ..<ts>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0
        root.mkdir()

    def publish(self, files: dict[str, str]) -> None:
        self.version += 1
        stamp = self.root / f"..2026_01_01_00_00_{self.version:02d}"
        stamp.mkdir()
        for name, text in files.items():
            (stamp / name).write_text(text)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(stamp.name)
        os.replace(tmp, self.root / "..data")  # the atomic swap kubelet does
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")


def _yaml(**kwargs: Any) -> str:
    return yaml.safe_dump(policy_document(**kwargs), sort_keys=False)


@pytest.fixture
def llama_file(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "llama.yaml")


def test_run_replays_then_cycles_on_aligned_ticks(llama_file: Path) -> None:
    clock = ManualClock(T0 + 7)
    source = FunctionSource({LLAMA: constant(64)})
    loop, telemetry, store = _build([llama_file], source, clock)
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds)
        return len(waits) >= 3

    loop.run(threading.Event(), wait)
    replay_window = policy_horizon(make_policy()) + 15
    replayed = [t for t in source.fetches if t < T0]
    assert replayed[0] == T0 - replay_window
    assert replayed[-1] == T0 - 15
    assert [t for t in source.fetches if t >= T0] == [T0, T0 + 15, T0 + 30]
    assert waits == [8.0, 15.0, 15.0]  # first wait reaches the next tick from T0 + 7
    assert store.published_at == T0 + 30
    assert _metric(telemetry, "lws_autoscaler_cycles_total", {"result": "ok"}) == 3


def test_source_failure_holds_and_counts(llama_file: Path, tmp_path: Path) -> None:
    dev_file = write_policy(tmp_path / "dev.yaml", name="dev-8b", target_per_group=10)
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64), DEV: constant(5)})
    loop, telemetry, store = _build([llama_file, dev_file], source, clock)
    first = _by_key(loop.run_cycle(clock.now()))
    assert first[LLAMA].replicas == 8
    backend = {"scope": "backend"}
    assert _metric(telemetry, "lws_autoscaler_source_errors_total", backend) == 0

    source.loads[LLAMA] = constant(0)  # would scale down if it were believed
    source.failing = True
    clock.advance(15)
    held = _by_key(loop.run_cycle(clock.now()))
    assert held[LLAMA].replicas == 8
    assert held[LLAMA].driver == "hold"
    assert store.published_at == T0 + 15
    assert store.source_ok_at == T0
    assert _metric(telemetry, "lws_autoscaler_source_errors_total", backend) == 1
    assert _metric(telemetry, "lws_autoscaler_cycles_total", {"result": "source_error"}) == 1

    source.failing = False
    source.missing = {LLAMA}  # one target fails, the other is fresh
    clock.advance(15)
    mixed = _by_key(loop.run_cycle(clock.now()))
    assert mixed[LLAMA].driver == "hold"
    assert mixed[DEV].driver != "hold"
    assert _metric(telemetry, "lws_autoscaler_source_errors_total", {"scope": "target"}) == 1
    # The fetch itself answered: no backend error more.
    assert _metric(telemetry, "lws_autoscaler_source_errors_total", backend) == 1


def test_unexpected_source_exception_also_holds(llama_file: Path) -> None:
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64)})
    loop, _, _ = _build([llama_file], source, clock)
    loop.run_cycle(clock.now())

    def broken(*args: Any) -> Any:
        raise KeyError("a bug in a source")

    source.fetch = broken  # type: ignore[method-assign,assignment]
    clock.advance(15)
    (decision,) = loop.run_cycle(clock.now())
    assert decision.driver == "hold"


def test_a_failure_recording_the_gauges_leaves_the_cycle_and_its_counters(
    llama_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The only step of a cycle that had no guard: raised, it ended the loop thread
    # (/livez then fails and the pod restarts, every cycle alike).
    clock = ManualClock()
    loop, telemetry, store = _build([llama_file], FunctionSource({LLAMA: constant(64)}), clock)

    def broken(*args: Any) -> None:
        raise ValueError("a label set prometheus_client refuses")

    monkeypatch.setattr(telemetry, "record_decisions", broken)
    with caplog.at_level(logging.ERROR):
        (decision,) = loop.run_cycle(clock.now())
    assert store.decision(LLAMA) is not None
    assert _metric(telemetry, "lws_autoscaler_cycles_total", {"result": "ok"}) == 1
    assert "recording this cycle's decisions in /metrics failed" in caplog.text
    assert decision.replicas is not None


def test_engine_failure_for_one_lws_is_contained(
    llama_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dev_file = write_policy(tmp_path / "dev.yaml", name="dev-8b", target_per_group=10)
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64), DEV: constant(5)})
    loop, _, store = _build([llama_file, dev_file], source, clock)
    real_decide = loop_module.decide  # type: ignore[attr-defined]

    def flaky(policy: Any, snapshot: Any, state: Any, now: float) -> Any:
        if policy.name == "dev-8b":
            raise ZeroDivisionError("engine bug")
        return real_decide(policy, snapshot, state, now)

    applied: list[list[LwsKey]] = []

    class _Cordon:
        def apply(self, decided: Any) -> None:
            applied.append(sorted(d.key for d in decided))

    loop.cordon = _Cordon()  # type: ignore[assignment]
    loop.run_cycle(clock.now())  # both decided once
    before = store.decision(DEV)
    assert before is not None
    dev = {"namespace": DEV.namespace, "leaderworkerset": DEV.name, "policy": "dev-8b"}
    reason = {**dev, "reason": "Signal"}
    counted = _metric(loop.telemetry, "lws_autoscaler_decision_reasons_total", reason)
    assert counted == 1
    monkeypatch.setattr(loop_module, "decide", flaky)
    clock.advance(15)
    with caplog.at_level(logging.ERROR):
        decisions = _by_key(loop.run_cycle(clock.now()))
    assert set(decisions) == {LLAMA}
    # Not "policy gone": the drain actuator still sees its kept decision (it sent the
    # leaders it drains traffic again), and its reason counters neither count the kept
    # decision again nor vanish (which reset them).
    assert applied[-1] == sorted([DEV, LLAMA])
    assert _metric(loop.telemetry, "lws_autoscaler_decision_reasons_total", reason) == counted
    assert "engine failed for inference/dev-8b" in caplog.text
    # Its last decision stays published with its own time, so it goes stale (a 503
    # after the max age) instead of vanishing (a 404 at once).
    kept = store.decision(DEV)
    assert kept is not None
    assert kept.decision == before.decision
    assert kept.decision.at == clock.now() - 15
    published = store.series(DEV.namespace, "lws_recommended_replicas")
    assert [s.decided_at for s in published if s.lws == DEV.name] == [clock.now() - 15]
    assert not store.is_stale(kept.decision.at, clock.now())
    clock.advance(45)
    loop.run_cycle(clock.now())
    assert store.is_stale(store.decision(DEV).decision.at, clock.now())  # type: ignore[union-attr]


def test_hot_reload_from_a_configmap_mount(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mount = ConfigMapDir(tmp_path / "policies")
    mount.publish({"llama.yaml": _yaml(target_per_group=8)})
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64), DEV: constant(5)})
    loop, telemetry, _ = _build([mount.root], source, clock)
    assert [p.name for p in loop.watcher.policies] == ["llama-70b"]  # ..data not read twice
    assert _by_key(loop.run_cycle(clock.now()))[LLAMA].replicas == 8

    # A good update: 16 per group -> 64/16 = 4 groups.
    mount.publish({"llama.yaml": _yaml(target_per_group=16)})
    clock.advance(15)
    assert _by_key(loop.run_cycle(clock.now()))[LLAMA].driver is not None
    assert loop.watcher.policies[0].spec.signals[0].target_per_group == 16  # type: ignore[union-attr]

    # A bad update is rejected once, logged, counted; the last good version stays.
    mount.publish({"llama.yaml": "apiVersion: lws-autoscaler.io/v1alpha1\nkind: [oops\n"})
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            clock.advance(15)
            decisions = _by_key(loop.run_cycle(clock.now()))
    assert LLAMA in decisions
    assert loop.watcher.policies[0].spec.signals[0].target_per_group == 16  # type: ignore[union-attr]
    file_label = str(mount.root / "llama.yaml")
    errors = _metric(telemetry, "lws_autoscaler_policy_reload_errors_total", {"file": file_label})
    assert errors == 1
    assert caplog.text.count("rejected, keeping its last good version (llama-70b)") == 1

    # A second file claiming the same LWS is rejected; a new LWS is accepted.
    mount.publish(
        {
            "llama.yaml": _yaml(target_per_group=16),
            "dup.yaml": _yaml(name="other-name", lws="llama-70b"),
            "dev.yaml": _yaml(name="dev-8b", target_per_group=10),
        }
    )
    clock.advance(15)
    decisions = _by_key(loop.run_cycle(clock.now()))
    assert set(decisions) == {LLAMA, DEV}
    assert sorted(p.name for p in loop.watcher.policies) == ["dev-8b", "llama-70b"]
    assert _metric(telemetry, "lws_autoscaler_policies_loaded") == 2

    # A removed key takes its policy (and its engine state) away.
    mount.publish({"llama.yaml": _yaml(target_per_group=16)})
    (mount.root / "dev.yaml").unlink()
    (mount.root / "dup.yaml").unlink()
    clock.advance(15)
    assert set(_by_key(loop.run_cycle(clock.now()))) == {LLAMA}
    assert set(loop.states) == {LLAMA}
    gauge = "lws_autoscaler_recommended_replicas"
    dev = {"namespace": "inference", "leaderworkerset": "dev-8b", "policy": "dev-8b"}
    llama = {"namespace": "inference", "leaderworkerset": "llama-70b", "policy": "llama-70b"}
    assert telemetry.registry.get_sample_value(gauge, dev) is None
    assert telemetry.registry.get_sample_value(gauge, llama) is not None


def _falling_load(t: float) -> float:
    """64 waiting requests for 10 minutes, then 4."""
    return 64.0 if t < T0 + 600 else 4.0


def test_restart_replay_gives_the_same_recommendation(llama_file: Path) -> None:
    """Replica A runs from T0; at T0+20min replica B starts, replays, and must agree.
    A cold replica (no replay) would not: it refuses to scale down while warming up."""
    source = FunctionSource({LLAMA: _falling_load})
    clock_a = ManualClock()
    loop_a, _, _ = _build([llama_file], source, clock_a)
    history_a: list[Decision] = []
    while clock_a.now() < T0 + 1200:
        history_a.extend(loop_a.run_cycle(clock_a.now()))
        clock_a.advance(15)
    now = clock_a.now()
    (decision_a,) = loop_a.run_cycle(now)

    clock_b = ManualClock(now + 3)  # started 3 s after the tick
    loop_b, _, _ = _build([llama_file], FunctionSource({LLAMA: _falling_load}), clock_b)
    assert loop_b.restore(loop_b.align(clock_b.now())) > 0
    (decision_b,) = loop_b.run_cycle(loop_b.align(clock_b.now()))

    assert decision_b == decision_a
    # The whole engine state agrees, except when each replica started observing.
    started: dict[str, Any] = {"first_seen": None, "observed_since": None}
    assert replace(loop_b.states[LLAMA], **started) == replace(loop_a.states[LLAMA], **started)
    assert decision_a.replicas is not None
    assert decision_a.replicas < 4

    loop_c, _, _ = _build([llama_file], FunctionSource({LLAMA: _falling_load}), ManualClock(now))
    (decision_c,) = loop_c.run_cycle(now)
    assert decision_c.replicas == 4  # cold: never scales down before the window is warm
    assert "WindowsWarmingUp" in [r.code for r in decision_c.reasons]
    assert any(d.replicas == 8 for d in history_a)


def test_a_replay_over_past_gaps_counts_no_live_error(
    llama_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each historical instant without data used to count in source_errors_total and log
    # a warning before the first live cycle: 29 errors for a past outage.
    source = FunctionSource({LLAMA: _falling_load})
    source.missing = {LLAMA}
    loop, telemetry, _ = _build([llama_file], source, ManualClock(T0 + 1200))
    with caplog.at_level(logging.WARNING):
        assert loop.restore(T0 + 1200) > 0
    errors = {"scope": "target"}
    assert _metric(telemetry, "lws_autoscaler_source_errors_total", errors) == 0
    assert "no data for" not in caplog.text
    loop.run_cycle(T0 + 1200)  # a live gap still counts
    assert _metric(telemetry, "lws_autoscaler_source_errors_total", errors) == 1


def test_a_stop_ends_the_history_replay_between_instants(llama_file: Path) -> None:
    """A SIGTERM while the replay runs (36,000 instants at a 100 ms cycle) waited for the
    whole replay: the stop is now seen before the next instant."""
    source = FunctionSource({LLAMA: _falling_load})
    loop, _, _ = _build([llama_file], source, ManualClock(T0 + 1200))
    full = loop.restore(T0 + 1200)
    assert full > 3
    stop = threading.Event()
    seen: list[float] = []
    history = source.history

    def history_stopped_at_the_third(*args: Any) -> Any:
        for at, result in history(*args):
            seen.append(at)
            if len(seen) == 3:
                stop.set()  # as the SIGTERM handler does, from another thread
            yield at, result

    source.history = history_stopped_at_the_third  # type: ignore[method-assign,assignment]
    loop, _, _ = _build([llama_file], source, ManualClock(T0 + 1200))
    assert loop.restore(T0 + 1200, stop) == 2
    assert len(seen) == 3  # no instant is read after the stop


@pytest.mark.parametrize(
    ("max_replay", "now", "instants"),
    [
        (15.0, T0, [T0 - 15]),  # a window of one cycle replays the tick before ``now``
        (45.0, T0, [T0 - 45, T0 - 30, T0 - 15]),
        (40.0, T0 + 10, [T0 - 30, T0 - 15]),  # from the tick at or before now - 40
        (5.0, T0 + 10, []),  # the window ends before the last whole tick: nothing
    ],
)
def test_the_replay_covers_the_ticks_of_its_window(
    llama_file: Path,
    max_replay: float,
    now: float,
    instants: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The replay runs from the tick at or before ``now - window`` to the tick before
    ``now``'s; ``max_replay_seconds`` caps the window below the policy's horizon."""
    source = FunctionSource({LLAMA: _falling_load})
    loop, _, _ = _build([llama_file], source, ManualClock(now), max_replay)
    with caplog.at_level(logging.INFO, logger=loop_module.__name__):
        assert loop.restore(now) == len(instants)
    assert source.fetches == instants  # the history reads each instant through fetch
    assert (LLAMA in loop.states) == bool(instants)
    if instants:  # the log states the span replayed: 30 s for three instants
        span = instants[-1] - instants[0]
        assert f"replayed {len(instants)} instants ({span:.0f}s) of history" in caplog.text


def test_replay_failure_starts_cold(llama_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = FunctionSource({LLAMA: _falling_load})
    loop, _, _ = _build([llama_file], source, ManualClock(T0 + 1200))
    source.failing = True
    with caplog.at_level(logging.WARNING):
        assert loop.restore(T0 + 1200) == 0
    assert loop.states == {}
    assert "starting cold" in caplog.text


def test_overrun_skips_to_the_current_tick(
    llama_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64)})
    loop, _, _ = _build([llama_file], source, clock)
    waits: list[float] = []

    def slow_wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds + (40 if len(waits) == 1 else 0))  # one cycle overruns
        return len(waits) >= 2

    with caplog.at_level(logging.WARNING):
        loop.run(threading.Event(), slow_wait)
    assert [t for t in source.fetches if t >= T0] == [T0, T0 + 45]
    assert caplog.text.count("cycle overran") == 1


def test_a_cycle_on_time_is_no_overrun(llama_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Waking exactly on the next tick is the normal case: no warning."""
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64)})
    loop, _, _ = _build([llama_file], source, clock)
    waits: list[float] = []

    def exact_wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds)
        return len(waits) >= 3

    with caplog.at_level(logging.WARNING):
        loop.run(threading.Event(), exact_wait)
    assert [t for t in source.fetches if t >= T0] == [T0, T0 + 15, T0 + 30]
    assert "cycle overran" not in caplog.text


@pytest.mark.parametrize("fetch_seconds", [10.0, 23.0, 40.0, 44.0])
def test_a_loop_whose_cycles_overrun_never_serves_stale(
    llama_file: Path, fetch_seconds: float
) -> None:
    """Fetches of 10-44 s on a 15 s cycle (a slow Prometheus, max age 45 s): at the end of
    every fetch, the moment the served decision is oldest, it is not stale, though at
    23 s it is 46-54 s past its tick. A max age after the last publication it is."""
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64)})
    loop, _, store = _build([llama_file], source, clock)
    fetch = source.fetch
    served_fresh: list[bool] = []
    ages: list[float] = []
    stop = threading.Event()

    def slow_fetch(targets: Any, now: float) -> Any:
        clock.advance(fetch_seconds)
        if store.published_at is not None:
            served_fresh.append(not store.is_stale(store.published_at, clock.now()))
            ages.append(clock.now() - store.published_at)
        if len(source.fetches) >= 8:
            stop.set()  # overrunning cycles never wait: the loop stops on this event
        return fetch(targets, now)

    def wait(seconds: float) -> bool:
        clock.advance(seconds)
        return stop.is_set()

    source.fetch = slow_fetch  # type: ignore[method-assign]
    source.history = lambda *args: iter(())  # type: ignore[method-assign]  # starts cold
    loop.run(stop, wait)
    assert len(served_fresh) >= 4
    assert all(served_fresh)
    if fetch_seconds > 15:
        assert max(ages) > 45  # the tick-dated age alone would have gone stale
    published = store.published_at
    assert published is not None
    finished = published + store.lateness
    assert not store.is_stale(published, finished + 45)
    assert store.is_stale(published, finished + 46)


def test_a_clock_stepped_forward_mid_cycle_extends_the_max_age_by_a_bounded_lateness() -> None:
    store = DecisionStore(max_age=45)
    store.publish([], T0, finished_at=T0 + 3600)
    assert store.lateness == 67.5
    assert not store.is_stale(T0, T0 + 112.5)
    assert store.is_stale(T0, T0 + 113)


def test_a_clock_stepped_back_resyncs_instead_of_stalling(
    llama_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An NTP step back of an hour must not make the loop sleep an hour (and serve a
    decision stamped in the clock's future meanwhile): no wait is longer than a cycle,
    and the loop resumes at once on the tick at or before the new time."""
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64)})
    loop, _, store = _build([llama_file], source, clock)
    waits: list[float] = []
    published_ahead: list[float] = []  # how far the last decision is in the clock's future

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        published_ahead.append((store.published_at or 0.0) - clock.now())
        clock.advance(seconds if len(waits) != 2 else seconds - 3600)  # the step back
        return len(waits) >= 4

    with caplog.at_level(logging.WARNING):
        loop.run(threading.Event(), wait)
    assert waits == [15.0, 15.0, 15.0, 15.0]
    resumed = T0 + 30 - 3600
    assert source.fetches[source.fetches.index(T0) :] == [  # after the replay
        T0,
        T0 + 15,
        resumed,  # at once after the step, not after waiting an hour
        resumed + 15,
    ]
    assert max(published_ahead) <= 0  # never a decision from the future at a wait
    assert store.published_at == resumed + 15
    assert "the clock went back 3585s" in caplog.text


def test_a_clock_stepped_back_less_than_a_cycle_waits_for_the_next_tick(
    llama_file: Path,
) -> None:
    """A small step back (5 s, under one cycle) is waited out, in waits of at most one
    cycle; no tick runs twice and none runs before the clock reaches it."""
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64)})
    loop, _, store = _build([llama_file], source, clock)
    waits: list[float] = []
    at_cycle: list[tuple[float, float]] = []  # (clock, tick) of each published cycle
    publish = store.publish

    def recording_publish(*args: Any, **kwargs: Any) -> None:
        publish(*args, **kwargs)
        at_cycle.append((clock.now(), store.published_at or 0.0))

    store.publish = recording_publish  # type: ignore[method-assign]

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds - (20 if len(waits) == 1 else 0))  # ends 5 s before T0
        return len(waits) >= 4

    loop.run(threading.Event(), wait)
    assert max(waits) <= 15.0
    assert sum(waits[:3]) == 35.0  # 15 s, then 20 s more to reach T0 + 15
    assert [tick for _, tick in at_cycle] == [T0, T0 + 15]
    assert all(tick <= now for now, tick in at_cycle)


def test_a_clock_stepped_back_exactly_one_cycle_still_waits(llama_file: Path) -> None:
    """Back to exactly one cycle before the tick just run (T0 - 15 after T0): that tick
    is not run again; the loop waits two cycles for T0 + 15, its longest wait."""
    clock = ManualClock()
    loop, _, store = _build([llama_file], FunctionSource({LLAMA: constant(64)}), clock)
    ticks: list[float] = []
    publish = store.publish

    def recording_publish(*args: Any, **kwargs: Any) -> None:
        publish(*args, **kwargs)
        ticks.append(store.published_at or 0.0)

    store.publish = recording_publish  # type: ignore[method-assign]
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(seconds - (30 if len(waits) == 1 else 0))  # ends at T0 - 15
        return len(waits) >= 4

    loop.run(threading.Event(), wait)
    assert ticks == [T0, T0 + 15]
    assert waits[:3] == [15.0, 15.0, 15.0]


@pytest.mark.parametrize("cycle", [0.0, -15.0])
def test_a_cycle_must_be_longer_than_zero(llama_file: Path, cycle: float) -> None:
    telemetry = Telemetry()
    watcher = PolicyWatcher([llama_file], telemetry)
    store = DecisionStore(max_age=45)
    source = FunctionSource({LLAMA: constant(64)})
    with pytest.raises(ValueError, match="longer than 0s"):
        ControlLoop(source, watcher, store, telemetry, ManualClock(), cycle)
    # Half a second is a cycle.
    assert ControlLoop(source, watcher, store, telemetry, ManualClock(), 0.5).cycle == 0.5


def test_the_cycle_duration_is_the_wall_time_the_cycle_took(llama_file: Path) -> None:
    """The histogram gets the cycle's own duration, measured around it, never a clock
    reading (the loop's ticks are Unix times, 1.7e9 s)."""
    loop, telemetry, _ = _build([llama_file], FunctionSource({LLAMA: constant(64)}), ManualClock())
    before = time.perf_counter()
    loop.run_cycle(T0)
    took = time.perf_counter() - before
    assert _metric(telemetry, "lws_autoscaler_cycle_duration_seconds_count") == 1
    assert 0 < _metric(telemetry, "lws_autoscaler_cycle_duration_seconds_sum") <= took


def test_by_default_the_replay_is_capped_at_an_hour_and_ticks_are_15_s(tmp_path: Path) -> None:
    """A policy that remembers two hours (a 2 h down window) replays one hour by default:
    the ticks T0 - 3600 to T0 - 15, 240 instants."""
    path = write_policy(
        tmp_path / "long.yaml", scaleDown={"stabilizationWindow": "2h", "minGroupAge": "0s"}
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher([path], telemetry)
    watcher.load_initial()
    assert policy_horizon(watcher.policies[0]) > 3600
    source = FunctionSource({LLAMA: constant(64)})
    loop = ControlLoop(source, watcher, DecisionStore(max_age=45), telemetry, ManualClock())
    assert loop.restore(T0) == 240
    assert loop.align(T0 + 29) == T0 + 15


def test_without_policies_nothing_is_replayed(tmp_path: Path) -> None:
    telemetry = Telemetry()
    watcher = PolicyWatcher([tmp_path / "none"], telemetry)
    source = FunctionSource({LLAMA: constant(64)})
    loop = ControlLoop(source, watcher, DecisionStore(max_age=45), telemetry, ManualClock())
    assert loop.restore(T0) == 0
    assert source.fetches == []
