"""The server's own metrics for decisions: what each per-LWS series holds, when a
series disappears, and how reason codes are counted (one registry per test)."""

from __future__ import annotations

from autoscaler.engine.decision import Decision, Reason, ReasonCode, SignalProposal, SignalStatus
from autoscaler.server.telemetry import Telemetry
from autoscaler.snapshot import LwsKey

LLAMA = LwsKey("inference", "llama-70b")
DEV = LwsKey("inference", "dev-8b")


def _labels(key: LwsKey, **extra: str) -> dict[str, str]:
    return {"namespace": key.namespace, "leaderworkerset": key.name, "policy": key.name, **extra}


def _decision(
    key: LwsKey,
    replicas: int | None = 4,
    demand: float | None = 3.6,
    cold: float = 300.0,
    codes: tuple[ReasonCode, ...] = (ReasonCode.SIGNAL,),
) -> Decision:
    proposal = SignalProposal("queueDepth", SignalStatus.OK, 12.0, 14.4, demand, replicas, 3)
    return Decision(
        key=key,
        policy=key.name,
        at=0.0,
        replicas=replicas,
        current=3,
        driver="queueDepth",
        reasons=tuple(Reason(code, "why") for code in codes),
        proposals=(proposal,),
        demand=demand,
        cold_start_seconds=cold,
    )


def _value(telemetry: Telemetry, name: str, labels: dict[str, str]) -> float | None:
    return telemetry.registry.get_sample_value(f"lws_autoscaler_{name}", labels)


def test_demand_and_cold_start_follow_the_latest_decision() -> None:
    telemetry = Telemetry()
    telemetry.record_decisions([_decision(LLAMA, demand=3.6, cold=300.0)])
    telemetry.record_decisions([_decision(LLAMA, demand=4.25, cold=338.0)])
    assert _value(telemetry, "demand_groups", _labels(LLAMA)) == 4.25
    # 338 s: a learned cold start (5m38s), as the benchmark's seed 1 learns it.
    assert _value(telemetry, "cold_start_seconds", _labels(LLAMA)) == 338.0


def test_no_demand_means_no_series_not_zero() -> None:
    telemetry = Telemetry()
    telemetry.record_decisions([_decision(LLAMA, demand=2.0)])
    telemetry.record_decisions([_decision(LLAMA, replicas=None, demand=None)])
    assert _value(telemetry, "demand_groups", _labels(LLAMA)) is None
    # The LWS is still decided (a hold), so its cold start is still published.
    assert _value(telemetry, "cold_start_seconds", _labels(LLAMA)) == 300.0


def test_reason_codes_count_once_per_decision() -> None:
    telemetry = Telemetry()
    burst = (ReasonCode.SIGNAL, ReasonCode.ISOLATED_BURST, ReasonCode.SIGNAL)
    telemetry.record_decisions([_decision(LLAMA, codes=burst)])
    telemetry.record_decisions([_decision(LLAMA, codes=(ReasonCode.SIGNAL,))])
    telemetry.record_decisions([_decision(LLAMA, codes=(ReasonCode.SIGNAL,))])
    signal = _labels(LLAMA, reason="Signal")
    isolated = _labels(LLAMA, reason="IsolatedBurst")
    assert _value(telemetry, "decision_reasons_total", signal) == 3.0
    # Not given in the last two decisions, yet still counted: a counter, not a gauge.
    assert _value(telemetry, "decision_reasons_total", isolated) == 1.0
    assert _value(telemetry, "decision_reasons_total", _labels(LLAMA, reason="Forecast")) is None


def test_a_removed_policy_takes_its_series_with_it() -> None:
    telemetry = Telemetry()
    hold = (ReasonCode.SIGNAL, ReasonCode.IDLE_HOLD)
    telemetry.record_decisions([_decision(LLAMA), _decision(DEV, codes=hold)])
    telemetry.record_decisions([_decision(LLAMA)])
    for name, extra in [
        ("demand_groups", {}),
        ("cold_start_seconds", {}),
        ("decision_reasons_total", {"reason": "IdleHold"}),
        ("decision_reasons_total", {"reason": "Signal"}),
    ]:
        assert _value(telemetry, name, _labels(DEV, **extra)) is None, name
    assert _value(telemetry, "decision_reasons_total", _labels(LLAMA, reason="Signal")) == 2.0
    # Decided again later: it counts from zero, like a new series.
    telemetry.record_decisions([_decision(LLAMA), _decision(DEV)])
    assert _value(telemetry, "decision_reasons_total", _labels(DEV, reason="Signal")) == 1.0


def test_both_cycle_results_are_exported_at_zero_from_start_up() -> None:
    # The NoSuccessfulCycle alert reads increase(cycles_total{result="ok"}): a server
    # whose source is down from its start must expose that series at 0, not lack it.
    telemetry = Telemetry()
    for result in ("ok", "source_error"):
        assert _value(telemetry, "cycles_total", {"result": result}) == 0.0


def test_the_histograms_bucket_bounds_are_the_documented_ones() -> None:
    """Dashboards and alerts read these bounds (the cycle's p99 against its 15 s period,
    the API's latency against the HPA's): HTTP from 0.5 ms, served from memory, to 2.5 s;
    a cycle from 5 ms to 30 s."""
    telemetry = Telemetry()
    telemetry.http_latency.labels("/healthz", "GET").observe(0.001)

    def bounds(name: str) -> list[str]:
        family = next(f for f in telemetry.registry.collect() if f.name == name)
        return [s.labels["le"] for s in family.samples if s.name.endswith("_bucket")][:13]

    assert bounds("lws_autoscaler_http_request_duration_seconds") == [
        "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
        "0.5", "1.0", "2.5", "+Inf",
    ]  # fmt: skip
    assert bounds("lws_autoscaler_cycle_duration_seconds") == [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
        "10.0", "30.0", "+Inf",
    ]  # fmt: skip
