"""A damaged ServeGen archive is one clean TraceError line, never a traceback."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from simulations.servegen import read_servegen
from simulations.traces import Trace, TraceError

LENGTHS = Trace("lengths", np.zeros(1), np.ones(1, dtype=np.int64), np.ones(1, dtype=np.int64))


def _archive(path: Path) -> bytes:
    """A tar.gz of one client's 2,016 windows (random rates, so gzip cannot shrink it
    to a few bytes and a cut lands inside the compressed member)."""
    rates = np.random.default_rng(0).random(2016)
    text = "".join(f"{600 * i},{r:.9f},1.0,,,\n" for i, r in enumerate(rates)).encode()
    info = tarfile.TarInfo("data/reason/deepseek-r1/chunk-1-trace.csv")
    info.size = len(text)
    with tarfile.open(path, "w:gz") as archive:
        archive.addfile(info, io.BytesIO(text))
    return path.read_bytes()


def _read(path: Path) -> Trace:
    return read_servegen(path, LENGTHS, np.random.default_rng(0), end=3600.0)


def test_a_whole_archive_reads(tmp_path: Path) -> None:
    path = tmp_path / "whole.tar.gz"
    _archive(path)
    assert len(_read(path)) > 0


def test_a_cut_archive_is_one_clean_error(tmp_path: Path) -> None:
    """A cut download ended in EOFError from gzip, outside the errors caught."""
    data = _archive(tmp_path / "whole.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match=r"cut\.tar\.gz: cannot read the ServeGen archive") as e:
        _read(cut)
    assert "\n" not in str(e.value)


def test_a_corrupt_archive_is_one_clean_error(tmp_path: Path) -> None:
    """Flipped bytes inside the deflate stream raise zlib.error."""
    data = bytearray(_archive(tmp_path / "whole.tar.gz"))
    for i in range(len(data) // 2, len(data) // 2 + 200):
        data[i] ^= 0x55
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(TraceError, match=r"bad\.tar\.gz: cannot read the ServeGen archive") as e:
        _read(bad)
    assert "\n" not in str(e.value)


def test_a_file_that_is_no_archive_is_one_line(tmp_path: Path) -> None:
    """tarfile's 'could not be opened successfully' lists each method on its own line."""
    path = tmp_path / "conv.csv"
    path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    with pytest.raises(TraceError) as e:
        _read(path)
    assert str(e.value) == (
        f"{path}: not a ServeGen archive (a .tar.gz, a folder or a chunk-N-trace.csv file); "
        "check --trace and --format"
    )
