"""What ``record`` keeps of Prometheus's answers (scripted fakes on 127.0.0.1): only the
series of the targets' exact (namespace, LWS) pairs, leader series counted only with a
pod label, the grid of a step that is not whole seconds kept point for point across
chunks, and no credentials in the file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from autoscaler.errors import SourceError
from autoscaler.snapshot import LwsKey
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recorder import _figure, activation_queries, leaderless, record
from autoscaler.sources.recording_format import Recording
from tests.sources.factories import target
from tests.sources.fake_prometheus import LWS_LABEL, FakePrometheus, http
from tests.support.background import serve_in_background, shut_down

NOW = 1_767_225_600.0
WAITING = "vllm:num_requests_waiting"


def _matrix(items: list[dict[str, Any]]) -> bytes:
    body = {"status": "success", "data": {"resultType": "matrix", "result": items}}
    return http(200, json.dumps(body).encode())


def _series(namespace: str, name: str, pod: str | None = "p-0") -> dict[str, Any]:
    metric = {"namespace": namespace, LWS_LABEL: name}
    if pod is not None:
        metric["pod"] = pod
    return {"metric": metric, "values": [[NOW, "3"]]}


def _replicas(namespace: str, name: str) -> dict[str, Any]:
    return {"metric": {"namespace": namespace, "leaderworkerset": name}, "values": [[NOW, "2"]]}


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus(lambda _query: _matrix([]))
    try:
        yield server
    finally:
        server.close()


def _record(url: str, *keys: tuple[str, str], **kw: Any) -> Recording:
    """``record`` of ``keys`` over a minute at 15 s (or ``start``/``end``/``step``)."""
    client = PrometheusQueryClient(url, timeout=5, retries=0)
    span = (kw.get("start", NOW), kw.get("end", NOW + 60), kw.get("step", 15.0))
    try:
        return record(client, [target(ns, name) for ns, name in keys], *span)
    finally:
        client.close()


def _answering(fake: FakePrometheus, leaders: list[dict[str, Any]]) -> None:
    """``leaders`` for the leader families, replica counts of inference/llama and of
    dev/llama (outside the targets) for the replica queries, nothing for the rest."""

    def decide(query: str) -> bytes:
        if "kube_leaderworkerset" in query:
            return _matrix([_replicas("inference", "llama"), _replicas("dev", "llama")])
        return _matrix(leaders)

    fake.decide = decide


TARGETS = (("inference", "llama"), ("dev", "chat"))
"""Selected as namespace=~"dev|inference", LWS=~"chat|llama": inference/chat and dev/llama
match the selectors too, and no policy targets them."""


@pytest.mark.timeout(20)
def test_only_the_targets_series_are_kept(fake: FakePrometheus) -> None:
    _answering(fake, [_series("inference", "llama"), _series("inference", "chat")])
    recording = _record(fake.url, *TARGETS)
    kept = {(s.metric["namespace"], s.metric[LWS_LABEL]) for s in recording.series}
    assert kept == {("inference", "llama")}  # leaders and replica counts alike
    assert leaderless(recording) == [LwsKey("dev", "chat")]


@pytest.mark.timeout(20)
def test_leaders_of_untargeted_lws_alone_record_nothing(fake: FakePrometheus) -> None:
    """They used to make a "successful" recording of LWS no policy targets, exit 0."""
    _answering(fake, [_series("inference", "chat"), _series("dev", "llama")])
    with pytest.raises(SourceError, match="no leader series for any of the 2 LWS"):
        _record(fake.url, *TARGETS)


@pytest.mark.timeout(20)
def test_leader_series_without_a_pod_label_are_a_specific_error(fake: FakePrometheus) -> None:
    """A replay skips series without a pod: the file used to be written, and replayed
    nothing."""
    _answering(fake, [_series("inference", "llama", pod=None), _series("dev", "chat", pod="")])
    with pytest.raises(SourceError) as raised:
        _record(fake.url, *TARGETS)
    assert str(raised.value) == (
        f"Prometheus at {fake.url} has leader series for dev/chat, inference/llama from "
        "2026-01-01T00:00:00Z to 2026-01-01T00:01:00Z, but the series lack the label 'pod' "
        "that tells a replay one leader from another: nothing recorded. Check that the "
        "scrape keeps the pod label on the leaders' series"
    )


@pytest.mark.timeout(20)
def test_a_target_whose_series_lack_the_pod_label_is_leaderless(fake: FakePrometheus) -> None:
    _answering(fake, [_series("inference", "llama"), _series("dev", "chat", pod=None)])
    recording = _record(fake.url, *TARGETS)
    assert leaderless(recording) == [LwsKey("dev", "chat")]
    assert leaderless(recording, pod=False) == []


@pytest.mark.timeout(20)
def test_the_header_has_the_url_without_credentials(fake: FakePrometheus) -> None:
    _answering(fake, [_series("inference", "llama")])
    url = fake.url.replace("http://", "http://alice:s3cret@")
    recording = _record(url, ("inference", "llama"))
    assert recording.source == {"prometheusUrl": fake.url}


class _Evaluating(ThreadingHTTPServer):
    """Evaluates a range query as Prometheus does, at ``start + i * step`` up to ``end``,
    all in milliseconds (its resolution): one leader of inference/llama reporting "1"
    for the queue-depth query, nothing for the others. Keeps each request's form."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Evaluate)
        self.forms: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Evaluate(BaseHTTPRequestHandler):
    server: _Evaluating

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        self.server.forms.append(form)
        step = form["step"]
        step_ms = int(step[:-2]) if step.endswith("ms") else int(step[:-1]) * 1000
        start_ms, end_ms = round(float(form["start"]) * 1000), round(float(form["end"]) * 1000)
        values = [[t / 1000, "1"] for t in range(start_ms, end_ms + 1, step_ms)]
        metric = {"namespace": "inference", LWS_LABEL: "llama", "pod": "llama-0"}
        items = [{"metric": metric, "values": values}] if WAITING in form["query"] else []
        self.wfile.write(_matrix(items))  # a whole raw answer, status line included

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def evaluating() -> Iterator[_Evaluating]:
    server = _Evaluating()
    thread = serve_in_background(server)
    try:
        yield server
    finally:
        shut_down(server, thread)


