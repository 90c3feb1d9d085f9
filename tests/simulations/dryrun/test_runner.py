"""The dry-run core on snapshots built in the test: load redistribution, the engine driver
shared with the server, the loop, the figures, and golden files for a short recording
whose outcome is computed by hand.

Golden files live in ``tests/simulations/dryrun/golden``; regenerate them with
``UPDATE_GOLDEN=1 pytest tests/simulations/dryrun/test_runner.py`` and review the diff.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from autoscaler.engine import EngineState, decide
from autoscaler.errors import AutoscalerError
from autoscaler.policy.loader import load_policies
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.base import SourceResult
from autoscaler.sources.families import LEADER_SIGNALS
from simulations.dryrun import (
    DryRunConfig,
    Margins,
    collect,
    demand_groups,
    regressions,
    replay_engine,
    simulate,
    snapshots_for,
    summarize,
)
from simulations.dryrun.load import AGGREGATE_SIGNALS, RecordedLoad, Redistributor
from simulations.dryrun.loop import Timeline, _initial, _per_group
from simulations.dryrun.report import (
    summary_document,
    timeline_columns,
    write_summary,
    write_timeline,
)
from simulations.dryrun.summary import _longest_run_seconds, signal_demands
from simulations.dryrun.synthetic import history_from_curve
from simulations.hpa import HpaConfig
from simulations.hpa.chart import chart_hpa_spec
from simulations.hpa.controller import HpaEmulator
from simulations.lws_model import ColdStartModel
from tests.simulations.hpa.factories import recommendation_hpa

GOLDEN = Path(__file__).parent / "golden"
KEY = LwsKey("golden", "step")
START = 1_700_000_000.0


@pytest.fixture(scope="module")
def policy() -> ScalingPolicy:
    return load_policies([GOLDEN / "step-policy.yaml"])[0].policy


def step_load() -> np.ndarray:
    """Waiting requests in all: 20 for 10 min, 50 until 30 min, then 9, for one hour.

    The last level is 0.9 groups rather than 1.0: scale-downs keep the tolerance as
    headroom (ceil(0.9 * 1.1) = 1 group, while ceil(1.0 * 1.1) would keep 2)."""
    t = np.arange(241) * 15.0
    return np.where(t < 600, 20.0, np.where(t < 1800, 50.0, 9.0))


def leaders(*queues: float, at: float = START) -> dict[str, dict[Signal, Sample]]:
    return {str(i): {Signal.QUEUE_DEPTH: Sample(q, at - 3)} for i, q in enumerate(queues)}


def test_recorded_totals_are_spread_over_the_simulated_groups() -> None:
    kv = np.array([0.6 * 3])  # 3 groups at 60%: 1.8 groups' worth of cache
    load = collect(KEY, history_from_curve(KEY, START, 15.0, np.array([12.0]), kv, ready=3))
    assert load.load[0, 0] == pytest.approx(12.0)
    spread = Redistributor(load)
    four = spread.leader_samples(0, 4)
    assert four[Signal.QUEUE_DEPTH].value == pytest.approx(3.0)  # 12 / 4
    assert four[Signal.KV_CACHE].value == pytest.approx(0.45)  # 1.8 / 4
    one = spread.leader_samples(0, 1)
    assert one[Signal.KV_CACHE].value == 1.0  # 1.8 on one group saturates
    assert spread.leader_samples(0, 0) == {}
    assert one[Signal.QUEUE_DEPTH].timestamp == START - 5  # recorded sample time kept


def test_silent_ready_leaders_carry_the_average_and_gaps_stay_gaps() -> None:
    snap = LwsSnapshot(KEY, START, 4, 4, 4, (), leaders(3.0, 5.0))
    history = [
        (START, SourceResult(snapshots={KEY: snap})),
        (START + 15, SourceResult(errors={KEY: "prometheus down"})),
    ]
    load = collect(KEY, history)
    assert load.load[0, 0] == pytest.approx(16.0)  # (3 + 5) * 4 ready / 2 reporting
    assert load.present.tolist() == [True, False]
    assert math.isnan(load.load[1, 0])
    assert math.isnan(load.load[0, 2])  # no KV-cache samples: no data, not zero


def test_replay_engine_is_decide_step_by_step(policy: ScalingPolicy) -> None:
    history = list(history_from_curve(KEY, START, 15.0, step_load()[:60], ready=2))
    pairs = list(snapshots_for(KEY, history))
    decisions = replay_engine(policy, pairs)
    state = EngineState()
    for (now, snapshot), replayed in zip(pairs, decisions, strict=True):
        expected, state = decide(policy, snapshot, state, now)
        assert replayed == expected
    assert {d.replicas for d in decisions} == {2, 5}


def chart_config(policy: ScalingPolicy, seed: int = 0, spread: float = 0.0) -> DryRunConfig:
    """The chart's HPA for ``policy`` and a 2-minute cold start (``spread``: log-normal)."""
    return DryRunConfig(
        HpaConfig.from_spec(chart_hpa_spec(policy)), ColdStartModel(120.0, spread), seed
    )


