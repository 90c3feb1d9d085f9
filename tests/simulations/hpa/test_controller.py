"""HpaEmulator behaviour the upstream case file does not cover: tolerances per HPA and per
direction, the feature gate, zero replicas, metric errors, partial failures, the sync
period, stabilisation after a restart, and rate limits across several syncs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulations.hpa import (
    ControllerConfig,
    HpaConfig,
    HpaEmulator,
    HpaSpec,
    MetricError,
    MetricSource,
    MetricValues,
    Pod,
    PodMetricValues,
    ScaleView,
)
from tests.simulations.hpa.factories import recommendation_hpa

T0 = 1_000_000.0


def spec(behavior: dict[str, Any] | None = None, min_replicas: int = 1, **extra: Any) -> HpaSpec:
    return recommendation_hpa(behavior, min_replicas, **extra)


FOLLOW = {  # what the chart sets: no windows, permissive limits
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 1000, "periodSeconds": 15}],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    },
}


def with_tolerance(value: str) -> dict[str, Any]:
    return {k: {**v, "tolerance": value} for k, v in FOLLOW.items()}


def emulator(hpa: HpaSpec, **controller: Any) -> HpaEmulator:
    return HpaEmulator(HpaConfig.from_spec(hpa, ControllerConfig(**controller)))


@pytest.mark.parametrize(
    ("behavior", "gate", "current", "recommended", "expected"),
    [
        # AverageValue 1: ratio = recommended / status.replicas, band [0.9, 1.1] inclusive
        (FOLLOW, True, 10, 11, 10),  # 1.1 is inside the cluster's 0.1 band
        (FOLLOW, True, 10, 12, 12),
        (FOLLOW, True, 10, 9, 10),  # 0.9 is inside too
        (with_tolerance("0"), True, 10, 11, 11),  # per-HPA tolerance 0
        (with_tolerance("0"), False, 10, 11, 10),  # gate off: the field is ignored
        (with_tolerance("0"), True, 10, 10, 10),
        (
            {**FOLLOW, "scaleDown": {**FOLLOW["scaleDown"], "tolerance": "500m"}},
            True,
            10,
            6,
            10,  # 0.6 >= 1 - 0.5: a scale-down tolerance of 50%
        ),
        (
            {**FOLLOW, "scaleDown": {**FOLLOW["scaleDown"], "tolerance": "500m"}},
            True,
            10,
            11,
            10,  # scale-up keeps the cluster tolerance
        ),
    ],
)
def test_tolerance(
    behavior: dict[str, Any], gate: bool, current: int, recommended: int, expected: int
) -> None:
    hpa = emulator(spec(behavior), configurable_tolerance=gate)
    assert hpa.step(T0, ScaleView(current, current), [float(recommended)]) == expected


def test_zero_replicas_disable_scaling_unless_min_is_zero() -> None:
    disabled = emulator(spec(FOLLOW, min_replicas=1))
    result = disabled.reconcile(T0, ScaleView(0, 0), [MetricValues.of(3)])
    assert (result.replicas, result.rescaled) == (0, False)
    assert ("ScalingActive", "False", "ScalingDisabled") in result.conditions
    # status.replicas 0: the AverageValue ratio is infinite, so the proposal is ceil(3 / 1)
    # = 3; the default scale-up rules (Pods 4 per 15 s) let it through...
    woken = emulator(spec({}, min_replicas=0))
    assert woken.step(T0, ScaleView(0, 0), [3.0]) == 3
    # ...but a Percent-only rule can never leave zero: ceil(0 * 11) = 0.
    stuck = emulator(spec(FOLLOW, min_replicas=0))
    assert stuck.step(T0, ScaleView(0, 0), [3.0]) == 0
    idle = emulator(spec(FOLLOW, min_replicas=0))
    assert idle.step(T0, ScaleView(0, 0), [0.0]) == 0
    assert emulator(spec(FOLLOW, min_replicas=0)).step(T0, ScaleView(2, 2), [0.0]) == 0


def test_a_failed_metric_keeps_the_size_and_the_memory() -> None:
    hpa = emulator(spec(FOLLOW))
    result = hpa.reconcile(T0, ScaleView(4, 4), [MetricError("adapter down")])
    assert (result.replicas, result.rescaled) == (4, False)
    assert result.error is not None
    assert "adapter down" in result.error
    assert ("ScalingActive", "False", "FailedGetExternalMetric") in result.conditions
    assert hpa.memory.recommendations is not None
    assert [r.value for r in hpa.memory.recommendations] == [4]  # only the seed
    assert hpa.step(T0 + 15, ScaleView(4, 4), [None]) == 4


def two_metrics() -> HpaConfig:
    return HpaConfig(
        max_replicas=20,
        metrics=(
            MetricSource("External", "a", "AverageValue", 1000),
            MetricSource("External", "b", "AverageValue", 1000),
        ),
        behavior=HpaConfig.from_spec(spec(FOLLOW)).behavior,
    )


@pytest.mark.parametrize(
    ("valid_value", "expected", "rescaled", "active"),
    [
        (8, 8, True, ("True", "ValidMetricFound")),
        # Fewer than spec.replicas on partial data: the sync stops there (no scale-down).
        (3, 5, False, ("False", "FailedGetExternalMetric")),
        # As many as spec.replicas: not fewer, so the sync goes on with the valid one.
        (5, 5, False, ("True", "ValidMetricFound")),
    ],
)
def test_partial_failure_scales_up_but_never_down(
    valid_value: int, expected: int, rescaled: bool, active: tuple[str, str]
) -> None:
    hpa = HpaEmulator(two_metrics())
    result = hpa.reconcile(T0, ScaleView(5, 5), [MetricError("gone"), MetricValues.of(valid_value)])
    assert (result.replicas, result.rescaled) == (expected, rescaled)
    assert result.error is not None
    assert ("ScalingActive", *active) in result.conditions


def test_several_metrics_take_the_largest_proposal() -> None:
    hpa = HpaEmulator(two_metrics())
    result = hpa.reconcile(T0, ScaleView(5, 5), [MetricValues.of(7), MetricValues.of(9)])
    assert result.replicas == 9
    assert result.reason == "external metric b above target"
    # A tie names the first metric, as upstream keeps the first of equal proposals.
    tie = HpaEmulator(two_metrics()).reconcile(
        T0, ScaleView(5, 5), [MetricValues.of(9), MetricValues.of(9)]
    )
    assert tie.reason == "external metric a above target"


@pytest.mark.parametrize(
    ("value", "replicas", "reason"),
    [(9, 9, "external metric a above target"), (5, 5, ""), (2, 2, "All metrics below target")],
)
def test_the_reason_says_which_way_and_nothing_without_a_change(
    value: int, replicas: int, reason: str
) -> None:
    config = HpaConfig(
        max_replicas=20,
        metrics=(MetricSource("External", "a", "AverageValue", 1000),),
        behavior=HpaConfig.from_spec(spec(FOLLOW)).behavior,
    )
    result = HpaEmulator(config).reconcile(T0, ScaleView(5, 5), [MetricValues.of(value)])
    assert (result.replicas, result.reason) == (replicas, reason)


def test_an_object_metric_reads_its_one_value_and_an_external_one_sums_them() -> None:
    """An Object metric describes one object: only its first value counts."""

    def proposal(kind: str) -> int:
        config = HpaConfig(max_replicas=20, metrics=(MetricSource(kind, "m", "Value", 1000),))
        result = HpaEmulator(config).reconcile(T0, ScaleView(2, 2), [MetricValues.of(2, 2)])
        assert result.proposal is not None
        return result.proposal

    assert proposal("Object") == 4  # 2 / 1 per ready pod, 2 ready -> 4
    assert proposal("External") == 8  # (2 + 2) / 1 -> 4 per ready pod -> 8


@pytest.mark.parametrize(("resource", "proposal"), [("cpu", 2), ("memory", 5)])
def test_only_cpu_reads_the_ready_condition(resource: str, proposal: int) -> None:
    """Three pods at 80% of request against 50%, one of them Running but not Ready. For
    CPU it is unready and counts as 0% on a scale-up: 1600 / 3000 -> 53%, ratio 1.06,
    within the tolerance, so 2 (the current size). For memory it counts: ceil(1.6 * 3)
    = 5. The proposal is compared, before the legacy cap (4) applies."""
    config = HpaConfig(
        max_replicas=20, metrics=(MetricSource("Resource", resource, "Utilization", 50),)
    )
    pods = (Pod("p0"), Pod("p1"), Pod("p2", ready=False))
    reading = PodMetricValues({"p0": 800, "p1": 800, "p2": 800})
    result = HpaEmulator(config).reconcile(T0, ScaleView(2, 3, pods=pods), [reading])
    assert result.proposal == proposal


def test_value_target_counts_only_ready_pods() -> None:
    config = HpaConfig(max_replicas=20, metrics=(MetricSource("External", "q", "Value", 4000),))
    hpa = HpaEmulator(config)
    # 12 / 4 = 3 per ready pod; 2 of 4 leaders ready -> ceil(3 * 2) = 6
    assert hpa.step(T0, ScaleView(4, 4, ready_pods=2), [12.0]) == 6


def test_sync_period_spaces_reconciles() -> None:
    hpa = emulator(spec(FOLLOW))
    assert hpa.step(T0, ScaleView(2, 2), [5.0]) == 5
    assert hpa.step(T0 + 5, ScaleView(5, 5), [9.0]) == 5  # not due: spec unchanged
    assert hpa.step(T0 + 15, ScaleView(5, 5), [9.0]) == 9


def test_legacy_path_caps_scale_up_per_sync_and_waits_five_minutes_to_scale_down() -> None:
    hpa = emulator(spec(None))
    size = 3
    seen = []
    for i in range(4):
        size = hpa.step(T0 + 15 * i, ScaleView(size, size), [100.0])
        seen.append(size)
    assert seen == [6, 12, 20, 20]  # max(2 * current, 4), then maxReplicas
    # The recommendations of the last 5 minutes hold the size: the last 100 was at T0+45,
    # so the first sync that may drop is T0+360 (T0+45 < 360 - 300).
    down = [hpa.step(T0 + 60 + 15 * i, ScaleView(size, size), [2.0]) for i in range(21)]
    assert set(down[:-1]) == {20}
    assert down[-1] == 2


def test_a_fresh_controller_cannot_scale_down_for_one_window() -> None:
    hpa = emulator(spec(None))
    assert hpa.step(T0, ScaleView(8, 8), [2.0]) == 8  # seeded with (8, T0)
    assert hpa.step(T0 + 300, ScaleView(8, 8), [2.0]) == 8  # T0 is still inside
    assert hpa.step(T0 + 315, ScaleView(8, 8), [2.0]) == 2


def test_pods_policy_limits_removals_per_period_using_past_events() -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
        }
    }
    hpa = emulator(spec(behavior))
    size, trace = 10, []
    for i in range(9):
        size = hpa.step(T0 + 15 * i, ScaleView(size, size), [1.0])
        trace.append(size)
    # 2 groups per 60 s: the events expire 60 s after they happened
    assert trace == [8, 8, 8, 8, 6, 6, 6, 6, 4]


def test_disabled_scale_up_holds_and_min_policy_picks_the_smaller_limit() -> None:
    disabled = emulator(spec({"scaleUp": {"selectPolicy": "Disabled"}}))
    assert disabled.step(T0, ScaleView(3, 3), [10.0]) == 3
    smallest = emulator(
        spec(
            {
                "scaleUp": {
                    "selectPolicy": "Min",
                    "policies": [
                        {"type": "Pods", "value": 4, "periodSeconds": 60},
                        {"type": "Percent", "value": 50, "periodSeconds": 60},
                    ],
                }
            }
        )
    )
    assert smallest.step(T0, ScaleView(4, 4), [20.0]) == 6  # min(4 + 4, ceil(4 * 1.5))


def test_out_of_range_size_goes_to_the_bound_without_metrics() -> None:
    hpa = emulator(spec(FOLLOW))
    result = hpa.reconcile(T0, ScaleView(30, 30), [MetricError("down")])
    assert (result.replicas, result.error) == (20, None)


@pytest.mark.parametrize(
    "bad",
    [
        {"target": {"type": "AverageValue"}},
        {"target": {"type": "Value", "value": "-1"}},
        {"target": {"type": "Utilization", "averageUtilization": 50}},
    ],
)
def test_invalid_metric_targets_are_refused(bad: dict[str, Any]) -> None:
    doc = {"type": "External", "external": {"metric": {"name": "m"}, **bad}}
    with pytest.raises(ValidationError):
        HpaSpec.model_validate({"maxReplicas": 3, "metrics": [doc]})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=25), min_size=1, max_size=30))
def test_the_charts_hpa_follows_the_recommendation(recs: list[int]) -> None:
    """Tolerance 0, no windows: spec.replicas = clamp(R, 1, 20), except that Percent 1000
    per 15 s allows at most 11 times the current size per sync (1 -> 11, not 12)."""
    hpa = emulator(spec(with_tolerance("0")))
    size = 1
    for i, rec in enumerate(recs):
        new = hpa.step(T0 + 15 * i, ScaleView(size, size), [float(rec)])
        assert new == min(max(rec, 1), 20, 11 * size)
        size = new


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=30))
def test_legacy_scale_up_never_exceeds_the_cap(recs: list[int]) -> None:
    hpa = emulator(spec(None))
    size = 2
    for i, rec in enumerate(recs):
        new = hpa.step(T0 + 15 * i, ScaleView(size, size), [float(rec)])
        assert new <= max(2 * size, 4)
        assert 1 <= new <= 20
        size = new


def _external(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "External",
        "external": {"metric": {"name": "lws_recommended_replicas"}, "target": target},
    }


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"type": "AverageValue", "averageValue": "1", "value": "5"},
            "may not set both a target value for metric and a per-pod target",
        ),
        ({"type": "Value"}, "needs a positive value"),
    ],
)
def test_metric_targets_are_validated_as_the_api_server_does(
    target: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(metrics=[_external(target)])


def test_average_value_wins_whatever_the_type_says() -> None:
    """validateMetricTarget does not match the field to the type, and the controller
    divides by the pods whenever averageValue is set."""
    mismatched = spec(metrics=[_external({"type": "Value", "averageValue": "1"})])
    (source,) = HpaConfig.from_spec(mismatched).metrics
    assert (source.target_type, source.target) == ("AverageValue", 1000)


def test_an_empty_policy_list_is_refused_and_match_expressions_are_accepted() -> None:
    """``policies: []`` would make a direction that can never move (the API refuses it);
    a selector with matchExpressions is a valid manifest."""
    with pytest.raises(ValidationError, match="must specify at least one Policy"):
        spec({"scaleUp": {"policies": []}})
    selected = _external({"type": "AverageValue", "averageValue": "1"})
    selected["external"]["metric"]["selector"] = {
        "matchExpressions": [{"key": "policy", "operator": "In", "values": ["llama-70b"]}]
    }
    assert len(HpaConfig.from_spec(spec(metrics=[selected])).metrics) == 1


def test_syncs_keep_their_cadence_from_the_first() -> None:
    """As the controller's requeue: a sync a little late keeps the schedule (the next is
    due 15 s after the one it stood for, not after it ran); one off schedule, early or
    a period late, starts a new one."""
    hpa = emulator(spec(FOLLOW))
    assert hpa.next_sync() is None
    assert hpa.due(T0)
    hpa.step(T0, ScaleView(2, 2), [2.0])
    assert hpa.next_sync() == T0 + 15
    assert not hpa.due(T0 + 14.9)
    assert hpa.due(T0 + 15)
    hpa.step(T0 + 16, ScaleView(2, 2), [2.0])  # 1 s late: still the T0 + 15 sync
    assert hpa.next_sync() == T0 + 30
    hpa.step(T0 + 60, ScaleView(2, 2), [2.0])  # two syncs missed: a new schedule
    assert hpa.next_sync() == T0 + 75
    hpa.reconcile(T0 + 70, ScaleView(2, 2), [MetricValues.of(2.0)])  # called early
    assert hpa.next_sync() == T0 + 85
    hpa.reconcile(T0 + 99.5, ScaleView(2, 2), [MetricValues.of(2.0)])  # 14.5 s late: kept
    assert hpa.next_sync() == T0 + 100
    hpa.reconcile(T0 + 99.5, ScaleView(2, 2), [MetricValues.of(2.0)])  # 0.5 s early: anew
    assert hpa.next_sync() == T0 + 114.5


@pytest.mark.parametrize(
    ("source", "reading", "named", "limited"),
    [
        (
            MetricSource("External", "queue", "AverageValue", 1_000),
            MetricValues.of(8.0),
            "external metric queue",
            ("True", "ScaleUpLimit"),  # 8 proposed, 4 allowed
        ),
        (
            MetricSource("Pods", "vllm:num_requests_waiting", "AverageValue", 10_000),
            PodMetricValues({"pod-0": 40_000, "pod-1": 40_000}),
            "pods metric vllm:num_requests_waiting",
            ("True", "ScaleUpLimit"),
        ),
        (
            MetricSource("Resource", "cpu", "Utilization", 50),
            PodMetricValues({"pod-0": 900, "pod-1": 900}),
            "cpu resource utilization (percentage of request)",
            ("False", "DesiredWithinRange"),  # 90% of 50%: ceil(1.8 * 2) = 4, the cap
        ),
    ],
)
def test_a_scale_up_names_the_metric_that_drove_it(
    source: MetricSource,
    reading: MetricValues | PodMetricValues,
    named: str,
    limited: tuple[str, str],
) -> None:
    hpa = HpaEmulator(HpaConfig(max_replicas=20, metrics=(source,)))
    result = hpa.reconcile(T0, ScaleView(2, 2), [reading])
    assert result.replicas == 4  # the legacy cap: max(2 * 2, 4)
    assert result.reason == f"{named} above target"
    assert ("AbleToScale", "True", "SucceededRescale") in result.conditions
    assert ("ScalingActive", "True", "ValidMetricFound") in result.conditions
    assert ("ScalingLimited", *limited) in result.conditions


@pytest.mark.parametrize(
    "behavior", [None, {**FOLLOW, "scaleDown": {"stabilizationWindowSeconds": 300}}]
)
def test_able_to_scale_says_when_a_window_holds_the_size(behavior: dict[str, Any] | None) -> None:
    """Without a change the condition says why: a lower recommendation held by the
    down window (ScaleDownStabilized), or nothing to hold (ReadyForNewScale). Both the
    legacy path and a ``behavior`` with a 5-minute down window."""
    hpa = emulator(spec(behavior))
    hpa.reconcile(T0, ScaleView(6, 6), [MetricValues.of(6)])
    held = hpa.reconcile(T0 + 15, ScaleView(6, 6), [MetricValues.of(2)])
    assert (held.replicas, held.rescaled) == (6, False)
    assert ("AbleToScale", "True", "ScaleDownStabilized") in held.conditions
    steady = hpa.reconcile(T0 + 30, ScaleView(6, 6), [MetricValues.of(6)])
    assert ("AbleToScale", "True", "ReadyForNewScale") in steady.conditions


def test_at_zero_with_min_zero_a_failed_metric_stops_the_sync() -> None:
    """With every metric failing there is no proposal at all, even at 0 replicas."""
    hpa = emulator(spec(FOLLOW, min_replicas=0))
    result = hpa.reconcile(T0, ScaleView(0, 0), [MetricError("no series")])
    assert (result.replicas, result.rescaled) == (0, False)
    assert ("ScalingActive", "False", "FailedGetExternalMetric") in result.conditions
