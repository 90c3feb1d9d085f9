"""The external metrics API over real HTTPS (uvicorn on 127.0.0.1, self-signed certificate),
read with httpx; JSON shapes are checked against the contract in
shared/reference/external-metrics-api.md. Auth is off here (tested in test_auth.py)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from autoscaler.server import runner
from tests.server.conftest import DEV, LLAMA, Running, Start
from tests.server.helpers import T0

BASE = "/apis/external.metrics.k8s.io/v1beta1"
REC = f"{BASE}/namespaces/inference/lws_recommended_replicas"


@pytest.fixture
def api(start_server: Start) -> Any:
    with start_server(disable_auth=True) as running:
        yield running


def _is_status(body: dict[str, Any], code: int, reason: str) -> None:
    assert set(body) >= {"kind", "apiVersion", "metadata", "status", "message", "reason", "code"}
    assert (body["kind"], body["apiVersion"], body["metadata"], body["status"]) == (
        "Status",
        "v1",
        {},
        "Failure",
    )
    assert (body["code"], body["reason"]) == (code, reason)
    assert "Traceback" not in body["message"]


def test_discovery_documents_match_the_contract(api: Running) -> None:
    with api.client() as http:
        groups = http.get("/apis").json()
        group = http.get("/apis/external.metrics.k8s.io").json()
        resources = http.get(BASE).json()
        v2 = http.get("/openapi/v2")
        v3 = http.get("/openapi/v3")
    version = {"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}
    assert groups == {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {"name": "external.metrics.k8s.io", "versions": [version], "preferredVersion": version}
        ],
    }
    assert group == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "external.metrics.k8s.io",
        "versions": [version],
        "preferredVersion": version,
    }
    assert resources["kind"] == "APIResourceList"
    assert resources["groupVersion"] == "external.metrics.k8s.io/v1beta1"
    names = [r["name"] for r in resources["resources"]]
    assert "lws_recommended_replicas" in names
    for entry in resources["resources"]:
        assert entry == {
            "name": entry["name"],
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
    assert v2.status_code == 200
    assert v2.json()["swagger"] == "2.0"
    assert v3.status_code == 200
    assert v3.json() == {"paths": {}}


def test_recommendation_value_list_shape(api: Running) -> None:
    api.cycle()
    with api.client() as http:
        response = http.get(REC, params={"labelSelector": "leaderworkerset=llama-70b"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    # 64 waiting over 4 groups at 8 per group -> 8 groups.
    assert body == {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {
                "metricName": "lws_recommended_replicas",
                "metricLabels": {"leaderworkerset": "llama-70b", "policy": "llama-70b"},
                "timestamp": "2026-01-01T00:00:00Z",
                "value": "8",
            }
        ],
    }


def test_raw_signals_per_lws(api: Running) -> None:
    api.cycle()
    with api.client() as http:
        queue = http.get(f"{BASE}/namespaces/inference/lws_queue_depth_per_group").json()
        kv = http.get(f"{BASE}/namespaces/inference/lws_kv_cache_utilization").json()
        tokens = http.get(
            f"{BASE}/namespaces/inference/lws_tokens_per_second_per_group",
            params={"labelSelector": "leaderworkerset=dev-8b"},
        ).json()
    by_lws = {i["metricLabels"]["leaderworkerset"]: i["value"] for i in queue["items"]}
    assert by_lws == {"llama-70b": "16", "dev-8b": "1250m"}  # 64/4 and 5/4 per group
    assert {i["value"] for i in kv["items"]} == {"500m"}
    (item,) = tokens["items"]
    assert item["metricLabels"] == {
        "leaderworkerset": "dev-8b",
        "policy": "dev-8b",
        "tokens": "generation",
    }
    assert (item["value"], item["window"]) == ("100", 60)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, {"llama-70b", "dev-8b"}),
        ("", {"llama-70b", "dev-8b"}),
        ("leaderworkerset in (dev-8b,other)", {"dev-8b"}),
        ("leaderworkerset notin (dev-8b)", {"llama-70b"}),
        ("leaderworkerset!=dev-8b,policy", {"llama-70b"}),
        ("!tokens", {"llama-70b", "dev-8b"}),
    ],
)
def test_selector_returns_exactly_the_selected_series(
    api: Running, selector: str | None, expected: set[str]
) -> None:
    api.cycle()
    params = {} if selector is None else {"labelSelector": selector}
    with api.client() as http:
        body = http.get(REC, params=params).json()
    assert {i["metricLabels"]["leaderworkerset"] for i in body["items"]} == expected


@pytest.mark.parametrize(
    ("path", "params", "code", "reason"),
    [
        (f"{BASE}/namespaces/inference/no_such_metric", {}, 404, "NotFound"),
        (f"{BASE}/namespaces/elsewhere/lws_recommended_replicas", {}, 404, "NotFound"),
        (REC, {"labelSelector": "leaderworkerset=nobody"}, 404, "NotFound"),
        (REC, {"labelSelector": "leaderworkerset in (a"}, 400, "BadRequest"),
        (REC, {"labelSelector": "=="}, 400, "BadRequest"),
        (REC, {"labelSelector": "x>y"}, 400, "BadRequest"),
        # Decoded with the list options, before the metric is looked up (as kube does).
        (
            f"{BASE}/namespaces/inference/no_such_metric",
            {"labelSelector": "a in (b"},
            400,
            "BadRequest",
        ),
        ("/apis/custom.metrics.k8s.io/v1beta2", {}, 404, "NotFound"),
        (f"{BASE}/namespaces/inference", {}, 404, "NotFound"),
        (f"{BASE}/namespaces/%2e%2e/lws_recommended_replicas", {}, 404, "NotFound"),
        (f"{BASE}/namespaces/inference/lws_recommended_replicas/extra", {}, 404, "NotFound"),
        # No redirect to the path without the slash: an HPA's client does not follow one.
        (f"{BASE}/namespaces/inference/lws_recommended_replicas/", {}, 404, "NotFound"),
        ("/" + "a" * 5000, {}, 400, "BadRequest"),
        (f"{BASE}/namespaces/{'n' * 3000}/lws_recommended_replicas", {}, 404, "NotFound"),
        (f"{BASE}/namespaces/in%00ference/lws_recommended_replicas", {}, 404, "NotFound"),
        (f"{BASE}/namespaces/ünïcode/lws_recommended_replicas", {}, 404, "NotFound"),
        # List options, decoded as kube-apiserver decodes them (these used to get 200).
        (REC, {"watch": "true"}, 405, "MethodNotAllowed"),
        (REC, {"watch": "1"}, 405, "MethodNotAllowed"),
        # apimachinery's Convert_Slice_string_To_bool: an empty value is true too.
        (REC, {"watch": ""}, 405, "MethodNotAllowed"),
        (REC, {"watch": "FALSE "}, 405, "MethodNotAllowed"),
        (f"{BASE}/namespaces/inference/no_such_metric", {"watch": "1"}, 405, "MethodNotAllowed"),
        (REC, {"limit": "abc"}, 400, "BadRequest"),
        (REC, {"timeoutSeconds": "1.5"}, 400, "BadRequest"),
        (REC, {"fieldSelector": "spec.foo=bar"}, 400, "BadRequest"),
        (REC, {"fieldSelector": "metadata.name"}, 400, "BadRequest"),
    ],
)
def test_errors_are_status_objects(
    api: Running, path: str, params: dict[str, str], code: int, reason: str
) -> None:
    api.cycle()
    with api.client() as http:
        response = http.get(path, params=params)
    assert response.status_code == code
    _is_status(response.json(), code, reason)


@pytest.mark.parametrize(
    "params",
    [
        {"watch": "false"},
        {"watch": "0"},
        {"watch": "False"},
        {"limit": "500", "timeoutSeconds": "30", "resourceVersion": "0"},
        {"fieldSelector": "metadata.name=x,metadata.namespace!=y"},
    ],
)
def test_list_options_kube_apiserver_accepts_still_read_the_metric(
    api: Running, params: dict[str, str]
) -> None:
    api.cycle()
    with api.client() as http:
        response = http.get(REC, params={"labelSelector": "leaderworkerset=llama-70b", **params})
    assert response.status_code == 200
    assert response.json()["kind"] == "ExternalMetricValueList"


def test_a_repeated_label_selector_takes_the_first_as_go_does(api: Running) -> None:
    # Go's url.Values.Get; Starlette's QueryParams.get would take the last (404 here).
    api.cycle()
    query = "labelSelector=leaderworkerset%3Dllama-70b&labelSelector=leaderworkerset%3Dnobody"
    with api.client() as http:
        response = http.get(f"{REC}?{query}")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


def test_an_over_long_uri_is_a_compact_status_like_every_other(api: Running) -> None:
    with api.client() as http:
        response = http.get("/" + "a" * 5000)
    assert response.status_code == 400
    assert response.text.startswith('{"kind":"Status","apiVersion":"v1"')


@pytest.mark.parametrize("path", ["/livez", "/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_answer_head(api: Running, path: str) -> None:
    # Load balancers and uptime checkers probe with HEAD; kube-apiserver's health
    # handlers do not look at the method.
    api.cycle()
    with api.client() as http:
        get, head = http.get(path), http.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_wrong_method_is_405_status(api: Running, method: str) -> None:
    api.cycle()
    with api.client() as http:
        response = http.request(method, REC, content=b"{}")
    assert response.status_code == 405
    _is_status(response.json(), 405, "MethodNotAllowed")


def test_stale_recommendation_is_503_and_not_ready(api: Running) -> None:
    """Decision at T0; max age is 3 cycles (45 s). At +45 s it is served, past it the
    server refuses with 503 so the HPA holds its current size, and /readyz fails."""
    api.cycle()
    with api.client() as http:
        api.clock.advance(45)
        assert http.get(REC).status_code == 200
        assert http.get("/readyz").status_code == 200
        api.clock.advance(1)
        stale = http.get(REC)
        assert stale.status_code == 503
        _is_status(stale.json(), 503, "ServiceUnavailable")
        assert "46s old" in stale.json()["message"]
        assert http.get("/readyz").status_code == 503
        # The debug view (what `explain` reads) says the same: 46 s old, stale.
        view = http.get(f"/debug/decisions/{LLAMA.namespace}/{LLAMA.name}").json()
        assert (view["stale"], view["ageSeconds"]) == (True, 46.0)
        api.cycle()  # a new cycle makes it fresh again
        assert http.get(REC).status_code == 200
        view = http.get(f"/debug/decisions/{LLAMA.namespace}/{LLAMA.name}").json()
        assert (view["stale"], view["ageSeconds"]) == (False, 0.0)


def test_a_loop_that_cycles_slowly_is_not_stale(
    api: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow Prometheus: each fetch takes 23 s of the 15 s cycle. The decision of a tick
    is published 23 s after it and replaced 23 s later, 46 s after its tick: past the
    max age (45 s) by the tick, though the loop never stopped. Every replica used to
    answer 503 and fail /readyz then. The cycle's lateness now adds to the max age, so
    the value is stale only when no cycle has published for a max age."""
    fetch = api.source.fetch

    def slow_fetch(targets: Any, now: float) -> Any:
        api.clock.advance(23)
        return fetch(targets, now)

    monkeypatch.setattr(api.source, "fetch", slow_fetch)
    tick = api.clock.now()
    api.cycle()  # decided at tick, published at tick + 23
    with api.client() as http:
        api.clock.advance(23)  # the next cycle's fetch ends: 46 s after the tick
        assert http.get(REC).status_code == 200
        assert http.get("/readyz").status_code == 200
        api.clock.advance(22)  # 45 s after the publication, the loop stopped
        assert http.get(REC).status_code == 200
        api.clock.advance(1)
        stale = http.get(REC)
        assert stale.status_code == 503
        assert api.clock.now() - tick == 69
        message = stale.json()["message"]
        assert "is 1m9s old (max age 45s + 23s the last cycle ran past its tick)" in message
        readyz = http.get("/readyz")
        assert (readyz.status_code, readyz.text) == (
            503,
            "last cycle 69s ago (max age 45s + 23s the last cycle ran past its tick)",
        )


