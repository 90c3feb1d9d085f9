"""``TtlCache``: the bounded, expiring cache of TokenReview/SubjectAccessReview answers,
on a manual clock."""

from __future__ import annotations

from autoscaler.server.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_exactly_its_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, bool] = TtlCache(clock)
    cache.put("alice", True, ttl=10.0)
    clock.now += 9.999
    assert cache.get("alice") is True
    clock.now += 0.001  # at 10 s it has expired, and is dropped
    assert cache.get("alice") is None
    assert len(cache) == 0


def test_no_ttl_stores_nothing() -> None:
    cache: TtlCache[str, bool] = TtlCache(Clock())
    cache.put("alice", True, ttl=0.0)
    cache.put("bob", False, ttl=-1.0)
    assert len(cache) == 0
    assert cache.get("alice") is None
    # Any positive TTL stores, a sub-second one too (a review's TTL is not whole seconds).
    cache.put("carol", True, ttl=0.5)
    assert cache.get("carol") is True


def test_the_oldest_insertion_goes_first_at_the_bound() -> None:
    """Memory stays bounded however many distinct tokens arrive: 3 entries at most."""
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(clock, max_entries=3)
    for number, key in enumerate("abcd"):
        cache.put(key, number, ttl=60.0)
    assert len(cache) == 3
    assert [cache.get(k) for k in "abcd"] == [None, 1, 2, 3]
    # Putting "b" again makes it the newest: "c" is the next to go.
    cache.put("b", 10, ttl=60.0)
    cache.put("e", 4, ttl=60.0)
    assert [cache.get(k) for k in "bcde"] == [10, None, 3, 4]


def test_a_put_again_restarts_the_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, bool] = TtlCache(clock)
    cache.put("alice", True, ttl=10.0)
    clock.now += 8.0
    cache.put("alice", False, ttl=10.0)
    clock.now += 8.0
    assert cache.get("alice") is False