def run_step(policy: ScalingPolicy, seed: int = 0, spread: float = 0.0):  # type: ignore[no-untyped-def]
    load = collect(KEY, history_from_curve(KEY, START, 15.0, step_load(), ready=2))
    config = chart_config(policy, seed, spread)
    timeline = simulate(policy, load, config)
    demand = demand_groups(load, policy)
    return load, timeline, demand, summarize(timeline, demand)


def test_the_timeline_writes_its_elapsed_times_whole(policy: ScalingPolicy, tmp_path: Path) -> None:
    """Elapsed seconds keep every digit too, as the times do: at a 100,000.25 s step, six
    significant digits would write 100000 and 200000."""
    start, step = 1_767_225_600.0, 100_000.25
    load = collect(KEY, history_from_curve(KEY, start, step, step_load()[:3], ready=2))
    timeline = simulate(policy, load, chart_config(policy, 0, 0.0))
    path = write_timeline(tmp_path / "t.csv", timeline, load, demand_groups(load, policy))
    with path.open() as rows:
        cells = [(row["time"], row["elapsed_s"]) for row in csv.DictReader(rows)]
    assert cells == [
        ("1767225600", "0"),
        ("1767325600.25", "100000.25"),
        ("1767425600.5", "200000.5"),
    ]


def test_step_recording_matches_the_hand_computed_outcome(policy: ScalingPolicy) -> None:
    _, timeline, demand, summary = run_step(policy)
    t = timeline.times - START
    assert np.array_equal(demand, step_load() / 10)
    # 2 groups; at 10 min demand 5 -> the HPA writes 5 at once; they are ready 2 min later
    assert timeline.hpa_replicas[t == 585].item() == 2
    assert timeline.hpa_replicas[t == 600].item() == 5
    assert timeline.ready[t == 705].item() == 2
    assert timeline.ready[t == 720].item() == 5
    # demand drops to 0.9 at 30 min; the 5 min down window holds 5 until 35 min
    assert timeline.hpa_replicas[t == 2085].item() == 5
    assert timeline.hpa_replicas[t == 2100].item() == 1
    # (40 steps * 2 + 100 * 5 + 101 * 1) groups * 15 s = 2.8375 group-hours, 4 GPUs each
    assert summary.replica_hours == pytest.approx(2.8375)
    assert summary.gpu_hours == pytest.approx(11.35)
    assert summary.underprovisioned_seconds == 120.0  # the cold start, 600..705
    assert (summary.scale_ups, summary.scale_downs) == (1, 1)
    assert summary.wrong_size_seconds == 120.0 + 300.0  # starting, then the down window
    assert summary.longest_wrong_size_seconds == 300.0
    assert (summary.zero_seconds, summary.times_to_zero) == (0.0, 0)
    assert summary.no_recommendation_seconds == 0.0


