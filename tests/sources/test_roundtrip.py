"""Record from the real Prometheus (the ``record`` command), replay the file, and compare:
the recording gives the same snapshots as the Prometheus source, and the three sources
(Prometheus, direct scrape, recording) give the same snapshot for the same leaders.

Shares the package's Prometheus and exporter (see conftest.py); uses the ``replay/*`` LWS.
Replica counts come from the exporter's kube-state-metrics-style gauges for the recording
and from a static cluster reader with the same numbers for the live sources."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from autoscaler.cli.main import main
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.cluster import LeaderPod, LwsState, StaticClusterReader
from autoscaler.sources.prometheus import PrometheusSource
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.recording import RecordingSource
from autoscaler.sources.recording_format import load_recording
from autoscaler.sources.scrape import DirectScrapeSource
from tests.sources.factories import assert_same_snapshot, only, target
from tests.support.exporter import MetricsExporter
from tests.support.prometheus import PrometheusServer, needs_prometheus

pytestmark = [needs_prometheus(), pytest.mark.prometheus]

BIG, SG = LwsKey("replay", "big"), LwsKey("replay", "sg")
CLUSTER = StaticClusterReader(
    {
        BIG: LwsState(
            BIG, 4, 3, 3, leaders=tuple(LeaderPod(f"big-{i}", i, "x", True) for i in range(3))
        ),
        SG: LwsState(SG, 1, 1, 1, leaders=(LeaderPod("sg-0", 0, "x", True),)),
    }
)
POLICIES = """\
apiVersion: lws-autoscaler.io/v1alpha1
kind: ScalingPolicy
metadata: {name: big}
spec:
  target: {namespace: replay, name: big}
  replicas: {max: 8}
  metrics: {engine: vllm, rateWindow: 10s}
  signals:
    - {type: queueDepth, targetPerGroup: 4}
    - {type: ttft, quantile: 0.9, targetSeconds: 2}
    - {type: queueWait, quantile: 0.75, targetSeconds: 1}
---
apiVersion: lws-autoscaler.io/v1alpha1
kind: ScalingPolicy
metadata: {name: sg}
spec:
  target: {namespace: replay, name: sg}
  replicas: {max: 4}
  metrics: {engine: sglang, rateWindow: 10s}
  signals: [{type: kvCacheUtilization, target: 0.8}]
