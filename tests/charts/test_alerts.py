"""The chart's PrometheusRule: rendered by the real Helm engine, its rules checked by
``promtool check rules`` and exercised by ``promtool test rules`` (Prometheus' own rule
evaluator, from the Debian ``prometheus`` package), on series shaped like the server's
``/metrics`` as the ServiceMonitor scrapes them (``job`` = the Service, ``namespace`` =
the release's)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.charts.chart_support import (
    CHART_DIR,
    FULLNAME,
    MONITORING_APIS,
    NAMESPACE,
    REPO_ROOT,
    render,
)
from tests.support.markdown import github_slug, headings

PROMTOOL = shutil.which("promtool")
TARGET = f'job="{FULLNAME}",namespace="{NAMESPACE}"'
RULE_API = "monitoring.coreos.com/v1/PrometheusRule"
# The rules with the ServiceMonitor whose targets they select.
RULES = {"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": True}}
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
DEFAULT_RUNBOOK_URL = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["prometheusRule"][
    "runbookBaseUrl"
]


def _alerts(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rule = render(values).one("PrometheusRule")
    (group,) = rule["spec"]["groups"]
    return {r["alert"]: r for r in group["rules"]}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "promtool is installed with the Debian prometheus package"
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _rules_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    rule = render(values).one("PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    return path


def test_off_by_default_and_auto_follows_the_api() -> None:
    assert "PrometheusRule" not in render({}).kinds()
    assert "PrometheusRule" not in render({"prometheusRule": {"enabled": "auto"}}).kinds()
    auto = {"prometheusRule": {"enabled": "auto"}, "serviceMonitor": {"enabled": True}}
    assert "PrometheusRule" not in render(auto).kinds()
    assert "PrometheusRule" in render(auto, api_versions=[RULE_API]).kinds()


def test_without_the_service_monitor_auto_renders_no_rules_and_true_no_down_alert() -> None:
    # Its alerts select the ServiceMonitor's targets (job = the Service). Without it,
    # absent(up{...} == 1) would fire for ever.
    apis = [RULE_API, *MONITORING_APIS]
    unscraped = render({"prometheusRule": {"enabled": "auto"}}, api_versions=apis)
    assert "ServiceMonitor" not in unscraped.kinds()  # no token: a scrape would get 401
    assert "PrometheusRule" not in unscraped.kinds()
    token = {"serviceMonitor": {"bearerTokenFile": "/var/run/secrets/token"}}
    scraped = render({"prometheusRule": {"enabled": "auto"}, **token}, api_versions=apis)
    assert {"ServiceMonitor", "PrometheusRule"} <= scraped.kinds()
    forced = _alerts({"prometheusRule": {"enabled": True}, "serviceMonitor": {"enabled": False}})
    assert set(_alerts(RULES)) - set(forced) == {"LwsAutoscalerDown"}


def test_the_authentication_alert_exists_only_with_authentication() -> None:
    on = _alerts(RULES)
    off = _alerts({**RULES, "auth": {"disable": True}})
    assert "LwsAutoscalerAggregatorUnauthenticated" in on
    assert "LwsAutoscalerAggregatorUnauthenticated" not in off
    assert set(on) - set(off) == {"LwsAutoscalerAggregatorUnauthenticated"}


CERTIFICATE_ALERTS = {
    "LwsAutoscalerServingCertificateExpiring",
    "LwsAutoscalerServingCertificateExpired",
}


def test_the_certificate_alerts_exist_only_when_serving_tls() -> None:
    tls = _alerts(RULES)
    plain = _alerts({**RULES, "server": {"insecure": True}, "apiService": {"enabled": False}})
    assert set(tls) >= CERTIFICATE_ALERTS
    # Plain HTTP has no certificate, and no authentication either.
    assert set(tls) - set(plain) == CERTIFICATE_ALERTS | {"LwsAutoscalerAggregatorUnauthenticated"}
    # Authentication off still serves TLS: the certificate alerts stay.
    assert set(_alerts({**RULES, "auth": {"disable": True}})) >= CERTIFICATE_ALERTS


HPA_AUDIT_ALERTS = {
    "LwsAutoscalerCompetingHPAs",
    "LwsAutoscalerHPANotScaling",
    "LwsAutoscalerHPAAuditFailing",
}


def test_the_hpa_audit_alerts_exist_only_with_the_audit() -> None:
    # Off, the server exports neither gauge nor counts audits: the alerts could never
    # fire, and would only suggest a watch that is not there.
    audited = _alerts(RULES)
    unaudited = _alerts({**RULES, "hpaAudit": {"enabled": False}})
    assert set(audited) - set(unaudited) == HPA_AUDIT_ALERTS
    assert set(unaudited) <= set(audited)
    # Their series come from the ServiceMonitor's targets, as every other alert's.
    for name in HPA_AUDIT_ALERTS:
        selectors = re.findall(r"\{([^}]*)\}", audited[name]["expr"])
        assert selectors, name
        assert all(s.startswith(TARGET) for s in selectors), name


def test_alert_labels_reach_every_alert() -> None:
    alerts = _alerts({"prometheusRule": {"enabled": True, "alertLabels": {"team": "ml"}}})
    assert {a["labels"]["team"] for a in alerts.values()} == {"ml"}
    assert {a["labels"]["severity"] for a in alerts.values()} == {"critical", "warning"}
    # An alert's severity is its own: alertLabels adds labels, it does not re-rank.
    paged = _alerts({"prometheusRule": {"enabled": True, "alertLabels": {"severity": "page"}}})
    assert {n: a["labels"] for n, a in paged.items()} == {
        n: {"severity": a["labels"]["severity"]} for n, a in alerts.items()
    }


def _runbook_sections() -> list[str]:
    """The runbook's ``## `` headings, in order (fenced code blocks skipped)."""
    return headings(RUNBOOK.read_text(), level=2)


