"""``lws-autoscaler record`` as a user runs it, against a scripted Prometheus on 127.0.0.1:
every bad flag is a one-line usage error (exit 2) before the first query, a Prometheus
failure is one line, and the file is written whole or not at all."""

from __future__ import annotations

import gzip
import io
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli.main import build_parser, main
from autoscaler.cli.record import ProgressBar, output_problem
from tests.sources.fake_prometheus import FakePrometheus, http

POLICY = Path(__file__).resolve().parents[2] / "policies" / "llama-70b.yaml"
LWS = "leaderworkerset_sigs_k8s_io_name"


def _matrix(_query: str) -> bytes:
    metric = {"namespace": "inference", LWS: "llama-70b", "pod": "llama-70b-0"}
    item = {"metric": metric, "values": [[1_767_225_600, "1"]]}
    body = {"status": "success", "data": {"resultType": "matrix", "result": [item]}}
    return http(200, json.dumps(body).encode())


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    server = FakePrometheus(_matrix)
    try:
        yield server
    finally:
        server.close()


def _record(url: str, *extra: str, output: Path | str | None = None) -> list[str]:
    start = [] if any(a.startswith("--start") for a in extra) else ["--start", "now-1h"]
    out = [] if output is None else ["-o", str(output)]
    return ["record", "--prometheus-url", url, "--policies", str(POLICY), *start, *extra, *out]


def _exit(argv: list[str]) -> int:
    """main's return code, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("{tmp}", "is a folder"),
        ("{tmp}/missing/r.json", "the folder {tmp}/missing does not exist"),
        ("{tmp}/file/r.json", "{tmp}/file is a file, not a folder"),
    ],
    ids=["folder", "missing-folder", "parent-is-a-file"],
)
@pytest.mark.usefixtures("no_query")
def test_an_unusable_output_is_refused_before_any_query(
    tmp_path: Path, output: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    out = output.format(tmp=tmp_path)
    assert _exit(_record("http://127.0.0.1:9", output=out)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lws-autoscaler record: -o {out}: {message.format(tmp=tmp_path)}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "0s"], "argument --timeout: must be above 0s"),
        (["--timeout", "3601s"], "argument --timeout: must be above 0s and at most 1h"),
        (["--start", "2026-01-01T00:00:00"], "has no time zone (add Z or +00:00)"),
        (["--start", "nan"], "--start: 'nan' is not a time: it must be finite"),
        (["--end", "inf"], "--end: 'inf' is not a time: it must be finite"),
        (["--end", "1e15"], "e+10 days after now (allowed: 5m of clock skew)"),
        (["--start=-1e300"], "over the 5,000,000 a recording may hold"),
        (
            ["--start", "now-60d", "--step", "1s"],
            "60 days at a 1s step is 5,18",
        ),
        (["--prometheus-url", "127.0.0.1:1"], "argument --prometheus-url: '127.0.0.1:1' is not"),
        (["--prometheus-url", "ftp://x/"], "argument --prometheus-url: 'ftp://x/' is not"),
    ],
    ids=[
        "timeout-0",
        "timeout-over-1h",
        "start-no-zone",
        "start-nan",
        "end-inf",
        "end-1e15",
        "start-far",
        "span",
        "url",
        "ftp",
    ],
)
@pytest.mark.usefixtures("no_query")
def test_bad_flags_are_usage_errors_before_any_query(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _record("http://127.0.0.1:9", *args, output=tmp_path / "r.json")
    if args[0] == "--prometheus-url":  # the later --prometheus-url wins
        argv = [a for a in argv if a != "http://127.0.0.1:9"]
        argv.remove("--prometheus-url")
    assert _exit(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("lws-autoscaler record: ")
    assert message in last
    assert not (tmp_path / "r.json").exists()


def test_an_html_error_page_is_cut_to_one_line(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = "<html>\n<head><title>404 Not Found</title></head>\n<body>\n" + "x\n" * 500
    prometheus.decide = lambda _q: http(404, page.encode())
    assert main(_record(prometheus.url, "--quiet", output=tmp_path / "r.json")) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(f"lws-autoscaler record: Prometheus at {prometheus.url} answered 404: ")
    assert "<html> <head><title>404 Not Found</title></head> <body> x x" in err
    assert len(err) <= len("lws-autoscaler record: ") + 400 + 1
    # Behind a long path prefix the message is longer still: cut to 400 characters.
    prefixed = f"{prometheus.url}/{'p' * 400}"
    assert main(_record(prefixed, "--quiet", output=tmp_path / "r.json")) == 2
    err = capsys.readouterr().err
    assert len(err) == len("lws-autoscaler record: ") + 400 + 1
    assert err.endswith("...\n")
    assert not (tmp_path / "r.json").exists()


def test_a_recording_is_written_whole(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json.gz"
    assert main(_record(prometheus.url, "--quiet", output=out)) == 0
    wrote = capsys.readouterr().out
    assert wrote.startswith(f"wrote {out}: 1 LWS, ")
    # --start now-1h at the default step: the steps inside the hour span 59m45s (1h only
    # when both ends fall on a step).
    assert re.search(r" points, (59m45s|1h) at 15s\n$", wrote), wrote
    assert json.loads(gzip.decompress(out.read_bytes()))["format"] == "lws-autoscaler-recording"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json.gz"]


def test_a_failed_write_leaves_the_previous_file_and_no_partial_one(
    prometheus: FakePrometheus,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "r.json.gz"
    out.write_bytes(b"the previous recording")
    real_write = gzip.GzipFile.write

    def full_disk(self: gzip.GzipFile, data: Any) -> int:
        real_write(self, bytes(data)[:100])
        self.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gzip.GzipFile, "write", full_disk)
    assert main(_record(prometheus.url, "--quiet", output=out)) == 2
    assert capsys.readouterr().err == (
        f"lws-autoscaler record: cannot write {out}: No space left on device\n"
    )
    assert out.read_bytes() == b"the previous recording"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json.gz"]


def _answer(result_type: str, result: list[Any]) -> bytes:
    body = {"status": "success", "data": {"resultType": result_type, "result": result}}
    return http(200, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("result_type", "item", "message"),
    [
        ("matrix", {"metric": {}, "values": [[1_767_225_600, "abc"]]}, "has the sample ["),
        ("matrix", {"metric": {}}, "has no 'values'"),
        ("vector", {"metric": {}, "value": [1_767_225_600, "1"]}, "the result is a vector"),
    ],
    ids=["value-abc", "no-values", "vector"],
)
def test_an_answer_that_is_not_a_matrix_of_samples_is_one_line(
    prometheus: FakePrometheus,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    result_type: str,
    item: dict[str, Any],
    message: str,
) -> None:
    """It used to be a ValueError's (or KeyError's) traceback."""
    prometheus.decide = lambda _q: _answer(result_type, [item])
    assert main(_record(prometheus.url, "--quiet", output=tmp_path / "r.json")) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"lws-autoscaler record: Prometheus at {prometheus.url} sent an unreadable answer to "
        "the range query for vllm:"
    )
    assert message in err
    assert not (tmp_path / "r.json").exists()


def test_no_leader_series_at_all_writes_nothing(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong --lws-label finds no leader: it used to write an empty recording, exit 0."""
    prometheus.decide = lambda _q: _answer("matrix", [])
    argv = _record(prometheus.url, "--quiet", "--lws-label", "wrong", output=tmp_path / "r.json")
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith(
        f"lws-autoscaler record: Prometheus at {prometheus.url} has no leader series for any "
        "of the 1 LWS (inference/llama-70b) from "
    )
    assert "in the label 'wrong' (--lws-label)" in captured.err
    assert not (tmp_path / "r.json").exists()


