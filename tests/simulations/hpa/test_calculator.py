"""The replica calculator's Pods and Resource paths with pods that are not all counted.

The seed recipe's HPA sizes on a Pods metric (``vllm:num_requests_waiting`` per leader),
and a starting group's leader has no metric yet: it is a *missing* pod. Upstream
(``calcPlainMetricReplicas`` and ``GetResourceReplicas``) then counts missing pods as the
target on a scale-down and as 0 on a scale-up, counts unready pods as 0 on a scale-up,
and keeps the current size when that flips the direction. The upstream cases in
``test_conformance.py`` have every pod ready and reporting, so these rows are worked
by hand from that code; values are in milli-units, as the controller's.
"""

from __future__ import annotations

import pytest

from simulations.hpa.calculator import (
    MetricComputeError,
    Pod,
    ScaleView,
    Tolerances,
    average_value_replicas,
    pod_metric_replicas,
    value_replicas,
)

MAX_INT32 = 2_147_483_647  # Go's math.MaxInt32, written out: the port's own constant is tested
MAX_INT64 = 9_223_372_036_854_775_807  # math.MaxInt64


def _view(current: int, *pods: Pod) -> ScaleView:
    return ScaleView(current, len(pods), pods=pods)


RUNNING = [Pod("p0"), Pod("p1"), Pod("p2")]
PENDING_TWO = [Pod("p0"), Pod("p1", phase="Pending"), Pod("p2", phase="Pending")]


@pytest.mark.parametrize(
    ("per_pod", "pods", "current", "expected"),
    [
        # All pods report: ceil(ratio * ready). 60 waiting over 3 at 10 each -> 6.
        ({"p0": 20_000, "p1": 20_000, "p2": 20_000}, RUNNING, 3, 6),
        # One busy leader and two starting ones without a metric: the ratio is 2.0 on
        # the one reporting, but the missing two count as 0 on a scale-up: the average
        # (20000 + 0 + 0) // 3 = 6666 is below the target, the direction would flip,
        # so the size stays at 3 (the ready pod alone would have said 2).
        ({"p0": 20_000}, RUNNING, 3, 3),
        # A scale-down with a missing pod: it counts as the target, 10000, so the average
        # is (1000 + 1000 + 10000) // 3 = 4000: ratio 0.4 -> ceil(0.4 * 3) = 2, not the
        # ceil(0.1 * 2) = 1 the reporting pods alone give.
        ({"p0": 1_000, "p1": 1_000}, RUNNING, 3, 2),
        # A scale-up with a missing pod that does not flip it: (40000 + 40000 + 0) // 3 =
        # 26666 -> ratio 2.67 -> ceil(2.67 * 3) = 8.
        ({"p0": 40_000, "p1": 40_000}, RUNNING, 3, 8),
        # (20000 + 20000 + 0) // 3 = 13333 -> ratio 1.33 -> ceil(4.0) = 4.
        ({"p0": 20_000, "p1": 20_000}, RUNNING, 3, 4),
        # The same with the size at 5 (two pods already gone): 4 would be a scale-down
        # on a scale-up signal, so the size stays.
        ({"p0": 20_000, "p1": 20_000}, RUNNING, 5, 5),
        # A ratio of exactly 1.0 is neither direction: the missing and unready pods are
        # not counted, and it is within the tolerance.
        ({"p0": 10_000}, RUNNING[:2], 2, 2),
        ({"p0": 10_000}, PENDING_TWO[:2], 2, 2),
        # Deleted and Failed pods are ignored, their last metrics too: 20000 on the one
        # left -> ceil(2.0 * 1) = 2 (counted, the three would make 6).
        (
            {"p0": 20_000, "p1": 20_000, "p2": 20_000},
            [Pod("p0"), Pod("p1", deleted=True), Pod("p2", phase="Failed")],
            3,
            2,
        ),
        # Counted as 0, the missing pod brings a ratio of 1.6 down to 32000 // 3 = 10666:
        # within the tolerance, no change (without it, ceil(1.6 * 2) = 4).
        ({"p0": 16_000, "p1": 16_000}, RUNNING, 3, 3),
        # The average is an integer first: (40001 + 40000 + 0) // 3 = 26667 -> ratio
        # 2.6667 -> 8.0001 -> 9. Left out, the missing pod would give 80001 // 2 = 40000
        # -> 4.0 * 2 = 8.
        ({"p0": 40_001, "p1": 40_000}, RUNNING, 3, 9),
        # Pending pods are unready; on a scale-up they count as 0, which flips the
        # direction here: (20000 + 0 + 0) // 3 = 6666 -> stays at 3.
        ({"p0": 20_000}, PENDING_TWO, 3, 3),
        # The same with the busy pod busier: (70000 + 0 + 0) // 3 = 23333 -> ceil(7.0) = 7.
        ({"p0": 70_000}, PENDING_TWO, 3, 7),
        # On a scale-down unready pods are left out: 1000 on one pod -> ceil(0.1 * 1) = 1.
        ({"p0": 1_000}, PENDING_TWO, 3, 1),
        # Unready pods count only on a scale-up: 9500 on the one reporting is within the
        # tolerance (0.95), so no change; counted as 0 they would halve it to 1.
        ({"p0": 9_500}, [Pod("p0"), Pod("p1", phase="Pending")], 2, 2),
        # A Running leader that is not Ready but reports counts like any other: the
        # Ready condition matters for CPU only. 20000 on each of 2 -> ceil(2.0 * 2) = 4.
        ({"p0": 20_000, "p1": 20_000}, [Pod("p0"), Pod("p1", ready=False)], 2, 4),
        # Within the tolerance after the missing pod counts: (10500 + 10500 + 10000) // 3
        # = 10333 -> 1.03: no change.
        ({"p0": 10_500, "p1": 10_500}, RUNNING, 3, 3),
    ],
)
def test_a_pods_metric_counts_missing_and_unready_pods_conservatively(
    per_pod: dict[str, int], pods: list[Pod], current: int, expected: int
) -> None:
    replicas, _ = pod_metric_replicas(per_pod, 10_000, current, Tolerances(), _view(current, *pods))
    assert replicas == expected


