"""``lws-autoscaler validate``: one ``file:line: field: message`` line per problem,
exit 0 when every policy is valid, 1 otherwise. Runs the installed console script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli.main import main

REPO = Path(__file__).resolve().parents[2]
# The console script installed next to this interpreter (the venv), else on PATH.
SCRIPT = Path(sys.executable).with_name("lws-autoscaler")
if not SCRIPT.exists():
    SCRIPT = Path(shutil.which("lws-autoscaler") or "lws-autoscaler")
ISSUE_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.+)$")

GOOD = """\
apiVersion: lws-autoscaler.io/v1alpha1
kind: ScalingPolicy
metadata:
  name: good
spec:
  target: {namespace: ns, name: model}
  replicas: {min: 1, max: 3}
  signals:
    - type: queueDepth
      targetPerGroup: 8
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_console_script_accepts_the_example_policies() -> None:
    result = _run("validate", str(REPO / "policies"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert any(line.endswith(": ok: llama-70b -> LWS inference/llama-70b") for line in lines)


def test_console_script_reports_each_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("max: 3", 'max: "3"').replace(
            "targetPerGroup: 8", "targetPerGroup: 8\n      x: 1"
        ),
        encoding="utf-8",
    )
    result = _run("validate", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    *problems, summary = result.stderr.splitlines()
    parsed = [ISSUE_LINE.match(line) for line in problems]
    assert all(parsed), problems
    assert [(m["file"], m["line"], m["field"]) for m in parsed if m] == [
        (str(bad), "7", "spec.replicas.max"),
        (str(bad), "11", "spec.signals[0].x"),
    ]
    assert summary == "2 problem(s) in 1 file(s)"


def test_valid_and_invalid_files_together_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    assert main(["validate", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # no "ok" lines when anything is wrong: CI logs show only problems
    assert (
        err.splitlines()[0]
        == f"{tmp_path / 'empty.yaml'}:1: <document>: file holds no policy document"
    )


def test_quiet_prints_nothing_on_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    assert main(["validate", "-q", str(tmp_path / "good.yaml")]) == 0
    assert capsys.readouterr() == ("", "")


def test_missing_path_is_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'absent.yaml'}:1: <document>: no such file or directory" in err


def test_cross_file_duplicates_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD.replace("name: good", "name: copy"), encoding="utf-8")
    assert main(["validate", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'b.yaml'}:6: spec.target: LWS ns/model is already")


def test_validate_needs_a_path() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate"])
    assert exited.value.code == 2


@pytest.mark.parametrize("command", [["validate", "GOOD"], ["schema"]])
def test_an_output_that_cannot_be_written_is_a_one_line_error(
    tmp_path: Path, command: list[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    args = [str(good) if a == "GOOD" else a for a in command]
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = subprocess.run(
            [str(SCRIPT), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert (result.returncode, result.stderr) == (
        2,
        f"lws-autoscaler {command[0]}: cannot write the output: No space left on device\n",
    )


def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", ""]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        "<arguments>:1: <document>: an empty path names no file (write '.' for this folder)"
    )
