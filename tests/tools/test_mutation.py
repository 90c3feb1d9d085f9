"""The mutation tester: which mutants it makes of a source, and a whole run on a small
repository (real pytest runs in subprocesses, in a copy of that repository)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools.mutation import main, mutants


def _mutated(source: str) -> list[tuple[str, str]]:
    """(what changed, the mutated function's last line) for each mutant of ``source``."""
    return [
        (m.description, m.source.strip().splitlines()[-1].strip())
        for m in mutants(textwrap.dedent(source))
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "def f(x):\n    return x < 3\n",
            [("Lt -> LtE", "return x <= 3"), ("3 -> 4", "return x < 4")],
            id="comparison and constant",
        ),
        pytest.param(
            "def f(x):\n    return x * 0.1\n",
            [("Mult -> Div", "return x / 0.1"), ("0.1 -> 1.1", "return x * 1.1")],
            id="a float constant, named as written",
        ),
        pytest.param(
            "def f(a, b):\n    return a + b * 2\n",
            [
                ("Add -> Sub", "return a - b * 2"),
                ("Mult -> Div", "return a + b / 2"),
                ("2 -> 3", "return a + b * 3"),
            ],
            id="operators",
        ),
        pytest.param(
            "def f(x):\n    return 0 < x != 5\n",
            [
                ("Lt -> LtE", "return 0 <= x != 5"),
                ("NotEq -> Eq", "return 0 < x == 5"),
                ("0 -> 1", "return 1 < x != 5"),
                ("5 -> 6", "return 0 < x != 6"),
            ],
            id="each comparison of a chain on its own",
        ),
        pytest.param(
            "def f(x, y):\n    return not (x and y)\n",
            [("not dropped", "return x and y"), ("and <-> or", "return not (x or y)")],
            id="not and boolean operators",
        ),
        pytest.param(
            "def f(x):\n    return min(x, len(x))\n",
            [("min -> max", "return max(x, len(x))")],
            id="min and max, other calls kept",
        ),
        pytest.param(
            "def f(x):\n    return x is None or True\n",
            [
                ("and <-> or", "return x is None and True"),
                ("Is -> IsNot", "return x is not None or True"),
                ("True -> False", "return x is None or False"),
            ],
            id="identity and booleans",
        ),
    ],
)
def test_each_mutant_changes_one_thing(source: str, expected: list[tuple[str, str]]) -> None:
    assert sorted(_mutated(source)) == sorted(expected)


def test_an_if_is_negated() -> None:
    (mutant,) = mutants("if ready:\n    go()\n")
    assert (mutant.line, mutant.description) == (1, "if negated")
    assert mutant.source.startswith("if not ready:")


def test_docstrings_and_annotations_are_left_alone() -> None:
    source = textwrap.dedent(
        '''
        from typing import Literal

        def f(x: Literal[1] = 2) -> Literal[3]:
            """Returns 4 > 5."""
            y: Literal[6] = x
            return y
        '''
    )
    # Only the default (a value the code runs with) is mutated.
    assert [(m.line, m.description) for m in mutants(source)] == [(4, "2 -> 3")]


def _repository(root: Path) -> Path:
    """A repository with one module and a test that checks one side of its threshold."""
    repo = root / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "calc.py").write_text("def is_big(x: int) -> bool:\n    return x > 10\n")
    (repo / "tests" / "test_calc.py").write_text(
        "from pkg.calc import is_big\n\n\n"
        "def test_is_big() -> None:\n    assert is_big(11)\n    assert not is_big(5)\n"
    )
    return repo


def test_a_run_reports_the_mutants_the_tests_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repository(tmp_path)
    monkeypatch.chdir(repo)
    original = (repo / "pkg" / "calc.py").read_text()

    assert main(["pkg/calc.py", "--tests", "tests/test_calc.py", "--timeout", "120"]) == 0

    lines = capsys.readouterr().out.splitlines()
    # x >= 10 still says 11 is big and 5 is not: the test never tries 10, the edge.
    assert any(line.startswith("SURVIVED") and "Gt -> GtE" in line for line in lines), lines
    # x > 11 says 11 is not big: caught.
    assert any(line.startswith("KILLED") and "10 -> 11" in line for line in lines), lines
    assert lines[-1] == "pkg/calc.py: 1 of 2 caught (50%), 1 survived"
    # The mutants were written into a copy: the working tree is as it was.
    assert (repo / "pkg" / "calc.py").read_text() == original


def test_the_wider_suite_catches_what_the_fast_one_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repository(tmp_path)
    (repo / "tests" / "test_edge.py").write_text(
        "from pkg.calc import is_big\n\n\ndef test_ten_is_not_big() -> None:\n"
        "    assert not is_big(10)\n"
    )
    monkeypatch.chdir(repo)

    args = ["pkg/calc.py", "--tests", "tests/test_calc.py", "--confirm", "tests"]
    assert main([*args, "--lines", "2-2"]) == 0

    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary == "pkg/calc.py: 2 of 2 caught (100%), 0 survived"


def test_a_module_imported_from_elsewhere_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python has loaded its own ``os`` before the copy is on its path, as an editable
    # install would load the working tree's package: every mutant would be tested
    # against the unchanged module and reported as survived.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "os.py").write_text("X = 1\n")
    monkeypatch.chdir(repo)

    with pytest.raises(SystemExit, match="os is not imported from the copy"):
        main(["os.py", "--tests", "tests"])


def test_no_run_sees_what_an_earlier_mutant_left_in_the_hypothesis_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A test that fails when the examples folder has an entry from an earlier run, as a
    # replayed failing example of an earlier mutant would make it fail.
    repo = _repository(tmp_path)
    (repo / "tests" / "test_calc.py").write_text(
        "from pathlib import Path\n\n\n"
        "def test_fresh() -> None:\n"
        "    seen = Path('.hypothesis') / 'examples' / 'seen'\n"
        "    assert not seen.exists()\n"
        "    seen.parent.mkdir(parents=True, exist_ok=True)\n"
        "    seen.write_text('an earlier run')\n"
    )
    monkeypatch.chdir(repo)

    assert main(["pkg/calc.py", "--tests", "tests/test_calc.py"]) == 0

    # Both mutants survive the test, which checks nothing of them: each run was fresh.
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary == "pkg/calc.py: 0 of 2 caught (0%), 2 survived"


def test_tests_that_fail_without_a_mutant_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every mutant would be "killed" by a suite that fails anyway.
    repo = _repository(tmp_path)
    (repo / "tests" / "test_calc.py").write_text("def test_broken() -> None:\n    assert False\n")
    monkeypatch.chdir(repo)

    with pytest.raises(SystemExit, match=r"the tests fail .* on the unchanged pkg/calc\.py"):
        main(["pkg/calc.py", "--tests", "tests/test_calc.py"])