def _numbers(row: dict[str, str]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for key, value in row.items():
        try:
            out[key] = float(value) if value != "" else math.nan
        except ValueError:
            out[key] = value
    return out


def test_golden_files(policy: ScalingPolicy, tmp_path: Path) -> None:
    load, timeline, demand, summary = run_step(policy)
    document = summary_document([summary], {summary.target: policy.name}, {"scenario": "step"})
    csv_path = write_timeline(tmp_path / "timeline.csv", timeline, load, demand)
    json_path = write_summary(tmp_path / "summary.json", document)
    golden_csv, golden_json = GOLDEN / "step-timeline.csv", GOLDEN / "step-summary.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden_csv.write_text(csv_path.read_text())
        golden_json.write_text(json_path.read_text())
    assert json.loads(json_path.read_text()) == json.loads(golden_json.read_text())
    with csv_path.open() as new, golden_csv.open() as old:
        new_rows, old_rows = list(csv.DictReader(new)), list(csv.DictReader(old))
    assert list(new_rows[0]) == timeline_columns() == list(old_rows[0])
    assert len(new_rows) == len(old_rows) == 241
    for fresh, kept in zip(new_rows, old_rows, strict=True):
        a, b = _numbers(fresh), _numbers(kept)
        for key in a:
            if isinstance(a[key], float) and isinstance(b[key], float):
                assert a[key] == pytest.approx(b[key], nan_ok=True), (fresh["time"], key)
            else:
                assert a[key] == b[key], (fresh["time"], key)
    # per-group values are the total over the simulated ready groups
    row = next(r for r in new_rows if r["elapsed_s"] == "615")
    assert (row["queueDepth_total"], row["queueDepth_per_group"], row["ready"]) == ("50", "25", "2")


def test_runs_are_reproducible_for_a_seed(policy: ScalingPolicy) -> None:
    a = run_step(policy, seed=4, spread=0.5)[1]
    b = run_step(policy, seed=4, spread=0.5)[1]
    c = run_step(policy, seed=5, spread=0.5)[1]
    assert np.array_equal(a.ready, b.ready)
    assert np.array_equal(a.hpa_replicas, b.hpa_replicas)
    assert not np.array_equal(a.ready, c.ready)


def test_a_source_gap_makes_the_engine_hold(policy: ScalingPolicy) -> None:
    queue = step_load()[:80].copy()
    queue[45:60] = np.nan  # 15 steps without data after the scale-up
    load = collect(KEY, history_from_curve(KEY, START, 15.0, queue, ready=2))
    config = chart_config(policy)
    timeline = simulate(policy, load, config)
    assert set(timeline.hpa_replicas[45:60].tolist()) == {5}
    assert all(
        r.startswith("HoldLastRecommendation") or "Hold" in r for r in timeline.reasons[45:60]
    )


@pytest.mark.parametrize(
    ("mask", "dt", "seconds"),
    [
        ([], [], 0.0),
        ([0, 0], [15, 15], 0.0),
        ([1], [15], 15.0),
        ([1, 1, 0, 1], [15, 15, 15, 15], 30.0),
        ([0, 1, 1, 1, 0, 1, 1], [15] * 7, 45.0),
        # An hour's hole in the recording inside the run: its real length, not
        # steps x the median step (30 s).
        ([1, 1, 0, 1], [15, 3600, 15, 15], 3615.0),
        ([1, 0, 1, 1], [3600, 15, 15, 15], 3600.0),
    ],
)
def test_longest_run_in_seconds(mask: list[int], dt: list[float], seconds: float) -> None:
    assert _longest_run_seconds(np.array(mask, dtype=bool), np.array(dt, dtype=float)) == seconds


def test_regressions_respect_the_margins() -> None:
    base: dict[str, object] = {
        "replica_hours": 100.0,
        "underprovisioned_seconds": 600.0,
        "longest_wrong_size_seconds": 900.0,
        "scale_ups": 10,
        "scale_downs": 10,
    }
    margins = Margins()
    assert regressions(dict(base), base, margins) == []
    within: dict[str, object] = {**base, "replica_hours": 109.0, "underprovisioned_seconds": 899.0}
    assert regressions(within, base, margins) == []
    worse: dict[str, object] = {
        **base,
        "replica_hours": 111.0,
        "underprovisioned_seconds": 901.0,
        "scale_ups": 25,
    }
    found = regressions(worse, base, margins)
    assert len(found) == 3
    assert found[0].startswith("replica-hours 111.00")
    with pytest.raises(ValueError, match="replica_hours"):
        regressions({**base, "replica_hours": None}, base, margins)


def write_recording(path: Path, replica_series: bool) -> Path:
    """Three leader pods for 20 steps: pod 2 silent for steps 5-9, every pod silent at 12,
    a negative and an infinite sample, counters for tokens, a TTFT histogram, and the
    activation query's value (0, 1, 2, ... with no point at step 7)."""
    from autoscaler.sources.promql import LabelNames
    from autoscaler.sources.recording_format import (
        RecordedTarget,
        Recording,
        Series,
        save_recording,
    )

    labels = LabelNames()
    times = [START + 15.0 * i for i in range(20)]
    series = []
    for p in range(3):
        pod = {labels.namespace: KEY.namespace, labels.lws: KEY.name, labels.pod: f"step-{p}"}
        keep = [i for i in range(20) if i != 12 and not (p == 2 and 5 <= i < 10)]
        waiting = {i: float(i + p) for i in keep}
        waiting[3] = -1.0 if p == 0 else waiting.get(3, 0.0)
        kv = {i: (math.inf if (p, i) == (1, 4) else 0.1 * (p + 1)) for i in keep}
        for name, values in (
            ("vllm:num_requests_waiting", waiting),
            ("vllm:kv_cache_usage_perc", kv),
        ):
            points = [(times[i], v) for i, v in sorted(values.items())]
            series.append(Series({"__name__": name, **pod}, points))
        tokens = [(times[i], 1000.0 * i * (p + 1)) for i in keep]
        series.append(Series({"__name__": "vllm:generation_tokens_total", **pod}, tokens))
        for le, share in (("0.5", 0.5), ("1.0", 0.9), ("+Inf", 1.0)):
            buckets = [(times[i], 10.0 * i * share) for i in keep]
            series.append(
                Series(
                    {"__name__": "vllm:time_to_first_token_seconds_bucket", "le": le, **pod},
                    buckets,
                )
            )
    activation = {
        "__name__": "lws:activation",
        labels.namespace: KEY.namespace,
        labels.lws: KEY.name,
    }
    series.append(Series(activation, [(t, float(i % 3)) for i, t in enumerate(times) if i != 7]))
    if replica_series:
        for name in ("lws:spec_replicas", "lws:status_replicas", "lws:ready_replicas"):
            owner = {"__name__": name, labels.namespace: KEY.namespace, labels.lws: KEY.name}
            series.append(Series(owner, [(t, 3.0) for t in times]))
    recording = Recording(START, times[-1], 15.0, labels, (RecordedTarget(KEY),), series)
    return save_recording(recording, path)


@pytest.mark.parametrize("replica_series", [True, False])
def test_fast_recording_path_equals_the_history_path(tmp_path: Path, replica_series: bool) -> None:
    from autoscaler.sources.base import Target
    from autoscaler.sources.recording import RecordingSource
    from simulations.dryrun.fast_load import can_read_fast, collect_recording

    source = RecordingSource(write_recording(tmp_path / "r.json", replica_series))
    with_ttft = tmp_path / "ttft.yaml"
    with_ttft.write_text(
        (GOLDEN / "step-policy.yaml")
        .read_text()
        .replace(
            "      targetPerGroup: 10\n",
            "      targetPerGroup: 10\n    - {type: ttft, targetSeconds: 1}\n",
        )
    )
    target = Target(load_policies([with_ttft])[0].policy)
    assert can_read_fast(source, target)
    fast = collect_recording(source, target)
    slow = collect(KEY, source.history([target], source.start, source.end, source.step))
    assert fast.steps == slow.steps == 20
    assert np.array_equal(fast.present, slow.present)
    for name in ("times", "load", "load_ts", "aggregate", "aggregate_ts", "spec", "ready"):
        assert np.allclose(getattr(fast, name), getattr(slow, name), equal_nan=True), name
    assert not np.all(np.isnan(fast.aggregate[:, 0]))  # TTFT made it through
    # The activation signal too (the fast path used to drop it: a scale-to-zero policy
    # then never woke in `simulate`).
    woken = fast.aggregate[:, AGGREGATE_SIGNALS.index(Signal.ACTIVATION)]
    assert np.nansum(woken) > 0
    assert np.isnan(woken[7])


@pytest.mark.parametrize("step", [5.0, 10.0, 15.0, 20.0, 60.0])
def test_the_hpa_syncs_every_15_s_whatever_the_recording_step(
    policy: ScalingPolicy, step: float
) -> None:
    """The controller requeues each HPA every sync period. The dry-run used to sync at
    the first recorded step 15 s after the last sync: 20 s apart on a 10 s or 20 s
    grid, once a minute on a 60 s grid (181 and 61 syncs an hour, not 241)."""
    n = int(3600 / step) + 1
    load = collect(KEY, history_from_curve(KEY, START, step, np.full(n, 20.0), ready=2))
    cfg = chart_config(policy)
    hpa_syncs: list[float] = []
    original = HpaEmulator.reconcile

    def counting(self: HpaEmulator, at: float, *args: object) -> object:
        hpa_syncs.append(at)
        return original(self, at, *args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HpaEmulator, "reconcile", counting)
        simulate(policy, load, cfg)
    gaps = np.diff(hpa_syncs)
    assert len(hpa_syncs) == 241
    assert np.allclose(gaps, 15.0)


def _with_max(policy: ScalingPolicy, max_replicas: int) -> ScalingPolicy:
    replicas = policy.spec.replicas.model_copy(update={"max": max_replicas})
    return policy.model_copy(update={"spec": policy.spec.model_copy(update={"replicas": replicas})})


def test_a_coarse_recording_scales_up_as_fast_as_a_fine_one(policy: ScalingPolicy) -> None:
    """An HPA that adds at most 4 groups per 15 s, and load that jumps to 40 groups' worth
    at 300 s: one minute later the LWS has the same size on a 60 s recording as on a
    15 s one (it had 9 instead of 21)."""
    spec = recommendation_hpa(
        {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}},
        max_replicas=64,
    )
    wide = _with_max(policy, 64)
    sizes = {}
    for step in (15.0, 60.0):
        t = np.arange(int(1200 / step) + 1) * step
        queue = np.where(t < 300, 10.0, 400.0)
        load = collect(KEY, history_from_curve(KEY, START, step, queue, ready=1))
        config = DryRunConfig(HpaConfig.from_spec(spec), ColdStartModel(60.0), initial_replicas=1)
        timeline = simulate(wide, load, config)
        at = timeline.times - START
        sizes[step] = int(timeline.hpa_replicas[at == 420][0])
    assert sizes[60.0] == sizes[15.0]
    assert sizes[15.0] > 13