"""


REPLAY_TARGETS = ('namespace="replay"', 'job="ksm"')
"""The replay leaders' scrapes and kube-state-metrics' (the recording's replica counts)."""
STEADY = 0.15
"""The longest scrape allowed in the compared seconds: a page rendered that late is a
counter that far ahead of its timestamp. Recorded and live rates over 10 s read pairs
of samples one scrape apart, so they differ by at most a ninth of that: 1.7 % (the
record/replay test compares to 2 %; the three sources to 5 %, so twice as slow)."""


def targets() -> list:  # type: ignore[type-arg]
    return [
        target("replay", "big", queue_wait=0.75),
        target("replay", "sg", engine="sglang", quantile=None),
    ]


def record_cli(
    prom: PrometheusServer,
    tmp_path: Path,
    start: float,
    end: float,
    capsys: pytest.CaptureFixture[str],
) -> Path:
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "replay.yaml").write_text(POLICIES)
    out = tmp_path / "recording.json.gz"
    code = main(
        [
            "record",
            "--prometheus-url",
            prom.url,
            "--policies",
            str(policies),
            "--start",
            str(start),
            "--end",
            str(end),
            "--step",
            "1s",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err  # the progress bar
    assert f"wrote {out}: 2 LWS" in captured.out
    return out


def test_three_sources_give_the_same_snapshot(
    prom: PrometheusServer,
    exporter: MetricsExporter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoints = {
        BIG: {
            p: exporter.url(exporter.leaders[("replay", p)]) for p in ("big-0", "big-1", "big-2")
        },
        SG: {"sg-0": exporter.url(exporter.leaders[("replay", "sg-0")])},
    }
    scrape = DirectScrapeSource(CLUSTER, endpoints)
    live = PrometheusSource(PrometheusQueryClient(prom.url), CLUSTER)
    try:
        # The direct scrape's rates come from its own readings inside the 10 s window:
        # a first one, then one some seconds later (the longer apart, the less a late
        # page bends the rate), both stamped after `now`, which Prometheus is asked.
        scrape.fetch(targets(), time.time())
        time.sleep(4)
        deadline = time.monotonic() + 60
        while True:
            now = float(math.floor(time.time()))
            scraped = scrape.fetch(targets(), time.time())
            # Query and record only once no scrape still in flight can change the past
            # up to `now` (a failed one writes staleness markers at its start time, after
            # the fact), and only a `now` whose 10 s rate window (and the step before it,
            # which the recording's grid reads) Prometheus scraped as an idle machine
            # does. On a loaded one, big-1's prompt rate read 187/s live for 199/s
            # scraped and recorded: over a scrape lost at its window's edge, rate()
            # extrapolates less far. Else read again, a second later.
            prom.wait_scraped_past(now)
            problem = prom.scrape_problem(now, *REPLAY_TARGETS, span=12, steady=2 * STEADY)
            if problem is None:
                break
            assert time.monotonic() < deadline, f"no settled window within 60 s: {problem}"
            time.sleep(1.0)
        queried = live.fetch(targets(), now)
        replay = RecordingSource(record_cli(prom, tmp_path, now - 30, now, capsys))
        recorded = replay.fetch(targets(), now)
        # Both latency quantiles are among what the three sources must agree on.
        assert {Signal.TTFT, Signal.QUEUE_WAIT} <= set(queried.snapshots[BIG].aggregates)
        for key in (BIG, SG):
            assert_same_snapshot(queried.snapshots[key], scraped.snapshots[key], rel=0.05)
            assert_same_snapshot(queried.snapshots[key], recorded.snapshots[key], rel=0.05)
    finally:
        scrape.close()
        live.close()


def test_record_then_replay_gives_the_prometheus_snapshots(
    prom: PrometheusServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A scrape that began just before `end` and times out writes its staleness markers
    # at its start time, after the fact. Recorded first and queried live second, the two
    # would then see different pasts (CI runs on a loaded machine had sg-0, and later
    # big-0 with `end` 3 s back, in the recording and not in the live answer), so `end`
    # is a second that every target's scrapes have moved past. The compared rates (10 s
    # windows back from `end - 4`, and the grid step before) must also come from
    # scrapes that all succeeded, none missed, none slow, over the whole recording:
    # where one was lost at a window's edge (a loaded machine), Prometheus's rate()
    # extrapolates less far and read big-0's prompt rate 851/s for 900/s recorded. Over
    # the whole 20 s, this also means the series began before the recording (at the
    # start of a series Prometheus extrapolates over the missing part, a recording
    # does not).
    end = prom.settled_second(*REPLAY_TARGETS, span=20, timeout=90, steady=STEADY)
    path = record_cli(prom, tmp_path, end - 20, end, capsys)
    recording = load_recording(path)
    assert {t.key for t in recording.targets} == {BIG, SG}
    names = {s.metric["__name__"] for s in recording.series}
    # Raw series only: gauges, counters, buckets, replica counts; no rates or quantiles.
    assert {
        "vllm:num_requests_waiting",
        "vllm:prompt_tokens_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:request_queue_time_seconds_bucket",
        "sglang:token_usage",
        "lws:spec_replicas",
    } <= names
    replay = RecordingSource(path)
    live = PrometheusSource(PrometheusQueryClient(prom.url), CLUSTER)
    try:
        for at in (end - 4, end - 2, end):
            recorded = replay.fetch(targets(), at)
            queried = live.fetch(targets(), at)
            assert not recorded.errors
            assert not queried.errors
            for key in (BIG, SG):
                assert_same_snapshot(recorded.snapshots[key], queried.snapshots[key])
        assert only(replay.fetch(targets(), end), "replay", "big").spec_replicas == 4
    finally:
        live.close()
