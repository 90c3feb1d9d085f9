"""The fast load path (:mod:`simulations.dryrun.fast_load`) on recordings at the edges of
the snapshot rules: it must give the arrays ``RecordingSource.history`` + ``collect``
give, and a step without data must stay a gap."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from autoscaler.policy.loader import load_policies
from autoscaler.sources.base import Target
from autoscaler.sources.recording import RecordingSource
from simulations.dryrun.fast_load import collect_recording
from simulations.dryrun.load import RecordedLoad, collect
from simulations.dryrun.loop import DryRunConfig, _initial, simulate
from simulations.dryrun.runner import RunOptions, dry_run_config
from tests.simulations.dryrun.recordings import (
    DEV_8B,
    LLAMA_70B,
    POLICIES,
    waiting_pods,
    write_recording,
)

ARRAYS = ("times", "present", "load", "load_ts", "aggregate", "aggregate_ts", "spec", "ready")
NAN = math.nan


def _wake(path: Path) -> Path:
    """A scale-to-zero LWS without replica series: one leader for 30 min (idle after 10),
    then none; the activation is above its threshold (0) from 60 to 90 min."""
    minutes = np.arange(480) * 15 / 60
    queue = np.where(minutes < 10, 3.0, np.where(minutes < 30, 0.0, NAN))
    activation = np.where((minutes >= 60) & (minutes < 90), 1.0, 0.0)
    return write_recording(path, DEV_8B, 480, waiting_pods(1, queue), activation=activation)


def _shrinking(path: Path) -> Path:
    """6 groups scaled to 2 at step 40; the status says 6 ready until step 52 (terminating
    leaders), while only 2 leaders report."""
    i = np.arange(120)
    spec = np.where(i < 40, 6.0, 2.0)
    ready = np.where(i < 52, 6.0, 2.0)
    pods = {
        f"pod-{p}": {"vllm:num_requests_waiting": np.where((i < 40) | (p < 2), 6.0, NAN)}
        for p in range(6)
    }
    return write_recording(path, LLAMA_70B, 120, pods, replicas=(spec, spec, ready))


def _bad_counts(value: float) -> Callable[[Path], Path]:
    """3 leaders; the recorded counts are 3 except ``value`` at steps 0 and 5."""

    def write(path: Path) -> Path:
        counts = np.full(40, 3.0)
        counts[[0, 5]] = value
        pods = waiting_pods(3, np.full(40, 10.0))
        return write_recording(path, LLAMA_70B, 40, pods, replicas=(counts, counts, counts))

    return write


def _spec_apart(path: Path) -> Path:
    """4 groups asked for, 3 created, 2 ready, 1 leader reporting; from step 20 the LWS is
    scaled to 0 and counts say so while the leader still reports (terminating)."""
    i = np.arange(40)
    spec, created, ready = (np.where(i < 20, n, 0.0) for n in (4.0, 3.0, 2.0))
    pods = waiting_pods(1, np.full(40, 10.0))
    return write_recording(path, LLAMA_70B, 40, pods, replicas=(spec, created, ready))


CASES = {
    "wakes-on-activation-without-leaders": (_wake, "dev-8b.yaml"),
    "ready-capped-at-created": (_shrinking, "llama-70b.yaml"),
    "infinite-count": (_bad_counts(math.inf), "llama-70b.yaml"),
    "negative-count": (_bad_counts(-1.0), "llama-70b.yaml"),
    "fractional-count": (_bad_counts(2.5), "llama-70b.yaml"),
    "zero-count": (_bad_counts(0.0), "llama-70b.yaml"),
    "spec-created-ready-apart": (_spec_apart, "llama-70b.yaml"),
}


def _both(path: Path, policy_file: str) -> tuple[RecordedLoad, RecordedLoad]:
    source = RecordingSource(path)
    target = Target(load_policies([POLICIES / policy_file])[0].policy)
    fast = collect_recording(source, target)
    history = source.history([target], source.start, source.end, source.step)
    return fast, collect(target.key, history, source.step)


@pytest.mark.parametrize("case", CASES)
def test_fast_path_equals_the_history_path(tmp_path: Path, case: str) -> None:
    write, policy_file = CASES[case]
    fast, slow = _both(write(tmp_path / "r.json"), policy_file)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)


def test_a_parked_lws_wakes_on_the_fast_path(tmp_path: Path) -> None:
    """The fast path dropped assemble's 0-group snapshot: the LWS never woke."""
    policy = load_policies([POLICIES / "dev-8b.yaml"])[0].policy
    fast, _ = _both(_wake(tmp_path / "r.json"), "dev-8b.yaml")
    assert fast.present[240:360].all()  # minutes 60 to 90
    assert (fast.spec[240:360] == 0).all()
    timeline = simulate(policy, fast, dry_run_config(policy, RunOptions(out=tmp_path)))
    assert timeline.hpa_replicas[:240].min() == 0  # parked while idle
    assert timeline.hpa_replicas[240:360].max() >= 1  # woken


def test_a_shrinking_lws_does_not_multiply_its_load(tmp_path: Path) -> None:
    fast, _ = _both(_shrinking(tmp_path / "r.json"), "llama-70b.yaml")
    assert fast.ready[45] == 2  # 6 "ready" of 2 created
    assert fast.load[45, 0] == 12.0  # 2 leaders x 6 waiting, not x 3


def test_steps_without_any_data_are_gaps_not_zero_replicas(tmp_path: Path) -> None:
    """Before step 40 nothing is recorded: no count, no leader. Those steps read as
    "0 replicas recorded", and the simulation started at replicas.min."""
    late = np.arange(240) >= 40
    counts = np.where(late, 3.0, NAN)
    pods = waiting_pods(3, np.where(late, 10.0, NAN))
    path = write_recording(tmp_path / "r.json", LLAMA_70B, 240, pods, (counts, counts, counts))
    fast, slow = _both(path, "llama-70b.yaml")
    for load in (fast, slow):
        assert not load.present[:40].any()
        assert np.isnan(load.spec[:40]).all()
        assert load.present[40:].all()
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ([math.inf, 3.0], 3),
        ([-1.0, 4.0], 4),
        ([NAN, 2.0], 2),
        ([NAN, NAN], 1),  # nothing recorded: replicas.min
    ],
)
def test_the_initial_size_is_the_first_usable_count(spec: list[float], expected: int) -> None:
    policy = load_policies([POLICIES / "llama-70b.yaml"])[0].policy
    base = dry_run_config(policy, RunOptions(out=Path()))
    config = DryRunConfig(base.hpa, base.cold_start)
    n = len(spec)
    blank = np.full((n, 1), NAN)
    load = RecordedLoad(
        LLAMA_70B,
        np.arange(n) * 15.0,
        np.ones(n, dtype=bool),
        blank,
        blank,
        blank,
        blank,
        np.array(spec),
        np.array(spec),
    )
    assert _initial(load, config) == expected
