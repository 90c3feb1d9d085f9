"""Recording files (versioned JSON, gzip, curl'ed query_range answers) and their replay:
signals derived at replay time, replica counts recorded or counted, time mapping, and the
shipped demo recording."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from autoscaler.engine import EngineState, decide
from autoscaler.errors import RecordingError
from autoscaler.policy.loader import load_policies
from autoscaler.signals import ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import Target
from autoscaler.sources.recording import RecordingSource, default_recording_path
from autoscaler.sources.recording_format import (
    RecordedTarget,
    Recording,
    Series,
    load_recording,
    save_recording,
)
from tests.sources.factories import only, target, values

KEY = LwsKey("inference", "llama")
START, STEP = 1_800_000_000.0, 15.0
LWS_LABEL = "leaderworkerset_sigs_k8s_io_name"


def _pod(pod: str, name: str, **extra: str) -> dict[str, str]:
    return {"__name__": name, "namespace": "inference", LWS_LABEL: "llama", "pod": pod, **extra}


def _series(metric: dict[str, str], values_: Sequence[float | None]) -> Series:
    return Series(metric, [(START + i * STEP, v) for i, v in enumerate(values_) if v is not None])


def small_recording(with_replicas: bool = True) -> Recording:
    steps = 9
    series = [
        _series(_pod("llama-0", "vllm:num_requests_waiting"), [3.0] * steps),
        _series(_pod("llama-1", "vllm:num_requests_waiting"), [None, None, None, 5, 5, 5, 5, 5, 5]),
        _series(_pod("llama-0", "vllm:gpu_cache_usage_perc"), [0.5] * steps),
        # 150 tokens/s, with a reset at step 5.
        _series(
            _pod("llama-0", "vllm:prompt_tokens_total"),
            [0, 2250, 4500, 6750, 9000, 1000, 3250, 5500, 7750],
        ),
    ]
    for le, share in (("0.5", 0.5), ("1.0", 0.9), ("+Inf", 1.0)):
        counts = [i * STEP * 10 * share for i in range(steps)]
        series.append(
            _series(_pod("llama-0", "vllm:time_to_first_token_seconds_bucket", le=le), counts)
        )
    if with_replicas:
        lws = {"namespace": "inference", LWS_LABEL: "llama"}
        series.append(_series({"__name__": "lws:spec_replicas", **lws}, [3.0] * steps))
        series.append(_series({"__name__": "lws:status_replicas", **lws}, [2.0] * steps))
        series.append(_series({"__name__": "lws:ready_replicas", **lws}, [2.0] * steps))
    return Recording(
        START, START + (steps - 1) * STEP, STEP, targets=(RecordedTarget(KEY),), series=series
    )


@pytest.mark.parametrize("name", ["rec.json", "rec.json.gz"])
def test_file_round_trip(tmp_path: Path, name: str) -> None:
    path = save_recording(small_recording(), tmp_path / name)
    if name.endswith(".gz"):
        assert gzip.decompress(path.read_bytes()).startswith(
            b'{"format":"lws-autoscaler-recording"'
        )
        # No time in the gzip header (RFC 1952's MTIME, bytes 4-7), and the final name,
        # not the temporary one: one recording, one file (the demo's is committed).
        header = path.read_bytes()[:24]
        assert header[4:8] == b"\0\0\0\0"
        assert header[10:].startswith(b"rec.json\0")
    loaded = load_recording(path)
    original = small_recording()
    assert (loaded.start, loaded.end, loaded.step, loaded.targets) == (
        original.start,
        original.end,
        original.step,
        original.targets,
    )
    assert loaded.series == original.series


def test_replay_derives_signals_with_the_replaying_policy(tmp_path: Path) -> None:
    source = RecordingSource(save_recording(small_recording(), tmp_path / "r.json"))
    now = START + 7 * STEP + 3  # between grid points: the state at the last one
    snap = only(
        source.fetch([target("inference", "llama", window=45.0)], now), "inference", "llama"
    )
    got = values(snap)
    assert got["llama-0"]["queueDepth"] == 3
    assert got["llama-1"]["queueDepth"] == 5
    assert got["llama-0"]["kvCacheUtilization"] == 0.5  # pre-0.10 name
    # Window [60, 105] s: 9000 -> 1000 (reset) -> 5500: (0 + 1000 + 4500 ... ) see derive.
    assert got["llama-0"]["promptTokensPerSecond"] == pytest.approx((1000 + 4500) / 45)
    assert snap.leaders["llama-0"][Signal.QUEUE_DEPTH].timestamp == START + 7 * STEP
    assert (snap.spec_replicas, snap.status_replicas, snap.ready_replicas) == (3, 2, 2)
    # p90 of buckets 50% <= 0.5 s, 90% <= 1 s: exactly 1.0 s.
    assert snap.aggregates[Signal.TTFT].value == pytest.approx(1.0)
    # Another window on the same raw series gives another (correct) rate.
    wide = only(
        source.fetch([target("inference", "llama", window=105.0)], now), "inference", "llama"
    )
    assert values(wide)["llama-0"]["promptTokensPerSecond"] == pytest.approx((9000 + 5500) / 105)


def test_without_replica_series_reporting_leaders_count(tmp_path: Path) -> None:
    source = RecordingSource(recording=small_recording(with_replicas=False))
    early = only(source.fetch([target("inference", "llama")], START), "inference", "llama")
    late = only(
        source.fetch([target("inference", "llama")], START + 4 * STEP), "inference", "llama"
    )
    assert (early.spec_replicas, early.ready_replicas) == (1, 1)
    assert (late.spec_replicas, late.ready_replicas) == (2, 2)


def test_a_missed_replica_scrape_keeps_the_last_recorded_count() -> None:
    """A failed kube-state-metrics scrape leaves a hole (a staleness marker) in the range
    query; the count recorded before it holds rather than the leaders being counted."""
    recording = small_recording()
    holed = [
        Series(s.metric, [p for i, p in enumerate(s.points) if i not in (5, 6)])
        if s.metric["__name__"] == "lws:spec_replicas"
        else s
        for s in recording.series
    ]
    source = RecordingSource(recording=replace(recording, series=holed))
    snap = only(
        source.fetch([target("inference", "llama")], START + 6 * STEP), "inference", "llama"
    )
    assert (snap.spec_replicas, snap.status_replicas, snap.ready_replicas) == (3, 2, 2)


def test_a_replica_count_that_is_not_finite_does_not_fail_the_fetch() -> None:
    # +Inf written into lws:spec_replicas made int() raise at that step, every fetch.
    recording = small_recording()
    broken = [
        Series(s.metric, [(t, math.inf if i == 6 else v) for i, (t, v) in enumerate(s.points)])
        if s.metric["__name__"] == "lws:spec_replicas"
        else s
        for s in recording.series
    ]
    source = RecordingSource(recording=replace(recording, series=broken))
    result = source.fetch([target("inference", "llama")], START + 6 * STEP)
    snap = only(result, "inference", "llama")
    assert snap.ready_replicas == 2  # the step goes on with the reporting leaders


def test_a_replica_hole_longer_than_the_lookback_counts_leaders() -> None:
    steps = 30  # 7.5 minutes: the last recorded count is older than 5 minutes at the end
    lws = {"namespace": "inference", LWS_LABEL: "llama"}
    series = [
        _series(_pod("llama-0", "vllm:num_requests_waiting"), [3.0] * steps),
        _series({"__name__": "lws:spec_replicas", **lws}, [4.0] + [None] * (steps - 1)),
    ]
    recording = Recording(
        START, START + (steps - 1) * STEP, STEP, targets=(RecordedTarget(KEY),), series=series
    )
    source = RecordingSource(recording=recording)
    early, late = (
        only(source.fetch([target("inference", "llama")], START + i * STEP), "inference", "llama")
        for i in (20, 21)
    )
    assert early.spec_replicas == 4  # 300 s after the last sample: still held
    assert late.spec_replicas == 1  # 315 s: one reporting leader


def test_outside_the_recording_and_overrides_are_errors() -> None:
    source = RecordingSource(recording=small_recording())
    assert KEY in source.fetch([target("inference", "llama")], START - 1).errors
    assert KEY in source.fetch([target("inference", "llama")], START + 9 * STEP).errors
    result = source.fetch([target("inference", "llama", overrides={"queueDepth": "q"})], START)
    assert "overrides cannot replay" in result.errors[KEY]


def test_wall_clock_replay_with_speed_and_loop() -> None:
    wall = 5_000.0
    source = RecordingSource(recording=small_recording(), wall_start=wall, speed=10.0, loop=True)
    tgt = [target("inference", "llama")]
    # 6 s of wall time at 10x = 60 s of recording: step 4; timestamps back in wall time.
    snap = only(source.fetch(tgt, wall + 6.0), "inference", "llama")
    assert snap.leaders["llama-1"][Signal.QUEUE_DEPTH].timestamp == pytest.approx(wall + 6.0)
    # The recording is 9 steps (13.5 s of wall time): looping brings step 4 back.
    again = only(source.fetch(tgt, wall + 6.0 + 13.5), "inference", "llama")
    assert values(again) == values(snap)
    assert again.leaders["llama-1"][Signal.QUEUE_DEPTH].timestamp == pytest.approx(wall + 19.5)


def test_wall_clock_replay_in_real_time_without_loop() -> None:
    """From ``wall_start`` the recording plays at 1x unless told: 30 s later is its third
    step, stamped in wall time; past its end (9 steps, 135 s) nothing is made up, and the
    error says which recording time was asked for."""
    wall = 5_000.0
    source = RecordingSource(recording=small_recording(), wall_start=wall)
    tgt = [target("inference", "llama")]
    snap = only(source.fetch(tgt, wall + 30.0), "inference", "llama")
    assert snap.leaders["llama-0"][Signal.QUEUE_DEPTH].timestamp == pytest.approx(wall + 30.0)
    assert "llama-1" not in snap.leaders  # it reports from the fourth step
    fast = RecordingSource(recording=small_recording(), wall_start=wall, speed=10.0)
    snap = only(fast.fetch(tgt, wall + 6.0), "inference", "llama")
    assert snap.leaders["llama-1"][Signal.QUEUE_DEPTH].timestamp == pytest.approx(wall + 6.0)
    past = source.fetch(tgt, wall + 150.0)
    assert past.errors[KEY] == (
        f"the recording covers {START:.0f}..{START + 120:.0f} (recording time); "
        f"nothing at {START + 150:.0f}"
    )


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_a_replay_speed_and_a_history_step_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        RecordingSource(recording=small_recording(), speed=speed)
    source = RecordingSource(recording=small_recording())
    with pytest.raises(RecordingError, match="history step must be positive"):
        next(source.history([target("inference", "llama")], START, START + 30, speed))


@pytest.mark.parametrize(("count", "read"), [(2**31 - 1, (2**31 - 1, 2, 2)), (2**31, (1, 1, 1))])
def test_a_recorded_count_up_to_an_lws_int32_is_a_count(
    count: float, read: tuple[int, int, int]
) -> None:
    """An LWS's replicas are an int32: 2**31 - 1 is a count, one more is none (the step
    then has no replica numbers and counts its one reporting leader, as for a count that
    is no number)."""
    recording = small_recording()
    series = [
        Series(s.metric, [(t, count) for t, _ in s.points])
        if s.metric["__name__"] == "lws:spec_replicas"
        else s
        for s in recording.series
    ]
    source = RecordingSource(recording=dataclasses.replace(recording, series=series))
    snap = only(source.fetch([target("inference", "llama")], START), "inference", "llama")
    assert (snap.spec_replicas, snap.status_replicas, snap.ready_replicas) == read


def test_a_history_that_ends_before_it_starts_has_no_step() -> None:
    source = RecordingSource(recording=small_recording())
    assert list(source.history([target("inference", "llama")], START + 30, START, STEP)) == []
    assert len(list(source.history([target("inference", "llama")], START, START, STEP))) == 1


def test_history_equals_fetch_at_each_step() -> None:
    source = RecordingSource(recording=small_recording())
    tgt = [target("inference", "llama")]
    steps = list(source.history(tgt, source.start, source.end, STEP))
    assert len(steps) == 9
    for now, result in steps:
        assert result.snapshots == source.fetch(tgt, now).snapshots


def test_reads_a_curl_saved_query_range_response(tmp_path: Path) -> None:
    # What `curl .../api/v1/query_range --data-urlencode 'query={__name__=~"vllm:.*"}'`
    # saves: unreduced per-engine series, values as strings.
    def item(engine: str, name: str, vals: list[float]) -> dict[str, object]:
        metric = _pod("llama-0", name, engine=engine, model_name="m", job="vllm", instance="x:8000")
        return {"metric": metric, "values": [[START + i * 15, str(v)] for i, v in enumerate(vals)]}

    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                item("0", "vllm:num_requests_waiting", [1, 2, 3]),
                item("1", "vllm:num_requests_waiting", [4, 4, 4]),
                item("0", "vllm:kv_cache_usage_perc", [0.2, 0.2, 0.2]),
                item("1", "vllm:kv_cache_usage_perc", [0.6, 0.6, 0.6]),
            ],
        },
    }
    path = tmp_path / "curl.json"
    path.write_text(json.dumps(body))
    source = RecordingSource(path)
    assert (source.start, source.step) == (START, 15.0)
    snap = only(source.fetch([target("inference", "llama")], START + 30), "inference", "llama")
    assert values(snap)["llama-0"]["queueDepth"] == 7  # engines summed
    assert values(snap)["llama-0"]["kvCacheUtilization"] == pytest.approx(0.4)  # averaged


def _header(start: str = "1800000000", end: str = "1800000060", step: str = "15") -> bytes:
    return (
        '{"format": "lws-autoscaler-recording", "version": 1, '
        f'"start": {start}, "end": {end}, "step": {step}, "series": []}}'
    ).encode()


@pytest.mark.parametrize(
    ("gaps", "step"),
    [
        ([0.5, 0.5], 0.5),  # a sub-second step is a step
        ([], 15.0),  # one sample per series: no gap to infer it from, Prometheus's 15 s
        ([30.0, 15.0, 15.0], 15.0),  # the most common gap, over a missed sample
        # Timestamps jittered by a fraction of a millisecond still read as a 15 s step.
        ([15.0004, 14.9996, 15.0004, 14.9996, 20.0], 15.0),
    ],
)
def test_a_query_range_answer_has_its_most_common_gap_as_step(
    tmp_path: Path, gaps: list[float], step: float
) -> None:
    times = [START + sum(gaps[:i]) for i in range(len(gaps) + 1)]
    metric = _pod("llama-0", "vllm:num_requests_waiting")
    result = [{"metric": metric, "values": [[t, "1"] for t in times]}]
    body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(body))
    assert load_recording(path).step == step


def test_a_saved_recording_keeps_its_creation_time_or_stamps_now() -> None:
    kept = Recording(START, START, 15.0, created_at="2026-01-01T00:00:00Z").to_json()
    assert kept["createdAt"] == "2026-01-01T00:00:00Z"
    stamped = Recording(START, START, 15.0).to_json()["createdAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamped)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "is not a JSON"),
        (b'{"format": "lws-autoscaler-recording", "version": 99}', "version 99 is not supported"),
        (b'{"format": "something-else"}', "not an lws-autoscaler recording"),
        (b'{"series": []}', "not an lws-autoscaler recording"),
        (b'{"status": "error", "data": {}}', "resultType 'matrix'"),
        (
            b'{"status": "success", "data": {"resultType": "vector", "result": []}}',
            r"resultType 'matrix' \(an /api/v1/query_range answer\), got 'success' / 'vector'",
        ),
        (
            b'{"status": "error", "data": {"resultType": "matrix", "result": []}}',
            r"got 'error' / 'matrix'",
        ),
        (b'{"format": "lws-autoscaler-recording", "version": 1, "start": 1}', "malformed"),
        # NaN passed "step <= 0" and "end < start" (both False); Infinity raised an
        # OverflowError, and an end of 1e13 a MemoryError ("4.85 TiB"), not this error.
        (_header(start="NaN"), "must be finite"),
        (_header(end="Infinity"), "must be finite"),
        (_header(step="0"), "needs step > 0"),
        (_header(end="1e13"), "over 5,000,000 steps"),
    ],
    ids=[
        "not-json",
        "version",
        "format",
        "no-format",
        "query-range-error",
        "instant-query-answer",
        "failed-range-query",
        "no-end",
        "nan-start",
        "infinite-end",
        "zero-step",
        "huge-grid",
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        load_recording(path)
    with pytest.raises(RecordingError, match="cannot read"):
        load_recording(tmp_path / "missing.json")


def test_demo_recording_moves_recommendations_within_a_minute_at_10x() -> None:
    """The shipped demo: for each example policy, from several starting points, the
    engine changes its recommendation within 600 s of recording time (1 min at 10x)."""
    source = RecordingSource(default_recording_path())
    policies = [loaded.policy for loaded in load_policies([Path("autoscaler/data/policies")])]
    assert {p.spec.target.name for p in policies} <= {k.name for k in source.keys}
    for policy in policies:
        if policy.spec.scale_to_zero.enabled:
            continue
        tgt = Target(policy)
        for begin in (source.start + 900, source.start + 2700, source.start + 4500):
            state, recommended = EngineState(), []
            # Warm the engine's windows on the preceding 15 minutes, then watch 10 minutes.
            for now, result in source.history([tgt], begin - 900, begin + 600, source.step):
                decision, state = decide(policy, result.snapshots.get(tgt.key), state, now)
                if now >= begin and decision.replicas is not None:
                    recommended.append(decision.replicas)
            assert len(set(recommended)) > 1, (policy.name, begin, recommended)


def test_demo_arrays_are_finite_where_present() -> None:
    source = RecordingSource()
    for key in source.keys:
        arrays = source.arrays(target(key.namespace, key.name, window=60.0))
        for signal, matrix in arrays.values.items():
            present = matrix[~np.isnan(matrix)]
            assert present.size, signal
            assert np.all(present >= 0), signal
        assert not math.isnan(float(arrays.replicas[0][0]))


def test_corrupt_gzip_is_a_recording_error_naming_the_file(tmp_path: Path) -> None:
    """Every single corrupted byte of a gzipped recording (header, deflate stream,
    trailer) is a RecordingError naming the file, never a raw zlib.error or EOFError."""
    body = json.dumps(small_recording().to_json()).encode()
    good = gzip.compress(body, mtime=0)
    path = tmp_path / "corrupt.json.gz"
    outcomes: set[str] = set()
    for i in range(2, len(good)):
        bad = bytearray(good)
        bad[i] ^= 0x5A
        path.write_bytes(bytes(bad))
        try:
            load_recording(path)
            outcomes.add("loaded")  # a byte nothing checks (mtime, OS)
        except RecordingError as exc:
            outcomes.add("named" if str(path) in str(exc) else str(exc))
    assert outcomes <= {"loaded", "named"}
    assert "named" in outcomes
    path.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(RecordingError, match=r"corrupt\.json\.gz"):
        load_recording(path)


def test_without_replica_series_an_lws_at_zero_wakes_on_its_activation() -> None:
    """A recording of a parked LWS holds only its activation series. Above the threshold
    the replay says zero groups (the engine wakes it); at or below, an error (hold)."""
    lws = {"namespace": "inference", LWS_LABEL: "llama"}
    activation = _series({"__name__": "lws:activation", **lws}, [0.0, 0.0, 4.0])
    recording = Recording(
        START, START + 2 * STEP, STEP, targets=(RecordedTarget(KEY),), series=[activation]
    )
    source = RecordingSource(recording=recording)
    tgt = [target("inference", "llama", activation="sum(gateway_waiting{service=$name})")]
    quiet = source.fetch(tgt, START + STEP)
    assert "not above its threshold" in quiet.errors[KEY]
    snap = only(source.fetch(tgt, START + 2 * STEP), "inference", "llama")
    assert (snap.spec_replicas, snap.leaders) == (0, {})
    assert snap.aggregates[Signal.ACTIVATION].value == 4.0
    decision, _ = decide(tgt[0].policy, snap, EngineState(), START + 2 * STEP)
    assert decision.replicas == 1  # woken to replicas.min


def _with(**fields: object) -> bytes:
    """A valid recording header (no series) with ``fields`` replaced."""
    body: dict[str, object] = {
        "format": "lws-autoscaler-recording",
        "version": 1,
        "start": START,
        "end": START + 60,
        "step": STEP,
    }
    return json.dumps({**body, **fields}).encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # Each used to end in an AttributeError (or be accepted) instead of this error.
        (_with(labels="x"), "labels: must be an object naming the labels namespace, lws, pod"),
        (_with(labels={"lws": 5}), "labels.lws: must be a string, got the number 5"),
        (_with(labels={"cluster": "c"}), r"labels.cluster: unknown \(known: namespace, lws, pod\)"),
        (_with(labels={"lws": "no spaces"}), "labels: 'no spaces' is not a valid"),
        (_with(start="1800000000"), "start: must be a number of seconds, got the string"),
        (_with(step=True), "step: must be a number of seconds, got true"),
        (_with(end=None), "end: must be a number of seconds, got null"),
        (_with(version=True), "version True is not supported"),
        (_with(targets="x"), "targets: must be a list of objects, got the string 'x'"),
        (_with(targets=["x"]), r"targets\[0\]: must be an object"),
        (_with(targets=[[1]]), r"targets\[0\]: must be an object, got a list"),
        (_with(targets=[{"namespace": 1, "name": "a"}]), r"targets\[0\].namespace: must be a"),
        (_with(targets=[{"namespace": "a"}]), r"targets\[0\].name: must be a string, got null"),
        (
            _with(targets=[{"namespace": "a", "name": "b", "engine": ["vllm"]}]),
            r"targets\[0\].engine: must be one of vllm, sglang, got a list",
        ),
        (
            _with(targets=[{"namespace": "a", "name": "b", "modelName": 7}]),
            r"targets\[0\].modelName: must be a string or null",
        ),
        (_with(source="x"), "source: must be an object, got the string 'x'"),
        (_with(source=[1]), "source: must be an object, got a list"),
        (_with(series=["x"]), "series #0 must be an object with 'metric' and 'values'"),
        (_with(series=[{"metric": "x", "values": []}]), "series #0: 'metric' must be an object"),
        (_with(series=[{"metric": {}}]), "series #0: 'values' must be a list"),
        (b'{"data": "x"}', "'data' must be an object .* got the string 'x'"),
        (b'{"data": ["x"]}', "'data' must be an object .* got a list"),
        (
            b'{"status": "success", "data": {"resultType": "matrix", "result": [5]}}',
            "series #0 must be an object",
        ),
        (b"[" * 200_000, "nested too deeply"),
        (b'{"format": ' + b'{"a": ' * 100_000, "nested too deeply"),
        (gzip.compress(b'{"series": [{"metric": ' + b"[" * 200_000), "nested too deeply"),
    ],
    ids=[
        "labels-string",
        "label-number",
        "label-unknown",
        "label-invalid",
        "start-string",
        "step-bool",
        "end-null",
        "version-true",
        "targets-string",
        "target-string",
        "target-list",
        "target-namespace-number",
        "target-no-name",
        "target-engine-list",
        "target-model-number",
        "source-string",
        "source-list",
        "series-item-string",
        "series-metric-string",
        "series-no-values",
        "query-range-data-string",
        "query-range-data-list",
        "query-range-item-number",
        "deep-array",
        "deep-object",
        "deep-gzipped",
    ],
)
def test_wrong_json_types_are_recording_errors_naming_the_field(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message) as raised:
        load_recording(path)
    assert str(raised.value).startswith(str(path))


def test_simulate_reports_a_recording_of_wrong_types_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``simulate`` on such a file: one line naming the file and the field, exit 2, where
    it used to print an AttributeError's traceback."""
    from autoscaler.cli.main import main

    policy = Path(__file__).resolve().parents[2] / "policies" / "llama-70b.yaml"
    for content, field in (
        (_with(labels="x"), "labels"),
        (b'{"data": "x"}', "'data'"),
        (b"[" * 200_000, "nested too deeply"),
    ):
        path = tmp_path / "bad.json"
        path.write_bytes(content)
        out = tmp_path / "out"
        argv = ["simulate", "--recording", str(path), "--policies", str(policy), "-q"]
        assert main([*argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"lws-autoscaler simulate: {path}")
        assert field in err
        assert len(err.splitlines()) == 1
        assert not out.exists() or not any(out.iterdir())  # nothing simulated


def test_a_header_of_the_right_types_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_bytes(
        _with(
            labels={"lws": "lws_name"},
            targets=[{"namespace": "a", "name": "b", "engine": "sglang", "modelName": None}],
            source={"prometheusUrl": "http://x"},
            start=int(START),
        )
    )
    loaded = load_recording(path)
    assert loaded.labels.lws == "lws_name"
    assert loaded.targets == (RecordedTarget(LwsKey("a", "b"), ServingEngine.SGLANG),)
    assert (loaded.start, loaded.source) == (START, {"prometheusUrl": "http://x"})
