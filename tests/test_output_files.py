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


def test_a_new_file_gets_the_umask_mode_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """mkstemp makes 0600 files: results another user or an artifact uploader could not
    read. A new file is 0666 less the umask; a replaced one keeps its mode."""
    umask = os.umask(0o022)
    try:
        fresh = write_text(tmp_path / "summary.json", "{}")
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "shared.csv"
        kept.write_text("old")
        kept.chmod(0o664)
        write_text(kept, "new")
        assert kept.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(umask)


def test_a_symlink_keeps_pointing_at_its_target_which_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "today.json"
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(Path("runs") / "today.json")
    write_text(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path / "runs")) == ["today.json"]


def test_a_name_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    """A rename over a FIFO (or /dev/stdout's link) would replace it with a file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match=r"cannot write .*pipe: not a regular file"):
        write_text(fifo, "x")
    assert fifo.is_fifo()
    assert sorted(os.listdir(tmp_path)) == ["pipe"]