UNREADY_THIRD = (Pod("p0"), Pod("p1"), Pod("p2", ready=False))


@pytest.mark.parametrize(
    ("per_pod", "pods", "target", "expected"),
    [
        # CPU at 80% of request (1000m) on two ready pods, target 50%: ratio 1.6. The
        # third pod is Running but not Ready: counted as 0% on a scale-up, 1600 / 3000 ->
        # 53%, ratio 1.06, within the tolerance: no change (not ceil(1.6 * 2) = 4). The
        # utilization reported is the ready pods' own, 80%.
        ({"p0": 800, "p1": 800, "p2": 100}, UNREADY_THIRD, 50, (3, 80)),
        # At 95% the same gives 1900 / 3000 -> 63%, ratio 1.26 -> ceil(3.8) = 4.
        ({"p0": 950, "p1": 950, "p2": 100}, UNREADY_THIRD, 50, (4, 95)),
        # A scale-down with a missing pod and a target above 100%: it counts as 150% of
        # its request. 30% observed -> ratio 0.2; with the missing pod 2100 / 3000 -> 70%,
        # ratio 0.47 -> ceil(1.4) = 2.
        ({"p0": 300, "p1": 300}, tuple(RUNNING), 150, (2, 30)),
        # A target of 200%: the missing pod counts as 200% of its 1000m request.
        # (200 + 2000) / 2000 -> 110% -> ratio 0.55 -> ceil(1.1) = 2 (as 100% it would
        # be 60% -> 0.3 -> 1).
        ({"p0": 200}, tuple(RUNNING[:2]), 200, (2, 20)),
        # At a 100% target the missing pod counts as its request, 1000m, and the result
        # is an integer percentage: (10 + 1000) * 100 // 2000 = 50 -> ceil(0.5 * 2) = 1;
        # (20 + 1000) * 100 // 2000 = 51 -> ceil(1.02) = 2.
        ({"p0": 10}, tuple(RUNNING[:2]), 100, (1, 1)),
        ({"p0": 20}, tuple(RUNNING[:2]), 100, (2, 2)),
        # The percentage is an integer, floored: 1000m of 2001m requested is 49%.
        (
            {"p0": 500, "p1": 500},
            (Pod("p0"), Pod("p1", cpu_request_milli=1001)),
            50,
            (3, 49),
        ),
    ],
)
def test_a_cpu_utilization_counts_unready_and_missing_pods_conservatively(
    per_pod: dict[str, int], pods: tuple[Pod, ...], target: int, expected: tuple[int, int]
) -> None:
    outcome = pod_metric_replicas(
        per_pod, target, 3, Tolerances(), _view(3, *pods), utilization=True, cpu=True
    )
    assert outcome == expected