@pytest.mark.parametrize("step", [15.0, 60.0])
def test_every_hpa_write_is_a_scale_event_whatever_the_recording_step(
    policy: ScalingPolicy, step: float
) -> None:
    """A legacy HPA (no ``behavior``: at most max(2x, 4) a sync) from 1 group to 15
    groups' worth of queue writes 1 -> 4 -> 8 -> 15 on three syncs 15 s apart. The
    summary counted changes between recorded steps: 2 on a 60 s recording, and the
    first write (against the initial size) was never counted on any."""
    spec = recommendation_hpa()
    wide = _with_max(policy, 20)
    t = np.arange(int(1200 / step) + 1) * step
    queue = np.where(t < 600, 5.0, 150.0)
    load = collect(KEY, history_from_curve(KEY, START, step, queue, ready=1))
    config = DryRunConfig(HpaConfig.from_spec(spec), ColdStartModel(120.0, 0.0), initial_replicas=1)
    summary = summarize(simulate(wide, load, config), demand_groups(load, wide))
    assert (summary.scale_ups, summary.scale_downs) == (3, 0)


def _hand_made(policy: ScalingPolicy, hpa: list[int], ready: list[int]) -> Timeline:
    """The step recording's timeline cut to ``len(hpa)`` steps 15 s apart, with these
    HPA sizes and ready groups (created = ready) and a recommendation at each step."""
    timeline: Timeline = run_step(policy)[1]
    n = len(hpa)
    return dataclasses.replace(
        timeline,
        times=timeline.times[:n],
        hpa_replicas=np.array(hpa),
        created=np.array(ready),
        ready=np.array(ready, dtype=float),
        recommendation=np.zeros(n),
    )


