"""NEL, LS and PS are ordinary characters, as in YAML 1.2: a policy with one in a comment
loads, lines are counted as an editor counts them, and a value keeps the character."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autoscaler.policy import load_policy_file
from autoscaler.policy.yaml_breaks import YAML11_BREAKS, Yaml12LineBreaks
from autoscaler.policy.yaml_nodes import StrictYamlLoader
from tests.policy.test_loader import BODY, HEAD, assert_reported

BREAKS = pytest.mark.parametrize("char", list(YAML11_BREAKS), ids=["NEL", "LS", "PS"])


def _load(text: str) -> object:
    return yaml.load(text, Loader=Yaml12LineBreaks)


@BREAKS
def test_a_comment_holding_one_loads(tmp_path: Path, char: str) -> None:
    path = tmp_path / "policy.yaml"
    comment = f"# copied from the runbook{char}see the capacity plan\n"
    path.write_text(comment + HEAD + BODY, encoding="utf-8")
    (loaded,) = load_policy_file(path)
    assert loaded.policy.spec.replicas.max == 4
    assert loaded.line == 2  # the document starts on the line after the comment


@BREAKS
def test_lines_after_one_are_counted_as_an_editor_counts_them(tmp_path: Path, char: str) -> None:
    # Line 15 is the comment, line 16 an unknown field: PyYAML alone would report it at
    # 17, or refuse the file at the comment's rest ("see the plan: 2" is no mapping key).
    path = tmp_path / "policy.yaml"
    text = HEAD + BODY + f"  # headroom{char}see the plan: 2\n  tolerence: 0.1\n"
    path.write_text(text, encoding="utf-8")
    assert_reported(path, [(16, "spec.tolerence", "unknown field")])


@BREAKS
@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("note: a{c}b\n", {"note": "a{c}b"}),
        ("note: 'a{c}b'\n", {"note": "a{c}b"}),
        ('note: "a{c}b"\n', {"note": "a{c}b"}),
        ("note: |\n  a{c}b\n", {"note": "a{c}b\n"}),
        ("note: >\n  a{c}b\n", {"note": "a{c}b\n"}),
        ("a{c}b: note\n", {"a{c}b": "note"}),
    ],
    ids=["plain", "single-quoted", "double-quoted", "literal", "folded", "key"],
)
def test_a_scalar_keeps_the_character(char: str, document: str, expected: dict[str, str]) -> None:
    want = {k.format(c=char): v.format(c=char) for k, v in expected.items()}
    assert _load(document.format(c=char)) == want


def test_private_use_characters_of_the_text_stay_apart_from_the_stand_ins() -> None:
    # The first private-use characters are the text's own: the stand-ins must be others.
    own = "\ue000\ue001\ue002"
    data = _load(f"own: {own}\nbreaks: x{YAML11_BREAKS}y\n")
    assert data == {"own": own, "breaks": f"x{YAML11_BREAKS}y"}


def test_the_escapes_for_the_characters_still_read_as_them() -> None:
    assert _load('note: "\\N\\L\\P"\n') == {"note": YAML11_BREAKS}


def test_a_syntax_error_quotes_the_character_itself() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        _load("name: &a\u2028b x\n")
    assert "'\\u2028'" in str(caught.value.problem)
    assert "\\ue0" not in str(caught.value)


def test_composing_a_stream_of_documents_keeps_the_characters() -> None:
    # The tuning command composes policy files this way (simulations/tune/variants.py).
    nodes = list(yaml.compose_all("a: x\u2028y\n---\nb: 1 # z\u2029w\n", Loader=StrictYamlLoader))
    assert [n.value[0][1].value for n in nodes] == ["x\u2028y", "1"]
