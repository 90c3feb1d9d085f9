"""Output files are written whole or not at all, and a failure is one located error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoscaler.output_files import OutputError, write_text, write_with


def test_a_file_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")
    write_text(target, '{"new": true}\n')
    assert target.read_text() == '{"new": true}\n'
    assert sorted(os.listdir(tmp_path)) == ["results.json"]


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "timeline.png"
    target.write_bytes(b"old figure")

    def half_then_fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match=r"cannot write .*timeline\.png: No space left"):
        write_with(target, half_then_fail)
    assert target.read_bytes() == b"old figure"
    assert sorted(os.listdir(tmp_path)) == ["timeline.png"]


def test_the_temporary_keeps_the_suffix_writers_choose_a_format_by(tmp_path: Path) -> None:
    seen: list[str] = []

    def writer(path: Path) -> None:
        seen.append(path.suffix)
        path.write_bytes(b"x")

    write_with(tmp_path / "plot.png", writer)
    assert seen == [".png"]


def test_a_folder_that_cannot_hold_the_file_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot write"):
        write_text(tmp_path / "missing" / "results.json", "x")