def test_scale_to_zero_makes_zero_groups_the_right_size_for_no_demand(
    policy: ScalingPolicy,
) -> None:
    stz = policy.spec.scale_to_zero.model_copy(update={"enabled": True})
    zero_policy = policy.model_copy(
        update={"spec": policy.spec.model_copy(update={"scale_to_zero": stz})}
    )
    no_demand = np.zeros(3)
    at_zero = summarize(_hand_made(zero_policy, [1, 0, 0], [0, 0, 0]), no_demand)
    assert (at_zero.wrong_size_seconds, at_zero.zero_seconds, at_zero.times_to_zero) == (
        0.0,
        30.0,
        1,
    )
    # Without scale-to-zero the floor is the policy's minimum (1): no group is wrong.
    assert policy.spec.replicas.min == 1
    held = summarize(_hand_made(policy, [1, 0, 0], [0, 0, 0]), no_demand)
    assert held.wrong_size_seconds == 45.0


def test_a_one_step_timeline_enters_zero_no_times(policy: ScalingPolicy) -> None:
    summary = summarize(_hand_made(policy, [0], [0]), np.zeros(1))
    assert (summary.steps, summary.times_to_zero, summary.zero_seconds) == (1, 0, 15.0)


def test_the_last_step_lasts_as_long_as_the_steps_before_it(policy: ScalingPolicy) -> None:
    # Two steps 30 s apart in a recording whose step is 15 s: the last lasts 30 s too.
    timeline = _hand_made(policy, [0, 0], [0, 0])
    two = dataclasses.replace(timeline, times=np.array([START, START + 30.0]))
    assert two.step_seconds == 15.0
    assert summarize(two, np.zeros(2)).zero_seconds == 60.0


