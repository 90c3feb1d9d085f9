"""Prometheus stopped mid-test: the source raises a clear SourceUnavailableError quickly
(bounded retries with backoff), then recovers once the server is back. Uses its own real
Prometheus (127.0.0.1, temp TSDB kept across the restart) so the outage does not disturb
the other modules' data."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from autoscaler.errors import SourceError, SourceUnavailableError
from autoscaler.signals import Signal
from autoscaler.sources.prometheus import PrometheusSource
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from tests.sources.factories import only, target
from tests.support.exporter import FakeLeader, MetricsExporter
from tests.support.prometheus import PrometheusServer, needs_prometheus, scrape_config

pytestmark = [needs_prometheus(), pytest.mark.prometheus]


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PrometheusServer, MetricsExporter]]:
    leader = FakeLeader("inference", "llama", "llama-0", waiting=2, prompt_rate=100)
    with MetricsExporter([leader]) as exporter:
        config = scrape_config({"leaders": exporter.targets()})
        with PrometheusServer(tmp_path_factory.mktemp("outage"), config) as prom:
            prom.wait_for("up == 1", lambda r: len(r) == 1, timeout=30)
            yield prom, exporter


def test_prometheus_down_then_back(setup: tuple[PrometheusServer, MetricsExporter]) -> None:
    prom, _ = setup
    source = PrometheusSource(PrometheusQueryClient(prom.url, timeout=5, retries=1, backoff=0.05))
    tgt = [target("inference", "llama")]
    assert only(source.fetch(tgt, time.time()), "inference", "llama").leaders
    prom.stop()
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match="unreachable"):
            source.fetch(tgt, time.time())
        assert time.monotonic() - started < 5  # bounded retries with backoff, no hang
    finally:
        prom.start()
    restarted = time.time()
    # Data from before the outage is there at once (same TSDB); wait for new scrapes.
    deadline = time.monotonic() + 25
    while True:
        try:
            snap = only(source.fetch(tgt, time.time()), "inference", "llama")
            if snap.leaders["llama-0"][Signal.QUEUE_DEPTH].timestamp > restarted:
                break
        except (SourceError, KeyError):
            pass
        assert time.monotonic() < deadline, "no fresh data after the restart"
        time.sleep(0.3)
    assert snap.leaders["llama-0"][Signal.QUEUE_DEPTH].value == 2
    source.close()
