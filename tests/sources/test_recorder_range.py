"""``record`` refuses a range it cannot record before the first query: non-finite times,
an end before the start, or more steps than a replay may lay out (``MAX_GRID_STEPS``),
where ``end`` = 1e15 used to list chunks for ever. And it refuses what Prometheus (a
scripted fake on 127.0.0.1) answers when that is not a matrix of samples, or when no
target has a single leader series, naming the query or the targets."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.errors import SourceError, SourceUnavailableError
from autoscaler.snapshot import LwsKey
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.recorder import _keys, leaderless, range_problem, record
from autoscaler.sources.recording_format import Recording
from autoscaler.sources.recording_header import MAX_GRID_STEPS
from tests.sources.factories import target
from tests.sources.fake_prometheus import LWS_LABEL, Decide, FakePrometheus, http

NOW = 1_767_225_600.0


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (math.nan, NOW, 15.0, "must be finite"),
        (NOW - 60, math.inf, 15.0, "must be finite"),
        (NOW, NOW - 60, 15.0, "the end must be after the start"),
        (NOW - 60, NOW, 0.5, "at least 1s"),
        (NOW - 60, 1e15, 15.0, "over the 5,000,000 a recording may hold"),
        (NOW - 60 * 86400, NOW, 1.0, "60 days at a 1s step is 5,184,001 steps, over the"),
        (NOW - 90 * 86400, NOW, 1.5, "90 days at a 1.5s step is 5,184,001 steps, over the"),
        (NOW - 60, NOW, 1.0005, "the step must be whole milliseconds"),
        (
            NOW + 0.6,
            NOW + 0.9,
            15.0,
            "the start rounds to the whole second 1767225601, after the end 1767225600.9",
        ),
        (-62_135_597_000, -62_135_596_000, 15.0, "times must be from 0001-01-01 to 9999-12-31"),
        (253_402_300_000, 253_402_300_900, 15.0, "times must be from 0001-01-01 to 9999-12-31"),
    ],
    ids=[
        "nan",
        "inf",
        "backwards",
        "step",
        "end-1e15",
        "60d-at-1s",
        "90d-at-1.5s",
        "step-under-1ms",
        "start-rounds-past-end",
        "year-0",
        "year-10000",
    ],
)
@pytest.mark.timeout(10)
def test_an_unrecordable_range_is_refused_before_any_query(
    start: float, end: float, step: float, message: str
) -> None:
    client = PrometheusQueryClient("http://127.0.0.1:9", timeout=1)  # never asked
    try:
        with pytest.raises(ValueError, match="cannot record this range") as raised:
            record(client, [target("inference", "llama")], start, end, step)
    finally:
        client.close()
    assert message in str(raised.value)


def test_the_largest_replayable_span_is_accepted() -> None:
    assert range_problem(NOW, NOW + (MAX_GRID_STEPS - 1) * 15.0, 15.0) is None
    assert range_problem(NOW, NOW + MAX_GRID_STEPS * 15.0, 15.0) is not None


def test_a_start_rounding_up_to_the_end_is_one_step() -> None:
    """NOW + 0.6 rounds to NOW + 1, the end itself: one sample at the end, recordable."""
    assert range_problem(NOW + 0.6, NOW + 1, 15.0) is None


def _answer(result_type: str, result: Any) -> bytes:
    body = {"status": "success", "data": {"resultType": result_type, "result": result}}
    return http(200, json.dumps(body).encode())


def _leader(name: str = "llama", values: Any = None) -> dict[str, Any]:
    metric = {"namespace": "inference", LWS_LABEL: name, "pod": f"{name}-0"}
    return {"metric": metric, "values": [[NOW, "3"]] if values is None else values}


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus(lambda _query: _answer("matrix", []))
    try:
        yield server
    finally:
        server.close()


def _record(fake: FakePrometheus, decide: Decide, *names: str) -> Recording:
    fake.decide = decide
    client = PrometheusQueryClient(fake.url, timeout=2, retries=0)
    try:
        return record(
            client, [target("inference", n) for n in names or ("llama",)], NOW, NOW + 60, 15.0
        )
    finally:
        client.close()


def _waiting_only(bad: bytes) -> Decide:
    """``bad`` for the queue-depth query, a good matrix for every other."""
    return lambda q: bad if "vllm:num_requests_waiting" in q else _answer("matrix", [_leader()])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            _answer("matrix", [_leader(values=[[NOW, "abc"]])]),
            "has the sample [1767225600.0, 'abc']",
        ),
        (_answer("matrix", [_leader(values=[["x", "1"]])]), "has the sample ['x', '1']"),
        (_answer("matrix", [_leader(values=[[NOW, True]])]), "has the sample [1767225600.0, True]"),
        (_answer("matrix", [_leader(values=[[NOW]])]), "has the sample [1767225600.0], not"),
        (_answer("matrix", [_leader(values=[[math.nan, "1"]])]), "has the sample [nan, '1']"),
        (_answer("matrix", [_leader(values="x")]), "has 'values' 'x', not a list"),
        (_answer("matrix", [{"metric": {"pod": "p"}}]), "item #0 has no 'values'"),
        (_answer("matrix", [{"metric": "x", "values": []}]), "has 'metric' 'x', not an object"),
        (_answer("matrix", ["x"]), "item #0 is 'x', not a series"),
        (
            _answer("vector", [{"metric": {"pod": "p"}, "value": [NOW, "1"]}]),
            "has one 'value', not 'values': the result is a vector, not a matrix",
        ),
        (_answer("scalar", [NOW, "1"]), "item #0 is 1767225600.0, not a series"),
    ],
    ids=[
        "value-abc",
        "time-string",
        "value-bool",
        "short-pair",
        "time-nan",
        "values-string",
        "no-values",
        "metric-string",
        "item-string",
        "vector",
        "scalar",
    ],
)
@pytest.mark.timeout(20)
def test_an_answer_that_is_not_a_matrix_of_samples_names_the_query(
    fake: FakePrometheus, bad: bytes, message: str
) -> None:
    """Each used to end in a ValueError, KeyError or TypeError out of ``record``."""
    with pytest.raises(SourceUnavailableError) as raised:
        _record(fake, _waiting_only(bad))
    text = str(raised.value)
    assert text.startswith(f"Prometheus at {fake.url} sent an unreadable answer to the range ")
    assert "query for vllm:num_requests_waiting: " in text
    assert message in text
    assert f"query: sum by (namespace, {LWS_LABEL}, pod) (max without (" in text
    assert "(vllm:num_requests_waiting{" in text


@pytest.mark.parametrize(
    "decide",
    [
        lambda _q: _answer("matrix", []),
        # A wrong LWS label: the leader queries find nothing, the kube-state-metrics
        # replica counts (labelled by kube-state-metrics itself) still come back.
        lambda q: _answer(
            "matrix",
            [
                {
                    "metric": {"namespace": "inference", "leaderworkerset": "llama"},
                    "values": [[NOW, "2"]],
                }
            ]
            if "kube_leaderworkerset" in q
            else [],
        ),
    ],
    ids=["nothing", "replica-counts-only"],
)
@pytest.mark.timeout(20)
def test_no_leader_series_for_any_target_is_an_error(fake: FakePrometheus, decide: Decide) -> None:
    """It used to be an empty recording, written with exit 0."""
    with pytest.raises(SourceError, match="no leader series for any of the 2 LWS") as raised:
        _record(fake, decide, "llama", "chat")
    text = str(raised.value)
    assert f"Prometheus at {fake.url} has no leader series" in text
    assert (
        "(inference/llama, inference/chat) from 2026-01-01T00:00:00Z to 2026-01-01T00:01:00Z"
        in text
    )
    assert "label 'leaderworkerset_sigs_k8s_io_name' (--lws-label)" in text


@pytest.mark.timeout(20)
def test_a_target_without_leader_series_is_recorded_and_named(fake: FakePrometheus) -> None:
    """Another target has leaders: an LWS scaled to zero throughout is no error."""
    recording = _record(fake, lambda _q: _answer("matrix", [_leader("llama")]), "llama", "chat")
    assert recording.series
    assert leaderless(recording) == [LwsKey("inference", "chat")]


def test_progress_counts_every_query_of_every_chunk_once(fake: FakePrometheus) -> None:
    """A minute at 15 s is one chunk: one call per query, ``done`` from 1 to ``total``
    with ``total`` the same each time, so a bar ends exactly full."""
    fake.decide = lambda _q: _answer("matrix", [_leader()])
    calls: list[tuple[int, int]] = []
    client = PrometheusQueryClient(fake.url, timeout=2, retries=0)
    try:
        record(
            client,
            [target("inference", "llama")],
            NOW,
            NOW + 60,
            15.0,
            progress=lambda done, total: calls.append((done, total)),
        )
    finally:
        client.close()
    total = len(fake.queries)
    assert total > 1
    assert calls == [(done, total) for done in range(1, total + 1)]


@pytest.mark.parametrize(
    ("count", "tail"), [(5, "inference/lws-4"), (7, "inference/lws-4 and 2 more")]
)
def test_a_message_names_five_lws_and_counts_the_rest(count: int, tail: str) -> None:
    keys = [LwsKey("inference", f"lws-{i}") for i in range(count)]
    head = "inference/lws-0, inference/lws-1, inference/lws-2, inference/lws-3, "
    assert _keys(keys) == head + tail