@pytest.mark.parametrize(
    ("values", "status_replicas", "expected"),
    [
        # 8600m over 3 replicas against 1000m each: ratio 2.87 -> ceil(8.6) = 9; the
        # usage reported per replica is ceil(8600 / 3) = 2867m.
        ((8_600,), 3, (9, 2_867)),
        # One replica at 1050m against 1000m: ratio 1.05, within the tolerance: stays 1.
        ((1_050,), 1, (1, 1_050)),
        # No replica: the ratio is +Inf, never within: ceil(1050 / 1000) = 2.
        ((1_050,), 0, (2, MAX_INT64)),
        # Usage at or near MaxInt64 reports MaxInt64 (float64 comparison, as upstream).
        # The count is capped at MaxInt32.
        ((MAX_INT64,), 1, (MAX_INT32, MAX_INT64)),
        ((MAX_INT64 - 100,), 1, (MAX_INT32, MAX_INT64)),
        # Further off it is the float64 quotient's ceiling: 2**63 - 1024.
        ((MAX_INT64 - 1_000,), 1, (MAX_INT32, MAX_INT64 - 1_023)),
    ],
)
def test_an_average_value_target_sizes_from_the_total(
    values: tuple[int, ...], status_replicas: int, expected: tuple[int, int]
) -> None:
    assert average_value_replicas(values, 1_000, status_replicas, Tolerances()) == expected


@pytest.mark.parametrize(("ready_pods", "ready"), [(None, [True] * 3), (1, [True, False, False])])
def test_a_scale_view_without_pods_stands_for_its_running_ones(
    ready_pods: int | None, ready: list[bool]
) -> None:
    """``status.replicas`` Running pods, the first ``ready_pods`` of them Ready (all when
    not said): what the External paths need, and the CPU path's readiness reads."""
    view = ScaleView(3, 3, ready_pods=ready_pods)
    assert [pod.ready for pod in view.pod_list()] == ready
    assert view.ready_pod_count() == sum(ready)
    assert ScaleView(1, 1).ready_pod_count() == 1


def test_a_scale_view_without_pods_or_replicas_selects_nothing() -> None:
    with pytest.raises(MetricComputeError, match="no pods returned by selector"):
        ScaleView(2, 0).ready_pod_count()


@pytest.mark.parametrize(
    ("values", "usage"),
    [
        ((MAX_INT64 - 5, 1), MAX_INT64 - 4),
        ((MAX_INT64 - 5, 5), MAX_INT64),
        # Beyond MaxInt64 the sum is capped there, as upstream's overflow check.
        ((MAX_INT64 - 5, 10), MAX_INT64),
        ((MAX_INT64, 1), MAX_INT64),
        ((MAX_INT64, -1), MAX_INT64 - 1),
    ],
)
def test_a_value_target_sums_the_series_capped_at_max_int64(
    values: tuple[int, ...], usage: int
) -> None:
    replicas, total = value_replicas(values, 1_000, 3, Tolerances(), ScaleView(3, 3))
    assert total == usage
    assert replicas == MAX_INT32


def test_cpu_metrics_of_no_known_pod_are_an_error() -> None:
    """Metrics only for pods the selector does not list: no request to divide by."""
    with pytest.raises(MetricComputeError, match="no metrics returned matched known pods"):
        pod_metric_replicas(
            {"stranger": 500}, 50, 3, Tolerances(), _view(3, *RUNNING), utilization=True, cpu=True
        )
