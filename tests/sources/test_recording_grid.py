"""Laying a recording on its grid: a bucket bound that is not a number and a grid too large
for memory are clean RecordingErrors (also through ``lws-autoscaler simulate``), and raw
per-engine counters are rated per engine, then summed, as PromQL's ``sum(rate())``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscaler.cli.main import main
from autoscaler.errors import RecordingError
from autoscaler.sources.recording import RecordingSource
from autoscaler.sources.recording_format import Recording, Series
from autoscaler.sources.recording_header import MAX_GRID_STEPS
from tests.sources.factories import only, target, values

START = 1000.0
LEADER = {"namespace": "inference", "leaderworkerset_sigs_k8s_io_name": "llama", "pod": "llama-0"}


def test_a_bucket_bound_that_is_not_a_number_is_a_recording_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = {**LEADER, "__name__": "vllm:time_to_first_token_seconds_bucket", "le": "abc"}
    body = {
        "format": "lws-autoscaler-recording",
        "version": 1,
        "start": START,
        "end": START + 15,
        "step": 15.0,
        "targets": [{"namespace": "inference", "name": "llama", "engine": "vllm"}],
        "series": [{"metric": bucket, "values": [[START, "1"]]}],
    }
    path = tmp_path / "bad-le.json"
    path.write_text(json.dumps(body))
    with pytest.raises(RecordingError) as refused:
        RecordingSource(path)
    assert str(refused.value) == (
        f"{path}: series vllm:time_to_first_token_seconds_bucket{{namespace='inference', "
        "leaderworkerset_sigs_k8s_io_name='llama', pod='llama-0', le='abc'} has a bucket "
        "bound that is not a number: le='abc'"
    )
    # The simulator ends as for any bad recording: one line, exit code 2.
    assert main(["simulate", "--recording", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lws-autoscaler simulate: ")
    assert "le='abc'" in err
    assert err.count("\n") == 1


def test_a_grid_too_large_for_memory_is_refused() -> None:
    """A few KB of file: 20 one-sample series over MAX_GRID_STEPS steps asked for 800 MiB
    (one float64 per step and series) before the first replay step."""
    series = [
        Series({**LEADER, "pod": f"llama-{i}", "__name__": "vllm:num_requests_waiting"}, [(0, 1)])
        for i in range(20)
    ]
    huge = Recording(0.0, float(MAX_GRID_STEPS - 1), 1.0, series=series)
    with pytest.raises(
        RecordingError,
        match=r"20 series x 5,000,000 steps is over 67,108,864 grid cells \(512 MiB\).* shorter",
    ):
        RecordingSource(recording=huge)


def test_engine_counters_are_rated_one_by_one_then_summed() -> None:
    """A data-parallel vLLM's two engines at 100 tokens/s each; engine 1 restarts alone
    at t=1060. Summed first, its drop from 10,006,000 to 0 read as a reset of the sum:
    166,917 tokens/s. Rated per engine, as PromQL's sum(rate()): 200, and 175 while the
    60 s window spans the restart (engine 1's interval across it counts only the new
    value, 0 tokens: 4,500 tokens over 60 s is 75/s, plus engine 0's 100)."""
    name = {**LEADER, "__name__": "vllm:prompt_tokens_total"}
    times = [START + 15 * i for i in range(9)]
    steady = [(t, 10_000_000 + 100 * (t - START)) for t in times]
    restarted = [
        (t, 10_000_000 + 100 * (t - START) if t < 1060 else 100 * (t - 1060)) for t in times
    ]
    recording = Recording(
        START,
        times[-1],
        15.0,
        series=[
            Series({**name, "engine": "0"}, steady),
            Series({**name, "engine": "1"}, restarted),
        ],
    )
    source = RecordingSource(recording=recording)
    tgt = target("inference", "llama", window=60.0, quantile=None)
    rates = {
        t: values(only(source.fetch([tgt], t), "inference", "llama"))["llama-0"][
            "promptTokensPerSecond"
        ]
        for t in times[1:]
    }
    assert rates == pytest.approx(
        {1015: 200, 1030: 200, 1045: 200, 1060: 175, 1075: 175, 1090: 175, 1105: 175, 1120: 200}
    )


def test_copies_of_a_series_from_two_scrape_jobs_count_once() -> None:
    """Raw series saved from a Prometheus where two jobs scrape the leader: each series
    twice, differing only in ``job``/``instance``/``service``. Summed, the queue read 14
    and the rate 400 tokens/s; one copy is 7 and 200."""
    times = [START + 15 * i for i in range(5)]
    series = []
    for job, extra in (("pods", {}), ("vllm-svc", {"service": "llama"})):
        scrape = {**LEADER, "job": job, "instance": f"{job}:8000", **extra}
        series += [
            Series({**scrape, "__name__": "vllm:num_requests_waiting"}, [(t, 7) for t in times]),
            Series(
                {**scrape, "__name__": "vllm:prompt_tokens_total"},
                [(t, 200 * (t - START)) for t in times],
            ),
        ]
    source = RecordingSource(recording=Recording(START, times[-1], 15.0, series=series))
    tgt = target("inference", "llama", window=60.0, quantile=None)
    got = values(only(source.fetch([tgt], times[-1]), "inference", "llama"))["llama-0"]
    assert got["queueDepth"] == 7
    assert got["promptTokensPerSecond"] == pytest.approx(200)


def test_a_policy_with_a_model_name_reads_that_models_series_and_unnamed_ones() -> None:
    """A leader serving two models (LoRA adapters named apart): the policy of one reads
    its series only; a series without ``model_name`` (SGLang's, or a relabelled one) is
    everyone's. Without a model name in the policy, the leader's queue is both models' (13)."""
    times = [START + 15 * i for i in range(3)]
    waiting = {**LEADER, "__name__": "vllm:num_requests_waiting"}
    series = [
        Series({**waiting, "model_name": "llama"}, [(t, 4) for t in times]),
        Series({**waiting, "model_name": "adapter"}, [(t, 9) for t in times]),
    ]
    source = RecordingSource(recording=Recording(START, times[-1], 15.0, series=series))

    def queue(model: str | None) -> float:
        tgt = target("inference", "llama", quantile=None, model_name=model)
        return values(only(source.fetch([tgt], times[-1]), "inference", "llama"))["llama-0"][
            "queueDepth"
        ]

    assert (queue("llama"), queue("adapter"), queue(None)) == (4, 9, 13)
    unnamed = [Series(waiting, [(t, 6) for t in times])]
    source = RecordingSource(recording=Recording(START, times[-1], 15.0, series=unnamed))
    assert queue("llama") == 6