def test_each_ready_leader_reports_its_share_with_kv_capped_at_a_whole_cache() -> None:
    queue, kv = LEADER_SIGNALS.index(Signal.QUEUE_DEPTH), LEADER_SIGNALS.index(Signal.KV_CACHE)
    totals = np.full((3, len(LEADER_SIGNALS)), math.nan)
    totals[:, queue] = 8.0
    totals[:, kv] = 3.0  # three caches' worth over two simulated groups: 1.5 each
    load = RecordedLoad(
        KEY,
        times=START + np.array([0.0, 15.0, 30.0]),
        present=np.array([True, True, False]),
        load=totals,
        load_ts=totals * 0,
        aggregate=np.zeros((3, 0)),
        aggregate_ts=np.zeros((3, 0)),
        spec=np.full(3, 2.0),
        ready=np.full(3, 2.0),
    )
    per_group = _per_group(load, np.array([2.0, 0.0, 2.0]))
    assert per_group[0, queue] == 4.0
    assert per_group[0, kv] == 1.0  # no leader reports more than its whole cache
    assert np.isnan(per_group[1:]).all()  # no ready group; no snapshot


def test_the_run_starts_at_the_first_recorded_size_zero_included(policy: ScalingPolicy) -> None:
    load = collect(KEY, history_from_curve(KEY, START, 15.0, step_load()[:3], ready=2))
    config = chart_config(policy)
    lowest = config.hpa.min_replicas
    recorded = [
        (np.array([0.0, 3.0, 3.0]), lowest),  # scaled to zero: the HPA's floor, not 3
        (np.array([np.nan, math.inf, 3.0]), 3),  # unusable counts are skipped
        (np.array([99.0, 3.0, 3.0]), config.hpa.max_replicas),
    ]
    for spec, start in recorded:
        assert _initial(dataclasses.replace(load, spec=spec), config) == start


