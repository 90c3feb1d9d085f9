"""Which files a list of paths names: each file once, nothing skipped without a word."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoscaler.errors import PolicyIssue
from autoscaler.policy.loader import collect_policies
from tests.cli.test_validate import GOOD  # the smallest valid policy


def _tree(root: Path) -> None:
    """team/a.yaml, a ConfigMap-like cm/ (p.yaml -> ..data/p.yaml), shared/s.yaml."""
    (root / "team").mkdir()
    (root / "team" / "a.yaml").write_text(GOOD, encoding="utf-8")
    (root / "cm" / "..2024_01_01").mkdir(parents=True)
    other = GOOD.replace("name: good", "name: cm").replace("name: model", "name: m2")
    (root / "cm" / "..2024_01_01" / "p.yaml").write_text(other, encoding="utf-8")
    (root / "cm" / "..data").symlink_to("..2024_01_01")
    (root / "cm" / "p.yaml").symlink_to("..data/p.yaml")
    (root / "shared").mkdir()
    third = GOOD.replace("name: good", "name: shared").replace("name: model", "name: m3")
    (root / "shared" / "s.yaml").write_text(third, encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "file"),
    [
        (["team/a.yaml", "team/a.yaml"], "team/a.yaml"),
        (["team/a.yaml", "team"], "team/a.yaml"),
        (["team", "./team/../team/a.yaml"], "team/a.yaml"),
        (["cm", "cm/..data"], "cm/p.yaml"),
        (["cm/p.yaml", "cm/..2024_01_01/p.yaml"], "cm/p.yaml"),
    ],
    ids=["file-twice", "file-and-its-folder", "other-spelling", "configmap-data", "link"],
)
def test_a_file_named_twice_is_loaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], file: str
) -> None:
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    policies, issues = collect_policies(args)
    assert issues == []
    # Once, under the first name given: not clashing with itself.
    assert [p.file for p in policies] == [file]


def test_symlinked_folders_are_followed_once_without_looping(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "team" / "shared").symlink_to(tmp_path / "shared")
    (tmp_path / "team" / "loop").symlink_to(tmp_path / "team")
    policies, issues = collect_policies([tmp_path / "team"])
    assert issues == []
    assert [p.policy.name for p in policies] == ["good", "shared"]


def _located(issues: list[PolicyIssue]) -> list[tuple[str, int, str]]:
    return [(Path(i.file).name, i.line, i.message) for i in issues]


def test_nothing_in_a_folder_is_skipped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "gone.yaml").symlink_to("nowhere.yaml")
    (tmp_path / "UPPER.YAML").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.Yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / ".hidden.yaml").write_text("x", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "locked").mkdir()
    real_listdir = os.listdir

    def listdir(path: Path) -> list[str]:
        if Path(path).name == "locked":  # tests may run as root, where chmod 0 is no bar
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    policies, issues = collect_policies([tmp_path])
    assert [p.policy.name for p in policies] == ["good"]
    suffix = "not loaded: a policy file's suffix is .yaml or .yml, in lower case"
    assert [
        (f, line, m[: len(suffix)] if "suffix" in m else m) for f, line, m in _located(issues)
    ] == [
        ("UPPER.YAML", 1, suffix),
        ("b.Yml", 1, suffix),
        ("gone.yaml", 1, "broken symbolic link (to nowhere.yaml): no such file"),
        ("locked", 1, "cannot read folder: Permission denied"),
        (
            "pipe.yaml",
            1,
            "not a regular file (a pipe or device cannot be validated; save it to a file)",
        ),
    ]


def test_bad_arguments_are_located_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "gone.yaml").symlink_to("nowhere.yaml")
    _, issues = collect_policies(
        ["", tmp_path / "empty", tmp_path / "pipe", tmp_path / "gone.yaml"]
    )
    assert _located(issues) == [
        ("gone.yaml", 1, "broken symbolic link (to nowhere.yaml): no such file"),
        ("pipe", 1, "not a regular file (a pipe or device cannot be validated; save it to a file)"),
        ("<arguments>", 1, "an empty path names no file (write '.' for this folder)"),
    ]
    _, issues = collect_policies([tmp_path / "empty"])
    assert [(i.file, i.message) for i in issues] == [
        (str(tmp_path / "empty"), "no policy files (*.yaml, *.yml) found")
    ]


@pytest.mark.parametrize(
    "args",
    [["empty", "empty"], ["empty", "./empty/../empty"], ["empty", "empty/sub"]],
    ids=["twice", "other-spelling", "and-its-subfolder"],
)
def test_an_empty_folder_named_twice_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    _, issues = collect_policies(args)
    assert [(i.file, i.message) for i in issues] == [
        ("empty", "no policy files (*.yaml, *.yml) found")
    ]
