"""``serve`` end to end with an operator's pause: annotating the LWS with
``lws-autoscaler.io/paused-replicas`` changes what the HPA reads from the external
metrics API, and removing the annotation hands the LWS back to the rules.

No kube-apiserver can run here: the server's kubeconfig points at the wire-level fake
(``tests/support/fake_apiserver.py``), which stores the LWS and its leader pod shaped as
the real API server returns them and applies JSON merge patches as it does (the patch
``kubectl annotate`` sends for a custom resource). The leader's metrics come from a real
exporter on 127.0.0.1, scraped by the real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from autoscaler.snapshot import PAUSED_REPLICAS_ANNOTATION
from tests.server.helpers import write_policy
from tests.sources.kube_objects import lws_object, pod_object
from tests.support.exporter import FakeLeader, MetricsExporter
from tests.support.fake_apiserver import FakeApiServer
from tests.support.prometheus import free_port

LWS = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/inference/leaderworkersets/llama"
EVENTS = "/apis/events.k8s.io/v1/namespaces/inference/events"
METRIC = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/lws_recommended_replicas"


@pytest.mark.slow
def test_a_paused_lws_gets_the_paused_count_until_the_annotation_is_removed(
    tmp_path: Path,
) -> None:
    leader = FakeLeader("inference", "llama", "llama-0", waiting=50)  # 5 groups' worth
    exporter = MetricsExporter([leader]).start()
    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(
        policies / "llama.yaml",
        name="llama",
        lws="llama",
        signals=[{"type": "queueDepth", "targetPerGroup": 10}],
        metrics={"scrape": {"port": "http"}},
        scaleUp={"stabilizationWindow": "0s", "maxStep": None},
    )
    port = free_port()
    try:
        with FakeApiServer() as api:
            api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1, size=1))
            ports = {"http": exporter.port}
            api.put(pod_object("inference", "llama", 0, 0, ip="127.0.0.1", size=1, ports=ports))
            config = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa")
            command = [
                *(sys.executable, "-m", "autoscaler.cli.main", "serve", "--source", "scrape"),
                *("--policies", str(policies), "--kubeconfig", str(config), "--disable-auth"),
                *("--insecure", "--insecure-port", str(port), "--cycle", "1s"),
            ]
            process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)

            def wait(condition: Callable[[], bool], what: str) -> None:
                deadline = time.monotonic() + 60
                while not condition():
                    assert process.poll() is None, process.communicate()[1]
                    assert time.monotonic() < deadline, what
                    time.sleep(0.2)

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

            def annotate(value: str | None) -> None:
                """What ``kubectl annotate`` sends (``KEY-`` to remove: the key as null)."""
                patch = {"metadata": {"annotations": {PAUSED_REPLICAS_ANNOTATION: value}}}
                answer = httpx.patch(
                    api.url + LWS,
                    json=patch,
                    headers={"content-type": "application/merge-patch+json"},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text

            def reasons() -> list[str]:
                posts = [r for r in api.requests if r.method == "POST" and r.path == EVENTS]
                return [post.json()["reason"] for post in posts]

            try:
                wait(lambda: published() == "5", "the rules never recommended 5")
                annotate("2")
                wait(lambda: published() == "2", "the pause never reached the metric")
                wait(lambda: "AutoscalingPaused" in reasons(), "no AutoscalingPaused event")
                # The queue is still 5 groups' worth: the pause, not the load, holds 2.
                time.sleep(3)
                assert published() == "2"
                annotate(None)
                wait(lambda: published() == "5", "the rules never took the LWS back")
                wait(lambda: "AutoscalingResumed" in reasons(), "no AutoscalingResumed event")
            finally:
                process.terminate()
                process.wait(timeout=60)
                if process.stderr is not None:
                    process.stderr.close()
    finally:
        exporter.stop()
    posted = [r.json() for r in api.requests if r.method == "POST" and r.path == EVENTS]
    (paused,) = [e for e in posted if e["reason"] == "AutoscalingPaused"]
    assert paused["note"] == (
        f'autoscaling paused by {PAUSED_REPLICAS_ANNOTATION}="2": 2; the rules alone would '
        "recommend 5"
    )
