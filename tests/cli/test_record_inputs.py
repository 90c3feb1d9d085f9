"""``lws-autoscaler record`` with inputs it used to get wrong, against a scripted
Prometheus on 127.0.0.1: times it cannot show or round into a range, steps that are not
whole seconds, a password in the URL, and leader series without the pod label."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli.main import main
from tests.sources.fake_prometheus import FakePrometheus, http

POLICY = Path(__file__).resolve().parents[2] / "policies" / "llama-70b.yaml"
LWS = "leaderworkerset_sigs_k8s_io_name"


def _answer(*items: dict[str, Any]) -> bytes:
    body = {"status": "success", "data": {"resultType": "matrix", "result": list(items)}}
    return http(200, json.dumps(body).encode())


def _leader(name: str, pod: str | None) -> dict[str, Any]:
    metric = {"namespace": "inference", LWS: name, **({"pod": pod} if pod else {})}
    return {"metric": metric, "values": [[1_767_225_600, "1"]]}


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus(lambda _q: _answer(_leader("llama-70b", "llama-70b-0")))
    try:
        yield server
    finally:
        server.close()


def _argv(url: str, output: Path, *extra: str) -> list[str]:
    start = [] if any(a.startswith("--start") for a in extra) else ["--start", "now-1h"]
    policies = ["--policies", str(POLICY)]
    return [
        "record",
        "--prometheus-url",
        url,
        *policies,
        *start,
        "--quiet",
        *extra,
        "-o",
        str(output),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--start=-62135597000", "--end=-62135596000"],
            "--start -62135597000 --end -62135596000 --step 15s: times must be from "
            "0001-01-01 to 9999-12-31 (-62135596800 to 253402300799)",
        ),
        (
            ["--start", "1767225600.6", "--end", "1767225600.9"],
            "--start 1767225600.6 --end 1767225600.9 --step 15s: the start rounds to the "
            "whole second 1767225601, after the end 1767225600.9",
        ),
        (
            ["--step", "1.0005s"],
            "--start now-1h --end now --step 1.0005s: the step must be whole milliseconds "
            "(Prometheus's resolution), got 1.0005s",
        ),
    ],
    ids=["year-0", "start-rounds-past-end", "step-under-1ms"],
)
@pytest.mark.usefixtures("no_query")
def test_a_range_it_cannot_record_is_refused_before_any_query(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Year 0 was a ValueError traceback; a start rounding past the end sent no query and
    blamed --lws-label; a step of 1.0005 s was sent as 1000ms."""
    assert main(_argv("http://127.0.0.1:9", tmp_path / "r.json", *args)) == 2
    assert capsys.readouterr().err == f"lws-autoscaler record: {message}\n"
    assert not (tmp_path / "r.json").exists()


def test_a_fractional_step_is_shown_and_written_as_it_is(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to read "1h at 2s" for 1.5 s."""
    out = tmp_path / "r.json"
    assert main(_argv(prometheus.url, out, "--step", "1.5s")) == 0
    assert capsys.readouterr().out.endswith(" at 1.5s\n")
    assert json.loads(out.read_text())["step"] == 1.5


def test_a_password_in_the_url_is_in_neither_the_file_nor_the_messages(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    assert main(_argv(prometheus.url.replace("//", "//alice:s3cret@"), out)) == 0
    assert json.loads(out.read_text())["source"] == {"prometheusUrl": prometheus.url}
    assert "s3cret" not in out.read_text()
    assert main(_argv("http://alice:s3cret@127.0.0.1:9", tmp_path / "x.json")) == 2
    captured = capsys.readouterr()
    assert "lws-autoscaler record: Prometheus at http://127.0.0.1:9 is unreachable" in captured.err
    assert "s3cret" not in captured.out + captured.err


def test_leader_series_without_a_pod_label_write_nothing(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A replay skips them: the file used to be written (exit 0) and replayed nothing."""
    prometheus.decide = lambda _q: _answer(_leader("llama-70b", None))
    assert main(_argv(prometheus.url, tmp_path / "r.json")) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"lws-autoscaler record: Prometheus at {prometheus.url} has leader series for "
        "inference/llama-70b from "
    )
    assert "but the series lack the label 'pod' that tells a replay" in err
    assert not (tmp_path / "r.json").exists()


def test_an_lws_whose_series_lack_the_pod_label_is_a_warning(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idle = tmp_path / "idle.yaml"
    idle.write_text(
        POLICY.read_text()
        .replace("name: llama-70b\nspec", "name: idle\nspec")
        .replace("name: llama-70b ", "name: idle ")
    )
    prometheus.decide = lambda q: _answer(
        *([] if "kube_leaderworkerset" in q else [_leader("llama-70b", "p-0"), _leader("idle", "")])
    )
    argv = _argv(prometheus.url, tmp_path / "r.json", "--policies", str(POLICY), str(idle))
    assert main(argv) == 0
    assert capsys.readouterr().err == (
        "lws-autoscaler record: warning: the leader series of inference/idle lack the label "
        "'pod': a replay skips them\n"
    )
