"""``serve`` end to end with an operator's pause: annotating the LWS with
``lws-autoscaler.io/paused-replicas`` changes what the HPA reads from the external
metrics API, and removing the annotation hands the LWS back to the rules.

No kube-apiserver can run here: the server's kubeconfig points at the wire-level fake
(``tests/support/fake_apiserver.py``), which stores the LWS and its leader pod shaped as
the real API server returns them and applies JSON merge patches as it does (the patch
``kubectl annotate`` sends for a custom resource). The leader's metrics come from a real
exporter on 127.0.0.1, scraped by the real process."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from autoscaler.snapshot import PAUSED_REPLICAS_ANNOTATION
from tests.cli.served_lws import served_lws
from tests.sources.kube_objects import annotate_lws
from tests.support.exporter import FakeLeader
from tests.support.prometheus import free_port

METRIC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"


@pytest.mark.slow
def test_a_paused_lws_gets_the_paused_count_until_the_annotation_is_removed(
    tmp_path: Path,
) -> None:
    leader = FakeLeader("inference", "llama", "llama-0", waiting=50)  # 5 groups' worth
    port = free_port()

    def published() -> str | None:
        """The value the HPA reads (a Quantity), or None before the first cycle."""
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{port}{METRIC}",
                params={"labelSelector": "leaderworkerset=llama"},
                timeout=10,
            )
        except httpx.TransportError:
            return None  # not listening yet
        items = answer.json().get("items") if answer.status_code == 200 else None
        return str(items[0]["value"]) if items else None

    with served_lws(tmp_path, leader, port) as served:

        def annotate(value: str | None) -> None:
            annotate_lws(served.api, "inference", "llama", PAUSED_REPLICAS_ANNOTATION, value)

        def reasons() -> list[str]:
            return [event["reason"] for event in served.posted_events()]

        served.wait(lambda: published() == "5", "the rules never recommended 5")
        annotate("2")
        served.wait(lambda: published() == "2", "the pause never reached the metric")
        served.wait(lambda: "AutoscalingPaused" in reasons(), "no AutoscalingPaused event")
        # The queue is still 5 groups' worth: the pause, not the load, holds 2.
        time.sleep(3)
        assert published() == "2"
        annotate(None)
        served.wait(lambda: published() == "5", "the rules never took the LWS back")
        served.wait(lambda: "AutoscalingResumed" in reasons(), "no AutoscalingResumed event")
    (paused,) = [e for e in served.posted_events() if e["reason"] == "AutoscalingPaused"]
    assert paused["note"] == (
        f'autoscaling paused by {PAUSED_REPLICAS_ANNOTATION}="2": 2; the rules alone would '
        "recommend 5"
    )
