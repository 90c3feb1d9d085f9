"""Absurd metric values (a backend reporting a 1e30 queue) through the real loop and server:
the loop survives, every other LWS keeps its series, and the recommendation stays bounded.
Before the fix such a value raised in Quantity formatting, killed the loop thread and
failed /livez, so every HPA lost its values and the pod restarted forever."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from autoscaler.server import series as series_module
from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.series import QUEUE_DEPTH, RECOMMENDED_REPLICAS
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from tests.server.conftest import DEV, LLAMA, Start
from tests.server.helpers import FunctionSource, ManualClock, constant, write_policy

BASE = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference"
_QUANTITY = re.compile(r"^-?\d+(?:e\d+|[numkMGTPE]?)$")


def _values(body: dict[str, object]) -> dict[str, str]:
    items = body["items"]
    assert isinstance(items, list)
    return {i["metricLabels"]["leaderworkerset"]: i["value"] for i in items}


@pytest.mark.parametrize("queue", [1e25, 1e30, 1e300])
def test_huge_queue_keeps_the_loop_and_every_series(start_server: Start, queue: float) -> None:
    with start_server(disable_auth=True) as running:
        running.source.loads[LLAMA] = constant(queue)
        process = running.process
        process._cycles_driven_by_caller = False  # the real loop thread, as in production
        process.start_loop()
        with running.client() as http:
            deadline = time.monotonic() + 60
            while process.store.published_at is None:
                assert process._loop_thread.is_alive(), "the control loop died"
                assert time.monotonic() < deadline, "no cycle was published"
                time.sleep(0.05)
            assert http.get("/livez").status_code == 200
            assert process._loop_thread.is_alive()
            recommended = _values(http.get(f"{BASE}/{RECOMMENDED_REPLICAS}").json())
            queues = _values(http.get(f"{BASE}/{QUEUE_DEPTH}").json())
    # From 4 groups the default scale-up step (100%, at most 4 groups) allows 8, not 1e29;
    # dev-8b is decided as it would be without llama's absurd queue.
    assert recommended == {"llama-70b": "8", "dev-8b": "3"}
    assert queues["dev-8b"] == "1250m"
    # Clamped so that the HPA's int64 sum of MilliValue()s over the answer (both LWSes,
    # no selector) cannot wrap around to a negative total: (2^63-1) // 2 milli each.
    assert queues["llama-70b"] == "4611686018427387903m"
    assert all(_QUANTITY.match(v) for v in queues.values())


def _milli(quantity: str) -> int:
    assert quantity.endswith("m")
    return int(quantity[:-1])


@pytest.mark.parametrize("queue", [1e25, 1e300])
def test_huge_values_of_several_lwses_sum_within_the_hpas_int64(
    start_server: Start, queue: float
) -> None:
    """An HPA whose selector picks both LWSes sums their MilliValue()s in an int64; the
    controllers before the overflow cap (hpa-algorithm.md) wrap a sum past 2^63-1 to a
    negative usage, and scale down. Clamping each item to (2^63-1)/1000 alone allowed
    that: two items of 9223372036854775807m."""
    with start_server(disable_auth=True) as running:
        running.source.loads[LLAMA] = constant(queue)
        running.source.loads[DEV] = constant(queue)
        running.cycle()
        with running.client() as http:
            both = _values(http.get(f"{BASE}/{QUEUE_DEPTH}").json())
            one = _values(
                http.get(
                    f"{BASE}/{QUEUE_DEPTH}", params={"labelSelector": "leaderworkerset=dev-8b"}
                ).json()
            )
    assert set(both) == {"llama-70b", "dev-8b"}
    assert sum(_milli(v) for v in both.values()) <= 2**63 - 1
    assert one == {"dev-8b": both["dev-8b"]}
    assert _milli(both["dev-8b"]) == (2**63 - 1) // 2


def test_one_unpublishable_series_leaves_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = series_module.format_quantity  # type: ignore[attr-defined]

    def picky(value: float, places: int = 3) -> str:
        if value == 16.0:  # llama's queue per group: 64 waiting over 4 groups
            raise ArithmeticError("cannot render")
        return real(value, places)

    monkeypatch.setattr(series_module, "format_quantity", picky)
    telemetry = Telemetry()
    paths = [
        write_policy(tmp_path / "llama.yaml"),
        write_policy(tmp_path / "dev.yaml", name="dev-8b", target_per_group=10),
    ]
    watcher = PolicyWatcher(paths, telemetry)
    watcher.load_initial()
    source = FunctionSource({LLAMA: constant(64), DEV: constant(5)})
    clock = ManualClock()
    store = DecisionStore(max_age=45)
    loop = ControlLoop(source, watcher, store, telemetry, clock, 15.0)
    with caplog.at_level(logging.ERROR):
        loop.run_cycle(clock.now())
    assert "cannot publish lws_queue_depth_per_group=16.0 for inference/llama-70b" in caplog.text
    assert {s.lws for s in store.series("inference", QUEUE_DEPTH)} == {"dev-8b"}
    assert {s.lws for s in store.series("inference", RECOMMENDED_REPLICAS)} == {
        "llama-70b",
        "dev-8b",
    }
