"""One run reports every problem of a policy, each at its own line and YAML field.

Cross-field rules (coldStart window, fallback within bounds, unique signals, a step limit
that limits something) are reported next to field errors of the same object as long as
their own inputs are valid; keys of free-form maps keep their spelling and line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.policy.loader import collect_policies
from tests.policy.test_loader import HEAD, assert_reported

# Lines 1-14 (test_loader's HEAD is lines 1-8); a case appends its own lines from 15 on.
POLICY = (
    HEAD
    + """\
  replicas:
    min: 1
    max: 3
  signals:
    - type: queueDepth
      targetPerGroup: 8
"""
)
WINDOW = "maxObservations (2) must be >= minObservations (10)"
FALLBACK = "fallbackReplicas (99) must be within replicas.min (1) and replicas.max (3)"
TTFT = "    - type: ttft\n      targetSeconds: 1\n"

CASES = [
    pytest.param(
        "  coldStart: {minObservations: 10, maxObservations: 2}\n"
        "  missingMetrics: {then: fallback, fallbackReplicas: 99}\n",
        [
            (15, "spec.coldStart.maxObservations", WINDOW),
            (16, "spec.missingMetrics.fallbackReplicas", FALLBACK),
        ],
        id="window-and-fallback",
    ),
    pytest.param(
        "  coldStart: {minObservations: 10, maxObservations: 2, expected: -5}\n",
        [
            (15, "spec.coldStart.expected", "non-negative"),
            (15, "spec.coldStart.maxObservations", WINDOW),
        ],
        id="window-next-to-a-bad-field-of-the-same-object",
    ),
    pytest.param(
        "  coldStart:\n    minObservations: 10\n    maxObservations: 2\n  tolerance: 2\n",
        [
            (17, "spec.coldStart.maxObservations", WINDOW),
            (18, "spec.tolerance", "less than 1"),
        ],
        id="a-rule-pydantic-reports-is-reported-once",
    ),
    pytest.param(
        TTFT + TTFT + "    - type: kvCacheUtilization\n      target: 75\n",
        [
            (17, "spec.signals[2]", "signal 'ttft' is listed twice"),
            (20, "spec.signals[3].target", "less than or equal to 1"),
        ],
        id="duplicate-signal-next-to-a-malformed-one",
    ),
    pytest.param(
        TTFT + TTFT + TTFT + "  tolerance: -1\n",
        [
            (17, "spec.signals[2]", "signal 'ttft' is listed twice"),
            (19, "spec.signals[3]", "signal 'ttft' is listed twice"),
            (21, "spec.tolerance", "greater than or equal to 0"),
        ],
        id="every-duplicate-signal",
    ),
    pytest.param(
        "  scaleUp:\n    maxStep: {period: 0s}\n",
        [
            (16, "spec.scaleUp.maxStep", "set groups, percent, or both"),
            (16, "spec.scaleUp.maxStep.period", "greater than 0"),
        ],
        id="step-without-limit-next-to-a-bad-period",
    ),
    # A rule whose own inputs are invalid stays silent: the input's error is the news.
    pytest.param(
        "  coldStart: {minObservations: 0, maxObservations: 2, expected: -5}\n",
        [
            (15, "spec.coldStart.expected", "non-negative"),
            (15, "spec.coldStart.minObservations", "greater than or equal to 1"),
        ],
        id="no-window-check-on-a-bad-minimum",
    ),
    # The rules read each input as strictly as the schema: "10" is no number to them.
    pytest.param(
        '  coldStart: {minObservations: "10", maxObservations: 2}\n',
        [(15, "spec.coldStart.minObservations", "valid integer")],
        id="no-window-check-on-a-quoted-minimum",
    ),
    pytest.param(
        "  missingMetrics: {then: fallback, fallbackReplicas: 99, holdFor: soon}\n",
        [
            (15, "spec.missingMetrics.fallbackReplicas", FALLBACK),
            (15, "spec.missingMetrics.holdFor", "not a duration"),
        ],
        id="fallback-next-to-a-bad-hold",
    ),
    pytest.param(
        "  missingMetrics: {then: fallback, fallbackReplicas: 2, holdFor: soon}\n",
        [(15, "spec.missingMetrics.holdFor", "not a duration")],
        id="fallback-within-bounds",
    ),
    pytest.param(
        "  missingMetrics: {then: fallback, fallbackReplicas: 99}\n  gpusPerGroup: 0\n",
        [
            (15, "spec.missingMetrics.fallbackReplicas", FALLBACK),
            (16, "spec.gpusPerGroup", "greater than or equal to 1"),
        ],
        id="fallback-next-to-a-bad-spec-field",
    ),
    pytest.param(
        "    - {type: tokenThroughput, capacityPerGroup: 100, tokens: bogus}\n"
        "    - {type: tokenThroughput, capacityPerGroup: 100}\n  tolerance: -1\n",
        [
            (15, "spec.signals[1].tokens", "'prompt', 'generation' or 'total'"),
            (17, "spec.tolerance", "greater than or equal to 0"),
        ],
        id="no-duplicate-check-on-bad-tokens",
    ),
    pytest.param(
        "  metrics:\n    overrides:\n      queueDepth: ''\n",
        [(17, "spec.metrics.overrides.queueDepth", "at least 1 character")],
        id="empty-override",
    ),
    # A value YAML cannot build is the one problem at its field: no rule about the
    # same field next to it (here the override's key, which would be wrong as well).
    pytest.param(
        "  metrics:\n    overrides:\n      activation: !custom x\n",
        [(17, "spec.metrics.overrides.activation", "unknown YAML tag '!custom'")],
        id="no-rule-at-a-value-yaml-cannot-build",
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_every_problem_is_reported_in_one_run(
    tmp_path: Path, body: str, expected: list[tuple[int, str, str]]
) -> None:
    # The cases list their problems in line order, so this also checks the order.
    assert expected == sorted(expected)
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY + body, encoding="utf-8")
    assert_reported(path, expected)


@pytest.mark.parametrize(
    ("metadata", "line", "field"),
    [
        ("  labels:\n    calm_for: 3\n", 6, "metadata.labels.calm_for"),
        ("  labels:\n    team: a\n    per_group: 3\n", 7, "metadata.labels.per_group"),
        ("  annotations: {max_groups: [1]}\n", 5, "metadata.annotations.max_groups"),
    ],
    ids=["label", "second-label", "annotation"],
)
def test_map_keys_keep_their_spelling_and_line(
    tmp_path: Path, metadata: str, line: int, field: str
) -> None:
    text = POLICY.replace("  name: test\n", "  name: test\n" + metadata)
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    _, issues = collect_policies([path])
    assert [(i.line, i.field, i.message) for i in issues] == [
        (line, field, "Input should be a valid string")
    ]
