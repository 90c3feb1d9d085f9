"""``autoscaler.snapshot``: finding a group's leader under the keys sources use."""

from __future__ import annotations

import pytest

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample, group_index, group_leader

KEY = LwsKey("inference", "llama-70b")
WAITING = {Signal.QUEUE_DEPTH: Sample(4.0, 100.0)}


def _snapshot(leaders: dict[str, dict[Signal, Sample]]) -> LwsSnapshot:
    return LwsSnapshot(KEY, 100.0, 3, 3, 3, (), leaders, {})


@pytest.mark.parametrize(
    ("leaders", "index", "found"),
    [
        ({"2": WAITING}, 2, True),  # recordings and the simulators key by index
        ({"llama-70b-2": WAITING}, 2, True),  # Prometheus and scrapes by pod name
        ({"llama-70b-1": WAITING, "1": WAITING}, 2, False),  # another group's leader
        ({"llama-70b-2-1": WAITING}, 2, False),  # a worker pod is not the leader
        ({}, 0, False),
    ],
)
def test_group_leader_reads_either_key(
    leaders: dict[str, dict[Signal, Sample]], index: int, found: bool
) -> None:
    samples = group_leader(_snapshot(leaders), index)
    assert dict(samples) == (WAITING if found else {})


@pytest.mark.parametrize(
    ("leader", "index"),
    [("3", 3), ("llama-70b-3", 3), ("llama-70b-3-1", None), ("other-3", None)],
)
def test_group_index_inverts_the_leader_keys(leader: str, index: int | None) -> None:
    assert group_index(leader, KEY.name) == index


@pytest.mark.parametrize(
    "text",
    ["inference", "inference/", "/llama-70b", "inference/llama/70b", "", "/"],
    ids=["no-slash", "no-name", "no-namespace", "two-slashes", "empty", "slash-only"],
)
def test_lws_key_parse_refuses_anything_but_namespace_slash_name(text: str) -> None:
    with pytest.raises(ValueError, match="expected NAMESPACE/NAME"):
        LwsKey.parse(text)


def test_lws_key_parse_round_trips_and_keys_sort_by_namespace_then_name() -> None:
    """``explain --lws`` parses the key; ``/debug/decisions`` lists decisions in key order."""
    assert LwsKey.parse("inference/llama-70b") == KEY
    assert LwsKey.parse(str(KEY)) == KEY
    keys = [LwsKey("b", "a"), LwsKey("a", "z"), LwsKey("a", "b")]
    assert sorted(keys) == [LwsKey("a", "b"), LwsKey("a", "z"), LwsKey("b", "a")]
    assert {KEY: 1}[LwsKey("inference", "llama-70b")] == 1  # a mapping key, by value
