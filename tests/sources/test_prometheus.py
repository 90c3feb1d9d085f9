"""The Prometheus source end to end: the real ``prometheus`` binary (127.0.0.1, temp TSDB,
1 s scrapes) scraping a test exporter that serves vLLM / SGLang pages for fake LWS
leaders, labelled as the shipped PodMonitor labels them. One server for the package; each
test uses its own LWS so they do not disturb each other."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from autoscaler.engine.decision import SignalStatus
from autoscaler.engine.proposals import propose
from autoscaler.errors import QueryRejectedError, SourceError
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.cluster import LeaderPod, LwsState, StaticClusterReader
from autoscaler.sources.kube import KubernetesClusterReader
from autoscaler.sources.prometheus import EmptyResultError, PrometheusSource
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from tests.sources.conftest import INJECTED
from tests.sources.factories import only, target, values
from tests.sources.kube_objects import api_client, lws_object, pod_object
from tests.support.background import serve_in_background, shut_down
from tests.support.exporter import MetricsExporter, expected_quantile
from tests.support.fake_apiserver import FakeApiServer, status
from tests.support.prometheus import PrometheusServer, needs_prometheus

pytestmark = [needs_prometheus(), pytest.mark.prometheus]


@pytest.fixture
def source(prom: PrometheusServer) -> Iterator[PrometheusSource]:
    client = PrometheusQueryClient(prom.url, timeout=5, retries=1, backoff=0.05)
    src = PrometheusSource(client)
    yield src
    src.close()


LLAMA = 'namespace="inference",pod=~"llama-0|llama-1"'
CHAT = 'namespace="other",pod="chat-0"'


def settled(prom: PrometheusServer, *selectors: str, rates: bool = False) -> float:
    """The time a test that reads the leaders ``selectors`` pick once fetches at: a whole
    second just past whose newest scrapes of them all succeeded; for ``rates``, also on
    time and within 0.5 s (a counter 0.5 s ahead of its timestamp is 5 % of a rate over
    9 s), and so did those at the start of the tests' 10 s rate window (rate() reaches a
    window's start from a sample within 1.1 intervals of it; scrapes missed inside the
    window change nothing, the exporter's counters being straight lines).

    At the wall clock's now, a scrape that failed on a loaded machine (staleness
    markers: a pod missing for a second) or one missed at a window's edge (rate() then
    extrapolates less far: 14 % low) would fail a test that checks something else."""
    steady = 0.5 if rates else None
    deadline = time.monotonic() + 30
    while True:
        at = prom.settled_second(*selectors, span=2, steady=steady)
        problem = None
        if rates:
            problem = prom.scrape_problem(at - 8.5, *selectors, span=2.5, steady=steady)
        if problem is None:
            return at
        assert time.monotonic() < deadline, f"no settled second within 30 s: {problem}"
        time.sleep(1.0)


def poll(
    source: PrometheusSource,
    targets: list[Target],
    check: Callable[[SourceResult], bool],
    timeout: float = 15.0,
) -> SourceResult:
    """Fetch until ``check(result)`` is true (scrapes land once a second); fail the test
    with the last result when it never is (returning it would let a caller assert
    something else and pass)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = source.fetch(targets, time.time())
            if check(result):
                return result
            last = result
        except (SourceError, KeyError, AssertionError) as exc:
            last = exc
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout:g} s; last: {last!r}")
        time.sleep(0.3)


def test_vllm_snapshot_sums_engines_and_averages_kv(
    source: PrometheusSource, exporter: MetricsExporter, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA, rates=True)
    result = source.fetch([target("inference", "llama")], now)
    snap = only(result, "inference", "llama")
    got = values(snap)
    assert set(got) == {"llama-0", "llama-1"}
    # llama-0 runs two engines (40/60 split of 6 waiting); the leader value is their sum.
    assert got["llama-0"]["queueDepth"] == pytest.approx(6)
    assert got["llama-1"]["kvCacheUtilization"] == pytest.approx(0.7)
    assert got["llama-0"]["kvCacheUtilization"] == pytest.approx(0.5)
    for pod in got:
        assert got[pod]["promptTokensPerSecond"] == pytest.approx(200, rel=0.06)
        assert got[pod]["generationTokensPerSecond"] == pytest.approx(80, rel=0.06)
    # Without a cluster reader, the reporting leaders stand for the replica counts.
    assert (snap.spec_replicas, snap.ready_replicas) == (2, 2)
    leaders = [exporter.leaders[("inference", p)] for p in ("llama-0", "llama-1")]
    assert snap.aggregates[Signal.TTFT].value == pytest.approx(
        expected_quantile(0.9, leaders), rel=0.02
    )
    for samples in snap.leaders.values():
        for sample in samples.values():
            assert now - 5 < sample.timestamp <= now  # the newest scrape, not the query time