@pytest.mark.parametrize(("step", "synced_every"), [(5.0, 3), (60.0, 1)])
def test_steps_mark_the_hpa_syncs_they_hold_or_step_over(
    policy: ScalingPolicy, step: float, synced_every: int
) -> None:
    # 5 s steps: the 15 s HPA syncs at one step in three. 60 s steps: each step holds
    # a sync or steps over the ones between (three syncs a step).
    load = collect(KEY, history_from_curve(KEY, START, step, step_load()[:24], ready=2))
    config = chart_config(policy)
    synced = simulate(policy, load, config).hpa_synced
    assert synced.tolist() == [i % synced_every == 0 for i in range(24)]


def test_each_load_signal_is_read_in_groups(tmp_path: Path) -> None:
    text = (GOLDEN / "step-policy.yaml").read_text()
    text = text.replace(
        "      targetPerGroup: 10\n",
        "      targetPerGroup: 10\n"
        "    - type: kvCacheUtilization\n      target: 0.8\n"
        "    - type: tokenThroughput\n      tokens: total\n"
        "      capacityPerGroup: 1000\n      targetUtilization: 0.5\n",
    )
    (tmp_path / "step.yaml").write_text(text)
    yardstick = load_policies([tmp_path / "step.yaml"])[0].policy
    load = collect(KEY, history_from_curve(KEY, START, 15.0, step_load()[:2], ready=2))
    totals = np.zeros((2, len(LEADER_SIGNALS)))
    for signal, total in (
        (Signal.QUEUE_DEPTH, 30.0),  # 3 groups' worth at 10 each
        (Signal.KV_CACHE, 2.0),  # two caches' worth in use at 0.8: 2.5 groups
        (Signal.PROMPT_TOKENS, 1200.0),  # 1,200 + 800 tokens/s at 500 a group: 4 groups
        (Signal.GENERATION_TOKENS, 800.0),
    ):
        totals[:, LEADER_SIGNALS.index(signal)] = total
    demands = dict(signal_demands(dataclasses.replace(load, load=totals), yardstick))
    assert {name: curve.tolist() for name, curve in demands.items()} == {
        "queueDepth": [3.0, 3.0],
        "kvCacheUtilization": [2.5, 2.5],
        "tokens/total": [4.0, 4.0],
    }


def test_the_run_reports_progress_twenty_times_and_at_its_end(policy: ScalingPolicy) -> None:
    load = collect(KEY, history_from_curve(KEY, START, 15.0, step_load()[:60], ready=2))
    config = chart_config(policy)
    calls: list[tuple[int, int]] = []
    simulate(policy, load, config, progress=lambda done, total: calls.append((done, total)))
    # 60 steps: every 60 // 20 = 3 steps from the first, and the last one.
    assert calls == [(done, 60) for done in range(1, 60, 3)] + [(60, 60)]


@pytest.mark.parametrize(
    ("times", "step", "seconds"),
    [
        ([0.0, 30.0, 60.0, 75.0], None, 30.0),  # the median step
        ([0.0, 60.0], 15.0, 60.0),  # two steps: their gap, whatever the recording says
        ([0.0], 60.0, 60.0),  # one step: the recording's
        ([0.0], None, 15.0),  # one step of a recording that does not say: 15 s
    ],
)
def test_a_recordings_step(times: list[float], step: float | None, seconds: float) -> None:
    load = collect(KEY, history_from_curve(KEY, START, 15.0, step_load()[:1], ready=2))
    shaped = dataclasses.replace(load, times=START + np.array(times), step=step)
    assert shaped.step_seconds == seconds


