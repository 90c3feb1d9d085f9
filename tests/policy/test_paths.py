"""A problem's field path as a policy author reads it: YAML names, indices in brackets,
keys that are not printable quoted with YAML's escapes so that a problem stays one line."""

from __future__ import annotations

import pytest

from autoscaler.policy.paths import render_path
from autoscaler.policy.yaml_nodes import FieldPath


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "signals", 1, "type"), "spec.signals[1].type"),
        (("metadata", "labels", "team"), "metadata.labels.team"),
        (("spec", ""), 'spec.""'),  # an empty key is not "spec."
        (("spec", "a\nb"), 'spec."a\\nb"'),
        (("spec", "tab\there"), 'spec."tab\\there"'),
        # Inside the quotes a quote and a backslash are escaped as YAML escapes them.
        (("spec", 'say "hi"\n'), 'spec."say \\"hi\\"\\n"'),
        (("spec", "back\\slash\r"), 'spec."back\\\\slash\\r"'),
        # A printable key with a quote stays as written: it is already one line.
        (("spec", 'a"b'), 'spec.a"b'),
        ((0, "x"), "[0].x"),
    ],
)
def test_render_path(path: FieldPath, text: str) -> None:
    assert render_path(path) == text