def test_an_lws_without_leader_series_is_a_warning(
    prometheus: FakePrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One LWS has leaders, the other none (scaled to zero throughout?): written, with a
    warning naming the other."""
    idle = tmp_path / "idle.yaml"
    idle.write_text(
        POLICY.read_text()
        .replace("name: llama-70b\nspec", "name: idle\nspec")
        .replace("name: llama-70b ", "name: idle ")
    )
    out = tmp_path / "r.json"
    argv = _record(prometheus.url, "--quiet", output=out)
    argv.insert(argv.index(str(POLICY)) + 1, str(idle))
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "lws-autoscaler record: warning: no leader series for inference/idle in the range "
        "(scaled to zero throughout, or its leaders lack the label "
        "'leaderworkerset_sigs_k8s_io_name'?)\n"
    )
    assert f"wrote {out}: 2 LWS" in captured.out
    assert out.exists()


def test_the_query_progress_bar_draws_one_line_per_tenth_in_logs() -> None:
    log = io.StringIO()
    bar = ProgressBar(log)
    for done in range(21):
        bar(done, 20)
    lines = log.getvalue().splitlines()
    assert lines[0] == "[" + "." * 30 + "]   0%  0/20 queries"
    assert lines[5] == "[" + "#" * 15 + "." * 15 + "]  50%  10/20 queries"
    assert lines[-1] == "[" + "#" * 30 + "] 100%  20/20 queries"
    assert len(lines) == 11  # 0%, 10%, ..., 100%


@pytest.mark.parametrize(
    ("left_out", "flag"),
    [
        ("--prometheus-url", "--prometheus-url"),
        ("--policies", "--policies"),
        ("--start", "--start"),
        ("-o", "-o/--output"),
    ],
)
@pytest.mark.usefixtures("no_query")
def test_each_required_flag_left_out_is_a_usage_error(
    tmp_path: Path, left_out: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _record("http://127.0.0.1:9", output=tmp_path / "r.json")
    at = argv.index(left_out)
    assert _exit(argv[:at] + argv[at + 2 :]) == 2
    assert f"the following arguments are required: {flag}" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_the_query_progress_bar_redraws_in_place_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = ProgressBar(screen, width=4)
    for done in range(3):
        bar(done, 2)
    assert screen.getvalue() == (
        "[....]   0%  0/2 queries\r[##..]  50%  1/2 queries\r[####] 100%  2/2 queries\n"
    )
    one = io.StringIO()
    ProgressBar(one, width=4)(1, 1)  # one query: done at once
    assert one.getvalue() == "[####] 100%  1/1 queries\n"


def test_a_sub_second_query_timeout_is_a_timeout() -> None:
    args = build_parser().parse_args(_record("http://127.0.0.1:9", output="r.json"))
    assert args.timeout == 30.0
    argv = _record("http://127.0.0.1:9", "--timeout", "500ms", output="r.json")
    assert build_parser().parse_args(argv).timeout == 0.5


def test_a_folder_that_refuses_files_is_named_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root, permission bits stop nothing; a read-only mount does (simulated here: the
    probe file's creation fails as the kernel would fail it)."""

    def refuse(**_: object) -> tuple[int, str]:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "r.json"
    assert (
        output_problem(str(out)) == f"-o {out}: cannot write in {tmp_path}: Read-only file system"
    )
