"""The progress bar of the long-running commands: drawn on stderr unless quiet."""

from __future__ import annotations

import pytest

from autoscaler.cli.progress import Progress, with_progress


def _work(bar: Progress | None) -> str:
    if bar is not None:
        bar("first", 0.5)
        bar("first", 0.5)  # same permille and label: not redrawn
        bar("second", 1.0)
    return "done"


def test_the_bar_is_drawn_on_stderr_and_ends_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    result, wall = with_progress(False, _work)
    assert result == "done"
    assert wall >= 0
    captured = capsys.readouterr()
    assert captured.out == ""
    frames = captured.err.split("\r")[1:]
    assert len(frames) == 2
    assert frames[0].startswith("[" + "#" * 15 + "." * 15 + "]  50.0%")
    assert "first" in frames[0]
    assert frames[1].startswith("[" + "#" * 30 + "] 100.0%")
    assert frames[1].endswith("\n")


def test_quiet_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert with_progress(True, _work)[0] == "done"
    assert capsys.readouterr().err == ""
