"""The chart's Grafana dashboard: rendered by the real Helm engine into a ConfigMap the
dashboard sidecar loads, and every query it runs answered by a real Prometheus scraping
a real server.

The query test starts the server (uvicorn over TLS on 127.0.0.1, an in-memory metric
source, cycles driven by hand) and the Debian ``prometheus`` binary scraping its
``/metrics`` over HTTPS with the labels the chart's ServiceMonitor gives its targets
(``job`` = the Service, ``namespace`` = the release's, ``pod``; the LWS's own
``namespace`` label thus arrives as ``exported_namespace``). Each panel's query and each
template variable's is run as Grafana would, with the variables filled in; a query
with a typo in a metric or label name answers nothing and fails the test.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from autoscaler.server.hpa_audit import HpaAudit
from autoscaler.server.runner import ServerProcess, bound_port
from autoscaler.server.settings import ServeSettings
from autoscaler.server.telemetry import Telemetry
from tests.charts.chart_support import CHART_DIR, FULLNAME, NAMESPACE, render, validation_errors
from tests.server.conftest import DEV, LLAMA
from tests.server.helpers import FunctionSource, ManualClock, constant, write_policy
from tests.server.hpa_objects import NO_METRIC, SCALING, hpa_object
from tests.support.prometheus import PrometheusServer

ENABLED = {"grafanaDashboard": {"enabled": True}}
DASHBOARD_FILE = CHART_DIR / "dashboards" / "lws-autoscaler.json"


def _config_map(values: dict[str, Any]) -> dict[str, Any]:
    rendered = render(values)
    assert list(validation_errors(rendered)) == []
    (config_map,) = [
        m for m in rendered.all("ConfigMap") if m["metadata"]["name"].endswith("-dashboard")
    ]
    return config_map


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_off_by_default() -> None:
    names = [m["metadata"]["name"] for m in render({}).all("ConfigMap")]
    assert not [n for n in names if n.endswith("-dashboard")]


def test_the_config_map_carries_the_dashboard_as_shipped() -> None:
    config_map = _config_map(ENABLED)
    meta = config_map["metadata"]
    assert meta["labels"]["grafana_dashboard"] == "1"  # the sidecar's default label
    assert meta["namespace"] == NAMESPACE
    # Byte for byte: the packaged file (not left out by .helmignore), not a re-encoding.
    assert config_map["data"]["lws-autoscaler.json"] == DASHBOARD_FILE.read_text()


def test_sidecar_namespace_labels_and_annotations() -> None:
    values = {
        "grafanaDashboard": {
            "enabled": True,
            "namespace": "monitoring",
            "labels": {"grafana_dashboard": "lws"},
            "annotations": {"grafana_folder": "LLM serving"},
        }
    }
    meta = _config_map(values)["metadata"]
    assert meta["namespace"] == "monitoring"
    assert meta["labels"]["grafana_dashboard"] == "lws"
    assert meta["annotations"] == {"grafana_folder": "LLM serving"}


def test_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        covered = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
    for panel in _panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]


# --- every query against a real Prometheus scraping a real server --------------------------

VARIABLES = {
    "$job": FULLNAME,
    "$lws_namespace": ".*",
    "$leaderworkerset": ".*",
    "$__rate_interval": "30s",
}


def _filled(query: str) -> str:
    for name, value in VARIABLES.items():
        query = query.replace(name, value)
    assert "$" not in query, query
    return query


class _Hpas:
    """The HPA audit's answers (its Kubernetes side is tested in
    tests/server/test_hpa_audit.py): two HPAs on llama, one of them unable to read the
    metric, and one on dev."""

    def list_hpas(self, namespace: str) -> list[dict[str, Any]]:
        assert namespace == LLAMA.namespace == DEV.namespace
        return [
            hpa_object(namespace, LLAMA.name, LLAMA.name, SCALING),
            hpa_object(namespace, f"keda-hpa-{LLAMA.name}", LLAMA.name, NO_METRIC),
            hpa_object(namespace, DEV.name, DEV.name, SCALING),
        ]


@pytest.fixture(scope="module")
def scraped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A server with two policies, cycling, scraped every second for a few seconds as
    two pods (``p-0``, ``p-1``)."""
    root = tmp_path_factory.mktemp("dashboard")
    policies = root / "policies"
    policies.mkdir()
    write_policy(policies / "llama.yaml")
    write_policy(policies / "dev.yaml", name="dev-8b", target_per_group=10)
    settings = ServeSettings(
        policies=(policies,),
        bind_address="127.0.0.1",
        secure_port=0,
        cert_dir=root / "certs",
        disable_auth=True,
        cycle_seconds=15.0,
    )
    clock = ManualClock()
    source = FunctionSource({LLAMA: constant(64.0), DEV: constant(5.0)})
    telemetry = Telemetry()
    audit = HpaAudit(_Hpas(), telemetry, interval=15)
    process = ServerProcess(settings, source, clock, telemetry=telemetry, hpa_audit=audit)
    with process.background(start_loop=False) as server:
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "lws-autoscaler-pods",
                    "scheme": "https",
                    "tls_config": {"ca_file": str(settings.cert_dir / "apiserver.crt")},
                    # The chart's two replicas, each deciding every LWS: here one server
                    # scraped as two pods, so a panel that sums the pods shows double.
                    "static_configs": [
                        {
                            "targets": [f"127.0.0.1:{bound_port(server)}"],
                            # As the ServiceMonitor's relabelling sets them.
                            "labels": {"job": FULLNAME, "namespace": NAMESPACE, "pod": pod},
                        }
                        for pod in ("p-0", "p-1")
                    ],
                }
            ],
        }
        with PrometheusServer(root / "prometheus", config) as prometheus:
            # Cycles while Prometheus scrapes: counters move between samples.
            deadline = time.monotonic() + 60
            for _ in range(8):
                clock.advance(15)
                process.loop.run_cycle(clock.now())
                time.sleep(1)
            while not _query(prometheus, f'lws_autoscaler_cycles_total{{job="{FULLNAME}"}}'):
                assert time.monotonic() < deadline, "Prometheus never scraped the server"
                time.sleep(0.5)
            time.sleep(2)  # two more scrapes: every rate() has its two samples
            yield prometheus


