"""Each signal's raw family: the series names stored and the reduction over a leader's
parts, per engine."""

from __future__ import annotations

import pytest

from autoscaler.signals import MetricKind, ServingEngine, Signal
from autoscaler.sources.families import Reduction, families, family


@pytest.mark.parametrize(
    ("engine", "signal", "sample_names", "reduction"),
    [
        # A histogram is stored as its buckets; its bucket rates add up over parts.
        (
            ServingEngine.VLLM,
            Signal.TTFT,
            ("vllm:time_to_first_token_seconds_bucket",),
            Reduction.SUM,
        ),
        (ServingEngine.VLLM, Signal.QUEUE_DEPTH, ("vllm:num_requests_waiting",), Reduction.SUM),
        # Both names of the KV-cache gauge (renamed in vLLM 0.10); a utilisation averages.
        (
            ServingEngine.VLLM,
            Signal.KV_CACHE,
            ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
            Reduction.MEAN,
        ),
        (ServingEngine.SGLANG, Signal.KV_CACHE, ("sglang:token_usage",), Reduction.MEAN),
        (
            ServingEngine.SGLANG,
            Signal.TTFT,
            ("sglang:time_to_first_token_seconds_bucket",),
            Reduction.SUM,
        ),
    ],
)
def test_family_names_and_reduction(
    engine: ServingEngine, signal: Signal, sample_names: tuple[str, ...], reduction: Reduction
) -> None:
    fam = family(engine, signal)
    assert fam.sample_names == sample_names
    assert fam.reduction is reduction


@pytest.mark.parametrize("engine", list(ServingEngine))
def test_only_histograms_store_buckets(engine: ServingEngine) -> None:
    for fam in families(engine):
        bucketed = all(name.endswith("_bucket") for name in fam.sample_names)
        assert bucketed is (fam.kind is MetricKind.HISTOGRAM), fam
