"""Leader election over a ``coordination.k8s.io/v1`` Lease: one replica relabels.

No kube-apiserver can be installed here, so the real ``kubernetes`` client talks to the
wire-level fake in ``tests/support/fake_apiserver.py``. It creates and replaces objects
as the real server does (201, 409 ``AlreadyExists``, 409 ``Conflict`` at a stale
``resourceVersion``) and refuses Lease times that are not MicroTimes, as the real one.
Time is the test's: each ``leads(now)`` is one control-loop cycle at ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.server.leader import LeaderElector, LeaseRecord
from autoscaler.server.lease_kube import KubeLeaseStore
from tests.server.helpers import T0, LabelRecorder, draining_loop
from tests.sources.kube_objects import api_client
from tests.support.fake_apiserver import FakeApiServer, status

LEASE = "/apis/coordination.k8s.io/v1/namespaces/lws-autoscaler/leases/lws-autoscaler"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


class _Replica:
    """A LeaderElector whose monotonic clock the test sets: each ``leads(now)`` reads
    the Lease at ``read_at`` (default: ``now``, a cycle that runs on time)."""

    def __init__(self, store: KubeLeaseStore, identity: str, duration: int) -> None:
        self.read_at = 0.0
        self.elector = LeaderElector(store, identity, duration, monotonic=lambda: self.read_at)

    def leads(self, now: float, read_at: float | None = None) -> bool:
        self.read_at = now if read_at is None else read_at
        return self.elector.leads(now)

    def release(self, now: float) -> None:
        self.elector.release(now)


def _elector(api: FakeApiServer, identity: str, duration: int = 45) -> _Replica:
    store = KubeLeaseStore(api_client(api), "lws-autoscaler", "lws-autoscaler")
    return _Replica(store, identity, duration)


def _lease(api: FakeApiServer) -> Any:
    from kubernetes.client import CoordinationV1Api

    return CoordinationV1Api(api_client(api)).read_namespaced_lease(
        "lws-autoscaler", "lws-autoscaler"
    )


def test_one_replica_holds_the_lease_and_renews_it(api: FakeApiServer) -> None:
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    assert a.leads(T0)  # creates the Lease
    assert not b.leads(T0)
    first = _lease(api)
    assert first.spec.holder_identity == "server-a"
    assert first.spec.lease_duration_seconds == 45
    assert first.spec.lease_transitions == 0
    for tick in (T0 + 15, T0 + 30):
        assert a.leads(tick)
        assert not b.leads(tick)
    renewed = _lease(api)
    assert renewed.spec.acquire_time == first.spec.acquire_time
    assert (renewed.spec.renew_time - first.spec.renew_time).total_seconds() == 30
    # Real-shaped writes: a create, then replaces at the version read (optimistic).
    writes = [r for r in api.requests if r.method in ("POST", "PUT")]
    assert [r.method for r in writes] == ["POST", "PUT", "PUT"]
    assert all(r.json()["metadata"]["resourceVersion"] for r in writes[1:])


def test_the_other_replica_takes_over_one_lease_duration_after_the_last_renewal(
    api: FakeApiServer,
) -> None:
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    for tick in (T0, T0 + 15, T0 + 30):
        assert a.leads(tick)
        assert not b.leads(tick)
    # server-a stops at T0 + 31. server-b saw the lease change last at T0 + 30.
    assert not b.leads(T0 + 45)
    assert not b.leads(T0 + 60)
    assert b.leads(T0 + 75)  # 30 + 45: expired by its own observation
    taken = _lease(api)
    assert (taken.spec.holder_identity, taken.spec.lease_transitions) == ("server-b", 1)
    # server-a comes back: it reads server-b's name and stands down.
    assert not a.leads(T0 + 90)
    assert b.leads(T0 + 90)


def test_expiry_is_judged_on_the_observers_clock_not_the_written_times(
    api: FakeApiServer,
) -> None:
    # server-a's clock runs an hour behind: the renewTime it writes is an hour old to
    # server-b, which must still not take a lease that is being renewed.
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    for tick in (T0, T0 + 15, T0 + 30, T0 + 45, T0 + 60, T0 + 75):
        assert a.leads(tick - 3600)
        assert not b.leads(tick)


def test_a_late_cycle_does_not_take_a_lease_it_has_just_seen(api: FakeApiServer) -> None:
    # server-a renews on time, at ticks 0, 15, 30 and 45. server-b's first cycle
    # (tick 0) runs after a 50 s restore, at 51, and its next one (tick 45) right after
    # it. Judged by the ticks, the lease it first saw "at 0" would be 45 s old at tick
    # 45 and taken, with server-a holding it too; it was read 0 s before.
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    for tick in (T0, T0 + 15, T0 + 30, T0 + 45):
        assert a.leads(tick)
    assert not b.leads(T0, read_at=T0 + 51)
    assert not b.leads(T0 + 45, read_at=T0 + 51)
    assert a.leads(T0 + 60)
    assert _lease(api).spec.holder_identity == "server-a"


def test_a_released_lease_is_taken_at_once(api: FakeApiServer) -> None:
    b = _elector(api, "server-b")
    api.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "lws-autoscaler", "namespace": "lws-autoscaler"},
            "spec": {"holderIdentity": "", "leaseDurationSeconds": 45, "leaseTransitions": 4},
        }
    )
    assert b.leads(T0)
    assert _lease(api).spec.lease_transitions == 5


def test_a_write_that_loses_the_race_is_not_leadership(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    a = _elector(api, "server-a")
    plain = KubeLeaseStore(api_client(api), "lws-autoscaler", "lws-autoscaler")
    interfere_at: list[float] = []

    class Racing(KubeLeaseStore):
        """server-b's store: after its read, server-a gets to write first."""

        def get(self) -> LeaseRecord | None:
            record = plain.get()
            if interfere_at:
                assert a.leads(interfere_at[-1])
            return record

    clock = [T0]
    store = Racing(api_client(api), "lws-autoscaler", "lws-autoscaler")
    b = LeaderElector(store, "server-b", 45, monotonic=lambda: clock[-1])
    # Creating: both see no Lease; server-a's create lands first, server-b's is a 409.
    interfere_at.append(T0)
    assert not b.leads(T0)
    # Taking over: server-b saw server-a's lease unchanged since T0 + 10, so at T0 + 100
    # it is expired, but server-a renews between server-b's read and its write.
    interfere_at.clear()
    clock.append(T0 + 10)
    assert not b.leads(T0 + 10)
    interfere_at.append(T0 + 100)
    clock.append(T0 + 100)
    assert not b.leads(T0 + 100)  # its replace at the old resourceVersion: 409
    assert _lease(api).spec.holder_identity == "server-a"
    writes = [
        (r.method, r.json()["spec"]["holderIdentity"])
        for r in api.requests
        if r.method in ("POST", "PUT")
    ]
    assert writes == [
        ("POST", "server-a"),
        ("POST", "server-b"),
        ("PUT", "server-a"),
        ("PUT", "server-b"),
    ]
    # A 409 is the race lost, an expected answer: not a failure to warn about.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_unreachable_api_means_no_leadership_and_no_crash(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    a = _elector(api, "server-a")
    assert a.leads(T0)
    api.on_get(LEASE, lambda _b, _r: (500, status(500, "InternalError", "etcd timeout")))
    with caplog.at_level(logging.INFO):
        assert not a.leads(T0 + 15)
    assert "cannot read or write the lease" in caplog.text
    assert "no longer holds the lease" in caplog.text


