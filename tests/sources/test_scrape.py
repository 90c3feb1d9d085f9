"""The direct-scrape source over real HTTP against the test exporter (the same pages the
Prometheus tests scrape). Pod discovery goes through the Kubernetes API, answered by the
wire-level fake API server (``tests/support/fake_apiserver.py``) with real-shaped LWS
and Pod objects whose pod IPs are loopback addresses of one-pod exporters."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from autoscaler.errors import SourceUnavailableError
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import SourceResult
from autoscaler.sources.cluster import LwsState, StaticClusterReader
from autoscaler.sources.kube import KubernetesClusterReader
from autoscaler.sources.scrape import DirectScrapeSource
from tests.sources.factories import only, target, values
from tests.sources.kube_objects import api_client, lws_object, pod_object
from tests.support.exporter import FakeLeader, MetricsExporter, expected_quantile
from tests.support.fake_apiserver import FakeApiServer, status
from tests.support.raw_server import RawServer

KEY = LwsKey("inference", "llama")
T0 = 1_800_000_000.0


@pytest.fixture
def exporter() -> Iterator[MetricsExporter]:
    leaders = [
        FakeLeader(
            "inference",
            "llama",
            "llama-0",
            waiting=6,
            kv=0.4,
            data_parallel=2,
            prompt_rate=300,
            generation_rate=100,
            ttft_rate=10,
            ttft_median=0.5,
            queue_rate=8,
            queue_median=0.3,
            since=T0,
        ),
        FakeLeader(
            "inference",
            "llama",
            "llama-1",
            waiting=1,
            kv=0.8,
            prompt_rate=100,
            generation_rate=50,
            ttft_rate=30,
            ttft_median=1.0,
            queue_rate=4,
            queue_median=2.0,
            since=T0,
        ),
        FakeLeader(
            "inference",
            "sg",
            "sg-0",
            engine="sglang",
            waiting=7,
            tensor_parallel=2,
            prompt_rate=50,
            since=T0,
        ),
    ]
    with MetricsExporter(leaders) as running:
        yield running


def frozen_at(exporter: MetricsExporter, at: float) -> None:
    """Pin every leader's clock, so counters are exact functions of the test's ``now``."""
    for leader in exporter.leaders.values():
        leader.frozen_at = at


def source_for(exporter: MetricsExporter, *pods: str) -> DirectScrapeSource:
    """A source whose pages are read at the leaders' pinned time (``frozen_at``), the
    time their counters were computed for: the real clock moves a few ms between the
    fetches of a test, the counters 10-15 s."""
    endpoints: dict[LwsKey, dict[str, str]] = {}
    for (namespace, pod), leader in exporter.leaders.items():
        if not pods or pod in pods:
            endpoints.setdefault(LwsKey(namespace, leader.lws), {})[pod] = exporter.url(leader)

    def pinned() -> float:
        at = next(iter(exporter.leaders.values())).frozen_at
        return time.monotonic() if at is None else at

    return DirectScrapeSource(endpoints=endpoints, timeout=2, clock=pinned)


def test_rates_and_quantile_from_successive_scrapes(exporter: MetricsExporter) -> None:
    source = source_for(exporter)
    tgt = [
        target("inference", "llama", window=30.0, queue_wait=0.9),
        target("inference", "sg", engine="sglang", window=30.0),
    ]
    frozen_at(exporter, T0 + 100)
    first = source.fetch(tgt, T0 + 100)
    # One scrape: gauges, but no rate or quantile yet (missing, never zero).
    assert values(only(first, "inference", "llama"))["llama-0"] == {
        "queueDepth": 6,
        "runningRequests": 0,
        "kvCacheUtilization": 0.4,
    }
    assert only(first, "inference", "llama").aggregates == {}
    frozen_at(exporter, T0 + 115)
    second = source.fetch(tgt, T0 + 115)
    llama = only(second, "inference", "llama")
    assert values(llama)["llama-0"]["promptTokensPerSecond"] == pytest.approx(300)
    assert values(llama)["llama-1"]["generationTokensPerSecond"] == pytest.approx(50)
    assert llama.leaders["llama-0"][Signal.PROMPT_TOKENS].timestamp == T0 + 115
    leaders = [exporter.leaders[("inference", p)] for p in ("llama-0", "llama-1")]
    assert llama.aggregates[Signal.TTFT].value == pytest.approx(expected_quantile(0.9, leaders))
    queue_wait = expected_quantile(0.9, leaders, Signal.QUEUE_WAIT)
    assert llama.aggregates[Signal.QUEUE_WAIT].value == pytest.approx(queue_wait)
    assert llama.aggregates[Signal.QUEUE_WAIT].timestamp == T0 + 115
    sg = values(only(second, "inference", "sg"))["sg-0"]
    assert sg["queueDepth"] == 7
    assert sg["promptTokensPerSecond"] == pytest.approx(50)
    source.close()


def test_readings_are_kept_twice_the_longest_rate_window(exporter: MetricsExporter) -> None:
    """A 300 s rate window with scrapes 200 s apart: the first reading must still be
    held at the second (kept 2 x 300 = 600 s) for a rate to exist. Kept 2 x 60 s, or
    half the window, it was gone, and the signal with it."""
    source = source_for(exporter, "llama-0")
    tgt = [target("inference", "llama", window=300.0)]
    for at in (T0 + 100, T0 + 300):
        frozen_at(exporter, at)
        snap = only(source.fetch(tgt, at), "inference", "llama")
    assert values(snap)["llama-0"]["promptTokensPerSecond"] == pytest.approx(300)
    source.close()


def test_counter_reset_and_window(exporter: MetricsExporter) -> None:
    source = source_for(exporter, "llama-1")
    tgt = [target("inference", "llama", window=30.0)]
    leader = exporter.leaders[("inference", "llama-1")]
    for at in (T0 + 100, T0 + 110):
        frozen_at(exporter, at)
        source.fetch(tgt, at)
    leader.reset(at=T0 + 112)  # the pod restarted: 100 tokens/s from zero again
    frozen_at(exporter, T0 + 120)
    snap = only(source.fetch(tgt, T0 + 120), "inference", "llama")
    # Increases: 1000 (100..110) + 800 (reset: the new value) over 20 s = 90/s, not negative.
    assert values(snap)["llama-1"]["promptTokensPerSecond"] == pytest.approx(1800 / 20)
    frozen_at(exporter, T0 + 200)
    later = only(source.fetch(tgt, T0 + 200), "inference", "llama")
    assert "promptTokensPerSecond" not in values(later)["llama-1"]  # one reading in 30 s
    source.close()


def test_a_clock_stepping_back_restarts_the_history_instead_of_a_wild_rate(
    exporter: MetricsExporter,
) -> None:
    source = source_for(exporter, "llama-1")  # 100 prompt tokens/s
    tgt = [target("inference", "llama", window=120.0)]
    for at in (T0 + 100, T0 + 115, T0 + 130):
        frozen_at(exporter, at)
        source.fetch(tgt, at)
    # The wall clock steps back 60 s; the pod's counter keeps growing at 100/s. Mixed
    # with the readings "after" it, the rate read 500/s, then 300/s.
    frozen_at(exporter, T0 + 145)
    stepped = only(source.fetch(tgt, T0 + 85), "inference", "llama")
    assert "promptTokensPerSecond" not in values(stepped)["llama-1"]  # one reading: no rate
    frozen_at(exporter, T0 + 160)
    after = only(source.fetch(tgt, T0 + 100), "inference", "llama")
    assert values(after)["llama-1"]["promptTokensPerSecond"] == pytest.approx(100)
    source.close()


def test_a_rate_divides_by_the_time_between_pages_not_between_ticks(
    exporter: MetricsExporter,
) -> None:
    # llama-1 makes 100 prompt tokens/s. The loop ticks every 15 s, but the second
    # fetch's pages come 3 s late (a slow cluster read before them). With a 15 s window
    # each rate spans two readings: over the ticks it read 1,800 / 15 = 120, then
    # 1,200 / 15 = 80; over the pages, 1,800 / 18 and 1,200 / 12, 100 both times.
    source = source_for(exporter, "llama-1")
    tgt = [target("inference", "llama", window=15.0)]
    rates = []
    for tick, read in ((T0 + 100, T0 + 100), (T0 + 115, T0 + 118), (T0 + 130, T0 + 130)):
        frozen_at(exporter, read)
        snap = only(source.fetch(tgt, tick), "inference", "llama")
        rates.append(values(snap)["llama-1"].get("promptTokensPerSecond"))
        assert snap.leaders["llama-1"][Signal.QUEUE_DEPTH].timestamp == tick
    assert rates == [None, pytest.approx(100), pytest.approx(100)]
    source.close()


def test_failed_scrape_ages_into_stale_and_all_failed_is_an_error(
    exporter: MetricsExporter,
) -> None:
    source = source_for(exporter, "llama-0", "llama-1")
    tgt = [target("inference", "llama")]
    frozen_at(exporter, T0 + 100)
    source.fetch(tgt, T0 + 100)
    exporter.leaders[("inference", "llama-1")].present = False
    snap = only(source.fetch(tgt, T0 + 130), "inference", "llama")
    # llama-1 keeps its last reading, timestamped when it was taken: the engine sees it stale.
    assert snap.leaders["llama-1"][Signal.QUEUE_DEPTH].timestamp == T0 + 100
    assert snap.leaders["llama-0"][Signal.QUEUE_DEPTH].timestamp == T0 + 130
    exporter.leaders[("inference", "llama-0")].present = False
    with pytest.raises(SourceUnavailableError, match="all 2 leader scrapes failed"):
        source.fetch(tgt, T0 + 140)
    source.close()


def test_unreachable_pod_times_out_quickly() -> None:
    source = DirectScrapeSource(
        endpoints={KEY: {"llama-0": "http://127.0.0.1:9/metrics"}}, timeout=1
    )
    started = time.monotonic()
    with pytest.raises(
        SourceUnavailableError, match=r"scrape of http://127\.0\.0\.1:9/metrics failed"
    ):
        source.fetch([target("inference", "llama")], T0)
    assert time.monotonic() - started < 5
    source.close()


def test_discovers_leaders_through_the_api_and_follows_groups_coming_and_going() -> None:
    """Every leader on 127.0.0.1, each on its own port, which its pod names ``http`` (as
    the chart's PodMonitor expects); the policy scrapes the port by that name. The API
    is the wire-level fake with real Pod and LeaderWorkerSet shapes."""
    leaders = [
        FakeLeader("inference", "llama", f"llama-{i}", waiting=i + 1, prompt_rate=10, since=T0)
        for i in range(3)
    ]
    exporters = [MetricsExporter([lead]).start() for lead in leaders]
    try:
        with FakeApiServer() as api:
            api.put(lws_object("inference", "llama", replicas=2, status=2, ready=2, size=1))
            for i in range(2):
                api.put(_leader_on(exporters[i], "llama", i))
            source = DirectScrapeSource(KubernetesClusterReader(api_client(api)), timeout=2)
            tgt = [target("inference", "llama", scrape={"port": "http"})]
            snap = only(source.fetch(tgt, T0), "inference", "llama")
            assert {p: v["queueDepth"] for p, v in values(snap).items()} == {
                "llama-0": 1,
                "llama-1": 2,
            }
            assert snap.spec_replicas == 2
            assert len(snap.groups) == 2
            # A third group appears, then the first one goes away.
            api.put(lws_object("inference", "llama", replicas=3, status=3, ready=3, size=1))
            api.put(_leader_on(exporters[2], "llama", 2))
            snap = only(source.fetch(tgt, T0 + 15), "inference", "llama")
            assert set(snap.leaders) == {"llama-0", "llama-1", "llama-2"}
            api.delete("v1", "Pod", "inference", "llama-0")
            snap = only(source.fetch(tgt, T0 + 30), "inference", "llama")
            assert set(snap.leaders) == {"llama-1", "llama-2"}
            source.close()
    finally:
        for exporter in exporters:
            exporter.stop()


def _leader_on(exporter: MetricsExporter, lws: str, group: int) -> dict[str, object]:
    """The leader pod of ``group`` at 127.0.0.1, its container port ``http`` the
    exporter's."""
    return pod_object(
        "inference", lws, group, 0, ip="127.0.0.1", size=1, ports={"http": exporter.port}
    )


PAGE = b'vllm:num_requests_waiting{engine="0"} 3\n' * 40  # 1,640 bytes


class _BadPod(RawServer):
    """A leader on 127.0.0.1 that misbehaves: ``drip`` sends its page 100 bytes every
    0.5 s (each wait shorter than the read timeout), ``hang`` never answers, ``huge``
    sends a 64 KiB chunked page (40 times ``PAGE``) with no Content-Length,
    ``slow-headers`` sends its status line a byte every 0.2 s until closed (no read ever
    times out: only the bound on the whole head cuts it),
    ``redirect`` answers 302 to ``location``, ``slow-page`` sends its page 10 bytes
    every 1.4 s."""

    location = ""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        super().__init__(None if mode == "hang" else self._answer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            if self.mode == "slow-headers":
                while self.running:
                    conn.sendall(b"H")
                    time.sleep(0.2)
                return
            if self.mode == "redirect":
                found = f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\n".encode()
                conn.sendall(found + b"Content-Length: 0\r\n\r\n")
                return
            if self.mode == "slow-page":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAGE))
                for i in range(0, len(PAGE), 10):
                    if not self.running:
                        return
                    conn.sendall(PAGE[i : i + 10])
                    time.sleep(1.4)
                return
            if self.mode == "drip":
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAGE)
                conn.sendall(head)
                for i in range(0, len(PAGE), 100):
                    if not self.running:
                        return
                    conn.sendall(PAGE[i : i + 100])
                    time.sleep(0.5)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(40):
                    conn.sendall(b"%x\r\n%s\r\n" % (len(PAGE), PAGE))
                conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass


@pytest.mark.parametrize("mode", ["drip", "hang"])
def test_one_deadline_per_fetch_whatever_the_pods_do(
    exporter: MetricsExporter, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A pod that trickles its page (never idle for a read timeout) or never answers
    costs the fetch its deadline at most, and fails that pod only."""
    bad = [_BadPod(mode) for _ in range(7)]
    good = exporter.leaders[("inference", "llama-0")]
    endpoints = {KEY: {"llama-0": exporter.url(good)}}
    endpoints[KEY].update({f"llama-{i + 1}": pod.url for i, pod in enumerate(bad)})
    # The deadline defaults to twice the timeout. Without it: 4 waves of 2 scrapes of
    # 1.5 s each (hang), or 8 s of trickle per page (drip). 1.5 s, not less: the good
    # pod's scrape has the same timeout, and a loaded machine must not fail it.
    source = DirectScrapeSource(endpoints=endpoints, timeout=1.5, concurrency=2)
    try:
        started = time.monotonic()
        snap = only(source.fetch([target("inference", "llama")], T0), "inference", "llama")
        # The 3 s deadline; without it 6 s (hang) or 8 s (drip).
        assert time.monotonic() - started < 4.6
        assert set(snap.leaders) == {"llama-0"}  # the others failed their scrapes
        assert values(snap)["llama-0"]["queueDepth"] == 6
        if mode == "drip":  # cut by the deadline it had, not by a read timeout
            (warning,) = [r.getMessage() for r in caplog.records if "scrapes failed" in r.message]
            assert "did not finish within the fetch's 3s" in warning
        source.close()
    finally:
        for pod in bad:
            pod.close()


def test_a_pod_too_slow_to_cut_holds_one_thread_not_the_pool(
    exporter: MetricsExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """A scrape can outlive its fetch's deadline by up to one read: a page in pieces
    1.4 s apart, each read allowed 2 s (the deadline's), is still being read at 2.8 s.
    Submitted again by the next fetch, at 2 s, it took a second thread, and one more
    each cycle, until none was left for the healthy pods and every LWS went blind.
    (With pieces 0.9 s apart and a 1 s deadline, a loaded machine let a wait for a
    piece run past the 1 s read timeout: a read timeout, not a scrape outliving.)"""
    slow = _BadPod("slow-page")
    good = exporter.leaders[("inference", "llama-0")]
    endpoints = {KEY: {"llama-0": exporter.url(good), "llama-1": slow.url}}
    source = DirectScrapeSource(endpoints=endpoints, timeout=3, deadline=2, concurrency=2)
    try:
        for cycle in range(2):
            snap = only(source.fetch([target("inference", "llama")], T0), "inference", "llama")
            assert set(snap.leaders) == {"llama-0"}, cycle
        warnings = [r.getMessage() for r in caplog.records if "leader scrapes failed" in r.message]
        assert len(warnings) == 2
        assert "did not finish within the fetch's 2s" in warnings[0]
        assert "previous scrape is still running" in warnings[1]
    finally:
        slow.close()
        source.close()


def test_a_pod_dribbling_its_headers_is_cut_at_the_timeout(
    exporter: MetricsExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """Its status line comes a byte every 0.2 s, so no read waits the 1.5 s timeout:
    before the head was bounded in total, its thread ran until the pod stopped (and
    the next fetches said "previous scrape is still running")."""
    slow = _BadPod("slow-headers")
    good = exporter.leaders[("inference", "llama-0")]
    endpoints = {KEY: {"llama-0": exporter.url(good), "llama-1": slow.url}}
    # 1.5 s, not less: the good pod's scrape has the same timeout.
    source = DirectScrapeSource(endpoints=endpoints, timeout=1.5, concurrency=2)
    try:
        for cycle in range(3):
            snap = only(source.fetch([target("inference", "llama")], T0), "inference", "llama")
            assert set(snap.leaders) == {"llama-0"}, cycle
            time.sleep(0.3)  # the head was cut at 1.5 s, inside the 3 s fetch deadline
        warnings = [r.getMessage() for r in caplog.records if "leader scrapes failed" in r.message]
        assert len(warnings) == 3
        assert all("Read timed out" in w for w in warnings)
        assert not any("still running" in w for w in warnings)
    finally:
        slow.close()
        source.close()


def test_a_redirect_is_a_failed_scrape_not_followed(exporter: MetricsExporter) -> None:
    # Followed, each hop got a fresh timeout (up to 30 of them) on the fetch's thread.
    redirect = _BadPod("redirect")
    good = exporter.leaders[("inference", "llama-0")]
    redirect.location = exporter.url(good)
    endpoints = {KEY: {"llama-0": exporter.url(good), "llama-1": redirect.url}}
    source = DirectScrapeSource(endpoints=endpoints, timeout=2)
    try:
        snap = only(source.fetch([target("inference", "llama")], T0), "inference", "llama")
        assert set(snap.leaders) == {"llama-0"}
    finally:
        redirect.close()
        source.close()


@pytest.mark.parametrize(("failing", "tail"), [(4, "; and 1 more"), (3, "")], ids=["4", "3"])
def test_the_warning_names_three_failed_pods_and_counts_the_rest(
    exporter: MetricsExporter, caplog: pytest.LogCaptureFixture, failing: int, tail: str
) -> None:
    """One warning a fetch, its length bounded: with 4 of 5 scrapes failing, three pods
    are named and the fourth is counted (a fleet of failing leaders stays one line);
    with 3 of 4, all three are named and nothing is counted."""
    bad = [_BadPod("redirect") for _ in range(failing)]
    good = exporter.leaders[("inference", "llama-0")]
    pods = {"llama-0": exporter.url(good)} | {f"llama-{i + 1}": p.url for i, p in enumerate(bad)}
    for pod in bad:
        pod.location = exporter.url(good)
    source = DirectScrapeSource(endpoints={KEY: pods}, timeout=2)
    try:
        snap = only(source.fetch([target("inference", "llama")], T0), "inference", "llama")
        assert set(snap.leaders) == {"llama-0"}
        (warning,) = [r.getMessage() for r in caplog.records if "scrapes failed" in r.message]
        assert warning.startswith(f"{failing} of {failing + 1} leader scrapes failed: ")
        assert warning.endswith(tail)
        assert warning.count("more") == (1 if tail else 0)
        assert sum(pod.url in warning for pod in bad) == 3  # each failure names its URL
    finally:
        for pod in bad:
            pod.close()
        source.close()


def test_a_page_over_the_size_cap_is_a_failed_scrape(exporter: MetricsExporter) -> None:
    huge = _BadPod("huge")
    good = exporter.leaders[("inference", "llama-0")]
    endpoints = {KEY: {"llama-0": exporter.url(good), "llama-1": huge.url}}
    source = DirectScrapeSource(endpoints=endpoints, timeout=2, max_body_bytes=32 * 1024)
    try:
        snap = only(source.fetch([target("inference", "llama")], T0), "inference", "llama")
        assert set(snap.leaders) == {"llama-0"}
        capped = DirectScrapeSource(
            endpoints={KEY: {"llama-1": huge.url}}, timeout=2, max_body_bytes=32 * 1024
        )
        try:
            with pytest.raises(SourceUnavailableError, match="over the 32768-byte cap"):
                capped.fetch([target("inference", "llama")], T0)
        finally:
            capped.close()
        # Under the cap, the same chunked page is read whole (the engine's last value wins).
        whole = DirectScrapeSource(endpoints={KEY: {"llama-1": huge.url}}, timeout=2)
        try:
            page = only(whole.fetch([target("inference", "llama")], T0), "inference", "llama")
            assert values(page)["llama-1"]["queueDepth"] == 3
        finally:
            whole.close()
    finally:
        source.close()
        huge.close()


ACTIVATION = "sum(rate(gateway_requests_total{service=$name}[1m]))"


def test_activation_policies_are_errors_so_the_engine_holds(exporter: MetricsExporter) -> None:
    """The scrape source cannot run an activation query (PromQL). At zero nothing would
    ever wake the LWS, so a policy with one gets an error, never a snapshot."""
    parked = LwsKey("inference", "parked")
    cluster = StaticClusterReader({parked: LwsState(parked, 0, 0, 0)})
    at_zero = DirectScrapeSource(cluster)
    result = at_zero.fetch([target("inference", "parked", activation=ACTIVATION)], T0)
    assert parked not in result.snapshots
    assert "scaleToZero.activation is a PromQL query" in result.errors[parked]
    assert "--source prometheus" in result.errors[parked]
    # Serving, too (the engine would otherwise take it to zero, and it would stay there);
    # the other targets are served as usual.
    source = source_for(exporter)
    result = source.fetch(
        [
            target("inference", "llama", activation=ACTIVATION),
            target("inference", "sg", engine="sglang"),
        ],
        T0,
    )
    assert set(result.snapshots) == {LwsKey("inference", "sg")}
    assert "scaleToZero.activation" in result.errors[KEY]
    source.close()


def test_a_policy_with_overrides_is_an_error_not_silently_other_numbers(
    exporter: MetricsExporter,
) -> None:
    # An override is PromQL; dropped, the policy scaled on the default queue instead of
    # the one it states (waiting + swapped, say).
    source = source_for(exporter)
    swapped = "sum by ($by) (vllm:num_requests_waiting{$selector}) * 2"
    result = source.fetch(
        [
            target("inference", "llama", overrides={"queueDepth": swapped}),
            target("inference", "sg", engine="sglang"),
        ],
        T0,
    )
    assert set(result.snapshots) == {LwsKey("inference", "sg")}
    assert "metrics.overrides (queueDepth)" in result.errors[KEY]
    assert "--source prometheus" in result.errors[KEY]
    source.close()


def test_a_forbidden_namespace_fails_only_its_targets() -> None:
    leader = FakeLeader("inference", "llama", "llama-0", waiting=4, since=T0)
    with MetricsExporter([leader]) as pod, FakeApiServer() as api:
        api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1, size=1))
        api.put(_leader_on(pod, "llama", 0))
        api.on_get(
            "/apis/leaderworkerset.x-k8s.io/v1/namespaces/team-b/leaderworkersets",
            lambda _b, _r: (403, status(403, "Forbidden", "leaderworkersets is forbidden")),
        )
        source = DirectScrapeSource(KubernetesClusterReader(api_client(api), timeout=2), timeout=2)
        where = {"port": pod.port}
        result = source.fetch(
            [target("inference", "llama", scrape=where), target("team-b", "chat", scrape=where)], T0
        )
        assert values(only(result, "inference", "llama")) == {
            "llama-0": {"queueDepth": 4, "runningRequests": 0, "kvCacheUtilization": 0}
        }
        assert "403 leaderworkersets is forbidden" in result.errors[LwsKey("team-b", "chat")]
        source.close()


def test_a_namespace_unread_for_a_cycle_keeps_its_pods_readings() -> None:
    """The API refuses the namespace at T0 + 115 (another namespace still read, or the
    whole read fails): its pods are not known to be gone, so their readings stay, and at
    T0 + 130 the rate is there at once (over T0 + 100 to T0 + 130), not one scrape later
    as after a pod's restart."""
    leader = FakeLeader("inference", "llama", "llama-0", prompt_rate=300, since=T0)
    other = FakeLeader("team-b", "chat", "chat-0", since=T0)
    lws_list = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/inference/leaderworkersets"
    with (
        MetricsExporter([leader]) as pod,
        MetricsExporter([other]) as other_pod,
        FakeApiServer() as api,
    ):
        api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1, size=1))
        api.put(_leader_on(pod, "llama", 0))
        api.put(lws_object("team-b", "chat", replicas=1, status=1, ready=1, size=1))
        api.put(pod_object("team-b", "chat", 0, 0, ip="127.0.0.1", size=1))
        source = DirectScrapeSource(
            KubernetesClusterReader(api_client(api), timeout=2),
            timeout=2,
            clock=lambda: leader.frozen_at or 0.0,
        )
        tgt = [
            target("inference", "llama", window=60.0, scrape={"port": pod.port}),
            target("team-b", "chat", scrape={"port": other_pod.port}),
        ]

        def fetch(at: float) -> SourceResult:
            leader.frozen_at = other.frozen_at = at
            return source.fetch(tgt, at)

        first = values(only(fetch(T0 + 100), "inference", "llama"))["llama-0"]
        assert "promptTokensPerSecond" not in first  # one reading: no rate yet
        api.on_get(lws_list, lambda _b, _r: (403, status(403, "Forbidden", "not now")))
        assert "403 not now" in fetch(T0 + 115).errors[KEY]
        api.remove_route("GET", lws_list)
        third = values(only(fetch(T0 + 130), "inference", "llama"))["llama-0"]
        assert third["promptTokensPerSecond"] == pytest.approx(300)
        source.close()