def test_recorded_aggregates_that_are_no_figure_are_gaps() -> None:
    good, bad = AGGREGATE_SIGNALS[0], AGGREGATE_SIGNALS[1]
    aggregates = {good: Sample(0.4, START - 2), bad: Sample(math.inf, START - 2)}
    snap = LwsSnapshot(KEY, START, 2, 2, 2, (), leaders(1.0), aggregates)
    load = collect(KEY, [(START, SourceResult(snapshots={KEY: snap}))])
    assert load.aggregate[0, 0] == 0.4
    assert load.aggregate_ts[0, 0] == START - 2
    assert np.isnan(load.aggregate[0, 1:]).all()  # infinite, or not recorded
    assert np.isnan(load.aggregate_ts[0, 1:]).all()


@pytest.mark.parametrize("steps", [1999, 2000])
def test_a_run_reports_progress_on_long_recordings_and_clears_before_writing(
    tmp_path: Path, steps: int
) -> None:
    """The progress lines go to the stream given (from 2,000 steps: shorter runs end
    before anyone would look), and ``before_writing`` runs once, everything read and
    nothing yet written."""
    import io

    from autoscaler.sources.recording import RecordingSource
    from simulations.dryrun.runner import RunOptions, run_simulation
    from tests.simulations.dryrun import recordings

    waiting = recordings.waiting_pods(2, np.full(steps, 12.0))
    path = recordings.write_recording(tmp_path / "r.json", recordings.LLAMA_70B, steps, waiting)
    llama = load_policies([recordings.POLICIES / "llama-70b.yaml"])[0].policy
    elsewhere = load_policies([recordings.POLICIES / "dev-8b.yaml"])[0].policy
    out = tmp_path / "runs" / "out"  # its parent made too
    written_before: list[bool] = []
    stream = io.StringIO()

    def before_writing() -> None:
        written_before.append(out.exists())

    options = RunOptions(out=out, progress=stream, plot=False, before_writing=before_writing)
    both = [elsewhere, llama]
    run_simulation(RecordingSource(path), both, compare=both, options=options)
    assert written_before == [False]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["assumptions"]["coldStartMedianSeconds"] == "policy coldStart.expected"
    reported = stream.getvalue()
    assert reported.startswith(
        "skipping dev-8b: dev/llama-8b-dev is not in the recording\n"
        "skipping --compare dev-8b: dev/llama-8b-dev is not in the recording\n"
        "reading the recording for llama-70b (inference/llama-70b)\n"
    )
    assert "skipping --compare llama-70b" not in reported  # paired with its primary
    assert (f"{steps}/{steps} steps (100%)\n" in reported) is (steps >= 2000)
    # No stream: no progress and no notes at all.
    quiet = RunOptions(out=tmp_path / "quiet", plot=False, cold_start=240.0)
    run_simulation(RecordingSource(path), [llama], compare=[elsewhere], options=quiet)
    summary = json.loads((tmp_path / "quiet" / "summary.json").read_text())
    assert summary["assumptions"]["coldStartMedianSeconds"] == 240.0
    with pytest.raises(AutoscalerError) as refused:
        run_simulation(RecordingSource(path), [elsewhere], options=quiet)
    assert str(refused.value) == (
        "no policy targets an LWS of the recording (it holds inference/llama-70b)"
    )


def test_the_simulate_flags_default_to_the_run_options_defaults() -> None:
    """``RunOptions``' defaults are the command's, and both are kube-controller-manager's
    (a 0.1 tolerance, 15 s syncs) with the configurable-tolerance gate of Kubernetes 1.35."""
    from autoscaler.cli.main import build_parser
    from autoscaler.cli.simulate import run_options
    from simulations.dryrun.runner import RunOptions

    quiet = run_options(build_parser().parse_args(["simulate", "-q"]))
    assert quiet == RunOptions(out=Path("simulation"))
    assert (quiet.tolerance_gate, quiet.cluster_tolerance, quiet.sync_period) == (True, 0.1, 15.0)
    assert (quiet.cold_start, quiet.cold_start_spread, quiet.seed) == (None, 0.2, 0)
    flags = ["simulate", "--hpa-tolerance-gate", "off", "--cluster-tolerance", "0.05"]
    gated = run_options(build_parser().parse_args(flags))
    assert (gated.tolerance_gate, gated.cluster_tolerance) == (False, 0.05)
    assert gated.progress is sys.stderr