def _query(
    prometheus: PrometheusServer, promql: str, at: float | None = None
) -> list[dict[str, Any]]:
    """An instant query, at ``at`` when given (queries compared must share their time:
    a rate's window slides between two calls)."""
    data = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
    answer = httpx.post(f"{prometheus.url}/api/v1/query", data=data, timeout=30)
    body = answer.json()
    assert answer.status_code == 200, f"{promql}: {body.get('error')}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


PANEL_QUERIES = [
    pytest.param(target["expr"], id=f"{panel['title']}/{target['refId']}")
    for panel in _panels(json.loads(DASHBOARD_FILE.read_text()))
    for target in panel["targets"]
]


@pytest.mark.parametrize("expr", PANEL_QUERIES)
def test_each_panel_query_answers(scraped_server: PrometheusServer, expr: str) -> None:
    result = _query(scraped_server, _filled(expr))
    assert result, f"no series for {_filled(expr)}"
    # Per-LWS panels show both LWSes, under the label their legend names.
    if "leaderworkerset" in expr and "by (" in expr:
        shown = {r["metric"].get("leaderworkerset") for r in result}
        assert shown == {LLAMA.name, DEV.name}
        assert {r["metric"]["exported_namespace"] for r in result} == {LLAMA.namespace}


LABEL_VALUES = re.compile(r"label_values\((?P<match>.+), (?P<label>\w+)\)")


def test_each_template_variable_lists_its_values(scraped_server: PrometheusServer) -> None:
    variables = json.loads(DASHBOARD_FILE.read_text())["templating"]["list"]
    expected = {
        "job": {FULLNAME},
        "lws_namespace": {LLAMA.namespace},
        "leaderworkerset": {LLAMA.name, DEV.name},
    }
    seen: dict[str, set[str]] = {}
    for variable in variables:
        if variable["type"] != "query":
            continue
        parsed = LABEL_VALUES.fullmatch(variable["query"]["query"])
        assert parsed is not None, variable["query"]
        # What Grafana's label_values() asks Prometheus: the series API with match[].
        answer = httpx.get(
            f"{scraped_server.url}/api/v1/series",
            params={"match[]": _filled(parsed["match"])},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        seen[variable["name"]] = {
            series[parsed["label"]] for series in answer.json()["data"] if parsed["label"] in series
        }
    assert seen == expected


def test_per_lws_panels_do_not_add_the_replicas_up(scraped_server: PrometheusServer) -> None:
    """Every replica decides every LWS: the reason rates of two pods are one story.
    The panel shows the larger of the two pods' rates, not their sum. (The two are not
    equal: each pod's scrapes sample the counters at their own times.)"""
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    (panel,) = [p for p in _panels(dashboard) if p["title"] == "Decision reasons, per minute"]
    at = time.time()
    shown = _query(scraped_server, _filled(panel["targets"][0]["expr"]), at)
    per_pod: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for pod in ("p-0", "p-1"):
        rates = _query(
            scraped_server,
            "max by (exported_namespace, leaderworkerset, reason) (rate(lws_autoscaler_"
            f'decision_reasons_total{{job="{FULLNAME}",pod="{pod}"}}[30s])) * 60',
            at,
        )
        per_pod[pod] = {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in rates}
    assert shown
    # Somewhere both pods count: there a sum would show more than the maximum.
    both = [k for k in per_pod["p-0"] if min(per_pod["p-0"][k], per_pod["p-1"].get(k, 0)) > 0]
    assert both, per_pod
    for series in shown:
        key = tuple(sorted(series["metric"].items()))
        value, alone = float(series["value"][1]), [per_pod[pod][key] for pod in per_pod]
        assert value == pytest.approx(max(alone)), (series, alone)
        if min(alone) > 0:
            assert value < sum(alone), (series, alone)


def test_the_hpa_panel_counts_hpas_not_replicas(scraped_server: PrometheusServer) -> None:
    """Both pods audit the same HPAs: the panel counts each HPA once, and tells the ones
    that can scale from the ones that target the LWS."""
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    (panel,) = [p for p in _panels(dashboard) if p["title"] == "HPAs on each LWS"]
    at = time.time()
    shown = {
        (target["refId"], series["metric"]["leaderworkerset"]): float(series["value"][1])
        for target in panel["targets"]
        for series in _query(scraped_server, _filled(target["expr"]), at)
    }
    assert shown == {
        ("A", LLAMA.name): 2,  # targeting
        ("B", LLAMA.name): 1,  # able to scale: the KEDA one cannot read its metric
        ("A", DEV.name): 1,
        ("B", DEV.name): 1,
    }


def test_the_certificate_panel_is_red_when_expired_and_green_with_a_week_left() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    (panel,) = [p for p in _panels(dashboard) if p["title"].startswith("Serving certificate")]
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["color"] == {"mode": "thresholds"}
    steps = defaults["thresholds"]["steps"]

    def colour(days: float) -> str:
        # Grafana takes the last step whose value is at most the number (null: the base).
        return str([s["color"] for s in steps if s["value"] is None or s["value"] <= days][-1])

    assert (colour(-1), colour(0), colour(6.9), colour(7), colour(3650)) == (
        "red",
        "orange",
        "orange",
        "green",
        "green",
    )
