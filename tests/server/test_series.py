"""What one decision publishes: a series per signal the policy scales on, never a
missing one as zero (``autoscaler.server.series``), driven by the real engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autoscaler.engine import EngineState, decide
from autoscaler.server.series import series_specs, value_ceiling
from autoscaler.signals import Signal
from tests.engine.factories import T0, make_policy, snapshot

SIGNALS = [
    {"type": "queueDepth", "targetPerGroup": 10},
    {"type": "ttft", "targetSeconds": 2, "quantile": 0.95},
    {"type": "queueWait", "targetSeconds": 1, "quantile": 0.75},
]


def test_latency_quantiles_are_published_with_their_quantile_label() -> None:
    policy = make_policy(signals=SIGNALS)
    snap = snapshot(T0, queue=[4, 6], aggregates={Signal.TTFT: 1.25, Signal.QUEUE_WAIT: 0.5})
    decision, _ = decide(policy, snap, EngineState(), T0)
    published = {s.metric: s for s in series_specs(policy, decision)}
    ttft, queue_wait = published["lws_ttft_seconds"], published["lws_queue_wait_seconds"]
    assert (ttft.value, ttft.labels["quantile"]) == (1.25, "0.95")
    assert (queue_wait.value, queue_wait.labels["quantile"]) == (0.5, "0.75")


def test_a_latency_with_no_finished_request_is_not_published() -> None:
    policy = make_policy(signals=SIGNALS)
    snap = snapshot(T0, queue=[4, 6], aggregates={Signal.TTFT: 1.25})
    decision, _ = decide(policy, snap, EngineState(), T0)
    published = {s.metric for s in series_specs(policy, decision)}
    assert "lws_ttft_seconds" in published
    assert "lws_queue_wait_seconds" not in published  # no data is not zero


@pytest.mark.parametrize(
    ("sharing", "ceiling"),
    [
        (1, "9223372036854775.807"),  # MaxInt64 milli-units: the whole int64
        (2, "4611686018427387.903"),  # (2^63 - 1) // 2 = 4611686018427387903 milli
        (3, "3074457345618258.602"),
        (0, "9223372036854775.807"),  # no item shares it: one item's room
    ],
)
def test_value_ceiling_keeps_the_summed_milli_values_in_an_int64(
    sharing: int, ceiling: str
) -> None:
    assert value_ceiling(sharing) == Decimal(ceiling)
    # What the HPA adds up (each MilliValue()) still fits in an int64.
    assert int(value_ceiling(sharing).scaleb(3)) * max(sharing, 1) <= 2**63 - 1
