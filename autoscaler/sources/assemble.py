"""Merges the cluster side and the metric side into one :class:`LwsSnapshot` per LWS.

Rules, the same for every source:

- With the cluster state, replica counts and groups come from the API server, and only
  the leaders of live groups count: a series of a deleted pod that Prometheus still holds
  inside its lookback is dropped.
- Without it (Prometheus-only deployments, recordings without replica series), the
  number of reporting leaders stands for ``spec``, ``status`` and ``ready`` replicas, and
  groups are unknown. This undercounts starting groups (they do not report yet), which
  only makes the engine more willing to scale up.
- Without the cluster state (or replica series), a target with no series at all is an
  error, not an empty snapshot: an LWS at zero is believed only from the API server,
  never from the absence of series (absence is not zero). With it, the snapshot has no
  leaders and the engine sees the signals as missing.
"""

from __future__ import annotations

from collections.abc import Mapping

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.cluster import LwsState

LeaderSamples = Mapping[str, Mapping[Signal, Sample]]


def assemble(
    key: LwsKey,
    observed_at: float,
    leaders: LeaderSamples,
    aggregates: Mapping[Signal, Sample],
    state: LwsState | None,
    replicas: tuple[int, int, int] | None = None,
) -> LwsSnapshot | str:
    """The snapshot, or a message saying why there is none.

    ``replicas`` (spec, status, ready) is used when ``state`` is None but the source knows
    the counts anyway (a recording with replica series).
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
        )
    kept = {pod: samples for pod, samples in leaders.items() if samples}
    if replicas is None:
        if not kept:
            return (
                f"no leader of LWS {key} reported any series (is it scraped, and is the LWS "
                "label relabelled onto the series?)"
            )
        count = len(kept)
        replicas = (count, count, count)
    spec, status, ready = replicas
    return LwsSnapshot(
        key=key,
        observed_at=observed_at,
        spec_replicas=spec,
        status_replicas=status,
        ready_replicas=ready,
        leaders=kept,
        aggregates=aggregates,
    )
