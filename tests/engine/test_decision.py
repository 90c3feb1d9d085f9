"""``Decision.explain``: the text ``lws-autoscaler explain`` prints."""

from __future__ import annotations

import pytest

from autoscaler.engine.decision import (
    Decision,
    ReasonCode,
    SignalStatus,
    format_groups,
    make_proposal,
)
from autoscaler.snapshot import LwsKey
from tests.engine.factories import Driver, make_policy


def test_explain_shows_each_signal_and_a_dash_for_what_is_missing() -> None:
    decision = Decision(
        key=LwsKey("inference", "llama-70b"),
        policy="llama-70b",
        at=0.0,
        replicas=5,
        current=3,
        driver="queueDepth",
        reasons=(),
        proposals=(
            make_proposal("queueDepth", SignalStatus.OK, 8, 12.67, 4.75, 5, 3),
            make_proposal("queueWait", SignalStatus.NO_TRAFFIC, 1),
        ),
    )
    lines = decision.explain().splitlines()
    assert lines[0] == "inference/llama-70b (policy llama-70b): recommend 5 (current 3)"
    assert lines[1] == "  driven by: queueDepth"
    assert lines[2] == (
        "  signal queueDepth: ok value=12.67 target=8 needed=4.75 proposal=5 reporting=3"
    )
    # No proposal prints "-" like the other missing fields (it printed Python's None).
    assert lines[3] == (
        "  signal queueWait: noTraffic value=- target=1 needed=- proposal=- reporting=0"
    )


@pytest.mark.parametrize(
    ("groups", "text"),
    [
        (4.75, "4.75"),
        (3.0, "3.00"),
        (3, "3"),
        (999_999.994, "999999.99"),
        (1e6, "1e+06"),
        (1e298, "1e+298"),
        (10**300, "1e+300"),
        (None, "-"),
    ],
)
def test_groups_print_short_whatever_the_demand(groups: float | None, text: str) -> None:
    assert format_groups(groups) == text


def test_an_absurd_queue_explains_in_a_line_of_readable_length() -> None:
    """A backend reporting 1e300 waiting requests: the engine steps up as usual, and its
    reasons say so in a line, not with 300 digits of demand (``{:.2f}`` printed them)."""
    driver = Driver(make_policy())
    decision = driver.at(0, queue=[1e300, 0.0])
    signal = next(r.message for r in decision.reasons if r.code == ReasonCode.SIGNAL)
    assert signal.endswith("-> 1e+299 groups needed, proposal 1e+299")
    assert max(len(line) for line in decision.explain().splitlines()) < 200
