"""Leaders whose scrapes fail, end to end: a real Prometheus (127.0.0.1, 1 s scrapes, 1 s
scrape timeout) scraping vLLM pages from a loopback exporter that can make a pod's
scrapes fail with a 500 or by hanging past the scrape timeout, read by the Prometheus
source *without* a cluster reader.

Prometheus writes staleness markers for every series of a target whose scrape fails,
so the failing leaders drop out of the signal queries at once. Counted from the
reporting leaders alone, 3 leaders at 10 waiting with 2 failing read as 1 group at 10,
and the engine recommended 1. The down-leaders query (``up == 0`` for pods that
exported vLLM's metrics recently) keeps them as ready groups that do not report.

Uses its own Prometheus and exporter: failing scrapes must not disturb the package's
shared server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from autoscaler.engine.decide import decide
from autoscaler.engine.decision import ReasonCode, SignalStatus
from autoscaler.engine.state import EngineState
from autoscaler.errors import SourceError
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsSnapshot
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.down_leaders import down_leaders_query, read_down_leaders
from autoscaler.sources.prometheus import PrometheusSource
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.promql import DEFAULT_LWS_LABEL, LabelNames
from tests.sources.factories import only
from tests.support.background import serve_in_background, shut_down
from tests.support.exporter import FakeLeader, MetricsExporter
from tests.support.prometheus import PrometheusServer, needs_prometheus, scrape_config

pytestmark = [needs_prometheus(), pytest.mark.prometheus]

# A worker pod of llama's group 0, scraped by a PodMonitor that does not filter on the
# worker index: its scrapes always fail (no server on the port) and it never exported
# vLLM's metrics. It is no group.
WORKER = "llama-0-1"


def _policy(name: str) -> ScalingPolicy:
    """Queue depth alone, 12 per group: 3 groups at 10 need 2.5 (3) groups, 1 group at
    10 needs 1."""
    return ScalingPolicy.model_validate(
        {
            "apiVersion": "lws-autoscaler.io/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": f"inference-{name}"},
            "spec": {
                "target": {"namespace": "inference", "name": name},
                "replicas": {"min": 1, "max": 10},
                "metrics": {"engine": "vllm", "rateWindow": 10, "staleAfter": 60},
                "signals": [{"type": "queueDepth", "targetPerGroup": 12}],
            },
        },
        strict=False,
    )


class FailingExporter:
    """The leaders' vLLM pages (rendered by :class:`MetricsExporter`), served by a
    handler that fails the scrapes of the pods in :attr:`failing`: ``"500"`` answers an
    Internal Server Error, ``"hang"`` sends nothing for longer than the scrape timeout.
    ``/ksm`` serves kube-state-metrics' ``kube_pod_info`` of every pod while
    :attr:`ksm_lists` (False: a cluster without kube-state-metrics' pod metrics) and
    ``kube_pod_deletion_timestamp`` of the pods in :attr:`deleting` (terminating)."""

    def __init__(self, leaders: list[FakeLeader], extra_pods: dict[str, str]) -> None:
        self.pages = MetricsExporter(leaders)
        self.extra_pods = extra_pods  # pod -> LWS: targets the exporter has no page for
        self.failing: dict[str, str] = {}
        self.deleting: set[str] = set()
        self.ksm_lists = True
        pages, failing, deleting = self.pages, self.failing, self.deleting
        every_pod = sorted({lead.pod for lead in self.pages.leaders.values()} | set(extra_pods))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mode = failing.get(self.path.removesuffix("/metrics").rsplit("/", 1)[-1])
                if mode == "hang":
                    time.sleep(1.5)  # the scrape timeout is 1 s
                    return
                body = None if mode else pages.render(self.path)
                if self.path == "/ksm":
                    listed = every_pod if outer.ksm_lists else []
                    body = "".join(
                        [
                            *(
                                "kube_pod_info"
                                f'{{namespace="inference",pod="{pod}",uid="u-{pod}"}} 1\n'
                                for pod in listed
                            ),
                            *(
                                "kube_pod_deletion_timestamp"
                                f'{{namespace="inference",pod="{pod}",uid="u-{pod}"}} 1.7e9\n'
                                for pod in sorted(deleting)
                            ),
                        ]
                    ).encode()
                self.send_response(200 if body is not None else 500)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = serve_in_background(self.server)

    def targets(self) -> list[dict[str, Any]]:
        pods = {lead.pod: lead.lws for lead in self.pages.leaders.values()} | self.extra_pods
        return [
            {
                "targets": [f"127.0.0.1:{self.server.server_address[1]}"],
                "labels": {
                    "__metrics_path__": f"/pods/inference/{pod}/metrics",
                    "namespace": "inference",
                    DEFAULT_LWS_LABEL: lws,
                    "pod": pod,
                },
            }
            for pod, lws in pods.items()
        ]

    def ksm_targets(self) -> list[dict[str, Any]]:
        address = f"127.0.0.1:{self.server.server_address[1]}"
        return [{"targets": [address], "labels": {"__metrics_path__": "/ksm"}}]

    def close(self) -> None:
        shut_down(self.server, self.thread)


@pytest.fixture(scope="module")
def exporter() -> Iterator[FailingExporter]:
    leaders = [
        FakeLeader("inference", "llama", f"llama-{i}", waiting=10, running=4, kv=0.5)
        for i in range(3)
    ] + [FakeLeader("inference", "pair", f"pair-{i}", waiting=10) for i in range(2)]
    running = FailingExporter(leaders, {WORKER: "llama"})
    running.failing[WORKER] = "500"
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def prom(
    exporter: FailingExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    config = scrape_config({"leaders": exporter.targets(), "ksm": exporter.ksm_targets()})
    with PrometheusServer(tmp_path_factory.mktemp("down"), config) as server:
        server.wait_for("up == 1", lambda r: len(r) == 6, timeout=30)
        server.wait_for(f'up{{pod="{WORKER}"}} == 0', bool, timeout=30)
        yield server


@pytest.fixture
def source(prom: PrometheusServer, exporter: FailingExporter) -> Iterator[PrometheusSource]:
    src = PrometheusSource(PrometheusQueryClient(prom.url, timeout=5, retries=0))
    try:
        yield src
    finally:
        src.close()
        exporter.failing.clear()
        exporter.failing[WORKER] = "500"
        exporter.deleting.clear()
        exporter.ksm_lists = True


def _poll(source: PrometheusSource, targets: list[Target], pods: set[str]) -> SourceResult:
    """Fetch until exactly ``pods`` report (failing scrapes take a scrape interval or a
    scrape timeout to show); fail with the last result otherwise."""
    deadline = time.monotonic() + 20
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = source.fetch(targets, time.time())
            reporting = {pod for snap in result.snapshots.values() for pod in snap.leaders}
            if reporting == pods:
                return result
            last = result
        except SourceError as exc:
            last = exc
        time.sleep(0.3)
    pytest.fail(f"never exactly {sorted(pods)} reporting; last: {last!r}")


def _counts(snap: LwsSnapshot) -> tuple[int, int, int]:
    return snap.spec_replicas, snap.status_replicas, snap.ready_replicas


def test_two_of_three_leaders_failing_still_count_as_ready_groups(
    source: PrometheusSource, exporter: FailingExporter
) -> None:
    llama = Target(_policy("llama"))
    before = only(_poll(source, [llama], {"llama-0", "llama-1", "llama-2"}), "inference", "llama")
    assert _counts(before) == (3, 3, 3)  # the worker, down all along, is no group
    exporter.failing.update({"llama-1": "500", "llama-2": "hang"})
    snap = only(_poll(source, [llama], {"llama-0"}), "inference", "llama")
    # Before: (1, 1, 1), and the engine recommended 1 group for 3 that serve.
    assert _counts(snap) == (3, 3, 3)
    assert set(snap.leaders) == {"llama-0"}
    decision, _ = decide(llama.policy, snap, EngineState(), time.time())
    assert decision.replicas == 3
    assert decision.current == 3
    (proposal,) = decision.proposals
    assert proposal.status is SignalStatus.PARTIAL  # 10 x 3/1 = 30 waiting, 2.5 groups
    assert proposal.needed == pytest.approx(2.5)


def test_the_query_finds_the_failing_leaders_and_not_the_worker(
    source: PrometheusSource, exporter: FailingExporter, prom: PrometheusServer
) -> None:
    llama, pair = Target(_policy("llama")), Target(_policy("pair"))
    exporter.failing.update({"llama-2": "500"})
    _poll(source, [llama, pair], {"llama-0", "llama-1", "pair-0", "pair-1"})
    client = PrometheusQueryClient(prom.url, timeout=5, retries=0)
    try:
        down = read_down_leaders(
            [llama, pair], LabelNames(), lambda q: client.instant(q, time.time()), client.url
        )
        # Other label names: kube-state-metrics' labels are renamed to match; valid
        # PromQL (the real parser), matching nothing here.
        renamed = down_leaders_query([llama], LabelNames(namespace="ns", pod="pod_name"))
        assert client.instant(renamed, time.time()) == []
    finally:
        client.close()
    assert down == {llama.key: frozenset({"llama-2"})}


def test_every_leader_failing_holds_the_size_and_is_not_zero_demand(
    source: PrometheusSource, exporter: FailingExporter
) -> None:
    pair = Target(_policy("pair"))
    _poll(source, [pair], {"pair-0", "pair-1"})
    exporter.failing.update({"pair-0": "500", "pair-1": "hang"})
    # Alone in the fetch, nothing reports at all: before, "no series for any target"
    # (EmptyResultError) failed the cycle; now the two groups are known, silent.
    snap = only(_poll(source, [pair], set()), "inference", "pair")
    assert _counts(snap) == (2, 2, 2)
    assert snap.leaders == {}
    decision, _ = decide(pair.policy, snap, EngineState(), time.time())
    assert decision.replicas == 2  # held at the current size, not 1, not 0
    assert ReasonCode.HOLD in {r.code for r in decision.reasons}
    (proposal,) = decision.proposals
    assert proposal.status is SignalStatus.MISSING


def test_a_leader_back_from_failing_reports_again(
    source: PrometheusSource, exporter: FailingExporter
) -> None:
    llama = Target(_policy("llama"))
    exporter.failing.update({"llama-1": "500"})
    snap = only(_poll(source, [llama], {"llama-0", "llama-2"}), "inference", "llama")
    assert _counts(snap) == (3, 3, 3)
    del exporter.failing["llama-1"]
    snap = only(_poll(source, [llama], {"llama-0", "llama-1", "llama-2"}), "inference", "llama")
    assert _counts(snap) == (3, 3, 3)


def test_a_leader_leaving_after_a_scale_down_is_no_group(
    source: PrometheusSource, exporter: FailingExporter, prom: PrometheusServer
) -> None:
    """The HPA took llama from 3 groups to 2: llama-2 shuts down (its scrapes are
    refused) while its pod still exists. Counted as a silent ready group, the snapshot
    read 3 groups with partial data, and the engine held 3: the LWS went back up."""
    llama = Target(_policy("llama"))
    exporter.failing["llama-2"] = "500"
    exporter.deleting.add("llama-2")
    prom.wait_for('kube_pod_deletion_timestamp{pod="llama-2"}', bool)
    snap = only(_poll(source, [llama], {"llama-0", "llama-1"}), "inference", "llama")
    assert _counts(snap) == (2, 2, 2)
    # Not being deleted (kube-state-metrics says nothing of it): a failing leader.
    exporter.deleting.clear()
    prom.wait_for('kube_pod_deletion_timestamp{pod="llama-2"}', lambda r: not r)
    assert _counts(only(source.fetch([llama], time.time()), "inference", "llama")) == (3, 3, 3)


def test_without_kube_state_metrics_a_failing_leader_is_a_group_fewer(
    source: PrometheusSource, exporter: FailingExporter, prom: PrometheusServer
) -> None:
    """Only kube-state-metrics tells a failing leader from one shutting down after a
    scale-down (both refuse their scrapes while their pods exist). Without its pod
    metrics nothing is counted: an undone scale-down at every scale-down would be no
    better than the group fewer."""
    llama = Target(_policy("llama"))
    exporter.failing["llama-2"] = "500"
    exporter.ksm_lists = False
    prom.wait_for('kube_pod_info{pod="llama-2"}', lambda r: not r)
    snap = only(_poll(source, [llama], {"llama-0", "llama-1"}), "inference", "llama")
    assert _counts(snap) == (2, 2, 2)
    exporter.ksm_lists = True
    prom.wait_for('kube_pod_info{pod="llama-2"}', bool)
    assert _counts(only(source.fetch([llama], time.time()), "inference", "llama")) == (3, 3, 3)
