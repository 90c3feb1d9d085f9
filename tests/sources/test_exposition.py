"""Real expositions (vLLM and SGLang documentation captures, copied with their sources in
``fixtures/vllm-metrics/SOURCES.md``) and pages rendered by ``prometheus_client`` parse
and map to the right signals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from autoscaler.signals import ServingEngine, Signal
from autoscaler.sources.exposition import ExpositionError, parse_exposition
from autoscaler.sources.histogram import bucket_quantile
from tests.support.exporter import FakeLeader, MetricsExporter

FIXTURES = Path(__file__).parent / "fixtures" / "vllm-metrics"


def test_vllm_design_doc_capture_maps_to_signals() -> None:
    reading = parse_exposition(
        (FIXTURES / "vllm-design-doc-metrics-example.prom").read_text(), ServingEngine.VLLM
    )
    assert reading.values == {Signal.RUNNING: 8.0, Signal.GENERATION_TOKENS: 27453.0}
    # The capture has no +Inf bucket: _count (140) stands in for it.
    assert reading.histograms[Signal.TTFT][0.02] == 13.0
    assert reading.histograms[Signal.TTFT][math.inf] == 140.0
    # Median: rank 70 of 140 lies in (0.02, 0.04], which holds counts 13..97.
    assert bucket_quantile(0.5, reading.histograms[Signal.TTFT]) == pytest.approx(
        0.02 + 0.02 * (70 - 13) / (97 - 13)
    )


def test_vllm_usage_doc_capture_has_no_serving_signal() -> None:
    text = (FIXTURES / "vllm-usage-doc-metrics-example.prom").read_text()
    reading = parse_exposition(text, ServingEngine.VLLM)
    # Only vllm:iteration_tokens_total (a histogram of step sizes): nothing to scale on,
    # and in particular no TTFT read from the wrong histogram.
    assert reading.values == {}
    assert reading.histograms == {}


def test_sglang_capture_maps_to_signals() -> None:
    reading = parse_exposition(
        (FIXTURES / "sglang-production-metrics-doc-example.prom").read_text(), ServingEngine.SGLANG
    )
    assert reading.values[Signal.QUEUE_DEPTH] == 2826
    assert reading.values[Signal.RUNNING] == 162
    assert reading.values[Signal.KV_CACHE] == pytest.approx(0.28)
    assert reading.values[Signal.PROMPT_TOKENS] == pytest.approx(8.128902e06)
    assert reading.histograms[Signal.TTFT][math.inf] == 11008
    # The same page read as vLLM has nothing: names are per engine.
    assert (
        parse_exposition(
            (FIXTURES / "sglang-production-metrics-doc-example.prom").read_text(),
            ServingEngine.VLLM,
        ).values
        == {}
    )


@pytest.mark.parametrize(
    ("leader", "engine", "expected"),
    [
        # Two data-parallel engines split 10 waiting 40/60: the leader has 10; KV averages.
        (
            FakeLeader("ns", "a", "a-0", waiting=10, kv=0.6, data_parallel=2),
            ServingEngine.VLLM,
            {Signal.QUEUE_DEPTH: 10, Signal.KV_CACHE: 0.6},
        ),
        (
            FakeLeader("ns", "a", "a-0", waiting=3, kv=0.3, data_parallel=3),
            ServingEngine.VLLM,
            {Signal.QUEUE_DEPTH: 3, Signal.KV_CACHE: 0.3},
        ),
        # Pre-0.10 vLLM: gpu_cache_usage_perc is the KV signal.
        (
            FakeLeader("ns", "a", "a-0", engine="vllm-old", kv=0.45),
            ServingEngine.VLLM,
            {Signal.KV_CACHE: 0.45},
        ),
        # SGLang with TP=8: every rank repeats the gauge; the leader has it once.
        (
            FakeLeader("ns", "a", "a-0", engine="sglang", waiting=12, kv=0.5, tensor_parallel=8),
            ServingEngine.SGLANG,
            {Signal.QUEUE_DEPTH: 12, Signal.KV_CACHE: 0.5},
        ),
    ],
)
def test_rendered_pages_reduce_per_leader(
    leader: FakeLeader, engine: ServingEngine, expected: dict[Signal, float]
) -> None:
    exporter = MetricsExporter([leader])
    body = exporter.render(exporter.path(leader))
    assert body is not None
    reading = parse_exposition(body.decode(), engine)
    for signal, value in expected.items():
        assert reading.values[signal] == pytest.approx(value)


def test_model_name_filter_and_bad_text() -> None:
    leader = FakeLeader("ns", "a", "a-0", waiting=4)
    body = MetricsExporter([leader]).render("/pods/ns/a-0/metrics")
    assert body is not None
    assert parse_exposition(body.decode(), ServingEngine.VLLM, model_name="other").values == {}
    assert (
        parse_exposition(body.decode(), ServingEngine.VLLM, model_name=leader.model_name).values[
            Signal.QUEUE_DEPTH
        ]
        == 4
    )
    with pytest.raises(ExpositionError, match="invalid Prometheus exposition"):
        parse_exposition('vllm:num_requests_waiting{model_name="a} 3\n', ServingEngine.VLLM)


@pytest.mark.parametrize(
    ("first", "second"),
    [("+Inf", "-Inf"), ("+Inf", "3"), ("1e308", "1e308")],
    ids=["inf-minus-inf", "one-infinite-engine", "sum-overflows"],
)
def test_an_unusable_sum_is_nan_for_that_family_not_an_error(first: str, second: str) -> None:
    # Two data-parallel engines on one leader. fsum raised ValueError on +Inf + -Inf and
    # OverflowError on 1e308 + 1e308, and either failed the whole fetch, every LWS.
    page = (
        f'vllm:num_requests_waiting{{engine="0",model_name="m"}} {first}\n'
        f'vllm:num_requests_waiting{{engine="1",model_name="m"}} {second}\n'
        'vllm:num_requests_running{engine="0",model_name="m"} 2\n'
        'vllm:num_requests_running{engine="1",model_name="m"} 5\n'
    )
    reading = parse_exposition(page, ServingEngine.VLLM)
    assert math.isnan(reading.values[Signal.QUEUE_DEPTH])  # the engine drops NaN
    assert reading.values[Signal.RUNNING] == 7  # the other families are untouched


@pytest.mark.parametrize(
    ("engine", "page", "expected"),
    [
        # A NaN engine makes the leader's sum NaN, as PromQL's ``sum`` does: skipped, the
        # leader read as 3 waiting and looked healthy.
        (
            ServingEngine.VLLM,
            'vllm:num_requests_waiting{engine="0"} NaN\nvllm:num_requests_waiting{engine="1"} 3\n',
            math.nan,
        ),
        # PromQL's ``max`` passes a NaN over when another rank has a number.
        (
            ServingEngine.SGLANG,
            'sglang:num_queue_reqs{tp_rank="0"} NaN\nsglang:num_queue_reqs{tp_rank="1"} 12\n',
            12.0,
        ),
        (
            ServingEngine.SGLANG,
            'sglang:num_queue_reqs{tp_rank="0"} 12\nsglang:num_queue_reqs{tp_rank="1"} NaN\n',
            12.0,
        ),
    ],
    ids=["vllm-nan-engine", "sglang-nan-rank-first", "sglang-nan-rank-last"],
)
def test_nan_series_reduce_as_promql_reduces_them(
    engine: ServingEngine, page: str, expected: float
) -> None:
    value = parse_exposition(page, engine).values[Signal.QUEUE_DEPTH]
    assert value == expected or (math.isnan(expected) and math.isnan(value))


def test_model_name_filter_applies_to_histogram_buckets() -> None:
    """Two models on one leader (a LoRA adapter beside its base, say): the filter keeps
    only the named model's buckets, so its quantile is not diluted by the other's."""
    lines = []
    for model, fast, total in (("base", 9, 10), ("adapter", 1, 10)):
        for le, count in (("0.5", fast), ("1.0", total), ("+Inf", total)):
            labels = f'model_name="{model}",le="{le}"'
            lines.append(f"vllm:time_to_first_token_seconds_bucket{{{labels}}} {count}")
    text = "\n".join(lines) + "\n"
    base = parse_exposition(text, ServingEngine.VLLM, model_name="base")
    assert base.histograms[Signal.TTFT] == {0.5: 9, 1.0: 10, math.inf: 10}
    both = parse_exposition(text, ServingEngine.VLLM)
    assert both.histograms[Signal.TTFT] == {0.5: 10, 1.0: 20, math.inf: 20}


def test_the_simulated_ttft_buckets_are_vllms_own() -> None:
    """The simulators and test exporters emit ``VLLM_TTFT_BUCKETS``: the real capture's
    bounds (the design document lists the first eight) are its first ones, in order."""
    import re

    from autoscaler.signals import VLLM_TTFT_BUCKETS

    page = (FIXTURES / "vllm-design-doc-metrics-example.prom").read_text()
    bounds = re.findall(r'vllm:time_to_first_token_seconds_bucket\{[^}]*le="([^"+]+)"', page)
    captured = [float(b) for b in dict.fromkeys(bounds)]
    assert len(captured) >= 8
    assert list(VLLM_TTFT_BUCKETS[: len(captured)]) == captured