def test_a_decision_dated_ahead_of_the_clock_is_stale_too(api: Running) -> None:
    """The wall clock stepped back an hour after a cycle: the decision now reads as an
    hour in the future. Within max age (45 s) of the clock that is skew; beyond it
    nobody can date the value, so it is refused like an old one."""
    api.cycle()
    with api.client() as http:
        api.clock.advance(-45)
        assert http.get(REC).status_code == 200
        assert http.get("/readyz").status_code == 200
        api.clock.advance(-3555)
        ahead = http.get(REC)
        assert ahead.status_code == 503
        _is_status(ahead.json(), 503, "ServiceUnavailable")
        assert "dated 1h ahead of this server's clock" in ahead.json()["message"]
        assert http.get("/readyz").status_code == 503


def test_no_recommendation_after_hold_is_404(api: Running) -> None:
    """Source down: the engine holds for holdFor (5 min default), then makes no
    recommendation (noRecommendation): the series disappears -> 404, HPA holds."""
    api.cycle()
    api.source.failing = True
    with api.client() as http:
        api.clock.advance(60)
        api.cycle()
        assert (
            http.get(REC, params={"labelSelector": "leaderworkerset=llama-70b"}).json()["items"][0][
                "value"
            ]
            == "8"
        )
        api.clock.advance(300)
        api.cycle()
        gone = http.get(REC, params={"labelSelector": "leaderworkerset=llama-70b"})
    assert gone.status_code == 404
    _is_status(gone.json(), 404, "NotFound")