def test_times_are_written_as_micro_times(api: FakeApiServer) -> None:
    # A whole second: Python's isoformat() would drop the fraction, and the real API
    # server (like the fake) refuses "2026-01-01T00:00:00+00:00" for a MicroTime.
    assert _elector(api, "server-a").leads(float(int(T0)))
    body = next(r.json() for r in api.requests if r.method == "POST")
    assert body["spec"]["renewTime"].endswith(".000000Z")


@pytest.mark.parametrize(
    ("identity", "duration", "message"),
    [("", 45, "non-empty identity"), ("a", 0, "at least 1s")],
)
def test_bad_settings_are_refused(
    api: FakeApiServer, identity: str, duration: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _elector(api, identity, duration)


def test_only_the_holder_relabels_in_the_control_loop(api: FakeApiServer, tmp_path: Path) -> None:
    # Two replicas, each draining group 3 of four (see draining_loop).
    a_calls, b_calls = LabelRecorder(), LabelRecorder()
    a = draining_loop(tmp_path, a_calls, _elector(api, "server-a"))
    b = draining_loop(tmp_path, b_calls, _elector(api, "server-b"))  # the same policy
    for tick in (T0, T0 + 15):
        assert a.run_cycle(tick)[0].draining == ("llama-70b-3",)
        assert b.run_cycle(tick)[0].draining == ("llama-70b-3",)  # decides all the same
    assert set(a_calls.calls) == {("inference", "llama-70b-3", False)}
    assert b_calls.calls == []
    # server-a stops; server-b takes over once the lease has lapsed, and relabels.
    b.run_cycle(T0 + 45)
    assert b_calls.calls == []
    b.run_cycle(T0 + 60)
    assert b_calls.calls == [("inference", "llama-70b-3", False)]


def test_a_stopping_holder_releases_the_lease_for_the_next_cycle(
    api: FakeApiServer, tmp_path: Path
) -> None:
    import threading

    a_calls = LabelRecorder()
    a = draining_loop(tmp_path, a_calls, _elector(api, "server-a"))
    b = _elector(api, "server-b")
    # One cycle, then the wait between cycles reports a stop (SIGTERM).
    a.run(threading.Event(), wait=lambda _seconds: True)
    assert a_calls.calls == [("inference", "llama-70b-3", False)]
    released = _lease(api)
    assert released.spec.holder_identity in (None, "")
    assert b.leads(T0 + 15)  # at once, not 45 s after server-a's last renewal
    assert _lease(api).spec.lease_transitions == 1


def test_release_is_a_no_op_for_a_replica_that_does_not_hold(api: FakeApiServer) -> None:
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    assert a.leads(T0)
    assert not b.leads(T0)
    b.release(T0 + 1)
    assert _lease(api).spec.holder_identity == "server-a"
    assert not [r for r in api.requests if r.method == "PUT"]


def test_a_replica_that_lost_the_lease_does_not_release_the_new_holders(
    api: FakeApiServer,
) -> None:
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    assert a.leads(T0)
    assert not b.leads(T0)
    assert b.leads(T0 + 45)  # server-a stopped renewing (a partition, a stall)
    a.release(T0 + 50)  # server-a still believes it leads, and shuts down
    assert _lease(api).spec.holder_identity == "server-b"


def test_a_holder_whose_last_renewal_failed_still_releases(api: FakeApiServer) -> None:
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    assert a.leads(T0)
    failing = lambda _b, _r: (500, status(500, "InternalError", "etcd timeout"))  # noqa: E731
    api.on_get(LEASE, failing)
    assert not a.leads(T0 + 15)
    api.remove_route("GET", LEASE)  # the API is back, in time for the shutdown
    a.release(T0 + 20)
    assert b.leads(T0 + 30)  # at once: released, not lapsed


def test_each_change_of_leadership_is_logged_once(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = _elector(api, "server-a"), _elector(api, "server-b")
    with caplog.at_level(logging.INFO, logger="autoscaler.server.leader"):
        for tick in (T0, T0 + 15, T0 + 30):  # renewals are not news
            assert a.leads(tick)
            assert not b.leads(tick)  # nor is not leading from the start
        assert b.leads(T0 + 75)
        assert not a.leads(T0 + 90)
        a.release(T0 + 91)  # not the holder: nothing to release, nothing said
        b.release(T0 + 92)
        assert b.leads(T0 + 105)  # released, then taken again (a fresh start)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "leader election: server-a now holds the lease",
        "leader election: server-b now holds the lease",
        "leader election: server-a no longer holds the lease",
        "leader election: server-b released the lease",
        "leader election: server-b now holds the lease",
    ]


def test_a_release_that_loses_the_race_is_not_logged_as_done(
    api: FakeApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    plain = KubeLeaseStore(api_client(api), "lws-autoscaler", "lws-autoscaler")

    class Racing(KubeLeaseStore):
        """After server-a's read, another write bumps the Lease's resourceVersion."""

        def get(self) -> LeaseRecord | None:
            record = plain.get()
            assert record is not None
            assert plain.update(record)
            return record

    assert _elector(api, "server-a").leads(T0)
    a = _Replica(Racing(api_client(api), "lws-autoscaler", "lws-autoscaler"), "server-a", 45)
    with caplog.at_level(logging.INFO, logger="autoscaler.server.leader"):
        a.release(T0 + 5)  # its replace at the version it read: 409
    assert "released the lease" not in caplog.text
    assert _lease(api).spec.holder_identity == "server-a"


def test_a_lease_of_one_second_is_the_shortest(api: FakeApiServer) -> None:
    assert _elector(api, "a", 1).elector.duration == 1


def test_the_store_reads_each_field_of_the_lease_and_none_for_an_empty_spec(
    api: FakeApiServer,
) -> None:
    store = KubeLeaseStore(api_client(api), "lws-autoscaler", "lws-autoscaler")
    assert store.get() is None  # no Lease yet
    api.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "lws-autoscaler", "namespace": "lws-autoscaler"},
            "spec": {
                "holderIdentity": "server-a",
                "leaseDurationSeconds": 45,
                "acquireTime": "2026-01-01T00:00:00.000000Z",
                "renewTime": "2026-01-01T00:00:30.500000Z",
                "leaseTransitions": 3,
            },
        }
    )
    record = store.get()
    assert record is not None
    assert (record.holder, record.duration_seconds, record.transitions) == ("server-a", 45, 3)
    assert record.acquire_time is not None
    assert record.renew_time is not None
    assert (record.renew_time - record.acquire_time).total_seconds() == 30.5
    assert record.resource_version == _lease(api).metadata.resource_version
    api.put(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "lws-autoscaler", "namespace": "lws-autoscaler"},
            "spec": {},
        }
    )
    empty = store.get()
    assert empty is not None
    assert (empty.holder, empty.duration_seconds, empty.transitions) == ("", 0, 0)
    assert (empty.acquire_time, empty.renew_time) == (None, None)
