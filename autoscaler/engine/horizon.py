"""How far back a decision can see: the seconds of history that restore an engine state.

A restarted server (or a second replica) replays this much history through ``decide``
before its first cycle (:meth:`autoscaler.server.loop.ControlLoop.restore`), so that it
carries the state of an engine that never stopped. It lists every memory the engine
keeps, so it lives beside them.
"""

from __future__ import annotations

from autoscaler.policy.model import QueueDepthSignal, ScalingPolicy


def policy_horizon(policy: ScalingPolicy) -> float:
    """Seconds of history that can influence a decision of ``policy``.

    Scale-down needs its stabilisation window observed in full (the engine's warm-up)
    and, after that, one step period of warm recommendations for the step limit: with
    a 5 min down window and a 2 min step period, 7 min. The other memories count on
    their own: forecast lookback, missing-metrics hold, scale-to-zero idle time, a queue
    signal's ``sustainedFor`` and ``isolatedBurst.calmFor`` (a replica that saw no
    burst in the last 15 minutes limits one to +1 group; one that replayed only 5
    minutes would order it in full), and ``holdWhileIdle``'s expected cold start.

    Not covered: a learned cold start only knows the group starts inside the replayed
    window, so until it sees ``minObservations`` starts again a restarted replica uses
    ``coldStart.expected``.
    """
    spec = policy.spec
    steps = max(
        (s.period for s in (spec.scale_up.max_step, spec.scale_down.max_step) if s), default=0.0
    )
    windows = [
        spec.scale_down.stabilization_window + steps,
        spec.scale_up.stabilization_window + steps,
        spec.scale_up.forecast.lookback,
        spec.missing_metrics.hold_for,
    ]
    if spec.scale_to_zero.enabled:
        windows.append(spec.scale_to_zero.idle_after)
    if spec.scale_down.hold_while_idle:
        windows.append(spec.cold_start.expected)
    for signal in spec.signals:
        if isinstance(signal, QueueDepthSignal):
            windows.append(signal.sustained_for)
            if signal.isolated_burst is not None:
                windows.append(signal.isolated_burst.calm_for)
    return max(windows)