def test_readiness_needs_a_cycle_with_source_data(api: Running) -> None:
    with api.client() as http:
        assert (http.get("/healthz").text, http.get("/livez").text) == ("ok", "ok")
        assert http.get("/readyz").status_code == 503  # no cycle yet
        api.source.failing = True
        api.cycle()
        assert http.get("/readyz").status_code == 503  # a cycle, but no data ever
        api.source.failing = False
        api.cycle()
        assert http.get("/readyz").text == "ok"
        api.source.failing = True
        api.clock.advance(15)
        api.cycle()
        assert http.get("/readyz").text == "ok"  # source down now: decisions hold


def test_a_replica_whose_source_never_answers_turns_ready_after_a_max_age(
    api: Running,
) -> None:
    """Prometheus down while both replicas start: without a ready endpoint the APIService
    is unavailable, and the aggregator's failed discovery stalls namespace deletion
    cluster-wide. One max age (45 s) after its first cycle the replica is ready anyway;
    its reads answer 404 (no decision), so the HPAs hold."""
    api.source.failing = True
    with api.client() as http:
        api.cycle()
        for _ in range(3):  # +15, +30, +45 s: inside the max age
            assert http.get("/readyz").status_code == 503
            api.clock.advance(15)
            api.cycle()
        assert http.get("/readyz").text == "ok"
        assert http.get(REC).status_code == 404


