"""``horizon.policy_horizon``: the seconds of history a restarted replica replays, one row
per memory the engine keeps (the longest of them wins)."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.engine.horizon import policy_horizon
from autoscaler.policy.model import ScalingPolicy
from tests.engine.factories import KEY, make_policy

# Every memory off or zero: the test policy (no windows, no step limits) with the
# forecast's lookback and the missing-metrics hold at 0 s too.
QUIET: dict[str, Any] = {
    "scaleUp": {"forecast": {"lookback": 0}},
    "missingMetrics": {"holdFor": 0},
}
ACTIVATION = {"query": "sum(rate(gateway_requests_total[1m]))"}


def _queue(**options: Any) -> dict[str, Any]:
    return {"type": "queueDepth", "targetPerGroup": 10, **options}


def _quiet(changes: dict[str, Any]) -> ScalingPolicy:
    """QUIET with ``changes`` merged in, one level down (``scaleUp`` keeps its lookback)."""
    spec = {name: dict(value) for name, value in QUIET.items()}
    for name, value in changes.items():
        spec[name] = {**spec[name], **value} if name in spec else value
    return make_policy(**spec)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, 0.0, id="no-memory-no-history"),
        # The docstring's example: a 5 min down window, then a 2 min step period: 7 min.
        (
            {"scaleDown": {"stabilizationWindow": "5m", "maxStep": {"groups": 1, "period": "2m"}}},
            420.0,
        ),
        # The step period follows the up window the same way: 3 min + 1 min.
        (
            {"scaleUp": {"stabilizationWindow": "3m", "maxStep": {"groups": 1, "period": "1m"}}},
            240.0,
        ),
        # The longer of the two step periods counts, after either window: 5 min + 2 min.
        (
            {
                "scaleUp": {"maxStep": {"groups": 1, "period": "1m"}},
                "scaleDown": {
                    "stabilizationWindow": "5m",
                    "maxStep": {"groups": 1, "period": "2m"},
                },
            },
            420.0,
        ),
        # A step limit without any window still needs its period of sizes.
        ({"scaleDown": {"maxStep": {"groups": 1, "period": "2m"}}}, 120.0),
        ({"scaleUp": {"forecast": {"lookback": "10m"}}}, 600.0),
        ({"missingMetrics": {"holdFor": "8m"}}, 480.0),
        pytest.param(
            {"scaleToZero": {"enabled": True, "idleAfter": "15m", "activation": ACTIVATION}},
            900.0,
            id="scale-to-zero-idle-time",
        ),
        pytest.param({"scaleToZero": {"idleAfter": "15m"}}, 0.0, id="scale-to-zero-off"),
        pytest.param(
            {"scaleDown": {"holdWhileIdle": True}, "coldStart": {"expected": "4m"}},
            240.0,
            id="hold-while-idle-cold-start",
        ),
        pytest.param({"coldStart": {"expected": "4m"}}, 0.0, id="hold-while-idle-off"),
        ({"signals": [_queue(sustainedFor="2m")]}, 120.0),
        ({"signals": [_queue(isolatedBurst={"calmFor": "15m"})]}, 900.0),
        # The queue signal counts wherever it is listed.
        (
            {
                "signals": [
                    {"type": "kvCacheUtilization", "target": 0.8},
                    _queue(sustainedFor="90s"),
                ]
            },
            90.0,
        ),
        # Several memories at once: the longest, not the shortest.
        (
            {
                "scaleUp": {"forecast": {"lookback": "10m"}},
                "missingMetrics": {"holdFor": "5m"},
                "signals": [_queue(sustainedFor="1m", isolatedBurst={"calmFor": "12m"})],
            },
            720.0,
        ),
    ],
)
def test_the_longest_memory_sets_the_horizon(changes: dict[str, Any], expected: float) -> None:
    assert policy_horizon(_quiet(changes)) == expected


def test_the_defaults_replay_the_down_window_and_one_down_step_period() -> None:
    """Defaults: a 10 min down window and step periods of 1 min (up) and 2 min (down):
    12 min, longer than the 5 min forecast lookback and missing-metrics hold."""
    policy = ScalingPolicy.model_validate(
        {
            "apiVersion": "lws-autoscaler.io/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": "defaults"},
            "spec": {
                "target": {"namespace": KEY.namespace, "name": KEY.name},
                "replicas": {"max": 10},
                "signals": [_queue()],
            },
        }
    )
    assert policy_horizon(policy) == 720.0
