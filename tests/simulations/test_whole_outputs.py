"""The simulations' output files are whole or not at all, and a new run clears the
previous run's files of its names (and only those) from the output folder."""

from __future__ import annotations

import errno
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from autoscaler.output_files import OutputError
from autoscaler.sources.families import LEADER_SIGNALS
from simulations import report
from simulations.dryrun import report as dryrun_report
from simulations.dryrun.load import AGGREGATE_SIGNALS
from simulations.figures import save_png
from simulations.previous_outputs import remove_previous
from simulations.tune import report as tune_report
from simulations.tune.runner import Roles, TuningConfig


def _disk_full(*_: Any) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Path.write_text gets the first 8,192 characters out, then the disk is full (as
    a real full disk cut results.json)."""
    real = Path.write_text

    def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        real(self, data[:8192], *args, **kwargs)
        raise _disk_full()

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_full_disk_leaves_no_cut_benchmark_results(tmp_path: Path, full_disk: None) -> None:
    figures = {"ours": {"ttft": list(range(5000))}}  # well over 8,192 characters of JSON
    bench: Any = SimpleNamespace(figures=figures)
    with pytest.raises(OutputError, match=r"results\.json: No space left"):
        report.write_outputs(bench, tmp_path, {"trace": "t"}, 0.99)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_leaves_no_cut_tuning_results(tmp_path: Path, full_disk: None) -> None:
    result: Any = SimpleNamespace(chosen=None, variants=[], failed_gates={}, figures={})
    config = TuningConfig("p", 1.0, 0.99)
    meta = {"notes": "x" * 10_000}
    with pytest.raises(OutputError, match=r"results\.json"):
        tune_report.write_outputs(result, Roles((), None), config, tmp_path, meta)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_leaves_no_cut_dry_run_summary(tmp_path: Path, full_disk: None) -> None:
    with pytest.raises(OutputError, match=r"summary\.json"):
        dryrun_report.write_summary(tmp_path / "summary.json", {"x": "y" * 10_000})
    assert list(tmp_path.iterdir()) == []


def test_a_failing_timeline_csv_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class HalfWriter:
        """Gets part of a row out, then the disk is full."""

        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def writerow(self, row: list[str]) -> None:
            self.handle.write(",".join(row[:3]))
            raise _disk_full()

    monkeypatch.setattr("simulations.dryrun.report.csv.writer", HalfWriter)
    signals, aggregates = len(LEADER_SIGNALS), len(AGGREGATE_SIGNALS)
    empty = np.zeros(0)
    timeline: Any = SimpleNamespace(
        times=empty,
        per_group=np.zeros((0, signals)),
        engine_demand=empty,
        recommendation=empty,
        hpa_replicas=empty,
        created=empty,
        ready=empty,
    )
    load: Any = SimpleNamespace(
        load=np.zeros((0, signals)), aggregate=np.zeros((0, aggregates)), spec=empty, ready=empty
    )
    path = tmp_path / "timeline-p.csv"
    with pytest.raises(OutputError, match=r"timeline-p\.csv: No space left"):
        dryrun_report.write_timeline(path, timeline, load, empty)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_png_leaves_no_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    def savefig(self: Figure, path: Path, **_: Any) -> None:
        Path(path).touch()  # matplotlib opens the file, then the disk is full
        raise _disk_full()

    monkeypatch.setattr(Figure, "savefig", savefig)
    with pytest.raises(OutputError, match=r"timeline\.png: No space left"):
        save_png(plt.figure, tmp_path / "timeline.png")
    assert list(tmp_path.iterdir()) == []


def test_remove_previous_clears_only_the_names_given(tmp_path: Path) -> None:
    names = ["results.json", "timeline.png", "timeline-*.csv", "seed-[0-9]*/results.json"]
    stale = ["results.json", "timeline.png", "timeline-a.csv", ".results.json.x1y2.json"]
    for name in stale:
        (tmp_path / name).write_text("old")
    (tmp_path / "seed-7").mkdir()
    (tmp_path / "seed-7" / "results.json").write_text("old")
    (tmp_path / "seed-8").mkdir()
    (tmp_path / "seed-8" / "results.json").write_text("old")
    (tmp_path / "seed-8" / "mine.txt").write_text("keep")
    (tmp_path / "notes.md").write_text("keep")
    (tmp_path / "timeline-b.csv").mkdir()  # a folder of a matching name is not ours
    removed = remove_previous(tmp_path, names)
    assert len(removed) == 6
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["notes.md", "seed-8", "seed-8/mine.txt", "timeline-b.csv"]
