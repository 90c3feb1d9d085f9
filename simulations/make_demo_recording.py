"""Generates the small demo recording shipped in ``autoscaler/data`` (the built-in default
of ``lws-autoscaler serve`` and ``simulate``).

Interim generator: the series start from the values of a real vLLM ``/metrics`` capture
(``tests/sources/fixtures/vllm-metrics/vllm-design-doc-metrics-example.prom``, parsed by
the product's own exposition reader) and then follow a synthetic load curve, for the three
example policies in ``autoscaler/data/policies``. A trace-driven generator will replace
it; keep this one small.

The curve is a 20-minute wave plus short bursts, in "groups' worth of load" per LWS, so
that replayed at 10x (2 minutes of wall time per wave) recommendations move within a
minute from any starting point. Per step of 15 s, each leader reports its share of:
waiting requests ``targetPerGroup * demand``, KV-cache use ``0.7 * demand / groups``,
tokens at ``demand * capacity * utilisation`` and a TTFT histogram whose p90 grows with
the per-group load. Replica series say what the recorded cluster ran (fixed sizes).

Usage: ``python -m simulations.make_demo_recording [-o autoscaler/data/demo-recording.json.gz]``
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from autoscaler.signals import ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.exposition import parse_exposition
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recording import DEMO_RECORDING
from autoscaler.sources.recording_format import (
    ACTIVATION_SERIES,
    REPLICA_SERIES,
    RecordedTarget,
    Recording,
    Series,
    save_recording,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/sources/fixtures/vllm-metrics/vllm-design-doc-metrics-example.prom"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
STEP = 15.0
HOURS = 2.0
TTFT_BOUNDS = (
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    math.inf,
)

# (key, groups recorded, mean demand, wave amplitude, queue target, tokens/s per group)
LWS = (
    (LwsKey("inference", "llama-70b"), 3, 3.0, 1.8, 8.0, 11000 * 0.7),
    (LwsKey("inference", "llama-405b"), 3, 2.6, 1.2, 4.0, 2400 * 0.75),
    (LwsKey("dev", "llama-8b-dev"), 1, 0.0, 0.0, 10.0, 2000.0),
)


def demand_curve(times: np.ndarray, mean: float, amplitude: float, seed: int) -> np.ndarray:
    """Groups' worth of load: a 20-minute wave plus a few 3-minute bursts."""
    rng = np.random.default_rng(seed)
    minutes = (times - times[0]) / 60.0
    wave = mean + amplitude * np.sin(2 * np.pi * minutes / 20.0)
    bursts = np.zeros_like(minutes)
    for centre in rng.uniform(5, minutes[-1] - 5, size=4):
        bursts += 1.5 * np.exp(-(((minutes - centre) / 1.5) ** 2))
    return np.asarray(
        np.clip(wave + bursts + rng.normal(0, 0.05, minutes.size), 0.0, None), dtype=np.float64
    )


def dev_curve(times: np.ndarray) -> np.ndarray:
    """The scale-to-zero model: idle, with a burst of use every 40 minutes."""
    minutes = (times - times[0]) / 60.0
    return np.asarray(np.where((minutes % 40) < 8, 0.6, 0.0), dtype=np.float64)


def _series(name: str, labels: dict[str, str], times: np.ndarray, values: np.ndarray) -> Series:
    # Rounded: counters and bucket counts are whole numbers; 4 decimals keep the file small.
    points = [(float(t), round(float(v), 4)) for t, v in zip(times, values, strict=True)]
    return Series({"__name__": name, **labels}, points)


def build() -> Recording:
    seed = parse_exposition(FIXTURE.read_text(), ServingEngine.VLLM)
    base_generated = seed.values.get(Signal.GENERATION_TOKENS, 0.0)
    # Cumulative counts stay monotonic: a bound absent from the capture takes the count of
    # the largest captured bound below it.
    ttft_capture = seed.histograms.get(Signal.TTFT, {})
    base_buckets = {
        le: max((c for b, c in ttft_capture.items() if b <= le), default=0.0) for le in TTFT_BOUNDS
    }
    names = LabelNames()
    times = START + np.arange(int(HOURS * 3600 / STEP) + 1) * STEP
    series: list[Series] = []
    for number, (key, groups, mean, amplitude, queue_target, tokens) in enumerate(LWS):
        demand = dev_curve(times) if mean == 0 else demand_curve(times, mean, amplitude, number)
        lws = {names.namespace: key.namespace, names.lws: key.name}
        for name in REPLICA_SERIES.values():
            series.append(_series(name, lws, times, np.full(times.size, groups, dtype=float)))
        if key.namespace == "dev":
            series.append(_series(ACTIVATION_SERIES, lws, times, demand * 2.0))
        per_group = demand / groups
        ttft_p90 = 0.3 + 2.5 * per_group**2  # seconds; grows fast past one group's worth
        for index in range(groups):
            pod = {**lws, names.pod: f"{key.name}-{index}"}
            share = per_group * (1 + 0.1 * (index - (groups - 1) / 2))
            gauges = {
                "vllm:num_requests_waiting": np.round(queue_target * share),
                "vllm:num_requests_running": np.round(16 * np.minimum(share, 1.5)),
                "vllm:kv_cache_usage_perc": np.clip(0.7 * share, 0, 0.98),
            }
            for name, values in gauges.items():
                series.append(_series(name, pod, times, values))
            rates = {
                "vllm:prompt_tokens_total": 0.6 * tokens * share,
                "vllm:generation_tokens_total": 0.4 * tokens * share,
            }
            for name, rate in rates.items():
                counter = base_generated + np.floor(np.cumsum(rate * STEP))
                series.append(_series(name, pod, times, counter))
            spread = np.maximum(ttft_p90 / 0.9, 1e-3)  # uniform on [0, spread]: p90 = ttft_p90
            arrivals = np.maximum(share, 0.01) * 5.0 * STEP  # 5 requests/s per group's worth
            for le in TTFT_BOUNDS:
                fraction = 1.0 if math.isinf(le) else np.minimum(1.0, le / spread)
                counts = base_buckets[le] + np.floor(np.cumsum(arrivals * fraction))
                labels = {**pod, "le": "+Inf" if math.isinf(le) else repr(le)}
                series.append(
                    _series("vllm:time_to_first_token_seconds_bucket", labels, times, counts)
                )
    targets = tuple(RecordedTarget(key, ServingEngine.VLLM) for key, *_ in LWS)
    return Recording(
        start=START,
        end=float(times[-1]),
        step=STEP,
        labels=names,
        targets=targets,
        series=series,
        source={"generator": "simulations/make_demo_recording.py"},
        created_at="2026-01-01T00:00:00Z",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-o", "--output", default=str(ROOT / "autoscaler" / "data" / DEMO_RECORDING)
    )
    args = parser.parse_args()
    path = save_recording(build(), args.output)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
