"""``load_yaml_model``: a simulator input file read as strictly as a policy, every
problem at once as ``file:line: field: message``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from autoscaler.errors import AutoscalerError
from simulations.yaml_file import load_yaml_model


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    count: int


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    inner: _Inner
    items: list[_Inner] = []


class _Error(AutoscalerError):
    pass


def _load(tmp_path: Path, text: str | bytes) -> _Doc:
    path = tmp_path / "doc.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return load_yaml_model(path, _Doc, _Error)


def _lines(exc: pytest.ExceptionInfo[_Error], tmp_path: Path) -> list[str]:
    return [line.removeprefix(f"{tmp_path / 'doc.yaml'}:") for line in str(exc.value).split("\n")]


def test_a_valid_document_loads(tmp_path: Path) -> None:
    doc = _load(tmp_path, "name: a\ninner: {count: 3}\nitems:\n  - count: 1\n")
    assert doc == _Doc(name="a", inner=_Inner(count=3), items=[_Inner(count=1)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Each problem on its own line, in line order, all of them at once.
        (
            "name: a\ninner:\n  count: '3'\nitems:\n  - count: 1\n  - cuont: 2\n",
            [
                "3: inner.count: Input should be a valid integer",
                "6: items[1].count: required field is missing",
                "6: items[1].cuont: unknown field (check the spelling)",
            ],
        ),
        (
            "name: a\nname: b\ninner: {count: 1}\n",
            ["2: name: duplicate key: the same field is set twice"],
        ),
        # YAML 1.2: ``yes`` is a string, and ``010`` is ten, not eight.
        ("name: yes\ninner: {count: 010}\n", None),
        # A trailing ``---`` (an empty document) is no second document.
        ("name: yes\ninner: {count: 010}\n---\n", None),
        (
            "name: a\ninner: {count: 1\n",
            ["3: <document>: invalid YAML: expected ',' or '}', but got '<stream end>'"],
        ),
        ("", ["1: <document>: the file is empty"]),
        ("name: a\n---\nname: b\n", ["3: <document>: invalid YAML: a second document"]),
        # PyYAML refuses control characters before parsing; it used to be a traceback.
        (
            "name: a\ninner: {count: 1\x00}\n",
            ["2: <document>: invalid YAML: unacceptable character #x0000"],
        ),
        ("[" * 5000 + "]" * 5000 + "\n", ["1: <document>: invalid YAML: nested too deeply"]),
        ("[1, 2]\n", ["1: <document>: Input should be a valid dictionary or instance of _Doc"]),
    ],
)
def test_problems_name_file_line_and_field(
    tmp_path: Path, text: str, expected: list[str] | None
) -> None:
    if expected is None:
        doc = _load(tmp_path, text)
        assert (doc.name, doc.inner.count) == ("yes", 10)
        return
    with pytest.raises(_Error) as exc:
        _load(tmp_path, text)
    lines = _lines(exc, tmp_path)
    assert len(lines) == len(expected)
    for got, want in zip(lines, expected, strict=True):
        assert got.startswith(want), (got, want)


def test_unreadable_files_are_errors_not_tracebacks(tmp_path: Path) -> None:
    with pytest.raises(_Error, match="cannot read"):
        load_yaml_model(tmp_path / "absent.yaml", _Doc, _Error)
    with pytest.raises(_Error, match="cannot read"):
        _load(tmp_path, b"name: \xff\n")


def test_alias_bombs_are_refused_before_validation(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=True)
    )
    with pytest.raises(_Error, match="invalid YAML"):
        _load(tmp_path, bomb)
