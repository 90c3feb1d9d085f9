"""The engine's memory between decisions: immutable, trimmed to the windows in use.

Everything is a tuple of ``(time, value)`` pairs or a scalar, so a state can be
compared, hashed and rebuilt by replaying history (what a restarted server does).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import TypeVar

from autoscaler.snapshot import Pause

T = TypeVar("T")

TimedInts = tuple[tuple[float, int], ...]
TimedFloats = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class EngineState:
    """Per-LWS memory.

    - ``first_seen``: time of the first decision (the missing-data hold counts from it
      while nothing has been recommended yet);
    - ``observed_since``: start of the current stretch of decisions on fresh data; a gap
      longer than the down window starts a new one, and a clock step back ends it (None
      until the next decision on data, ``rebased``). Scale-down waits until the down
      window has been observed in full (a restarted server must not act on half a
      window, nor a server that was blind for longer than the window);
    - ``targets``: the groups the load called for, per decision (stabilisation windows);
    - ``sizes``: ``spec.replicas`` seen at each decision; step limits count from the
      smallest (up) or largest (down) size of their period;
    - ``demand``: continuous demand in groups, per decision (trend for the forecast);
    - ``queue_totals``: total waiting requests over all ready groups, per decision, kept
      for the longest ``queueDepth.sustainedFor`` (empty when that is 0);
    - ``queue_calm``: (start, last decision) of the current stretch of decisions where
      every queue signal with ``isolatedBurst`` was usable and at or below target
      (None: not calm);
    - ``last_good``: the last recommendation made on fresh data, for the missing-data hold;
    - ``idle_since``: start of the current idle stretch (scale-to-zero);
    - ``decided_at``/``interval``: the time of the last decision and the interval
      before it, to tell unobserved time from the usual pace (``unobserved_gap``);
    - ``rates_from``: the last decision with no group serving (at zero, or every group
      still starting): token rates read over a window reaching back before it are a
      warm-up, not demand (the forecast's trend starts a rate window later);
    - ``unserved_since``: the first decision of that stretch with no group serving (the
      gateway's backlog grew for as long, ``proposals.backlog_holds``); ``served_at``:
      the last decision that saw a group ready. Decisions without data between them
      neither end nor start a stretch;
    - ``start_durations``/``seen_starts``: observed cold starts and the groups already
      counted, as (index, creation time), at most one per index;
    - ``draining``: leaders of the groups a drained scale-down removes, each with the
      time its drain began (``scaleDown.drain``);
    - ``paused``: the operator's pause in force at the last decision that knew the
      cluster state, with what it recommended (``pause``): kept while the source
      returns no snapshot; ``pause_draining``: the leaders of the groups the pause's
      own drain removes, as ``draining`` (the rules' drain) holds theirs.
    """

    first_seen: float | None = None
    observed_since: float | None = None
    targets: TimedInts = ()
    sizes: TimedInts = ()
    demand: TimedFloats = ()
    queue_totals: TimedFloats = ()
    queue_calm: tuple[float, float] | None = None
    last_good: tuple[float, int] | None = None
    idle_since: float | None = None
    rates_from: float | None = None
    unserved_since: float | None = None
    served_at: float | None = None
    decided_at: float | None = None
    interval: float | None = None
    start_durations: tuple[float, ...] = ()
    seen_starts: frozenset[tuple[int, float]] = field(default_factory=frozenset)
    draining: tuple[tuple[str, float], ...] = ()
    paused: tuple[Pause, int] | None = None
    pause_draining: tuple[tuple[str, float], ...] = ()

    def evolve(self, **changes: object) -> EngineState:
        """A copy with ``changes``; like ``dataclasses.replace``, at a tenth of the cost
        (it runs on every decision, and the fields need no conversion)."""
        if not _FIELD_NAMES.issuperset(changes):
            raise TypeError(f"EngineState has no field(s) {sorted(changes.keys() - _FIELD_NAMES)}")
        copy = object.__new__(EngineState)
        fields = copy.__dict__
        fields.update(self.__dict__)
        fields.update(changes)
        return copy


_FIELD_NAMES = frozenset(f.name for f in fields(EngineState))


def rebased(state: EngineState, now: float) -> EngineState:
    """``state`` with no stretch starting after ``now``: after the clock steps back (NTP,
    a VM restored from a snapshot), a stamp in the future would never expire.

    Stepped back 1 h, a drain begun "in 1 h" could not time out, a hold counted
    ``now - since`` = -3,600 s and held for 65 minutes instead of 5, and the down window
    was "observed for -3,000 s". Each stretch restarts at ``now`` instead: a drain gets its
    full timeout again, a hold its ``holdFor``, which is the cautious reading of time that
    cannot be measured. The observation stretch ends: the next decision on data starts a
    new one, and the down window must be observed in full again. (Restarted at ``now``, a
    step back of 600 s at a decision without data, then 700 s of silence, read as 700 s
    observed once the clock passed the last observation again: the gap from it was
    100 s.) The histories need nothing: every reader ignores entries after ``now`` and
    ``append_window`` drops them.
    """
    # The usual case, one comparison: every stamp is set at or before the decision that
    # wrote ``decided_at``, so none is later than it.
    if state.decided_at is not None and state.decided_at <= now:
        return state
    stamps = [
        state.first_seen,
        state.observed_since,
        state.idle_since,
        state.rates_from,
        state.unserved_since,
        state.served_at,
        state.decided_at,
    ]
    if state.last_good is not None:
        stamps.append(state.last_good[0])
    if state.queue_calm is not None:
        stamps.append(state.queue_calm[0])
    stamps.extend(began for _, began in (*state.draining, *state.pause_draining))
    if not any(stamp is not None and stamp > now for stamp in stamps):
        return state

    def earlier(stamp: float | None) -> float | None:
        return None if stamp is None else min(stamp, now)

    last_good = state.last_good
    if last_good is not None and last_good[0] > now:
        last_good = (now, last_good[1])  # the value stays; its hold restarts
    calm = state.queue_calm
    if calm is not None and calm[0] > now:
        calm = None  # a calm stretch that cannot be measured is no calm
    rates_from, unserved = earlier(state.rates_from), earlier(state.unserved_since)
    if rates_from is not None and state.rates_from is not None and unserved is not None:
        # The stretch without a serving group keeps its length: the wake's hold is as
        # long as it was (clamped to now, both ends would make it 0 s and no hold).
        assert state.unserved_since is not None
        unserved = rates_from - (state.rates_from - state.unserved_since)
    return state.evolve(
        first_seen=earlier(state.first_seen),
        observed_since=None,
        idle_since=earlier(state.idle_since),
        rates_from=rates_from,
        unserved_since=unserved,
        served_at=earlier(state.served_at),
        decided_at=earlier(state.decided_at),
        last_good=last_good,
        queue_calm=calm,
        draining=tuple((pod, min(began, now)) for pod, began in state.draining),
        pause_draining=tuple((pod, min(began, now)) for pod, began in state.pause_draining),
    )


def no_group_served_last(state: EngineState) -> bool:
    """Whether the previous decision had no group serving (at zero, or every group
    starting): such a decision stamps ``rates_from`` with its own time."""
    return state.rates_from is not None and state.rates_from == state.decided_at


def no_group_serves(state: EngineState, now: float) -> dict[str, float]:
    """The changes a decision with no group serving makes: ``rates_from`` is ``now``,
    and ``unserved_since`` keeps the start of the stretch: ``now`` unless no decision
    has seen a group ready since it began (one without data between them, a failed
    scrape, does not cut it in two)."""
    since = state.unserved_since
    if since is None or (state.served_at is not None and state.served_at >= since):
        since = now
    return {"rates_from": now, "unserved_since": since}


def unobserved_gap(state: EngineState, now: float, stale_after: float) -> bool:
    """True when the time since the last decision is not observed time: no decision yet,
    or a gap longer than ``staleAfter`` and than twice the interval before it.

    Idle at 12:00 and at 12:20 with nothing seen between is no 20 minutes of idleness (a
    stalled loop, a clock stepped forward). Against ``staleAfter`` alone, a loop on a 75 s
    cycle (``staleAfter`` 60 s) would never be idle for more than 0 s; against twice the
    usual pace it is, and one cycle that overran to 2 x 75 s is not a gap either.
    """
    if state.decided_at is None:
        return True
    usual = 2 * state.interval if state.interval is not None else 0.0
    return now - state.decided_at > max(stale_after, usual)


def _first_at_or_after(history: tuple[tuple[float, T], ...], horizon: float) -> int:
    return bisect_left(history, horizon, key=itemgetter(0))


def append_window(
    history: tuple[tuple[float, T], ...], now: float, value: T, keep_seconds: float
) -> tuple[tuple[float, T], ...]:
    """Append ``(now, value)`` and drop entries older than ``keep_seconds``.

    Entries stamped after ``now`` (a clock that went backwards) are dropped too, so a
    replay can never see the future. Histories are in time order, so trimming is a
    binary search and one slice, not a pass over the window.
    """
    if history and history[-1][0] > now:
        history = history[: bisect_right(history, now, key=itemgetter(0))]
    horizon = now - keep_seconds
    # The usual cases without a search: nothing expired, or only the oldest entry
    # (one decision per period: each new entry pushes one old one out).
    if not history or history[0][0] >= horizon:
        return (*history, (now, value))
    if len(history) > 1 and history[1][0] >= horizon:
        return (*history[1:], (now, value))
    start = _first_at_or_after(history, horizon)
    return (*history[start:], (now, value))


def within(history: tuple[tuple[float, int], ...], now: float, seconds: float) -> list[int]:
    """Values recorded in the last ``seconds`` (inclusive), oldest first."""
    start = _first_at_or_after(history, now - seconds)
    end = len(history)
    if history and history[-1][0] > now:
        end = bisect_right(history, now, key=itemgetter(0))
    return [v for _, v in history[start:end]]
