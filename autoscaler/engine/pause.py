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
  groups 4 and 5 are idle, then go to 4. The drain is the pause's own
  (``state.pause_draining``): the rules drain nothing while paused
  (:func:`state_for_rules`), and lifting the pause calls its drain off, so the rules
  decide from the live size. (In the rules' ``draining`` it made them see the LWS at
  the pause's size and finish a scale-down they never decided.)
- Without a snapshot (the source failed this cycle) the pause in force at the last
  decision that saw the cluster stays in force, with what it recommended then (within
  the bounds of the policy now in force): the annotation is read from the cluster,
  and the source's failure does not lift it. Past ``holdFor`` too: the hold's fallback
  or "no recommendation" does not replace the count, and the leaders of a completed
  drain stay out of routing while the LWS removes their groups.
"""

from __future__ import annotations

import dataclasses
import json

from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import Decision, ReasonCode
from autoscaler.engine.drain import drain
from autoscaler.engine.missing import still_leaving
from autoscaler.engine.state import EngineState
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import PAUSED_REPLICAS_ANNOTATION, LwsSnapshot, Pause

R = ReasonCode
DRIVER = "pause"
_REPLACED_WHEN_BLIND = frozenset({R.FALLBACK, R.NO_RECOMMENDATION})


def pause_in_force(snapshot: LwsSnapshot | None, before: EngineState) -> Pause | None:
    """The snapshot's pause; without a snapshot, the last one known."""
    if snapshot is not None:
        return snapshot.pause
    return before.paused[0] if before.paused is not None else None


def state_for_rules(snapshot: LwsSnapshot | None, state: EngineState) -> EngineState:
    """What the rules decide from: while paused, without a drain of their own. Theirs
    would never be sent out (the pause's is), and kept it would make them see the LWS at
    a size it is not going to; a drain of theirs under way when the pause begins is
    called off (its leaders serve again), and they start afresh when it ends."""
    if state.draining and pause_in_force(snapshot, state) is not None:
        return state.evolve(draining=())
    return state


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
        if after.paused is None and not after.pause_draining:
            return decision, after
        # Lifted: the pause's drain is called off, and the rules decide from the live size.
        return decision, after.evolve(paused=None, pause_draining=())
    ctx = DecisionContext(policy, now, decision.cold_start_seconds)
    named = f"{PAUSED_REPLICAS_ANNOTATION}={json.dumps(pause.value, ensure_ascii=False)}"
    spec = policy.spec
    floor = 0 if spec.scale_to_zero.enabled else spec.replicas.min
    # The pause's drain, as the drain rule reads one.
    draining_before = before.evolve(draining=before.pause_draining)
    if snapshot is None:
        assert before.paused is not None
        # Within the bounds of the policy in force: it may have been reloaded since.
        kept = ctx.clamp(before.paused[1], floor)
        ctx.note(
            R.PAUSED,
            f"autoscaling paused by {named} (as last read; the source returned no data): "
            f"keeping {kept}",
        )
        # A drain that completed sent the lower size out: its leaders stay out of
        # routing while the LWS removes their groups (``still_leaving``).
        leaving = still_leaving(ctx, draining_before, kept, None)
        # The hold's account of the missing data stays; its fallback or "no
        # recommendation" does not apply (nor warn in an Event): the pause gives a count.
        held = tuple(r for r in decision.reasons if r.code not in _REPLACED_WHEN_BLIND)
        paused = dataclasses.replace(
            decision,
            replicas=kept,
            driver=DRIVER,
            reasons=(*ctx.reasons, *held),
            draining=leaving,
        )
        still = tuple(entry for entry in before.pause_draining if entry[0] in leaving)
        return paused, after.evolve(paused=(pause, kept), pause_draining=still)
    current = snapshot.spec_replicas
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
        bounded = f" ({wanted:.4g} is outside [{floor}, {spec.replicas.max}]: {side})"
    rules = "none" if decision.replicas is None else str(decision.replicas)
    ctx.note(
        R.PAUSED,
        f"autoscaling paused by {named}: {target}{bounded}; the rules alone would "
        f"recommend {rules}",
    )
    rec, draining, drain_state = drain(ctx, draining_before, snapshot, current, target)
    # The rules drained nothing (``state_for_rules``); their drain reasons are moot.
    kept_reasons = tuple(r for r in decision.reasons if r.code is not R.DRAINING)
    paused = dataclasses.replace(
        decision,
        replicas=rec,
        driver=DRIVER,
        reasons=(*ctx.reasons, *kept_reasons),
        draining=draining,
    )
    state = after.evolve(
        # A hold after the pause, while the source has no data, holds what ran.
        last_good=(now, rec),
        draining=(),
        pause_draining=drain_state,
        paused=(pause, rec),
    )
    return paused, state
