"""``queueDepth.isolatedBurst`` through ``decide``, one scrape every 15 s.

3 ready groups, queue target 10 per group, ``calmFor: 60s``: a calm scrape has 4
waiting per leader (12 in all, 1.2 groups' worth: no pressure), a burst 17 per leader
(51 in all, 5.1 groups' worth: proposal 6 without the option). Every case names its
scrapes; the expected values are the last decision's recommendation.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.engine import ReasonCode
from tests.engine.factories import Driver, codes, make_policy

Scrape = list[float | None]
CALM: Scrape = [4.0] * 3
BURST: Scrape = [17.0] * 3
GONE: Scrape = [None] * 3
KV = {"type": "kvCacheUtilization", "target": 0.5}


def _policy(max_groups: int = 1, *extra: dict[str, Any]) -> Any:
    queue = {
        "type": "queueDepth",
        "targetPerGroup": 10,
        "isolatedBurst": {"calmFor": "60s", "maxGroups": max_groups},
    }
    return make_policy(signals=[queue, *extra], metrics={"staleAfter": "30s"})


def _drive(driver: Driver, scrapes: list[Scrape]) -> list[int | None]:
    """One decision per scrape, 15 s apart (the first at the driver's clock). The size
    stays 3 whatever was recommended, so each decision compares with the same size."""
    recs: list[int | None] = []
    for queue in scrapes:
        advance = 15.0 if driver.decisions else 0.0
        recs.append(driver.at(advance, current=3, ready=3, queue=queue).replicas)
    return recs


@pytest.mark.parametrize(
    ("scrapes", "expected", "limited"),
    [
        # 75 s of calm (t = 0..60 calm, burst at 75: calm since t=0, 75 s >= 60 s).
        pytest.param([CALM] * 5 + [BURST], 4, True, id="isolated-after-calm"),
        pytest.param([CALM] * 3 + [BURST], 6, False, id="calm-shorter-than-calmFor"),
        # Calm since t=0, burst at t=60: exactly calmFor of calm is enough.
        pytest.param([CALM] * 4 + [BURST], 4, True, id="calm-exactly-calmFor"),
        pytest.param([BURST], 6, False, id="first-decision-no-evidence"),
        pytest.param([CALM] * 5 + [BURST, BURST], 6, False, id="still-there-next-scrape"),
        pytest.param([CALM] * 5 + [BURST, CALM, CALM, BURST], 6, False, id="recurs-within-calmFor"),
        pytest.param(
            [CALM] * 5 + [BURST] + [CALM] * 5 + [BURST], 4, True, id="recurs-after-calmFor-again"
        ),
        pytest.param([CALM] * 5 + [GONE, CALM, BURST], 6, False, id="missing-queue-ends-calm"),
        # 36 waiting: 3.6 groups, proposal 4, already within 3 + 1.
        pytest.param([*[CALM] * 5, [12.0] * 3], 4, False, id="within-maxGroups-anyway"),
    ],
)
def test_isolated_burst_cases(scrapes: list[Scrape], expected: int, limited: bool) -> None:
    driver = Driver(_policy())
    assert _drive(driver, scrapes)[-1] == expected
    assert (ReasonCode.ISOLATED_BURST in codes(driver.decisions[-1])) is limited


def test_without_the_option_the_burst_orders_in_full() -> None:
    queue = {"type": "queueDepth", "targetPerGroup": 10}
    driver = Driver(make_policy(signals=[queue], metrics={"staleAfter": "30s"}))
    assert _drive(driver, [CALM] * 5 + [BURST])[-1] == 6


def test_max_groups_sets_the_ceiling_and_the_reason_says_why() -> None:
    driver = Driver(_policy(2))
    assert _drive(driver, [CALM] * 5 + [BURST])[-1] == 5
    (reason,) = [r for r in driver.decisions[-1].reasons if r.code is ReasonCode.ISOLATED_BURST]
    assert reason.message == (
        "queueDepth above target for the first time in 1m15s (calmFor 1m): proposal 6 limited to 5"
    )
    queue = driver.decisions[-1].proposals[0]
    assert queue.replicas == 5
    assert queue.needed == pytest.approx(5.1)  # the demand itself is reported unchanged


def test_max_groups_zero_lets_only_a_queue_that_lasts_a_second_scrape_order() -> None:
    """``maxGroups: 0``: the first burst after the calm holds the size (3); the same
    burst at the next scrape orders in full (6), and a burst gone by then orders nothing."""
    passing = Driver(_policy(0))
    recs = _drive(passing, [CALM] * 5 + [BURST, CALM])
    assert recs[5] == 3  # the size, where maxGroups 1 proposes 4 and no option 6
    assert recs[6] is not None
    assert recs[6] <= 3
    (reason,) = [r for r in passing.decisions[-2].reasons if r.code is ReasonCode.ISOLATED_BURST]
    assert reason.message.endswith("proposal 6 limited to 3")
    lasting = Driver(_policy(0))
    assert _drive(lasting, [CALM] * 5 + [BURST, BURST])[-2:] == [3, 6]


def test_a_gap_between_decisions_longer_than_stale_after_ends_the_calm() -> None:
    """Calm at t = 0..60, then nothing decided for 120 s (> staleAfter 30 s): the stretch
    restarts at t = 180, so a burst at t = 195 has only 15 s of observed calm."""
    driver = Driver(_policy())
    _drive(driver, [CALM] * 5)
    driver.at(120, current=3, ready=3, queue=CALM)
    assert driver.at(15, current=3, ready=3, queue=BURST).replicas == 6


def test_a_gap_of_exactly_stale_after_keeps_the_calm() -> None:
    """Calm at t = 0..60, the next decision 30 s later (staleAfter, not longer): the
    stretch goes on from t = 0, so a burst at t = 105 is isolated."""
    driver = Driver(_policy())
    _drive(driver, [CALM] * 5)
    driver.at(30, current=3, ready=3, queue=CALM)
    assert driver.at(15, current=3, ready=3, queue=BURST).replicas == 4
    assert ReasonCode.ISOLATED_BURST in codes(driver.decisions[-1])


def test_no_snapshot_ends_the_calm() -> None:
    driver = Driver(_policy())
    _drive(driver, [CALM] * 5)
    driver.step(None, 15)
    driver.at(15, current=3, ready=3, queue=CALM)
    assert driver.at(15, current=3, ready=3, queue=BURST).replicas == 6


def test_other_signals_still_order_in_full() -> None:
    """The option limits the queue's proposal only: KV at 0.9 on 3 groups at target 0.5
    needs 5.4 groups, so 6 come anyway, driven by the KV cache."""
    driver = Driver(_policy(1, KV))
    for _ in range(5):
        driver.at(15, current=3, ready=3, queue=CALM, kv=[0.3] * 3)
    decision = driver.at(15, current=3, ready=3, queue=BURST, kv=[0.9] * 3)
    assert decision.replicas == 6
    assert decision.driver == "kvCacheUtilization"
    assert ReasonCode.ISOLATED_BURST in codes(decision)


def test_one_group_keeps_its_calm_stretch() -> None:
    """The calm stretch ends only at zero or without data (``decide``), not at one
    group: 4 waiting for 75 s (0.4 groups' worth), then 30 (3 groups' worth) is an
    isolated burst, limited to 1 + ``maxGroups`` 1 = 2 groups."""
    driver = Driver(_policy())
    for step in range(6):
        driver.at(0 if step == 0 else 15, current=1, ready=1, queue=[4.0])
    burst = driver.at(15, current=1, ready=1, queue=[30.0])
    assert burst.replicas == 2
    assert ReasonCode.ISOLATED_BURST in codes(burst)
