"""What the engine returns: the recommendation, each signal's proposal, and the reasons."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from autoscaler.fastbuild import fast_constructor
from autoscaler.snapshot import LwsKey


class SignalStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    """Some ready groups did not report: the sum was extrapolated, scale-down is blocked."""
    MISSING = "missing"
    STALE = "stale"
    NO_TRAFFIC = "noTraffic"
    """A latency quantile over no requests is undefined: no pressure, not an error."""
    INVALID = "invalid"
    """The samples come to no finite number of groups (two leaders waiting 1e308 each
    sum to infinity; a latency quantile of +Inf, below 0 or from the future): unusable,
    as missing data is."""


def format_groups(groups: float | None) -> str:
    """Groups for a reason: a count as it is, a demand with two decimals ("3.25"), none
    as "-"; both with four significant digits from a million on (an absurd queue of
    1e300 waiting requests printed 300 digits of demand, and a proposal before the
    bounds of as many)."""
    if groups is None:
        return "-"
    if abs(groups) >= 1e6:
        return f"{groups:.4g}"
    return str(groups) if isinstance(groups, int) else f"{groups:.2f}"


_USABLE = frozenset({SignalStatus.OK, SignalStatus.PARTIAL, SignalStatus.NO_TRAFFIC})


class ReasonCode(StrEnum):
    SIGNAL = "Signal"
    TOLERANCE = "WithinTolerance"
    FORECAST = "Forecast"
    COVERED_BY_STARTING = "CoveredByStartingGroups"
    WAKE_BACKLOG = "WakeBacklog"
    ISOLATED_BURST = "IsolatedBurst"
    SCALE_UP_WINDOW = "ScaleUpStabilization"
    SCALE_DOWN_WINDOW = "ScaleDownStabilization"
    STEP_LIMIT = "StepLimit"
    PROTECT_STARTING = "ProtectStartingGroup"
    PROTECT_YOUNG = "ProtectYoungGroup"
    PRESSURE = "SignalAboveTarget"
    BOUNDS = "ReplicaBounds"
    PARTIAL_DATA = "PartialData"
    WARMING_UP = "WindowsWarmingUp"
    HOLD = "HoldLastRecommendation"
    FALLBACK = "FallbackReplicas"
    NO_RECOMMENDATION = "NoRecommendation"
    WAITING_FOR_LEADERS = "WaitingForLeaders"
    IDLE = "Idle"
    IDLE_HOLD = "IdleHold"
    SCALE_TO_ZERO = "ScaleToZero"
    ACTIVATION = "Activation"
    AT_ZERO = "AtZero"
    COLD_START_LEARNED = "ColdStartLearned"
    SLOW_START = "SlowStart"
    DRAINING = "Draining"
    INVALID_SIGNAL = "InvalidSignal"
    SCHEDULED = "Scheduled"
    PAUSED = "Paused"
    INVALID_PAUSE = "InvalidPause"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class SignalProposal:
    """One signal's view: the observed value, the groups it needs, and its proposal.

    ``value`` is per ready group (queue per group, mean KV utilisation, tokens/s per
    group) or the quantile itself for TTFT. ``needed`` is the continuous number of groups
    that would bring the signal to its target; ``replicas`` the integer proposal after the
    tolerance band.
    """

    name: str
    status: SignalStatus
    target: float
    value: float | None = None
    needed: float | None = None
    replicas: int | None = None
    reporting: int = 0

    @property
    def usable(self) -> bool:
        return self.status in _USABLE

    @property
    def above_target(self) -> bool:
        return self.value is not None and self.value > self.target


@dataclass(frozen=True)
class Decision:
    """The outcome of one ``decide`` call.

    ``replicas`` is None when the policy says to make no recommendation (missing data
    past the hold time); ``driver`` names the signal (or rule) that set the value.
    ``draining`` names the leaders that must receive no new requests: their groups go
    at the next scale-down (``scaleDown.drain``).
    """

    key: LwsKey
    policy: str
    at: float
    replicas: int | None
    current: int | None
    driver: str | None
    reasons: tuple[Reason, ...]
    proposals: tuple[SignalProposal, ...]
    demand: float | None = None
    forecast: float | None = None
    cold_start_seconds: float = 0.0
    draining: tuple[str, ...] = ()

    def explain(self) -> str:
        """A multi-line, human-readable account, as printed by ``lws-autoscaler explain``."""
        rec = "none" if self.replicas is None else str(self.replicas)
        lines = [f"{self.key} (policy {self.policy}): recommend {rec} (current {self.current})"]
        if self.driver:
            lines.append(f"  driven by: {self.driver}")
        for p in self.proposals:
            value = "-" if p.value is None else f"{p.value:.4g}"
            needed = format_groups(p.needed)
            proposal = format_groups(p.replicas)
            lines.append(
                f"  signal {p.name}: {p.status} value={value} target={p.target:g} "
                f"needed={needed} proposal={proposal} reporting={p.reporting}"
            )
        if self.draining:
            lines.append(f"  draining (no new requests): {', '.join(self.draining)}")
        for reason in self.reasons:
            lines.append(f"  - {reason}")
        return "\n".join(lines)


# The engine's hot path builds these through ``fast_constructor`` (see autoscaler/fastbuild.py):
# the same instances as the classes build, without the frozen-dataclass __init__ cost.
_reason = fast_constructor(Reason)
_proposal = fast_constructor(SignalProposal)
_decision = fast_constructor(Decision)


def make_reason(code: ReasonCode, message: str) -> Reason:
    """``Reason(code, message)``, built fast."""
    return _reason(code, message)


def make_proposal(
    name: str,
    status: SignalStatus,
    target: float,
    value: float | None = None,
    needed: float | None = None,
    replicas: int | None = None,
    reporting: int = 0,
) -> SignalProposal:
    """``SignalProposal(...)`` with the same arguments, built fast."""
    return _proposal(name, status, target, value, needed, replicas, reporting)


def make_decision(
    key: LwsKey,
    policy: str,
    at: float,
    replicas: int | None,
    current: int | None,
    driver: str | None,
    reasons: tuple[Reason, ...],
    proposals: tuple[SignalProposal, ...],
    demand: float | None,
    forecast: float | None,
    cold_start_seconds: float,
    draining: tuple[str, ...] = (),
) -> Decision:
    """``Decision(...)`` with the same arguments, built fast."""
    return _decision(
        key,
        policy,
        at,
        replicas,
        current,
        driver,
        reasons,
        proposals,
        demand,
        forecast,
        cold_start_seconds,
        draining,
    )
