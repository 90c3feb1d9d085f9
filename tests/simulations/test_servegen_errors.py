"""A damaged ServeGen archive is one clean TraceError line, never a traceback."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from simulations.servegen import read_servegen
from simulations.traces import Trace, TraceError

LENGTHS = Trace("lengths", np.zeros(1), np.ones(1, dtype=np.int64), np.ones(1, dtype=np.int64))
# The requests per second of the archive's 2,016 windows of 600 s.
RATES = np.random.default_rng(0).random(2016)


def _archive(path: Path) -> bytes:
    """A tar.gz of one client's 2,016 windows (random rates, so gzip cannot shrink it
    to a few bytes and a cut lands inside the compressed member)."""
    text = "".join(f"{600 * i},{r:.9f},1.0,,,\n" for i, r in enumerate(RATES)).encode()
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
    trace = _read(path)
    # The first hour: six windows, each with floor or ceil of rate x 600 arrivals.
    assert abs(len(trace) - 600 * RATES[:6].sum()) <= 6
    assert 0.0 <= trace.arrival.min() <= trace.arrival.max() < 3600.0


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


GOOD_ROW = "600,1,1,Gamma,1,1"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        # A cut-off row was read as a Poisson window of rate 1.
        (
            "0,1",
            ":2: expected 6 fields (window_start_s,rate_req_per_s,cv,dist,param1,param2), got 2",
        ),
        ("0,1,1,Gamma", ":2: expected 6 fields"),
        (
            "0,1,1,Gamma,1,1,",
            ":2: expected 6 fields (window_start_s,rate_req_per_s,cv,dist,param1,param2), got 7",
        ),
        ("0,1,1,Gamma,1,1,5,Weibull", "got 8"),
        ("0,0", ":2: expected 6 fields"),  # an idle row is checked too
        # Overflowed math.gamma (OverflowError) at a rate scale below 1.
        ("0,1,1,Weibull,0.001,1", ":2: Weibull shape 0.001, scale 1 give inter-arrival gaps"),
        ("0,1,1,Weibull,0.01,1", "of mean 9.33262e+157 and variance inf, not finite and > 0"),
        # A variance of 0: ZeroDivisionError.
        ("0,1,1,Weibull,1e308,1", ":2: Weibull shape 1e+308, scale 1 give inter-arrival gaps"),
        ("0,1,1,Weibull,5e-324,1", "Weibull shape 4.94066e-324"),
        ("0,1,1,Weibull,1,1e200", "variance inf, not finite and > 0; the fit cannot be sampled"),
        ("0,1,1,Gamma,1,1e200", ":2: Gamma shape 1, scale 1e+200 give"),
        ("0,1,1,Gamma,1e-200,1e-200", "of mean 0 and variance 0, not finite and > 0"),
    ],
)
@pytest.mark.parametrize("scale", [1.0, 0.5, 2.5])
def test_a_servegen_row_not_in_the_documented_shape_names_its_file_and_line(
    tmp_path: Path, row: str, message: str, scale: float
) -> None:
    file = tmp_path / "chunk-3-trace.csv"
    file.write_text(f"{GOOD_ROW}\n{row}\n")
    with pytest.raises(TraceError) as error:
        read_servegen(file, LENGTHS, np.random.default_rng(0), rate_scale=scale)
    assert str(error.value).startswith(f"{file}:2: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    "row",
    [
        # The extremes of the 422 client files of the archive (every busy window).
        "0,1,1,Weibull,0.15206816548779511,3.6322463953796876e-08",
        "0,1,1,Weibull,7.8990325849335274,43.52961261689472",
        "0,1,1,Gamma,0.006726834916666315,0.0007927723625940536",
        "0,1,1,Gamma,45229.88071968955,541.1426287255043",
        "0,1,1,Weibull,0.05,1",
        "0,1,1,Weibull,1000,1",
        "0,0,0,,0,0",
        "0,1,0,,0,0",
    ],
)
@pytest.mark.parametrize("scale", [1.0, 0.5, 2.5])
def test_servegen_fits_as_in_the_data_are_sampled(tmp_path: Path, row: str, scale: float) -> None:
    file = tmp_path / "chunk-3-trace.csv"
    file.write_text(f"{GOOD_ROW}\n{row}\n")
    trace = read_servegen(file, LENGTHS, np.random.default_rng(0), rate_scale=scale)
    assert np.isfinite(trace.arrival).all()
    rate = float(row.split(",")[1])  # and 1 req/s in GOOD_ROW's window
    assert len(trace) == pytest.approx(600 * scale * (1 + rate), rel=0.1)


def _folder(tmp_path: Path, text: bytes) -> tuple[Path, Path]:
    folder = tmp_path / "servegen"
    file = folder / "data" / "reason" / "deepseek-r1" / "chunk-3-trace.csv"
    file.parent.mkdir(parents=True)
    (file.parent / "chunk-1-trace.csv").write_text(GOOD_ROW + "\n")
    file.write_bytes(text)
    return folder, file


def test_an_error_in_a_folder_names_the_file_not_the_client(tmp_path: Path) -> None:
    """It said 'servegen[client 3]:2:', leaving the user to find which file that was."""
    folder, file = _folder(tmp_path, f"{GOOD_ROW}\n0,1\n".encode())
    with pytest.raises(TraceError, match=re.escape(f"{file}:2: expected 6 fields")):
        _read(folder)


def test_a_file_of_a_folder_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    folder, file = _folder(tmp_path, b"0,1,1,Gamma,1,1 \xe9\n")
    with pytest.raises(TraceError, match=re.escape(f"{file}: not UTF-8 text (byte 16")):
        _read(folder)


def test_an_error_in_an_archive_names_the_member(tmp_path: Path) -> None:
    path = tmp_path / "servegen.tar.gz"
    text = f"{GOOD_ROW}\n0,1,1,Weibull,0.001,1\n".encode()
    info = tarfile.TarInfo("data/reason/deepseek-r1/chunk-3-trace.csv")
    info.size = len(text)
    with tarfile.open(path, "w:gz") as archive:
        archive.addfile(info, io.BytesIO(text))
    member = f"{path}[data/reason/deepseek-r1/chunk-3-trace.csv]"
    with pytest.raises(TraceError, match=re.escape(f"{member}:2: Weibull shape 0.001")):
        _read(path)
