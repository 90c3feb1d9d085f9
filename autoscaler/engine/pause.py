"""An operator's pause (the LWS annotation ``lws-autoscaler.io/paused-replicas``): the
group count the operator fixed, recommended in place of the rules' own.

``kubectl annotate leaderworkerset llama lws-autoscaler.io/paused-replicas=4`` holds the
LWS at 4 groups whatever the signals say (an incident, a model rollout, a load test);
removing the annotation hands it back to the rules. As with KEDA's ``paused-replicas``,
the count is what runs, not a floor; it is kept within the policy's bounds, which are
the HPA's ``minReplicas``/``maxReplicas`` (the HPA would clamp it there anyway).

- The rules still run at every decision and keep their state (stabilisation windows,
  forecast trend, idleness, learned cold start): the first decision after the pause is
  the one they would have made at the size the pause left, not a restart on half a
  window. Only their output is replaced.
- A value that is not a group count (``"four"``, ``"-1"``) pauses at the current size,
  with an ``InvalidPause`` reason: the operator asked for a pause, and a typo must not
  let the rules scale on.
- A pause below the current size drains first when the policy drains
  (``scaleDown.drain``), as any scale-down does: 6 groups paused at 4 keep 6 until
  groups 4 and 5 are idle, then go to 4.
- Without a snapshot (the source failed this cycle) the pause in force at the last
  decision that saw the cluster stays in force, with what it recommended then: the
  annotation is read from the cluster, and the source's failure does not lift it.
"""

from __future__ import annotations

import dataclasses
import json

from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import Decision, ReasonCode
from autoscaler.engine.drain import drain
from autoscaler.engine.state import EngineState
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import PAUSED_REPLICAS_ANNOTATION, LwsSnapshot, Pause

R = ReasonCode
DRIVER = "pause"


def pause_in_force(snapshot: LwsSnapshot | None, before: EngineState) -> Pause | None:
    """The snapshot's pause; without a snapshot, the last one known."""
    if snapshot is not None:
        return snapshot.pause
    return before.paused[0] if before.paused is not None else None


def apply_pause(
    policy: ScalingPolicy,
    snapshot: LwsSnapshot | None,
    before: EngineState,
    decision: Decision,
    after: EngineState,
    now: float,
) -> tuple[Decision, EngineState]:
    """The rules' ``decision`` and state ``after`` (decided from ``before``), under the
    pause in force, if any: unchanged without one."""
    pause = pause_in_force(snapshot, before)
    if pause is None:
        return decision, after if after.paused is None else after.evolve(paused=None)
    ctx = DecisionContext(policy, now, decision.cold_start_seconds)
    named = f"{PAUSED_REPLICAS_ANNOTATION}={json.dumps(pause.value, ensure_ascii=False)}"
    if snapshot is None:
        assert before.paused is not None
        kept = before.paused[1]
        ctx.note(
            R.PAUSED,
            f"autoscaling paused by {named} (as last read; the source returned no data): "
            f"keeping {'no recommendation' if kept is None else kept}",
        )
        # The rules' hold keeps the leaders of a drain under way out of routing.
        paused = dataclasses.replace(
            decision, replicas=kept, driver=DRIVER, reasons=(*ctx.reasons, *decision.reasons)
        )
        return paused, after.evolve(paused=(pause, kept))
    current = snapshot.spec_replicas
    spec = policy.spec
    floor = 0 if spec.scale_to_zero.enabled else spec.replicas.min
    if pause.replicas is None:
        wanted = current
        ctx.note(
            R.INVALID_PAUSE,
            f'{named} is not a group count (a whole number such as "4"): keeping the '
            f"current size {current} until it is corrected or removed",
        )
    else:
        wanted = pause.replicas
    target = min(max(wanted, floor), spec.replicas.max)
    bounded = ""
    if target != wanted:
        side = "replicas.max" if target < wanted else "the policy's lowest size"
        bounded = f" ({wanted} is outside [{floor}, {spec.replicas.max}]: {side})"
    rules = "none" if decision.replicas is None else str(decision.replicas)
    ctx.note(
        R.PAUSED,
        f"autoscaling paused by {named}: {target}{bounded}; the rules alone would "
        f"recommend {rules}",
    )
    # A drain of the pause's own (the rules' drain state is theirs, and discarded): its
    # state is what ``before`` remembers while the pause lasts.
    rec, draining, drain_state = drain(ctx, before, snapshot, current, target)
    kept_reasons = tuple(r for r in decision.reasons if r.code is not R.DRAINING)
    paused = dataclasses.replace(
        decision,
        replicas=rec,
        driver=DRIVER,
        reasons=(*ctx.reasons, *kept_reasons),
        draining=draining,
    )
    recs = after.recommendations
    if recs and recs[-1][0] == now:
        # What the step limits count from after the pause: what was recommended.
        recs = (*recs[:-1], (now, rec))
    state = after.evolve(
        recommendations=recs,
        last_good=(now, rec),
        draining=drain_state,
        paused=(pause, rec),
    )
    return paused, state