def test_a_leader_scraped_by_two_jobs_counts_once(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    # dup-0 is scraped by the leaders' job and by a second one with a ``service`` label
    # (a ServiceMonitor beside the PodMonitor): every series exists twice in Prometheus.
    copies = prom.wait_for(
        'vllm:num_requests_waiting{pod="dup-0"}',
        lambda r: len({s["metric"]["job"] for s in r}) == 2,
    )
    assert len(copies) == 4  # 2 engines x 2 jobs
    now = settled(prom, 'pod="dup-0"', rates=True)
    snap = only(source.fetch([target("inference", "dup")], now), "inference", "dup")
    got = values(snap)["dup-0"]
    # Summed as they came, the queue read 14 and the token rates 400: twice the groups.
    assert got["queueDepth"] == pytest.approx(7)
    assert got["runningRequests"] == pytest.approx(4)
    assert got["promptTokensPerSecond"] == pytest.approx(200, rel=0.06)
    assert got["kvCacheUtilization"] == pytest.approx(0.5)


def test_old_vllm_kv_name_and_sglang_names(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, 'namespace="inference",pod=~"old-0|sg-0"', rates=True)
    result = source.fetch(
        [target("inference", "old"), target("inference", "sg", engine="sglang")], now
    )
    assert values(only(result, "inference", "old"))["old-0"]["kvCacheUtilization"] == pytest.approx(
        0.5
    )
    sg = values(only(result, "inference", "sg"))["sg-0"]
    # 4 TP ranks each report 12 queued requests: the leader has 12, not 48.
    assert sg["queueDepth"] == pytest.approx(12)
    assert sg["kvCacheUtilization"] == pytest.approx(0.5)
    assert sg["promptTokensPerSecond"] == pytest.approx(200, rel=0.06)
    assert Signal.TTFT in only(result, "inference", "sg").aggregates


def test_queue_wait_quantile_per_lws_on_vllm_and_sglang(
    source: PrometheusSource, exporter: MetricsExporter, prom: PrometheusServer
) -> None:
    now = settled(prom, 'namespace="inference",pod=~"llama-0|llama-1|sg-0"')
    result = source.fetch(
        [
            target("inference", "llama", quantile=None, queue_wait=0.9),
            target("inference", "sg", engine="sglang", quantile=None, queue_wait=0.5),
        ],
        now,
    )
    llama = only(result, "inference", "llama")
    leaders = [exporter.leaders[("inference", p)] for p in ("llama-0", "llama-1")]
    # vllm:request_queue_time_seconds summed over both leaders (and llama-0's two
    # engines): uniform on [0, 1.2 s], so the p90 falls in the (1.0, 1.5] bucket.
    expected = expected_quantile(0.9, leaders, Signal.QUEUE_WAIT)
    assert expected == pytest.approx(1.2)
    assert llama.aggregates[Signal.QUEUE_WAIT].value == pytest.approx(expected, rel=0.02)
    assert Signal.TTFT not in llama.aggregates  # the policy does not scale on TTFT
    sg = only(result, "inference", "sg").aggregates[Signal.QUEUE_WAIT]
    sg_leader = [exporter.leaders[("inference", "sg-0")]]
    assert sg.value == pytest.approx(expected_quantile(0.5, sg_leader, Signal.QUEUE_WAIT), rel=0.02)


def test_one_query_per_signal_whatever_the_number_of_targets(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    pods = "llama-0|llama-1|old-0|grow-0|reset-0|stale-0|llamaxv2-0"
    now = settled(prom, f'namespace="inference",pod=~"{pods}"', CHAT)

    def cost(targets: list[Target]) -> int:
        before = prom.query_count()
        result = source.fetch(targets, now)
        assert not result.errors
        return prom.query_count() - before

    one = cost([target("inference", "llama")])
    many = cost(
        [target("inference", n) for n in ("llama", "old", "grow", "reset", "stale", "llamaxv2")]
        + [target("other", "chat")]
    )
    # 5 leader signals + the TTFT quantile + (no cluster reader) the down leaders.
    assert one == many == 7


def test_batched_selector_does_not_leak_between_namespaces_or_regex_names(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA, CHAT)
    # inference/llama + other/chat as one regex would also match other/llama (waiting 50)
    # and, unanchored, "llam" would match llama's leaders. (LWS names are DNS-1035
    # labels, so no regex metacharacter other than "-" can reach the selector.)
    result = source.fetch(
        [target("inference", "llama"), target("other", "chat"), target("inference", "llam")],
        now,
    )
    assert set(values(only(result, "inference", "llama"))) == {"llama-0", "llama-1"}
    assert values(only(result, "other", "chat"))["chat-0"]["queueDepth"] == 1
    assert LwsKey("inference", "llam") in result.errors


def test_label_values_are_escaped_not_injected(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, 'namespace="inference",pod="weird-0"', CHAT, rates=True)
    # The model name is free text from a policy. Unescaped it would end the matcher and
    # make the query invalid (or match `up`); escaped it selects exactly that model.
    result = source.fetch(
        [target("inference", "weird", model_name=INJECTED), target("inference", "llama")],
        now,
    )
    assert values(only(result, "inference", "weird")) == {
        "weird-0": pytest.approx(
            {
                "queueDepth": 9,
                "runningRequests": 4,
                "kvCacheUtilization": 0.5,
                "promptTokensPerSecond": 200,
                "generationTokensPerSecond": 80,
            },
            rel=0.06,
        )
    }
    other = source.fetch(
        [target("inference", "llama", model_name=INJECTED), target("other", "chat")], now
    )
    assert LwsKey("inference", "llama") in other.errors  # no series of that model there
    assert LwsKey("other", "chat") in other.snapshots


def test_stale_leader_keeps_its_old_timestamp(
    source: PrometheusSource, exporter: MetricsExporter
) -> None:
    frozen = exporter.leaders[("inference", "stale-0")].frozen_at
    assert frozen is not None
    tgt = target("inference", "stale", stale_after=2.0)
    now = max(time.time(), frozen + 3.0)
    time.sleep(max(0.0, now - time.time()))
    snap = only(source.fetch([tgt], now), "inference", "stale")
    sample = snap.leaders["stale-0"][Signal.QUEUE_DEPTH]
    assert sample.value == 5
    assert sample.timestamp == pytest.approx(frozen, abs=0.01)
    # The engine therefore sees it as stale, not as 5 fresh waiting requests, nor zero.
    proposal = propose(tgt.policy.spec, snap, now)[0]
    assert proposal.status is SignalStatus.STALE


def test_group_appears_then_vanishes(source: PrometheusSource, exporter: MetricsExporter) -> None:
    tgt = [target("inference", "grow")]
    newcomer = exporter.leaders[("inference", "grow-1")]
    try:
        newcomer.present = True
        # One query per signal: a scrape can land between two of them, so the first
        # snapshot that shows grow-1 may lack a signal. Wait for its queue depth.
        result = poll(
            source,
            tgt,
            lambda r: "queueDepth" in values(only(r, "inference", "grow")).get("grow-1", {}),
        )
        assert values(only(result, "inference", "grow"))["grow-1"]["queueDepth"] == 3
        result = poll(
            source,
            tgt,
            lambda r: (
                "promptTokensPerSecond" in values(only(r, "inference", "grow"))["grow-1"]
                and only(r, "inference", "grow").ready_replicas == 2
            ),
        )
        assert values(only(result, "inference", "grow"))["grow-1"]["promptTokensPerSecond"] > 0
    finally:
        newcomer.present = False
    # A failed scrape writes staleness markers: the pod is gone at once, not after 5 min.
    result = poll(source, tgt, lambda r: "grow-1" not in values(only(r, "inference", "grow")))
    assert set(values(only(result, "inference", "grow"))) == {"grow-0"}


def test_counter_reset_is_not_a_negative_rate(
    source: PrometheusSource, exporter: MetricsExporter, prom: PrometheusServer
) -> None:
    leader = exporter.leaders[("inference", "reset-0")]
    tgt = [target("inference", "reset")]
    # Reset right after a successful scrape, so the increase lost is at most the time
    # since it (a failed or late scrape before the reset lost up to 2 s, -20%).
    since = time.time()
    prom.wait_for(
        f'up{{pod="reset-0"}} == 1 and timestamp(up{{pod="reset-0"}}) > {since}',
        bool,
        timeout=30,
    )
    reset_at = time.monotonic()
    leader.reset()
    seen: list[float] = []
    # Readings for 5 s, and on until there are 5 of them (a fetch is 7 queries, slower on
    # a loaded machine), while the reset is still inside the 10 s window of the rate.
    while (elapsed := time.monotonic() - reset_at) < 9 and (elapsed < 5 or len(seen) < 5):
        # One scrape may fail under load: a missing leader is no reading, not an error.
        snap = source.fetch(tgt, time.time()).snapshots.get(LwsKey("inference", "reset"))
        sample = snap.leaders.get("reset-0", {}).get(Signal.PROMPT_TOKENS) if snap else None
        if sample is not None:
            seen.append(sample.value)
        time.sleep(0.5)
    assert len(seen) >= 3, seen  # 5 as a rule; fewer on a machine loaded enough
    # Across the reset the rate dips by at most the increase lost before it; it is never
    # negative (naive delta) nor the whole counter (reset misread as growth).
    assert all(0 < v <= 200 * 1.05 for v in seen), seen
    # The increase between the last scrape before the reset and the reset itself is lost
    # (at most one 1 s scrape interval of a 10 s window: -10%). Read where no scrape
    # failed nor was missed, which on a loaded machine cost up to 14 % more.
    end = settled(prom, 'pod="reset-0"', rates=True)
    last = only(source.fetch(tgt, end), "inference", "reset").leaders["reset-0"]
    assert last[Signal.PROMPT_TOKENS].value == pytest.approx(200, rel=0.15)


def test_cluster_state_gives_replicas_and_drops_deleted_pods(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA)
    key = LwsKey("inference", "llama")
    state = LwsState(
        key,
        spec_replicas=3,
        status_replicas=2,
        ready_replicas=1,
        leaders=(LeaderPod("llama-1", 1, "10.0.0.2", True),),
    )
    cluster_source = PrometheusSource(source._client, StaticClusterReader({key: state}))
    snap = only(cluster_source.fetch([target("inference", "llama")], now), "inference", "llama")
    assert (snap.spec_replicas, snap.status_replicas, snap.ready_replicas) == (3, 2, 1)
    assert set(snap.leaders) == {"llama-1"}  # llama-0 is not a live group leader any more


def test_activation_is_batched_and_a_bad_one_fails_alone(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA)
    good = target(
        "inference",
        "llama",
        activation="sum(vllm:num_requests_waiting{namespace=$namespace, "
        "leaderworkerset_sigs_k8s_io_name=$name})",
    )
    bad = target("inference", "old", activation="sum(rate(")
    result = source.fetch([good, bad], now)
    assert only(result, "inference", "llama").aggregates[Signal.ACTIVATION].value == pytest.approx(
        8
    )
    assert "activation query" in result.errors[LwsKey("inference", "old")]


def test_rejected_override_fails_only_its_policy(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA, CHAT)
    broken = target("inference", "old", overrides={"queueDepth": "sum by ($by) (oops{$selector}"})
    custom = target(
        "inference",
        "llama",
        overrides={"queueDepth": "sum by ($by) (vllm:num_requests_running{$selector}) * 10"},
    )
    result = source.fetch([broken, custom, target("other", "chat")], now)
    assert "override for queueDepth" in result.errors[LwsKey("inference", "old")]
    assert values(only(result, "inference", "llama"))["llama-1"]["queueDepth"] == pytest.approx(40)
    assert LwsKey("other", "chat") in result.snapshots


def test_rejected_query_and_empty_result_are_clear_errors(source: PrometheusSource) -> None:
    with pytest.raises(QueryRejectedError, match=r"rejected the query \(400\).*bad_data"):
        source._client.instant("sum(", time.time())
    with pytest.raises(EmptyResultError, match="no series for any of 1 target"):
        source.fetch([target("nowhere", "nothing")], time.time())
    # An LWS the API server says is at zero is not an error: it has no leaders to report.
    key = LwsKey("nowhere", "nothing")
    at_zero = PrometheusSource(source._client, StaticClusterReader({key: LwsState(key, 0, 0, 0)}))
    snap = only(at_zero.fetch([target("nowhere", "nothing")], time.time()), "nowhere", "nothing")
    assert snap.leaders == {}
    assert snap.spec_replicas == 0


def test_history_matches_instant_fetches(source: PrometheusSource, prom: PrometheusServer) -> None:
    end = prom.settled_second('namespace="inference",pod=~"llama-.*"')
    tgt = [target("inference", "llama")]
    steps = list(source.history(tgt, end - 4, end, 1.0))
    assert [t for t, _ in steps] == [end - 4, end - 3, end - 2, end - 1, end]
    for t, result in steps[-2:]:
        ranged = only(result, "inference", "llama")
        instant = only(source.fetch(tgt, t), "inference", "llama")
        assert set(values(ranged)) == set(values(instant)) == {"llama-0", "llama-1"}
        for pod, signals in values(instant).items():
            assert values(ranged)[pod] == pytest.approx(signals)


MARKER = "lws_test_slow_marker"
"""A metric name in a per-policy query that the proxy below answers slowly."""
LLAMA_QUEUE = (
    "sum(vllm:num_requests_waiting{namespace=$namespace, leaderworkerset_sigs_k8s_io_name=$name})"
)
TIMEOUT_503 = {
    "status": "error",
    "errorType": "timeout",
    "error": "query timed out in expression evaluation",
}


class _SlowProxy(ThreadingHTTPServer):
    """Forwards every query to the real Prometheus, except those naming MARKER: ``hang``
    answers them only after the client's 2 s timeout (at 2.5 s), ``503`` answers what Prometheus
    answers a query that ran past its ``timeout``. (A really slow PromQL query would
    keep the shared Prometheus busy long after its timeout: its subquery steps do not
    check for cancellation.)"""

    def __init__(self, upstream: str, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream, self.mode = upstream, mode
        self.slow = 0
        # One client for every forwarded query: a new one per query (its SSL context
        # included) cost 25-80 ms each, which on a loaded 2-core machine pushed the
        # slow query past the fetch's 2 s deadline before it was even sent.
        self.http = httpx.Client(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _SlowProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if MARKER.encode() in body:
            self.server.slow += 1
            if self.server.mode == "hang":
                time.sleep(2.5)
            self._send(503, json.dumps(TIMEOUT_503).encode())
            return
        answer = self.server.http.post(
            f"{self.server.upstream}{self.path}",
            content=body,
            headers={"Content-Type": self.headers.get("Content-Type", "")},
        )
        self._send(answer.status_code, answer.content)

    def _send(self, code: int, payload: bytes) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client stopped waiting

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(params=["hang", "503"])
def slow_proxy(prom: PrometheusServer, request: pytest.FixtureRequest) -> Iterator[_SlowProxy]:
    proxy = _SlowProxy(prom.url, request.param)
    thread = serve_in_background(proxy)
    try:
        yield proxy
    finally:
        shut_down(proxy, thread)
        proxy.http.close()


def test_a_slow_override_fails_only_its_policy(
    slow_proxy: _SlowProxy, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA)
    # A 2 s timeout (every query through the proxy has it: a loaded machine must not
    # fail the good ones) and an 8 s fetch deadline, not the default 4 s (twice the
    # timeout): the queries after the slow one's timeout must still go out.
    source = PrometheusSource(PrometheusQueryClient(slow_proxy.url, timeout=2), deadline=8)
    heavy = target(
        "inference",
        "old",
        overrides={
            "queueDepth": f"sum by ($by) (vllm:num_requests_waiting{{$selector}}) "
            f"+ on() group_left() (count({MARKER}) or vector(0))"
        },
    )
    try:
        result = source.fetch([target("inference", "llama"), heavy], now)
    finally:
        source.close()
    message = result.errors[LwsKey("inference", "old")]
    assert "override for queueDepth" in message
    expected = "did not answer a query within 2s" if slow_proxy.mode == "hang" else "503"
    assert expected in message
    assert values(only(result, "inference", "llama"))["llama-0"]["queueDepth"] == pytest.approx(6)
    assert slow_proxy.slow == 1  # not sent again


def test_a_slow_activation_fails_only_its_policy(
    slow_proxy: _SlowProxy, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA)
    # As above: a 2 s timeout and an 8 s fetch deadline.
    source = PrometheusSource(PrometheusQueryClient(slow_proxy.url, timeout=2), deadline=8)
    good = target("inference", "llama", activation=LLAMA_QUEUE)
    slow = target("inference", "old", activation=f"count({MARKER}) or vector(0)")
    started = time.monotonic()
    try:
        result = source.fetch([good, slow], now)
    finally:
        source.close()
    # The batch, then each alone: two timeouts (about 4.5 s). The bound only has to catch a
    # hang; ``slow == 2`` below is the exact check.
    assert time.monotonic() - started < 12.0
    assert "activation query" in result.errors[LwsKey("inference", "old")]
    llama = only(result, "inference", "llama")
    assert llama.aggregates[Signal.ACTIVATION].value == pytest.approx(8)
    assert slow_proxy.slow == 2  # in the batch, then alone


def test_without_cluster_state_an_lws_at_zero_wakes_on_its_activation(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    """No leader of a parked LWS reports; its activation query (8 waiting at the gateway,
    here llama's queue) is the one series of the cycle. It must reach a snapshot at zero
    groups, or the engine would hold the LWS at zero for ever."""
    parked = LwsKey("inference", "parked")
    waking = target(
        "inference",
        "parked",
        activation='sum(vllm:num_requests_waiting{namespace="inference", '
        'leaderworkerset_sigs_k8s_io_name="llama"})',
    )
    now = settled(prom, LLAMA)
    snap = only(source.fetch([waking], now), "inference", "parked")
    assert (snap.spec_replicas, snap.status_replicas, snap.ready_replicas) == (0, 0, 0)
    assert snap.leaders == {}
    assert snap.aggregates[Signal.ACTIVATION].value == pytest.approx(8)
    # At or below the threshold, absent series are not taken for zero: an error, the
    # engine holds (a running LWS that is not scraped must not be scaled to zero).
    quiet = target("inference", "parked", activation="vector(0)")
    result = source.fetch([quiet], time.time())
    assert parked not in result.snapshots
    assert "not above its threshold" in result.errors[parked]


def test_a_forbidden_namespace_fails_only_its_targets(
    source: PrometheusSource, prom: PrometheusServer
) -> None:
    now = settled(prom, LLAMA, CHAT)
    with FakeApiServer() as api:
        api.put(lws_object("inference", "llama", replicas=2, status=2, ready=2, size=1))
        for group in (0, 1):
            api.put(pod_object("inference", "llama", group, 0))
        api.on_get(
            "/apis/leaderworkerset.x-k8s.io/v1/namespaces/other/leaderworkersets",
            lambda _b, _r: (403, status(403, "Forbidden", "leaderworkersets is forbidden")),
        )
        cluster = KubernetesClusterReader(api_client(api), timeout=2)
        with_cluster = PrometheusSource(source._client, cluster)
        result = with_cluster.fetch([target("inference", "llama"), target("other", "chat")], now)
    assert set(values(only(result, "inference", "llama"))) == {"llama-0", "llama-1"}
    assert "403 leaderworkersets is forbidden" in result.errors[LwsKey("other", "chat")]
