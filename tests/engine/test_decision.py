"""``Decision.explain``: the text ``lws-autoscaler explain`` prints."""

from __future__ import annotations

from autoscaler.engine.decision import Decision, SignalStatus, make_proposal
from autoscaler.snapshot import LwsKey


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
