"""``serve`` end to end with the HPA audit: two HPAs on one LWS (the chart's and a KEDA
ScaledObject's) make a ``CompetingAutoscalers`` Warning on the LWS, the gauges on
``/metrics`` and a WARNING in ``explain``'s answer.

No kube-apiserver can run here: the server's kubeconfig points at the wire-level fake
(``tests/support/fake_apiserver.py``), which serves the LWS, its leader pod and the
``autoscaling/v2`` HPAs shaped as the real API server returns them
(``tests/server/hpa_objects.py``, with the HPA controller's own condition messages). The
leader's metrics come from a real exporter on 127.0.0.1, scraped by the real process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from autoscaler.cli.main import main
from tests.cli.served_lws import served_lws
from tests.server.hpa_objects import ambiguous, hpa_object
from tests.support.exporter import FakeLeader
from tests.support.prometheus import free_port


@pytest.mark.slow
def test_two_hpas_on_the_lws_are_told_in_events_metrics_and_explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leader = FakeLeader("inference", "llama", "llama-0", waiting=5)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    names = ["keda-hpa-llama", "llama"]
    # Both there from the start: an audit between two puts would see one alone, stopped.
    hpas = [hpa_object("inference", n, "llama", ambiguous("inference", names)) for n in names]
    with served_lws(tmp_path, leader, port, ("--hpa-audit-interval", "1s"), hpas) as served:

        def warned() -> bool:
            return any(e["reason"] == "CompetingAutoscalers" for e in served.posted_events())

        served.wait(warned, "no CompetingAutoscalers Event")
        (event,) = [e for e in served.posted_events() if e["reason"] == "CompetingAutoscalers"]
        assert event["type"] == "Warning"
        assert event["regarding"]["name"] == "llama"
        assert event["regarding"]["uid"] == served.lws["metadata"]["uid"]
        assert "(keda-hpa-llama, llama)" in event["note"]
        # One story, one Warning: not an HPANotScaling per HPA besides.
        assert not [e for e in served.posted_events() if e["reason"] == "HPANotScaling"]
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'lws_autoscaler_hpas{leaderworkerset="llama",namespace="inference"} 2.0' in metrics
        capsys.readouterr()
        assert main(["explain", "inference/llama", "--server", url]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("inference/llama (policy llama): ")
        assert out[-1] == (
            "  WARNING: 2 HorizontalPodAutoscalers target this LWS (keda-hpa-llama, llama): "
            "the HPA controller scales it with none of them (AmbiguousSelector)"
        )

        # The KEDA object removed: explain says who follows the recommendation now.
        served.api.delete("autoscaling/v2", "HorizontalPodAutoscaler", "inference", names[0])
        # The policy's range, 1 to 12 groups, as the chart's HPA copies it.
        served.api.put(hpa_object("inference", "llama", "llama", [], max_replicas=12))

        def one_left() -> bool:
            main(["explain", "inference/llama", "--server", url])
            lines = capsys.readouterr().out.splitlines()
            return lines[-1:] == ["  followed by HorizontalPodAutoscaler llama"]

        served.wait(one_left, "explain never showed the one HPA left")