def test_each_policy_says_where_its_leaders_serve_their_metrics() -> None:
    """Two LWS whose leaders listen on different ports (vLLM's 8000 and SGLang's 30000
    stand-ins: two free ports on 127.0.0.1): one policy gives the number, the other a
    container port name; a path the leader does not serve, or a name no container has,
    is a failed scrape that says so. The API is the wire-level fake."""
    chat = FakeLeader("inference", "chat", "chat-0", waiting=3, since=T0)
    code = FakeLeader("inference", "code", "code-0", waiting=7, since=T0)
    with (
        MetricsExporter([chat]) as chat_pod,
        MetricsExporter([code]) as code_pod,
        FakeApiServer() as api,
    ):
        for name, pod in (("chat", chat_pod), ("code", code_pod)):
            api.put(lws_object("inference", name, replicas=1, status=1, ready=1, size=1))
            api.put(
                pod_object(
                    "inference", name, 0, 0, ip="127.0.0.1", size=1, ports={"metrics": pod.port}
                )
            )
        source = DirectScrapeSource(KubernetesClusterReader(api_client(api), timeout=2), timeout=2)
        chat_target = target("inference", "chat", scrape={"port": chat_pod.port})
        code_target = target(
            "inference",
            "code",
            scrape={"port": "metrics", "path": "/pods/inference/code-0/metrics"},
        )
        result = source.fetch([chat_target, code_target], T0)
        assert values(only(result, "inference", "chat"))["chat-0"]["queueDepth"] == 3
        assert values(only(result, "inference", "code"))["code-0"]["queueDepth"] == 7
        astray = target("inference", "chat", scrape={"port": chat_pod.port, "path": "/stats"})
        with pytest.raises(
            SourceUnavailableError, match=rf"http://127\.0\.0\.1:{chat_pod.port}/stats"
        ):
            source.fetch([astray], T0 + 15)
        unnamed = target("inference", "chat", scrape={"port": "http"})
        with pytest.raises(
            SourceUnavailableError,
            match="leader pod inference/chat-0 has no container port named 'http'",
        ):
            source.fetch([unnamed], T0 + 30)
        source.close()
