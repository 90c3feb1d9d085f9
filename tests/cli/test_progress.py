"""The progress bar of the long-running commands: drawn on stderr unless quiet, redrawn
in place on a terminal, one line per tenth in a log."""

from __future__ import annotations

import sys
import time

import pytest

from autoscaler.cli.progress import Progress, with_progress


def _work(bar: Progress | None) -> str:
    if bar is not None:
        bar("first", 0.5)
        bar("first", 0.5)  # same permille and label: not redrawn
        bar("first", 0.5009)  # 500.9 permille is still 500: not redrawn
        bar("first", 0.55)  # same tenth: a log gets no line
        bar("next", 0.55)  # a new label: a terminal shows it, a log waits for a tenth
        bar("second", 1.0)
    return "done"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.monotonic as seen by the bar: 100 at the start, 7 s more at each read."""
    now = [100.0]

    def tick() -> float:
        value = now[0]
        now[0] += 7.0
        return value

    monkeypatch.setattr(time, "monotonic", tick)
    return now


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_the_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    result, wall = with_progress(False, _work)
    assert result == "done"
    # Reads: start 100, four redraws 107/114/121/128, end 135 -> 35 s of wall time.
    assert wall == 35.0
    captured = capsys.readouterr()
    assert captured.out == ""
    frames = captured.err.split("\r")[1:]
    assert len(frames) == 4
    assert frames[0].startswith("[" + "#" * 15 + "." * 15 + "]  50.0%     7s first")
    assert frames[1].startswith("[" + "#" * 16 + "." * 14 + "]  55.0%    14s first")
    assert frames[2].startswith("[" + "#" * 16 + "." * 14 + "]  55.0%    21s next")
    assert frames[3].startswith("[" + "#" * 30 + "] 100.0%    28s second")
    assert frames[3].endswith("\n")


def test_in_a_log_each_tenth_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, clock: list[float]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert with_progress(False, _work)[0] == "done"
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == [
        "[" + "#" * 15 + "." * 15 + "]  50.0%     7s first",
        "[" + "#" * 30 + "] 100.0%    14s second",
    ]


def test_quiet_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert with_progress(True, _work)[0] == "done"
    assert capsys.readouterr().err == ""