def test_liveness_fails_when_the_loop_thread_dies(start_server: Start) -> None:
    with start_server(disable_auth=True) as running:
        process = running.process
        process._cycles_driven_by_caller = False

        def crash(now: float) -> Any:
            raise RuntimeError("bug")

        process.loop.run_cycle = crash
        process.start_loop()
        process._loop_thread.join(timeout=30)
        assert not process._loop_thread.is_alive()
        with running.client() as http:
            assert http.get("/livez").status_code == 500
            assert http.get("/healthz").status_code == 500
            assert http.get("/readyz").status_code == 503


def test_liveness_fails_while_the_loop_is_stuck_and_recovers_when_it_moves(
    start_server: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop thread that hangs (a call without a timeout, a deadlock) is alive but
    decides nothing: /livez fails once no cycle finished for ``stuck_after`` seconds
    (made 0.3 s here; the table below checks the real bound), so the kubelet restarts
    the pod."""
    monkeypatch.setattr(runner, "stuck_after", lambda cycle, max_age: 0.3)
    release = threading.Event()
    with start_server(disable_auth=True) as running:
        running.cycle()
        process = running.process
        process._cycles_driven_by_caller = False
        cycles: list[float] = []

        def hang_once(now: float) -> Any:
            cycles.append(now)
            if len(cycles) == 1:
                release.wait(timeout=60)
            else:
                time.sleep(0.02)  # a cycle's work
            # The next tick is due at once: once released, the loop keeps finishing
            # cycles. (Left waiting for a tick of the manual clock, it was live only for
            # the 0.3 s after the hung cycle, which a poll delayed by a loaded machine
            # could miss, then failed for good.)
            running.clock.advance(15)
            return []

        process.loop.run_cycle = hang_once
        process.loop.restore = lambda now, stop=None: 0
        process.start_loop()
        try:
            with running.client() as http:
                live = _poll_status(http, "/livez", 500)
                assert live.text.startswith("control loop stuck: no cycle finished for")
                # The cycle before the hang is fresh, yet a stuck loop is not ready.
                ready = http.get("/readyz")
                assert ready.status_code == 503
                assert ready.text.startswith("control loop stuck: no cycle finished for")
                assert len(cycles) == 1
                release.set()
                # The hung cycle returns and the loop moves on: live again.
                assert _poll_status(http, "/livez", 200).text == "ok"
        finally:
            release.set()


@pytest.mark.parametrize(
    ("cycle", "max_age", "limit"),
    [
        (15.0, 45.0, 300.0),  # the defaults: 5 minutes
        (60.0, 180.0, 720.0),  # 4 max ages (12 min) beyond 10 cycles (10 min)
        (60.0, 120.0, 600.0),  # 10 cycles
        (1.0, 3.0, 300.0),  # never under 5 minutes
    ],
)
def test_the_loop_counts_as_stuck_after(cycle: float, max_age: float, limit: float) -> None:
    assert runner.stuck_after(cycle, max_age) == limit


def _poll_status(http: Any, path: str, status: int) -> Any:
    deadline = time.monotonic() + 30
    while True:
        response = http.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.05)


def test_debug_decision_and_metrics(api: Running) -> None:
    api.source.group_times = (T0 - 200, T0)  # re-created, ready now: starts it watched
    api.cycle()
    with api.client() as http:
        one = http.get(f"/debug/decisions/{LLAMA.namespace}/{LLAMA.name}").json()
        every = http.get("/debug/decisions").json()
        missing = http.get("/debug/decisions/inference/nobody")
        http.get(REC)
        metrics = http.get("/metrics").text
    assert one["replicas"] == 8
    assert one["driver"] == "queueDepth"
    assert one["hpas"] is None  # no HPA audit here (no cluster): unknown, not "none"
    assert one["explanation"].startswith("inference/llama-70b (policy llama-70b): recommend 8")
    assert [r["code"] for r in one["reasons"]][-1] == "Signal"
    assert {(d["namespace"], d["name"]) for d in every["items"]} == {
        (LLAMA.namespace, LLAMA.name),
        (DEV.namespace, DEV.name),
    }
    _is_status(missing.json(), 404, "NotFound")
    assert (
        'lws_autoscaler_recommended_replicas{leaderworkerset="llama-70b",'
        'namespace="inference",policy="llama-70b"} 8.0' in metrics
    )
    assert 'lws_autoscaler_signal_proposal_replicas{leaderworkerset="llama-70b"' in metrics
    llama = 'leaderworkerset="llama-70b",namespace="inference",policy="llama-70b"'
    assert f"lws_autoscaler_demand_groups{{{llama}}} " in metrics
    # The source's groups were created at T0 - 200 and ready at T0: a learned 200 s
    # replaces the policy's expected 5 minutes, and the decision says so.
    assert f"lws_autoscaler_cold_start_seconds{{{llama}}} 200.0" in metrics
    assert f'lws_autoscaler_decision_reasons_total{{{llama},reason="Signal"}} 1.0' in metrics
    learned = f'lws_autoscaler_decision_reasons_total{{{llama},reason="ColdStartLearned"}} 1.0'
    assert learned in metrics
    assert "lws_autoscaler_cycle_duration_seconds_count 1.0" in metrics
    route = "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
    assert f'lws_autoscaler_http_requests_total{{code="200",method="GET",route="{route}"}}' in (
        metrics
    )


def test_internal_failure_is_generic_500(api: Running, caplog: pytest.LogCaptureFixture) -> None:
    api.cycle()

    def explode(namespace: str, metric: str) -> Any:
        raise RuntimeError("secret detail: password=hunter2")

    api.process.store.series = explode  # type: ignore[method-assign]
    with api.client() as http:
        response = http.get(REC)
    assert response.status_code == 500
    body = response.json()
    _is_status(body, 500, "InternalError")
    assert "hunter2" not in json.dumps(body)
    assert "hunter2" in caplog.text  # the details went to the log


def test_decision_timestamp_is_the_cycle_tick(api: Running) -> None:
    api.clock.advance(15)
    api.cycle()
    with api.client() as http:
        item = http.get(REC).json()["items"][0]
    assert item["timestamp"] == "2026-01-01T00:00:15Z"
    assert T0 % 15 == 0