def test_the_slug_is_githubs() -> None:
    assert github_slug("LwsAutoscalerDown") == "lwsautoscalerdown"
    assert github_slug("Symptoms without an alert") == "symptoms-without-an-alert"
    assert github_slug("Stale recommendations: 503, on purpose") == (
        "stale-recommendations-503-on-purpose"
    )


def test_every_alert_has_its_own_runbook_section() -> None:
    sections = _runbook_sections()
    assert len(sections) == len(set(sections)), "a heading twice gets a suffixed anchor"
    alerts = set(_alerts(RULES))
    # every alert: TLS, authentication, the HPA audit and the ServiceMonitor on
    assert len(alerts) == 12
    assert {s for s in sections if s.startswith("LwsAutoscaler")} == alerts


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(RULES, id="all-alerts"),
        pytest.param({"prometheusRule": {"enabled": True}}, id="without-service-monitor"),
        pytest.param(
            {**RULES, "server": {"insecure": True}, "apiService": {"enabled": False}},
            id="plain-http",
        ),
    ],
)
def test_every_alert_links_to_its_runbook_section(values: dict[str, Any]) -> None:
    anchors = {github_slug(s) for s in _runbook_sections()}
    for name, alert in _alerts(values).items():
        url = alert["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base == DEFAULT_RUNBOOK_URL, name
        assert anchor == github_slug(name), name
        assert anchor in anchors, f"{name}: no section #{anchor} in docs/runbook.md"


@pytest.mark.parametrize(
    "base",
    [
        "https://wiki.example.com/ml/lws-autoscaler-runbook",
        # Characters YAML would read otherwise unquoted: the annotation stays one string.
        "http://wiki.example.com/display/ML/Runbook%3A+lws?a=1&b=2:3,{x}",
    ],
)
def test_a_custom_runbook_base_url_reaches_every_alert(base: str) -> None:
    values = {**RULES, "prometheusRule": {"enabled": True, "runbookBaseUrl": base}}
    alerts = _alerts(values)
    assert {n: a["annotations"]["runbook_url"] for n, a in alerts.items()} == {
        n: f"{base}#{github_slug(n)}" for n in alerts
    }


@pytest.mark.parametrize("base", ["wiki.example.com/runbook", "https://x.example/a#b", ""])
def test_the_schema_refuses_a_runbook_base_url_that_is_no_url(base: str) -> None:
    with pytest.raises(helm.HelmValuesError, match="runbookBaseUrl"):
        render({**RULES, "prometheusRule": {"enabled": True, "runbookBaseUrl": base}})


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, RULES)
    checked = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    alerts = _alerts(RULES)
    assert set(alerts) >= HPA_AUDIT_ALERTS
    assert f"SUCCESS: {len(alerts)} rules found" in checked.stdout


