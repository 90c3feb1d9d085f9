"""The server and the dry-run simulator recommend the same thing for the same recording,
because both run the one engine (``autoscaler.engine.decide``), not a copy.

Server side: the real control loop (``ControlLoop.run`` in ``autoscaler.server.loop``,
inside a ``ServerProcess`` built from the settings ``serve --source recording`` uses),
reading the shipped demo recording through the server's own source factory, ticking on a
manual clock in recording time. As on every start-up it first restores its engine state
by replaying history, then runs one cycle per 15 s tick to the end of the recording. The
clock starts exactly one restore window into the recording, so the restore replays from
the recording's first step.

Simulator side: ``simulations.dryrun``'s ``EngineDriver`` (what ``replay_engine`` and
``simulate`` step) over ``MetricSource.history`` of a second ``RecordingSource`` opened
the way ``lws-autoscaler simulate`` opens it, from the instant the server's restore began.

Both sides are fed the *recorded* snapshots. ``simulate()`` additionally spreads the
recorded load over its *simulated* groups to model the HPA and the LWS; that changes the
engine's input, not the engine, and it steps the same ``EngineDriver`` (asserted below).
Comparing on recorded snapshots isolates the claim: same input, same engine, same output,
step by step, for every example policy.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import autoscaler.engine
from autoscaler.engine import Decision
from autoscaler.engine.horizon import policy_horizon
from autoscaler.policy.loader import load_policies
from autoscaler.server import loop as server_loop
from autoscaler.server.demo import builtin_policies_dir
from autoscaler.server.runner import ServerProcess
from autoscaler.server.settings import ServeSettings
from autoscaler.server.sources_factory import build_source
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.recording import RecordingSource, default_recording_path
from simulations.dryrun import loop as dryrun_loop
from simulations.dryrun import replay as dryrun_replay
from simulations.dryrun.replay import EngineDriver, snapshots_for

CYCLE = 15.0


class ManualClock:
    """Recording time, moved only by the loop's own waits."""

    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def wall_seconds(self, clock_seconds: float) -> float:
        return clock_seconds


class ObservedSource:
    """The server's source, unchanged, noting the history range the restore asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.history_calls: list[tuple[float, float, float]] = []

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        result: SourceResult = self.inner.fetch(targets, now)
        return result

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        self.history_calls.append((start, end, step))
        yield from self.inner.history(targets, start, end, step)

    def close(self) -> None:
        self.inner.close()


def _run_server(
    settings: ServeSettings, start: float, end: float
) -> tuple[ServerProcess, ObservedSource, dict[LwsKey, dict[float, Decision]]]:
    source = ObservedSource(build_source(settings))
    clock = ManualClock(start)
    process = ServerProcess(settings, source, clock)
    published: dict[LwsKey, dict[float, Decision]] = {}

    def wait(seconds: float) -> bool:
        """Called after each cycle: collect what the cycle published, move time on."""
        at = process.store.published_at
        assert at is not None
        for stored in process.store.decisions():
            published.setdefault(stored.decision.key, {})[at] = stored.decision
        clock.t += seconds
        return at >= end

    process.loop.run(threading.Event(), wait)
    return process, source, published


def _key(policy: Any) -> LwsKey:
    return LwsKey(policy.spec.target.namespace, policy.spec.target.name)


def test_server_and_simulator_share_the_engine_and_agree(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The very same function object everywhere: a copy anywhere fails here...
    engine_decide = autoscaler.engine.decide
    assert engine_decide.__module__ == "autoscaler.engine.decide"
    assert server_loop.decide is engine_decide  # type: ignore[attr-defined]
    assert dryrun_replay.decide is engine_decide  # type: ignore[attr-defined]
    assert dryrun_loop.EngineDriver is EngineDriver  # type: ignore[attr-defined]
    # ...and every decision on both sides goes through those module attributes.
    calls: Counter[str] = Counter()

    def counted(side: str) -> Any:
        def call(*args: Any) -> Any:
            calls[side] += 1
            return engine_decide(*args)

        return call

    monkeypatch.setattr(server_loop, "decide", counted("server"))
    monkeypatch.setattr(dryrun_replay, "decide", counted("simulator"))

    settings = ServeSettings(
        policies=(builtin_policies_dir(),),
        source="recording",
        recording=None,  # the shipped demo recording
        cycle_seconds=CYCLE,
        insecure=True,
        bind_address="127.0.0.1",
        disable_auth=True,
        cert_dir=tmp_path / "certs",
    )
    recording = RecordingSource(default_recording_path())  # as `simulate` opens it
    examples = [loaded.policy for loaded in load_policies(settings.policies)]
    horizon = max(policy_horizon(p) for p in examples)
    window = min(server_loop.DEFAULT_MAX_REPLAY_SECONDS, horizon + CYCLE)
    first_tick = recording.start + window
    process, observed, published = _run_server(settings, first_tick, recording.end)

    ((restore_start, restore_end, step),) = observed.history_calls
    assert (restore_start, restore_end, step) == (recording.start, first_tick - CYCLE, CYCLE)
    ticks = [first_tick + i * CYCLE for i in range(round((recording.end - first_tick) / CYCLE) + 1)]
    policies = process.watcher.policies
    assert len(policies) == 3
    assert set(recording.keys) == {_key(p) for p in policies}
    restored = round((restore_end - restore_start) / CYCLE) + 1
    assert calls["server"] == (restored + len(ticks)) * len(policies)

    varied = 0
    for policy in policies:
        key = _key(policy)
        driver = EngineDriver(policy)
        history = recording.history([Target(policy)], restore_start, recording.end, CYCLE)
        simulated = {
            now: driver.step(now, snapshot) for now, snapshot in snapshots_for(key, history)
        }
        server = published[key]
        assert sorted(server) == ticks
        for now in ticks:
            ours, theirs = server[now], simulated[now]
            assert (ours.replicas, ours.driver) == (theirs.replicas, theirs.driver), (
                f"{policy.name} at +{now - recording.start:.0f}s: server {ours.replicas} "
                f"({ours.driver}), simulator {theirs.replicas} ({theirs.driver})"
            )
            assert ours.reasons == theirs.reasons, f"{policy.name} at {now}: reasons differ"
            assert ours == theirs  # every field: proposals, demand, forecast, cold start
        # The restored server and the simulator end with the same engine state.
        assert process.loop.states[key] == driver.state
        varied += len({server[t].replicas for t in ticks}) > 1
    assert calls["simulator"] == len(policies) * round((recording.end - restore_start) / CYCLE + 1)
    assert varied >= 2, "the range compared must make the recommendations move"
    process.stop()
    recording.close()
