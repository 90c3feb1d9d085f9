"""The gateway (``simulations.gateway``): rejection at the maximum context, holding while
no group is ready, and least-request routing on the load at each arrival's own time,
worked by hand on real group engines whose load is set directly."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.gateway import Gateway
from simulations.ledger import Outcome, RequestLog
from simulations.profile import load_profile
from simulations.serving import GroupEngine
from simulations.traces import Trace

PROFILE = load_profile("llama-70b-h100")
# Placeholder ids that load a group before routing starts (outstanding counts them);
# far beyond any arrival the tests route.
PLACEHOLDER = 1_000


def _log(arrival: list[float], prompt: int = 100, output: int = 10) -> RequestLog:
    n = len(arrival)
    trace = Trace(
        "t",
        np.asarray(arrival, float),
        np.full(n, prompt, np.int64),
        np.full(n, output, np.int64),
    )
    return RequestLog.for_trace(trace)


def _groups(log: RequestLog, *loads: tuple[int, list[float]]) -> list[GroupEngine]:
    """One engine per ``(outstanding, predicted finishes)``."""
    groups = []
    for index, (outstanding, finishes) in enumerate(loads):
        group = GroupEngine(index, PROFILE, log)
        for k in range(outstanding):
            group.enqueue(PLACEHOLDER + 100 * index + k)
        group.finishes = np.asarray(finishes, float)
        groups.append(group)
    return groups


def _routed(groups: list[GroupEngine]) -> list[list[int]]:
    return [[rid for rid in g.waiting if rid < PLACEHOLDER] for g in groups]


def test_a_request_of_exactly_the_maximum_context_is_served_one_token_more_rejected() -> None:
    """vLLM's --max-model-len bounds prompt + output: 131,072 fits, 131,073 does not."""
    trace = Trace(
        "t",
        np.asarray([1.0, 2.0, 3.0]),
        np.asarray([131_000, 131_001, 100], np.int64),
        np.asarray([72, 72, 10], np.int64),
    )
    log = RequestLog.for_trace(trace)
    gateway = Gateway(log, 131_072)
    assert gateway.rejected == 1
    assert list(log.outcome) == [Outcome.IN_FLIGHT, Outcome.REJECTED, Outcome.IN_FLIGHT]
    assert log.finished[1] == 2.0  # rejected on arrival
    groups = _groups(log, (0, []))
    gateway.route_until(5.0, groups, 0.0)
    assert _routed(groups) == [[0, 2]]


def test_each_request_goes_to_the_least_loaded_group_the_first_of_equals() -> None:
    """Loads 0 and 1: the first arrival makes them 1 and 1, the tie goes to group 0
    (2 and 1), the third to group 1. Counting a sent request as two sent the second to
    group 1."""
    log = _log([0.1, 0.2, 0.3])
    groups = _groups(log, (0, []), (1, []))
    Gateway(log, PROFILE.max_context_tokens).route_until(0.5, groups, 0.0)
    assert _routed(groups) == [[0, 1], [2]]
    assert list(log.routed) == [0.1, 0.2, 0.3]  # each at its own arrival


@pytest.mark.parametrize(
    ("loads", "arrival", "expected"),
    [
        # A finish at the arrival's own instant frees its slot for it: group 1 goes from
        # 2 to 1 at 0.20, below group 0's 2 (one sent at 0.10).
        (((1, []), (2, [0.20])), [0.10, 0.20], [[0], [1]]),
        # A finish lowers the load by one: group 1 at 3 - 1 = 2 ties with group 0 at 2,
        # and the tie goes to group 0.
        (((1, []), (3, [0.20])), [0.10, 0.30], [[0, 1], []]),
        # Every finish before the arrival counts: group 1 at 3 - 2 = 1, below 2.
        (((2, []), (3, [0.20, 0.25])), [0.30], [[], [0]]),
        # A finish after the arrival does not.
        (((1, []), (1, [0.40])), [0.30], [[0], []]),
    ],
)
def test_predicted_finishes_lower_a_groups_load_from_their_instant_on(
    loads: tuple[tuple[int, list[float]], ...], arrival: list[float], expected: list[list[int]]
) -> None:
    log = _log(arrival)
    groups = _groups(log, *loads)
    Gateway(log, PROFILE.max_context_tokens).route_until(0.5, groups, 0.0)
    assert _routed(groups) == expected


def test_requests_held_while_no_group_is_ready_are_routed_first_when_one_is() -> None:
    """Held from their arrivals (0.1 and 0.3) until the step a group is ready (from
    0.5): they reach it at 0.5, ahead of the step's own arrival at 0.7. Their queue wait
    still counts from the arrival."""
    log = _log([0.1, 0.3, 0.7, 1.5])
    gateway = Gateway(log, PROFILE.max_context_tokens)
    gateway.route_until(0.5, [], 0.0)
    assert (gateway.waiting, gateway.held_requests) == (2, 2)
    assert np.all(np.isnan(log.routed))
    groups = _groups(log, (0, []))
    gateway.route_until(1.0, groups, 0.5)
    assert _routed(groups) == [[0, 1, 2]]
    assert list(log.routed[:3]) == [0.5, 0.5, 0.7]
    assert (gateway.waiting, gateway.held_requests) == (0, 2)
    # One still held at the end of a run fails there.
    gateway.route_until(2.0, [], 1.0)
    assert gateway.fail_held(2.0) == 1
    assert (log.outcome[3], log.finished[3], gateway.waiting) == (Outcome.FAILED, 2.0, 0)