def _expand(annotations: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    """The annotations as Prometheus expands them: ``{{ $labels.x }}`` -> the value."""

    def value(match: re.Match[str]) -> str:
        return labels[match.group(1)]

    return {k: re.sub(r"\{\{ \$labels\.(\w+) \}\}", value, v) for k, v in annotations.items()}


def _fired(severity: str, **labels: str) -> dict[str, str]:
    """The whole label set of an alert from one of the ServiceMonitor's targets."""
    return {"severity": severity, "job": FULLNAME, "namespace": NAMESPACE, **labels}


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{TARGET}{labels}}}", "values": values}


Check = tuple[str, str, list[dict[str, str]]]
"""(when to evaluate, the alert, the label sets expected to fire then: none for none)."""


def _promtool_test(
    tmp_path: Path, values: dict[str, Any], series: list[dict[str, str]], checks: list[Check]
) -> None:
    """``promtool test rules`` of the chart's rules rendered with ``values``, on
    ``series`` (one sample a minute). promtool compares the whole label set and the whole
    annotation set (templates expanded), so each expected set is the alert's every label."""
    rules = _rules_file(tmp_path, values)
    alerts = _alerts(values)

    def expected(alert: str, labels: dict[str, str]) -> dict[str, Any]:
        return {
            "exp_labels": labels,
            "exp_annotations": _expand(alerts[alert]["annotations"], labels),
        }

    case = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": alert,
                        "exp_alerts": [expected(alert, labels) for labels in fired],
                    }
                    for at, alert, fired in checks
                ],
            }
        ],
    }
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(case))
    tested = _promtool("test", "rules", "case.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# The engine's reason counter as scraped: its own namespace label is exported_namespace.
SLOW = (
    ',exported_namespace="inference",leaderworkerset="llama-70b",policy="llama-70b",'
    'reason="SlowStart"'
)

PAUSED = SLOW.replace("SlowStart", "Paused")

CERT_EXPIRY = "lws_autoscaler_serving_certificate_expiry_timestamp_seconds"
CERT_LABELS = ',pod="p-0",file="/var/run/serving-cert/tls.crt"'
DAY = 86400

# The HPA audit's gauges as scraped from the two replicas (pod p-0 and p-1).
LWS = ',exported_namespace="inference",leaderworkerset="llama-70b"'
KEDA_HPA = "keda-hpa-llama-70b"
HPA = f'{LWS},hpa="{KEDA_HPA}"'


def _replicas(name: str, labels: str, p0: str, p1: str) -> list[dict[str, str]]:
    return [
        _series(name, f'{labels},pod="p-0"', p0),
        _series(name, f'{labels},pod="p-1"', p1),
    ]


def _lws_fired(**labels: str) -> dict[str, str]:
    return _fired("warning", exported_namespace="inference", leaderworkerset="llama-70b", **labels)


def _audits(p0_errors: str, p1_errors: str, p0_ok: str, p1_ok: str) -> list[dict[str, str]]:
    """The audit counter of both replicas: ``error`` and ``ok`` each (one audit a minute
    adds 1 to one of them)."""
    audits = "lws_autoscaler_hpa_audits_total"
    return [
        *_replicas(audits, ',result="error"', p0_errors, p1_errors),
        *_replicas(audits, ',result="ok"', p0_ok, p1_ok),
    ]


def _pod_fired(pod: str) -> dict[str, str]:
    return _fired("warning", pod=pod)


POLICY_FILE = "/etc/lws-autoscaler/policies/llama.yaml"
LLAMA_FILE = f',file="{POLICY_FILE}"'

# Each case: input series (one sample a minute), when to evaluate, the alert expected to
# fire there with its labels (empty: must not fire). Written with promtool's notation:
# "0+1x20" is 0, 1, ..., 20; "1x20" is 1 twenty-one times.
ALERT_CASES = [
    pytest.param(
        [_series("lws_autoscaler_cycles_total", ',result="ok"', "0+4x30")],
        "20m",
        "LwsAutoscalerNoSuccessfulCycle",
        [],
        id="cycling-no-alert",
    ),
    pytest.param(
        [
            _series("lws_autoscaler_cycles_total", ',result="ok"', "0+4x5 20x30"),
            _series("lws_autoscaler_cycles_total", ',result="source_error"', "0x5 0+4x30"),
        ],
        "21m",
        "LwsAutoscalerNoSuccessfulCycle",
        [_fired("critical")],
        id="source-down-fires-after-10m-window-plus-5m",
    ),
    pytest.param(
        [_series("lws_autoscaler_cycles_total", ',result="ok"', "0+4x5 20x30")],
        "14m",
        "LwsAutoscalerNoSuccessfulCycle",
        [],
        id="source-down-not-yet",
    ),
    # A server whose source was down from its start: both series are exported at 0 from
    # start-up (the "ok" one used to appear only with the first good cycle, and the
    # alert never fired). Pending from the second sample, firing 5 minutes later.
    pytest.param(
        [
            _series("lws_autoscaler_cycles_total", ',result="ok"', "0x30"),
            _series("lws_autoscaler_cycles_total", ',result="source_error"', "0+4x30"),
        ],
        "7m",
        "LwsAutoscalerNoSuccessfulCycle",
        [_fired("critical")],
        id="source-down-from-start",
    ),
    pytest.param(
        [_series("lws_autoscaler_source_errors_total", ',scope="target"', "0+4x40")],
        "30m",
        "LwsAutoscalerTargetErrors",
        [_fired("warning")],
        id="target-errors-sustained",
    ),
    pytest.param(
        [_series("lws_autoscaler_policy_file_rejected", LLAMA_FILE, "0x5 1x20")],
        "6m",
        "LwsAutoscalerPolicyRejected",
        [_fired("warning", file=POLICY_FILE)],
        id="policy-rejected-at-once",
    ),
    # A file bad from its first appearance: its series starts at 1. The counter the
    # alert used to read (increase of policy_reload_errors_total) saw 0 there.
    pytest.param(
        [_series("lws_autoscaler_policy_file_rejected", LLAMA_FILE, "_x5 1x20")],
        "8m",
        "LwsAutoscalerPolicyRejected",
        [_fired("warning", file=POLICY_FILE)],
        id="policy-bad-from-the-start",
    ),
    pytest.param(
        [_series("lws_autoscaler_policy_file_rejected", LLAMA_FILE, "1x5 0x20")],
        "8m",
        "LwsAutoscalerPolicyRejected",
        [],
        id="policy-fixed",
    ),
    pytest.param(
        # The counter's series appears with the first SlowStart decision, at minute 11.
        [_series("lws_autoscaler_decision_reasons_total", SLOW, "_x10 4+4x20")],
        "13m",
        "LwsAutoscalerSlowGroupStart",
        [_fired("warning", exported_namespace="inference", leaderworkerset="llama-70b")],
        id="slow-start-fires-at-once",
    ),
    pytest.param(
        [_series("lws_autoscaler_decision_reasons_total", SLOW, "_x10 4x20")],
        "20m",
        "LwsAutoscalerSlowGroupStart",
        [],
        id="slow-start-over",
    ),
    pytest.param(
        [
            _series(
                "lws_autoscaler_decision_reasons_total",
                SLOW.replace("SlowStart", "CoveredByStartingGroups"),
                "0+4x30",
            )
        ],
        "20m",
        "LwsAutoscalerSlowGroupStart",
        [],
        id="other-reasons-do-not-fire",
    ),
    # Paused from minute 1, counted each 15 s cycle: pending from minute 2, firing 12 h
    # later (the default pausedWarningHours).
    pytest.param(
        [_series("lws_autoscaler_decision_reasons_total", PAUSED, "_x1 4+4x800")],
        "723m",
        "LwsAutoscalerPaused",
        [_fired("warning", exported_namespace="inference", leaderworkerset="llama-70b")],
        id="paused-for-12-hours",
    ),
    pytest.param(
        [_series("lws_autoscaler_decision_reasons_total", PAUSED, "_x1 4+4x800")],
        "715m",
        "LwsAutoscalerPaused",
        [],
        id="paused-under-12-hours",
    ),
    # Resumed at minute 600, paused again at minute 605: the pause is 2 h old at 725 m.
    pytest.param(
        [_series("lws_autoscaler_decision_reasons_total", PAUSED, "_x1 4+4x598 2396x6 2400+4x200")],
        "725m",
        "LwsAutoscalerPaused",
        [],
        id="a-pause-lifted-starts-over",
    ),
    # Two HPAs from minute 5 (a KEDA ScaledObject next to the chart's HPA): pending from
    # then, firing 5 minutes later, one alert per LWS whatever the replicas.
    pytest.param(
        _replicas("lws_autoscaler_hpas", LWS, "1x4 2x20", "1x4 2x20"),
        "11m",
        "LwsAutoscalerCompetingHPAs",
        [_lws_fired()],
        id="two-hpas-for-5m",
    ),
    pytest.param(
        _replicas("lws_autoscaler_hpas", LWS, "1x4 2x20", "1x4 2x20"),
        "9m",
        "LwsAutoscalerCompetingHPAs",
        [],
        id="two-hpas-under-5m",
    ),
    # The old HPA of a migration deleted after 3 minutes: it never fires.
    pytest.param(
        _replicas("lws_autoscaler_hpas", LWS, "1x4 2x3 1x20", "1x4 2x3 1x20"),
        "15m",
        "LwsAutoscalerCompetingHPAs",
        [],
        id="two-hpas-briefly",
    ),
    pytest.param(
        _replicas("lws_autoscaler_hpas", LWS, "1x30", "1x30"),
        "20m",
        "LwsAutoscalerCompetingHPAs",
        [],
        id="exactly-one-hpa",
    ),
    # No HPA at all is no competition (the HPA may not be created yet).
    pytest.param(
        _replicas("lws_autoscaler_hpas", LWS, "0x30", "0x30"),
        "20m",
        "LwsAutoscalerCompetingHPAs",
        [],
        id="no-hpa",
    ),
    # One replica's audit sees the second HPA, the other's still lags: max over replicas.
    pytest.param(
        _replicas("lws_autoscaler_hpas", LWS, "2x20", "1x20"),
        "10m",
        "LwsAutoscalerCompetingHPAs",
        [_lws_fired()],
        id="two-hpas-seen-by-one-replica",
    ),
    pytest.param(
        _replicas("lws_autoscaler_hpa_scaling", HPA, "0x30", "0x30"),
        "11m",
        "LwsAutoscalerHPANotScaling",
        [_lws_fired(hpa=KEDA_HPA)],
        id="hpa-not-scaling-for-10m",
    ),
    pytest.param(
        _replicas("lws_autoscaler_hpa_scaling", HPA, "0x30", "0x30"),
        "9m",
        "LwsAutoscalerHPANotScaling",
        [],
        id="hpa-not-scaling-under-10m",
    ),
    pytest.param(
        _replicas("lws_autoscaler_hpa_scaling", HPA, "1x30", "1x30"),
        "20m",
        "LwsAutoscalerHPANotScaling",
        [],
        id="hpa-scaling",
    ),
    # The APIService back after 5 minutes: ScalingActive True again.
    pytest.param(
        _replicas("lws_autoscaler_hpa_scaling", HPA, "0x5 1x20", "0x5 1x20"),
        "15m",
        "LwsAutoscalerHPANotScaling",
        [],
        id="hpa-scaling-again",
    ),
    # min over replicas: a replica that saw the condition False is enough.
    pytest.param(
        _replicas("lws_autoscaler_hpa_scaling", HPA, "0x30", "1x30"),
        "11m",
        "LwsAutoscalerHPANotScaling",
        [_lws_fired(hpa=KEDA_HPA)],
        id="hpa-not-scaling-on-one-replica",
    ),
    # The HPA deleted at minute 8 while not scaling: the series go stale (the server
    # drops them) and the 0 must not live on for the 5 minutes of lookback into a firing.
    pytest.param(
        _replicas("lws_autoscaler_hpa_scaling", HPA, "0x7 stale", "1x7 stale"),
        "12m",
        "LwsAutoscalerHPANotScaling",
        [],
        id="hpa-not-scaling-then-gone",
    ),
    # Every audit of both replicas fails from the start (a Role without list on
    # horizontalpodautoscalers): pending from minute 1, firing 30 minutes later, per pod.
    pytest.param(
        _audits("0+1x45", "0+1x45", "0x45", "0x45"),
        "45m",
        "LwsAutoscalerHPAAuditFailing",
        [_pod_fired("p-0"), _pod_fired("p-1")],
        id="hpa-audit-failing-for-45m",
    ),
    pytest.param(
        _audits("0+1x45", "0+1x45", "0x45", "0x45"),
        "29m",
        "LwsAutoscalerHPAAuditFailing",
        [],
        id="hpa-audit-failing-under-30m",
    ),
    pytest.param(
        _audits("0x60", "0x60", "0+1x60", "0+1x60"),
        "45m",
        "LwsAutoscalerHPAAuditFailing",
        [],
        id="hpa-audit-ok",
    ),
    # Only p-1's audits fail (its own view of the API): only p-1 fires.
    pytest.param(
        _audits("0x45", "0+1x45", "0+1x45", "0x45"),
        "45m",
        "LwsAutoscalerHPAAuditFailing",
        [_pod_fired("p-1")],
        id="hpa-audit-failing-on-one-replica",
    ),
    # A flaky API: one audit in three fails, the others list every namespace. The
    # server's findings stay fresh; it is not an audit that keeps failing.
    pytest.param(
        _audits(
            " ".join(str(m // 3) for m in range(61)),
            " ".join(str(m // 3) for m in range(61)),
            " ".join(str(m - m // 3) for m in range(61)),
            " ".join(str(m - m // 3) for m in range(61)),
        ),
        "50m",
        "LwsAutoscalerHPAAuditFailing",
        [],
        id="hpa-audit-failing-now-and-then",
    ),
    # A slow API server with a namespace that refuses: the audits that reach it fail,
    # the others run out of time (partial); none is ok. That keeps failing.
    pytest.param(
        [
            *_audits(
                " ".join(str(m // 2) for m in range(46)),
                " ".join(str(m // 2) for m in range(46)),
                "0x45",
                "0x45",
            ),
            *_replicas(
                "lws_autoscaler_hpa_audits_total",
                ',result="partial"',
                " ".join(str(m - m // 2) for m in range(46)),
                " ".join(str(m - m // 2) for m in range(46)),
            ),
        ],
        "45m",
        "LwsAutoscalerHPAAuditFailing",
        [_pod_fired("p-0"), _pod_fired("p-1")],
        id="hpa-audit-failing-between-partial-audits",
    ),
    # A slow API server alone: every audit partial, no error. The findings come round
    # namespace by namespace; nothing fails.
    pytest.param(
        [
            *_audits("0x45", "0x45", "0x45", "0x45"),
            *_replicas("lws_autoscaler_hpa_audits_total", ',result="partial"', "0+1x45", "0+1x45"),
        ],
        "45m",
        "LwsAutoscalerHPAAuditFailing",
        [],
        id="hpa-audit-partial-only",
    ),
    pytest.param(
        [_series("lws_autoscaler_front_proxy_ca_loaded", ',pod="p-0"', "0x30")],
        "15m",
        "LwsAutoscalerAggregatorUnauthenticated",
        [_fired("critical", pod="p-0")],
        id="no-front-proxy-ca",
    ),
    # The serving certificate's notAfter (Unix seconds; promtool's clock starts at 0).
    pytest.param(
        [_series(CERT_EXPIRY, CERT_LABELS, f"{5 * DAY}x90")],
        "61m",
        "LwsAutoscalerServingCertificateExpiring",
        [_fired("warning", pod="p-0")],
        id="certificate-5-days-left-for-an-hour",
    ),
    pytest.param(
        [_series(CERT_EXPIRY, CERT_LABELS, f"{5 * DAY}x90")],
        "50m",
        "LwsAutoscalerServingCertificateExpiring",
        [],
        id="certificate-5-days-left-not-an-hour-yet",
    ),
    # Renewed after 20 minutes (the server reloads the Secret): the alert never fires.
    pytest.param(
        [_series(CERT_EXPIRY, CERT_LABELS, f"{5 * DAY}x20 {90 * DAY}x70")],
        "80m",
        "LwsAutoscalerServingCertificateExpiring",
        [],
        id="certificate-renewed",
    ),
    pytest.param(
        [_series(CERT_EXPIRY, CERT_LABELS, f"{30 * DAY}x90")],
        "80m",
        "LwsAutoscalerServingCertificateExpiring",
        [],
        id="certificate-30-days-left",
    ),
    pytest.param(
        [_series(CERT_EXPIRY, CERT_LABELS, "600x30")],
        "11m",
        "LwsAutoscalerServingCertificateExpired",
        [_fired("critical", pod="p-0")],
        id="certificate-expired-at-once",
    ),
    pytest.param(
        [_series(CERT_EXPIRY, CERT_LABELS, "600x30")],
        "9m",
        "LwsAutoscalerServingCertificateExpired",
        [],
        id="certificate-not-expired-yet",
    ),
    pytest.param(
        [_series("up", "", "0x30")],
        "10m",
        "LwsAutoscalerDown",
        # absent() keeps no label of a selector it compared (``== 1``): only the rule's.
        [{"severity": "critical"}],
        id="scraped-but-down",
    ),
    pytest.param(
        [_series("up", "", "1x30")],
        "10m",
        "LwsAutoscalerDown",
        [],
        id="up",
    ),
]


@pytest.mark.parametrize(("series", "at", "alert", "expected"), ALERT_CASES)
def test_alert_fires_when_and_only_when_it_should(
    tmp_path: Path,
    series: list[dict[str, str]],
    at: str,
    alert: str,
    expected: list[dict[str, str]],
) -> None:
    _promtool_test(tmp_path, RULES, series, [(at, alert, expected)])


# LWS mistral-7b, with the one HPA of its own.
MISTRAL = ',exported_namespace="inference",leaderworkerset="mistral-7b"'
MISTRAL_HPA = f'{MISTRAL},hpa="mistral-7b"'
CHART_HPA = f'{LWS},hpa="llama-70b"'
COMPETING, NOT_SCALING = "LwsAutoscalerCompetingHPAs", "LwsAutoscalerHPANotScaling"
AUDIT_FAILING = "LwsAutoscalerHPAAuditFailing"

# Each case: input series, then (when, alert, the label sets firing then) at several
# instants of the same history.
HISTORY_CASES = [
    # The chart's HPA next to a KEDA ScaledObject's from the start: the controller
    # scales with neither (both ScalingActive False, AmbiguousSelector). One problem,
    # one alert: LwsAutoscalerCompetingHPAs, not one LwsAutoscalerHPANotScaling per HPA.
    pytest.param(
        [
            *_replicas("lws_autoscaler_hpas", LWS, "2x30", "2x30"),
            *_replicas("lws_autoscaler_hpa_scaling", HPA, "0x30", "0x30"),
            *_replicas("lws_autoscaler_hpa_scaling", CHART_HPA, "0x30", "0x30"),
        ],
        [
            ("16m", COMPETING, [_lws_fired()]),
            ("16m", NOT_SCALING, []),
            ("25m", NOT_SCALING, []),
        ],
        id="two-hpas-not-scaling-are-one-alert",
    ),
    # Two HPAs on llama-70b, one on mistral-7b that cannot read the metric: the
    # competition silences llama-70b's HPAs only.
    pytest.param(
        [
            *_replicas("lws_autoscaler_hpas", LWS, "2x30", "2x30"),
            *_replicas("lws_autoscaler_hpa_scaling", HPA, "0x30", "0x30"),
            *_replicas("lws_autoscaler_hpa_scaling", CHART_HPA, "0x30", "0x30"),
            *_replicas("lws_autoscaler_hpas", MISTRAL, "1x30", "1x30"),
            *_replicas("lws_autoscaler_hpa_scaling", MISTRAL_HPA, "0x30", "0x30"),
        ],
        [
            ("16m", COMPETING, [_lws_fired()]),
            (
                "16m",
                NOT_SCALING,
                [
                    _fired(
                        "warning",
                        exported_namespace="inference",
                        leaderworkerset="mistral-7b",
                        hpa="mistral-7b",
                    )
                ],
            ),
        ],
        id="competition-silences-only-its-lws",
    ),
    # The KEDA HPA deleted at minute 10, and the chart's still cannot scale (it cannot
    # read the metric): now that is one HPA's problem, told 10 minutes later.
    pytest.param(
        [
            *_replicas("lws_autoscaler_hpas", LWS, "2x9 1x40", "2x9 1x40"),
            *_replicas("lws_autoscaler_hpa_scaling", HPA, "0x9 stale", "0x9 stale"),
            *_replicas("lws_autoscaler_hpa_scaling", CHART_HPA, "0x50", "0x50"),
        ],
        [
            ("8m", COMPETING, [_lws_fired()]),
            ("15m", COMPETING, []),
            ("15m", NOT_SCALING, []),
            ("21m", NOT_SCALING, [_lws_fired(hpa="llama-70b")]),
        ],
        id="one-hpa-left-not-scaling",
    ),
    # 20 minutes of failing audits (a Role fixed then): the first ok audit ends it, so
    # it never fires, even where 15 minutes of errors are still in the window.
    pytest.param(
        _audits("0+1x20 20x40", "0+1x20 20x40", "0x20 1+1x40", "0x20 1+1x40"),
        [
            ("19m", AUDIT_FAILING, []),
            ("25m", AUDIT_FAILING, []),
            ("32m", AUDIT_FAILING, []),
            ("40m", AUDIT_FAILING, []),
            ("60m", AUDIT_FAILING, []),
        ],
        id="hpa-audit-failing-for-20m-then-ok",
    ),
    # Failing for an hour, then fixed: resolved at the first ok audit.
    pytest.param(
        _audits("0+1x60 60x20", "0+1x60 60x20", "0x60 1+1x20", "0x60 1+1x20"),
        [
            ("59m", AUDIT_FAILING, [_pod_fired("p-0"), _pod_fired("p-1")]),
            ("62m", AUDIT_FAILING, []),
        ],
        id="hpa-audit-failing-then-fixed",
    ),
]


@pytest.mark.parametrize(("series", "checks"), HISTORY_CASES)
def test_alerts_over_one_history(
    tmp_path: Path, series: list[dict[str, str]], checks: list[Check]
) -> None:
    _promtool_test(tmp_path, RULES, series, checks)


@pytest.mark.parametrize(("interval", "window"), [(60, 15), (450, 15), (451, 16), (1800, 60)])
def test_the_audit_failing_window_spans_two_audits(interval: int, window: int) -> None:
    values = {**RULES, "hpaAudit": {"intervalSeconds": interval}}
    expr = _alerts(values)[AUDIT_FAILING]["expr"]
    assert re.findall(r"\[(\w+)\]", expr) == [f"{window}m", f"{window}m"]


def test_the_audit_failing_alert_follows_a_long_interval(tmp_path: Path) -> None:
    # An audit every 30 minutes, each failing: a 15-minute window would see an increase
    # only half the time, and the alert would never fire.
    errors = "0 1x29 2x30 3x30 4x30"
    series = _audits(errors, errors, "0x120", "0x120")
    fired = [_pod_fired("p-0"), _pod_fired("p-1")]
    _promtool_test(tmp_path, RULES, series, [("45m", AUDIT_FAILING, [])])
    values = {**RULES, "hpaAudit": {"intervalSeconds": 1800}}
    _promtool_test(tmp_path, values, series, [("45m", AUDIT_FAILING, fired)])


def test_the_pause_alert_follows_its_hours(tmp_path: Path) -> None:
    values = {**RULES, "prometheusRule": {"enabled": True, "pausedWarningHours": 2}}
    summary = _alerts(values)["LwsAutoscalerPaused"]["annotations"]["summary"]
    assert "paused for 2 hours" in summary
    labels = _fired("warning", exported_namespace="inference", leaderworkerset="llama-70b")
    series = [_series("lws_autoscaler_decision_reasons_total", PAUSED, "_x1 4+4x200")]
    alert = "LwsAutoscalerPaused"
    _promtool_test(tmp_path, values, series, [("115m", alert, []), ("123m", alert, [labels])])


@pytest.mark.parametrize(
    ("days", "left", "fires"), [(20, 15, True), (20, 25, False), (7, 15, False)]
)
def test_the_certificate_warning_follows_its_days(
    tmp_path: Path, days: int, left: int, fires: bool
) -> None:
    values = {**RULES, "prometheusRule": {"enabled": True, "certificateWarningDays": days}}
    alert = "LwsAutoscalerServingCertificateExpiring"
    assert f"within {days} days" in _alerts(values)[alert]["annotations"]["summary"]
    series = [_series(CERT_EXPIRY, CERT_LABELS, f"{left * DAY}x90")]
    fired = [_fired("warning", pod="p-0")] if fires else []
    _promtool_test(tmp_path, values, series, [("61m", alert, fired)])