@pytest.mark.timeout(60)
def test_a_fractional_step_keeps_every_point_across_chunks(evaluating: _Evaluating) -> None:
    """At 1.5 s, the first chunk ends at NOW + 14998.5: sent rounded to a whole second,
    its last point was lost; and the last chunk's end, rounded up from NOW + 18002.7,
    brought a point after it (NOW + 18003)."""
    end = NOW + 18002.7
    recording = _record(evaluating.url, ("inference", "llama"), end=end, step=1.5)
    (waiting,) = [s for s in recording.series if s.metric["__name__"] == WAITING]
    assert [t for t, _ in waiting.points] == [NOW + 1.5 * i for i in range(12002)]
    assert (recording.start, recording.end, recording.step) == (NOW, NOW + 18001.5, 1.5)
    sent = {(f["start"], f["end"], f["step"]) for f in evaluating.forms}
    assert sent == {
        ("1767225600", "1767240598.500", "1500ms"),
        ("1767240600", "1767243602.700", "1500ms"),
    }


@pytest.mark.timeout(60)
def test_a_whole_second_step_is_requested_as_before(evaluating: _Evaluating) -> None:
    recording = _record(evaluating.url, ("inference", "llama"), end=NOW + 3600, step=15.0)
    assert {(f["start"], f["end"], f["step"]) for f in evaluating.forms} == {
        ("1767225600", "1767229200", "15s")
    }
    assert (recording.end, recording.step) == (NOW + 3600, 15.0)


@pytest.mark.parametrize(("enabled", "recorded"), [(True, 1), (False, 0)])
def test_an_activation_is_recorded_only_while_scale_to_zero_is_on(
    enabled: bool, recorded: int
) -> None:
    """Turned off with its query kept, a policy never runs it: nothing to record."""
    activation = "sum(rate(gateway_requests_total[1m]))"
    targets = [target("inference", "parked", activation=activation, zero_enabled=enabled)]
    assert len(activation_queries(targets, LabelNames())) == recorded


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (5_184_000.0, "5,184,000"),
        (60.5, "60.5"),
        (1e12, "1e+12"),
        (999_999_999_999.0, "999,999,999,999"),
    ],
)
def test_figures_in_messages_are_grouped_until_a_million_million(value: float, shown: str) -> None:
    assert _figure(value) == shown
