"""One real Prometheus and one test exporter for all source tests of this package.

The exporter impersonates the leader pods of several fake LWS (vLLM with data
parallelism, pre-0.10 vLLM, SGLang with tensor parallelism, groups that come and go, a
stale leader, a leader with a hostile model name) and kube-state-metrics' LWS replica
gauges. Prometheus scrapes it every second with the labels the shipped PodMonitor puts
on leader series. Each test module uses its own LWS so tests do not disturb each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.exporter import FakeLeader, FakeLws, MetricsExporter
from tests.support.prometheus import PROMETHEUS, PrometheusServer, scrape_config

INJECTED = 'x"} or vector(1) or up{job="'
COMMON: dict[str, Any] = {
    "running": 4.0,
    "kv": 0.5,
    "prompt_rate": 200.0,
    "generation_rate": 80.0,
    "ttft_rate": 20.0,
    "ttft_median": 0.4,
    "queue_rate": 15.0,
    "queue_median": 0.6,
}


def _leaders() -> list[FakeLeader]:
    return [
        FakeLeader("inference", "llama", "llama-0", waiting=6, data_parallel=2, **COMMON),
        FakeLeader("inference", "llama", "llama-1", waiting=2, **{**COMMON, "kv": 0.7}),
        FakeLeader("inference", "old", "old-0", engine="vllm-old", waiting=1, **COMMON),
        FakeLeader(
            "inference", "sg", "sg-0", engine="sglang", waiting=12, tensor_parallel=4, **COMMON
        ),
        FakeLeader("inference", "grow", "grow-0", waiting=1, **COMMON),
        FakeLeader("inference", "grow", "grow-1", waiting=3, present=False, **COMMON),
        FakeLeader("inference", "reset", "reset-0", **COMMON),
        FakeLeader("inference", "stale", "stale-0", waiting=5, frozen_at=time.time(), **COMMON),
        FakeLeader("inference", "weird", "weird-0", waiting=9, model_name=INJECTED, **COMMON),
        FakeLeader("inference", "llamaxv2", "llamaxv2-0", waiting=7, **COMMON),
        FakeLeader("other", "llama", "llama-0", waiting=50, **COMMON),
        FakeLeader("other", "chat", "chat-0", waiting=1, **COMMON),
        # For the record/replay and three-source tests.
        FakeLeader(
            "replay",
            "big",
            "big-0",
            waiting=10,
            data_parallel=2,
            **{**COMMON, "prompt_rate": 900.0},
        ),
        FakeLeader("replay", "big", "big-1", waiting=4, **{**COMMON, "kv": 0.8}),
        FakeLeader("replay", "big", "big-2", waiting=0, **{**COMMON, "ttft_median": 2.0}),
        FakeLeader("replay", "sg", "sg-0", engine="sglang", waiting=3, **COMMON),
        # Scraped twice: by the leaders' job and by a second one (see ``prom``).
        FakeLeader("inference", "dup", "dup-0", waiting=7, data_parallel=2, **COMMON),
    ]


def _second_job(exporter: MetricsExporter) -> list[dict[str, Any]]:
    """The "dup" leader again, as a ServiceMonitor beside the PodMonitor would scrape
    it: the same series under another ``job`` and with a ``service`` label."""
    groups = [g for g in exporter.targets() if g["labels"]["pod"] == "dup-0"]
    return [{**g, "labels": {**g["labels"], "service": "dup-vllm"}} for g in groups]


# Every target up, and every rate full, at one instant: a few seconds on a quiet machine.
# Under about 2.5x oversubscription of the two cores the exporter's answers missed
# Prometheus's 1 s scrape timeout often enough that 30 s passed without such an instant;
# the wait ends as soon as it holds, so a long bound costs a quiet run nothing.
SETTLE_SECONDS = 120.0


def settle(server: PrometheusServer, exporter: MetricsExporter) -> None:
    """Wait until rate() over the tests' 10 s window reads full values again.

    At the start of a series (or after an outage) the window is only partly covered and
    Prometheus extrapolates over the missing part, where a recording does not: every live
    leader must show its full 200 tokens/s (>190) before rates are compared.
    """
    moving = sum(1 for lead in exporter.leaders.values() if lead.present and not lead.frozen_at)
    server.wait_for(
        'sum by (namespace, pod) (rate({__name__=~"(vllm|sglang):prompt_tokens_total"}[10s]))'
        " > 190",
        lambda r: len(r) == moving,
        timeout=SETTLE_SECONDS,
    )


@pytest.fixture(scope="package")
def exporter() -> Iterator[MetricsExporter]:
    lws = [FakeLws("replay", "big", spec=4, status=3, ready=3)]
    with MetricsExporter(_leaders(), lws) as running:
        yield running


@pytest.fixture(scope="package")
def prom(
    exporter: MetricsExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is not installed")
    jobs = {
        "leaders": exporter.targets(),
        "ksm": exporter.ksm_targets(),
        "vllm-servicemonitor": _second_job(exporter),
    }
    config = scrape_config(jobs)
    with PrometheusServer(tmp_path_factory.mktemp("prom"), config) as server:
        present = sum(1 for lead in exporter.leaders.values() if lead.present) + 2
        server.wait_for("up == 1", lambda r: len(r) == present, timeout=SETTLE_SECONDS)
        settle(server, exporter)
        yield server
