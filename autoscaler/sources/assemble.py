"""Merges the cluster side and the metric side into one :class:`LwsSnapshot` per LWS.

Rules, the same for every source:

- With the cluster state, replica counts, groups and an operator's pause come from the
  API server, and only the leaders of live groups count: a series of a deleted pod that
  Prometheus still holds inside its lookback is dropped.
- Without it (Prometheus-only deployments, recordings without replica series), the
  number of reporting leaders stands for ``spec``, ``status`` and ``ready`` replicas,
  groups are unknown, and so is a pause. This undercounts starting groups (they do not
  report yet), which only makes the engine more willing to scale up. Leaders the source
  knows exist but whose scrapes fail (``silent``,
  :mod:`autoscaler.sources.down_leaders`) count as ready groups that do not report, as
  the cluster state would count them: the engine then applies its partial-data rules
  instead of seeing a group fewer.
- Without the cluster state (or replica series), a target with no series at all is an
  error, not an empty snapshot: an LWS at zero is believed only from the API server,
  never from the absence of series (absence is not zero). With it, or with ``silent``
  leaders, the snapshot has no leaders and the engine sees the signals as missing (it
  holds).
- The one exception: a scale-to-zero policy whose activation signal is *above* its
  threshold while no leader reports. The snapshot then says zero groups, so the engine
  wakes the LWS to ``replicas.min``; without it an LWS parked at zero could never wake
  when the source has no cluster state. At or below the threshold it stays an error
  (the engine holds): "stay at zero" is never concluded from absent series, as a running
  LWS whose leaders are not scraped would be scaled to zero. Never with ``silent``
  leaders: those groups exist, so the LWS is not at zero.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.base import Target
from autoscaler.sources.cluster import LwsState, ready_among_created

LeaderSamples = Mapping[str, Mapping[Signal, Sample]]


def wake_threshold(target: Target) -> float | None:
    """The activation threshold of a scale-to-zero policy with an activation query."""
    zero = target.policy.spec.scale_to_zero
    if not zero.enabled or zero.activation is None:
        return None
    return float(zero.activation.threshold)


def assemble(
    key: LwsKey,
    observed_at: float,
    leaders: LeaderSamples,
    aggregates: Mapping[Signal, Sample],
    state: LwsState | None,
    replicas: tuple[int, int, int] | None = None,
    wake_above: float | None = None,
    silent: Collection[str] = (),
) -> LwsSnapshot | str:
    """The snapshot, or a message saying why there is none.

    ``replicas`` (spec, status, ready) is used when ``state`` is None but the source knows
    the counts anyway (a recording with replica series). ``wake_above``: the policy's
    activation threshold (:func:`wake_threshold`), for the exception in the module
    docstring. ``silent``: leader pods known to exist that did not report (used only
    without ``state`` and ``replicas``); a pod that also reports counts once.
    """
    if state is not None:
        live = state.leader_names
        kept = {pod: samples for pod, samples in leaders.items() if pod in live and samples}
        return LwsSnapshot(
            key=key,
            observed_at=observed_at,
            spec_replicas=state.spec_replicas,
            status_replicas=state.status_replicas,
            ready_replicas=state.ready_replicas,
            groups=state.groups,
            leaders=kept,
            aggregates=aggregates,
            pause=state.pause,
        )
    kept = {pod: samples for pod, samples in leaders.items() if samples}
    if replicas is None:
        # A leader scraped by two jobs, one of them failing, reports and is down at once.
        count = len(kept) + len(set(silent).difference(kept))
        if not count:
            return _no_leaders(key, observed_at, aggregates, wake_above)
        replicas = (count, count, count)
    spec, status, ready = replicas
    return LwsSnapshot(
        key=key,
        observed_at=observed_at,
        spec_replicas=spec,
        status_replicas=status,
        # Recorded from the LWS status (kube-state-metrics), so with the same lag.
        ready_replicas=ready_among_created(ready, status),
        leaders=kept,
        aggregates=aggregates,
    )


def _no_leaders(
    key: LwsKey,
    observed_at: float,
    aggregates: Mapping[Signal, Sample],
    wake_above: float | None,
) -> LwsSnapshot | str:
    """No cluster state, no replica counts, no leader: wake on activation, else an error."""
    activation = aggregates.get(Signal.ACTIVATION)
    message = (
        f"no leader of LWS {key} reported any series (is it scraped, and is the LWS label "
        "relabelled onto the series?)"
    )
    if wake_above is None or activation is None:
        return message
    if activation.value > wake_above:
        # Parked at zero (or not scraped): either way traffic is waiting, so wake it.
        return LwsSnapshot(
            key=key,
            observed_at=observed_at,
            spec_replicas=0,
            status_replicas=0,
            ready_replicas=0,
            aggregates=aggregates,
        )
    return (
        f"{message}; activation {activation.value:g} is not above its threshold "
        f"{wake_above:g}, and without the cluster state an LWS at zero cannot be told from "
        "one that is not scraped"
    )
