"""The recorded load straight from a recording's arrays, without building 40,000 snapshots.

``RecordingSource.history`` builds one :class:`~autoscaler.snapshot.LwsSnapshot` per step
(about 80 us each); the dry-run only needs per-step totals, so it reads the per-pod arrays
the source derives anyway (:meth:`RecordingSource.arrays`) and reduces them with numpy,
by the same rules :func:`~simulations.dryrun.load.collect` applies to snapshots:

- a sample counts when it is finite and >= 0; a pod reporting no signal at a step is not
  a leader at that step;
- ready groups that did not report carry the average load of those that did;
- recorded replica counts are used where all three are finite and >= 0 (whole groups,
  ready capped at created, as :func:`~autoscaler.sources.cluster.ready_among_created`);
  elsewhere, or without replica series, the reporting leaders stand for spec, status and
  ready (as ``autoscaler.sources.assemble`` does), and a step with no leader is a gap,
  unless a scale-to-zero policy's activation is above its threshold: then the LWS is at
  zero groups (assemble's wake rule).

``tests/simulations/dryrun/test_runner.py`` checks both paths give the same arrays.
"""

from __future__ import annotations

import numpy as np

from autoscaler.signals import Signal
from autoscaler.sources.assemble import wake_threshold
from autoscaler.sources.base import Target
from autoscaler.sources.families import LEADER_SIGNALS
from autoscaler.sources.recording import RecordingSource
from autoscaler.sources.recording_arrays import TargetArrays
from simulations.dryrun.load import AGGREGATE_SIGNALS, RecordedLoad

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def can_read_fast(source: object, target: Target) -> bool:
    """True for a recording replayed in recording time, without PromQL overrides (those
    cannot replay and are reported by the source itself)."""
    return (
        isinstance(source, RecordingSource)
        and getattr(source, "_wall_start", None) is None
        and not target.policy.spec.metrics.overrides
    )


def _replicas(data: TargetArrays, leaders: np.ndarray, wake_above: float | None) -> Arrays:
    """(spec, ready, present) per step, by the rules of ``RecordingSource``'s
    snapshots: a step whose counts are unusable falls back to the leader count."""
    counts = np.vstack([np.asarray(r, dtype=float) for r in data.replicas])
    usable = np.zeros(leaders.shape, dtype=bool)
    if data.replicas_recorded:
        # +Inf or a negative count is no count (int(inf) used to crash the run); NaN is
        # a step with neither a recorded count nor a reporting leader.
        usable = np.all(np.isfinite(counts) & (counts >= 0), axis=0)
    whole = np.floor(np.where(usable, counts, 0.0))  # the snapshots' int()
    spec = np.where(usable, whole[0], leaders)
    # A shrinking LWS's status still counts terminating leaders as ready: 6 ready of 2
    # created would multiply the 2 reporting leaders' load 3-fold.
    ready = np.where(usable, np.minimum(whole[2], whole[1]), leaders)
    present = usable | (leaders > 0)
    if wake_above is not None and data.activation is not None:
        # No leader and no count, but traffic waiting above the threshold: a 0-group
        # snapshot, so a parked LWS can wake (assemble's one exception).
        with np.errstate(invalid="ignore"):
            present |= np.asarray(data.activation, dtype=float) > wake_above
    return spec, ready, present


def collect_recording(source: RecordingSource, target: Target) -> RecordedLoad:
    data = source.arrays(target)
    steps = data.times.size
    width = len(LEADER_SIGNALS)
    load = np.full((steps, width), np.nan)
    load_ts = np.full((steps, width), np.nan)
    any_valid = np.zeros((len(data.pods), steps), dtype=bool)
    valid_by_signal = []
    for signal in LEADER_SIGNALS:
        values = data.values[signal]
        valid = np.isfinite(values) & (values >= 0)
        valid_by_signal.append(valid)
        any_valid |= ~np.isnan(values)  # a leader is any pod with a sample, as assemble does
    leaders = any_valid.sum(axis=0).astype(float)
    spec, ready, present = _replicas(data, leaders, wake_threshold(target))
    for s, signal in enumerate(LEADER_SIGNALS):
        values, stamps, valid = data.values[signal], data.stamps[signal], valid_by_signal[s]
        reporting = valid.sum(axis=0)
        total = np.where(valid, values, 0.0).sum(axis=0)
        oldest = np.where(valid, stamps, np.inf).min(axis=0, initial=np.inf)
        has = (reporting > 0) & present
        scale = np.maximum(ready, reporting) / np.maximum(reporting, 1)
        load[has, s] = total[has] * scale[has]
        load_ts[has, s] = oldest[has]
    aggregate = np.full((steps, len(AGGREGATE_SIGNALS)), np.nan)
    aggregate_ts = np.full((steps, len(AGGREGATE_SIGNALS)), np.nan)
    for signal, (quantile, stamp) in data.latencies.items():
        column = AGGREGATE_SIGNALS.index(signal)
        ok = np.isfinite(quantile) & (quantile >= 0) & present
        aggregate[ok, column] = quantile[ok]
        aggregate_ts[ok, column] = stamp[ok]
    if data.activation is not None:
        # Stamped at the step, as RecordingSource's snapshots stamp it.
        column = AGGREGATE_SIGNALS.index(Signal.ACTIVATION)
        ok = np.isfinite(data.activation) & (data.activation >= 0) & present
        aggregate[ok, column] = data.activation[ok]
        aggregate_ts[ok, column] = np.asarray(data.times, dtype=float)[ok]
    return RecordedLoad(
        key=target.key,
        times=np.asarray(data.times, dtype=float),
        present=present,
        load=load,
        load_ts=load_ts,
        aggregate=aggregate,
        aggregate_ts=aggregate_ts,
        spec=np.where(present, spec, np.nan),
        ready=np.where(present, ready, np.nan),
        step=source.step,
    )
