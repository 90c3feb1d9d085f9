"""The signals the engine scales on, and where each serving engine exports them.

A *signal* is a per-group quantity the engine understands (queue depth, KV-cache
utilisation, token throughput, TTFT, queue wait). A *catalogue* maps each signal to the metric
families a serving engine really exports, so policies name signals and never metric
names (unless they override them).

Metric names come from vLLM 0.33 (``vllm/v1/metrics/loggers.py``), pre-0.10 vLLM (the
``gpu_cache_usage_perc`` generation) and SGLang 0.5; see ``shared/reference/
traces-and-metrics.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Signal(StrEnum):
    """A quantity measured on each group's leader, or on the gateway for activation."""

    QUEUE_DEPTH = "queueDepth"
    """Requests waiting for a batch slot (gauge)."""
    RUNNING = "runningRequests"
    """Requests in the running batch (gauge); used for idleness and concurrency."""
    KV_CACHE = "kvCacheUtilization"
    """Fraction of KV-cache blocks in use, 0..1 (gauge)."""
    PROMPT_TOKENS = "promptTokensPerSecond"
    """Rate of the prefill-token counter."""
    GENERATION_TOKENS = "generationTokensPerSecond"
    """Rate of the generated-token counter."""
    TTFT = "ttftSeconds"
    """A time-to-first-token quantile over the rate window, computed from the histogram."""
    QUEUE_WAIT = "queueWaitSeconds"
    """A quantile of the time requests waited before their prefill was scheduled, over the
    rate window, from the histogram (vLLM observes it when a request finishes)."""
    ACTIVATION = "activation"
    """The scale-from-zero signal (a gateway query); only meaningful per LWS, not per leader."""


class MetricKind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


class ServingEngine(StrEnum):
    VLLM = "vllm"
    SGLANG = "sglang"


@dataclass(frozen=True)
class MetricSpec:
    """Where one signal comes from: candidate family names (first present wins) and type.

    ``names`` are the names as they appear on ``/metrics``: counters carry ``_total``,
    histograms are the base name (``_bucket`` is appended by whoever reads buckets).
    """

    names: tuple[str, ...]
    kind: MetricKind


# Signals summed over a group's engines (data-parallel vLLM exposes one series per
# engine-core) versus averaged (a utilisation fraction stays a fraction).
SUMMED_SIGNALS = frozenset(
    {Signal.QUEUE_DEPTH, Signal.RUNNING, Signal.PROMPT_TOKENS, Signal.GENERATION_TOKENS}
)

CATALOGUE: dict[ServingEngine, dict[Signal, MetricSpec]] = {
    ServingEngine.VLLM: {
        Signal.QUEUE_DEPTH: MetricSpec(("vllm:num_requests_waiting",), MetricKind.GAUGE),
        Signal.RUNNING: MetricSpec(("vllm:num_requests_running",), MetricKind.GAUGE),
        # vLLM >= 0.10 renamed gpu_cache_usage_perc; both are 0..1 despite "perc".
        Signal.KV_CACHE: MetricSpec(
            ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"), MetricKind.GAUGE
        ),
        Signal.PROMPT_TOKENS: MetricSpec(("vllm:prompt_tokens_total",), MetricKind.COUNTER),
        Signal.GENERATION_TOKENS: MetricSpec(("vllm:generation_tokens_total",), MetricKind.COUNTER),
        Signal.TTFT: MetricSpec(("vllm:time_to_first_token_seconds",), MetricKind.HISTOGRAM),
        Signal.QUEUE_WAIT: MetricSpec(("vllm:request_queue_time_seconds",), MetricKind.HISTOGRAM),
    },
    ServingEngine.SGLANG: {
        Signal.QUEUE_DEPTH: MetricSpec(("sglang:num_queue_reqs",), MetricKind.GAUGE),
        Signal.RUNNING: MetricSpec(("sglang:num_running_reqs",), MetricKind.GAUGE),
        Signal.KV_CACHE: MetricSpec(("sglang:token_usage",), MetricKind.GAUGE),
        Signal.PROMPT_TOKENS: MetricSpec(("sglang:prompt_tokens_total",), MetricKind.COUNTER),
        Signal.GENERATION_TOKENS: MetricSpec(
            ("sglang:generation_tokens_total",), MetricKind.COUNTER
        ),
        Signal.TTFT: MetricSpec(("sglang:time_to_first_token_seconds",), MetricKind.HISTOGRAM),
        Signal.QUEUE_WAIT: MetricSpec(("sglang:queue_time_seconds",), MetricKind.HISTOGRAM),
    },
}


# The bucket bounds (seconds) of vLLM's vllm:time_to_first_token_seconds histogram
# (vllm/v1/metrics/loggers.py, 0.33); +Inf is implied. Simulators and test exporters
# emit these so their histograms look exactly like a real leader's.
VLLM_TTFT_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip

# The bounds of vLLM's request-latency histograms, vllm:request_queue_time_seconds among
# them (vllm/v1/metrics/loggers.py, 0.33). They are coarse below a second (0.3, 0.5, 0.8,
# 1.0), so a queue-wait quantile under 0.3 s is an interpolation inside the first bucket.
VLLM_QUEUE_TIME_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
