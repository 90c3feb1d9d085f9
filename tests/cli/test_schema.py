"""``lws-autoscaler schema``: prints (or writes) the JSON Schema committed in the repo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli.main import main

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "policies" / "schema" / "scalingpolicy-v1alpha1.json"
# The console script installed next to this interpreter (the venv), else on PATH.
SCRIPT = Path(sys.executable).with_name("lws-autoscaler")
if not SCRIPT.exists():
    SCRIPT = Path(shutil.which("lws-autoscaler") or "lws-autoscaler")


def test_console_script_prints_the_committed_schema() -> None:
    result = subprocess.run(
        [str(SCRIPT), "schema"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == COMMITTED.read_text(encoding="utf-8")
    assert json.loads(result.stdout)["title"] == "ScalingPolicy (lws-autoscaler.io/v1alpha1)"


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schema.json"
    assert main(["schema", "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    assert target.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


def test_an_unwritable_output_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "absent" / "schema.json"
    assert main(["schema", "-o", str(target)]) == 2
    assert capsys.readouterr().err == (
        f"lws-autoscaler schema: cannot write {target}: No such file or directory\n"
    )


def test_a_failed_write_leaves_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A full disk used to leave a schema cut short under the final name.
    target = tmp_path / "schema.json"
    target.write_text("previous\n", encoding="utf-8")
    real_write = Path.write_text

    def half_then_full(path: Path, text: str, *args: object, **kwargs: object) -> int:
        real_write(path, text[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    assert main(["schema", "-o", str(target)]) == 2
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.json"]
    assert "No space left on device" in capsys.readouterr().err
