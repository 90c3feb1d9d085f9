"""Strict policy loading through real files: every error names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from autoscaler.errors import PolicyError
from autoscaler.policy import load_policies, load_policy_file
from autoscaler.policy.loader import collect_policies

REPO = Path(__file__).resolve().parents[2]

HEAD = """\
apiVersion: lws-autoscaler.io/v1alpha1
kind: ScalingPolicy
metadata:
  name: test
spec:
  target:
    namespace: inference
    name: model
"""
# Lines 9-14; a case appends its own lines from 15 on.
BODY = """\
  replicas:
    min: 1
    max: 4
  signals:
    - type: queueDepth
      targetPerGroup: 8
"""


def _write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _issues(*paths: Path) -> list[tuple[str, int, str, str]]:
    _, issues = collect_policies(paths)
    return [(Path(i.file).name, i.line, i.field, i.message) for i in issues]


def test_a_valid_policy_loads_with_defaults(tmp_path: Path) -> None:
    (loaded,) = load_policy_file(_write(tmp_path, HEAD + BODY))
    assert loaded.line == 1
    assert str(loaded.key) == "inference/model"
    spec = loaded.policy.spec
    assert (spec.replicas.min, spec.replicas.max) == (1, 4)
    assert spec.cold_start.expected == 300.0
    assert spec.scale_down.stabilization_window == 600.0
    assert spec.missing_metrics.then == "noRecommendation"


def test_a_loaded_policy_cannot_be_changed_in_place(tmp_path: Path) -> None:
    """The policy watch hands one policy object to the control loop and the API server's
    threads: none may change it under the others (a new file is a new object)."""
    (loaded,) = load_policy_file(_write(tmp_path, HEAD + BODY))
    with pytest.raises(ValidationError, match="frozen"):
        loaded.policy.spec.replicas.max = 40  # type: ignore[misc]
    assert loaded.policy.spec.replicas.max == 4


def test_the_scrape_endpoint_defaults_to_vllms_port_and_reads_each_field(
    tmp_path: Path,
) -> None:
    (plain,) = load_policy_file(_write(tmp_path, HEAD + BODY))
    where = "  metrics:\n    engine: sglang\n    scrape:\n      port: 30000\n"
    (sglang,) = load_policy_file(_write(tmp_path, HEAD + BODY + where, "sglang.yaml"))
    named = "  metrics:\n    scrape:\n      port: http\n"
    (by_name,) = load_policy_file(_write(tmp_path, HEAD + BODY + named, "named.yaml"))
    assert by_name.policy.spec.metrics.scrape.port == "http"
    default = plain.policy.spec.metrics.scrape
    assert (default.port, default.path) == (8000, "/metrics")
    chosen = sglang.policy.spec.metrics.scrape
    assert (chosen.port, chosen.path) == (30000, "/metrics")
    for edge in (1, 65535):  # the range's own ends are ports
        text = f"{HEAD}{BODY}  metrics:\n    scrape:\n      port: {edge}\n"
        (at_edge,) = load_policy_file(_write(tmp_path, text, f"port-{edge}.yaml"))
        assert at_edge.policy.spec.metrics.scrape.port == edge


def test_queue_depth_sustained_for_reads_a_duration_and_defaults_to_0(tmp_path: Path) -> None:
    (plain,) = load_policy_file(_write(tmp_path, HEAD + BODY))
    (sustained,) = load_policy_file(
        _write(tmp_path, HEAD + BODY + "      sustainedFor: 1m\n", "sustained.yaml")
    )
    assert plain.policy.spec.signals[0].sustained_for == 0.0  # type: ignore[union-attr]
    assert sustained.policy.spec.signals[0].sustained_for == 60.0  # type: ignore[union-attr]


def test_queue_depth_isolated_burst_reads_durations_and_defaults_to_one_group(
    tmp_path: Path,
) -> None:
    (plain,) = load_policy_file(_write(tmp_path, HEAD + BODY))
    (burst,) = load_policy_file(
        _write(tmp_path, HEAD + BODY + "      isolatedBurst:\n        calmFor: 15m\n", "burst.yaml")
    )
    assert plain.policy.spec.signals[0].isolated_burst is None  # type: ignore[union-attr]
    limit = burst.policy.spec.signals[0].isolated_burst  # type: ignore[union-attr]
    assert limit is not None
    assert (limit.calm_for, limit.max_groups) == (900.0, 1)


def test_a_latency_guard_reads_hold_while_starting_and_defaults_to_off(tmp_path: Path) -> None:
    guard = "    - type: queueWait\n      targetSeconds: 1\n"
    (plain,) = load_policy_file(_write(tmp_path, HEAD + BODY + guard))
    (held,) = load_policy_file(
        _write(tmp_path, HEAD + BODY + guard + "      holdWhileStarting: true\n", "held.yaml")
    )
    assert plain.policy.spec.signals[1].hold_while_starting is False  # type: ignore[union-attr]
    assert held.policy.spec.signals[1].hold_while_starting is True  # type: ignore[union-attr]


CASES = [
    pytest.param(
        BODY.replace("    max: 4", "    maxx: 4"),
        [
            (11, "spec.replicas.maxx", "unknown field"),
            (9, "spec.replicas.max", "required field is missing"),
        ],
        id="unknown-key",
    ),
    pytest.param(
        BODY.replace("    min: 1", '    min: "3"'),
        [(10, "spec.replicas.min", "Input should be a valid integer")],
        id="string-for-int",
    ),
    pytest.param(
        BODY + "  coldStart:\n    learn: yes\n",
        [(16, "spec.coldStart.learn", "Input should be a valid boolean")],
        id="yes-for-bool",
    ),
    pytest.param(
        BODY + '  coldStart:\n    learn: "true"\n',
        [(16, "spec.coldStart.learn", "Input should be a valid boolean")],
        id="quoted-true-for-bool",
    ),
    pytest.param(
        BODY.replace("    min: 1", "    min: 5").replace("    max: 4", "    max: 2"),
        [(11, "spec.replicas.max", "max (2) must be >= min (5)")],
        id="max-below-min",
    ),
    pytest.param(
        BODY + "  scaleDown:\n    stabilizationWindow: 10 minutes\n",
        [(16, "spec.scaleDown.stabilizationWindow", "'10 minutes' is not a duration")],
        id="window-not-a-duration",
    ),
    pytest.param(
        BODY + "  scaleUp:\n    maxStep: {groups: 2, period: 0s}\n",
        [(16, "spec.scaleUp.maxStep.period", "greater than 0")],
        id="zero-period",
    ),
    pytest.param(
        BODY + "  coldStart:\n    expected: 0s\n",
        [(16, "spec.coldStart.expected", "greater than 0")],
        id="zero-cold-start",  # every starting group would be a SlowStart at once
    ),
    pytest.param(
        BODY[: BODY.index("  signals:")] + "  signals: []\n",
        [(12, "spec.signals", "at least 1 item")],
        id="empty-signal-list",
    ),
    pytest.param(
        BODY.replace("    max: 4", "    max: 4\n    max: 6"),
        [(12, "spec.replicas.max", "duplicate key")],
        id="duplicate-yaml-key",
    ),
    pytest.param(
        BODY + "  scaleToZero:\n    enabled: true\n",
        [(15, "spec.scaleToZero.activation", "required when scale-to-zero is enabled")],
        id="scale-to-zero-without-activation",
    ),
    pytest.param(
        BODY + "  missingMetrics:\n    then: fallback\n",
        [(15, "spec.missingMetrics.fallbackReplicas", "required when `then` is 'fallback'")],
        id="fallback-without-replicas",
    ),
    pytest.param(
        BODY + "  missingMetrics:\n    then: fallback\n    fallbackReplicas: 9\n",
        [(17, "spec.missingMetrics.fallbackReplicas", "must be within replicas.min (1)")],
        id="fallback-above-max",
    ),
    pytest.param(
        BODY + "    - type: latency\n",
        [(15, "spec.signals[1].type", "unknown signal type 'latency'")],
        id="unknown-signal-type",
    ),
    pytest.param(
        BODY + "      sustainedFor: -30s\n",
        [(15, "spec.signals[0].sustainedFor", "duration")],
        id="negative-sustained-for",
    ),
    pytest.param(
        BODY + "    - type: queueWait\n      targetSeconds: 1\n      holdWhileStarting: 1\n",
        [(17, "spec.signals[1].holdWhileStarting", "Input should be a valid boolean")],
        id="number-for-hold-while-starting",
    ),
    pytest.param(
        BODY + "    - type: kvCacheUtilization\n      target: 0.8\n      holdWhileStarting: true\n",
        [(17, "spec.signals[1].holdWhileStarting", "unknown field")],
        id="hold-while-starting-on-a-kv-cache-signal",
    ),
    pytest.param(
        BODY + "      isolatedBurst:\n        calmFor: 0s\n        maxGroups: -1\n",
        [
            (16, "spec.signals[0].isolatedBurst.calmFor", "greater than 0"),
            (17, "spec.signals[0].isolatedBurst.maxGroups", "greater than or equal to 0"),
        ],
        id="isolated-burst-zero-calm-and-negative-groups",
    ),
    pytest.param(
        BODY + "      isolatedBurst: {maxGroups: 2}\n",
        [(15, "spec.signals[0].isolatedBurst.calmFor", "required")],
        id="isolated-burst-without-calm-for",
    ),
    pytest.param(
        BODY + "    - targetPerGroup: 4\n",
        [(15, "spec.signals[1].type", "required field is missing: the signal type")],
        id="signal-without-type",
    ),
    pytest.param(
        BODY + "    - type: queueDepth\n      targetPerGroup: 4\n",
        [(15, "spec.signals[1]", "signal 'queueDepth' is listed twice")],
        id="duplicate-signal",
    ),
    pytest.param(
        BODY + "  coldStart:\n    minObservations: 5\n    maxObservations: 2\n",
        [(17, "spec.coldStart.maxObservations", "must be >= minObservations (5)")],
        id="max-observations-below-min",
    ),
    pytest.param(
        BODY + "  metrics:\n    overrides:\n      queueDepth: 'sum(x)'\n      bogus: 'y'\n",
        [(18, "spec.metrics.overrides.bogus", "Input should be 'queueDepth'")],
        id="unknown-override-signal",
    ),
    pytest.param(
        BODY + "  missingMetrics:\n    holdFor: 1" + "0" * 400 + "\n",
        [(16, "spec.missingMetrics.holdFor", "finite, non-negative number of seconds")],
        id="400-digit-duration",
    ),
    pytest.param(
        BODY + "  missingMetrics:\n    holdFor: \u0663\u0660s\n",
        [(16, "spec.missingMetrics.holdFor", "is not a duration")],
        id="non-ascii-digits-in-a-duration",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      port: 0\n      path: metrics\n      scheme: https\n",
        [
            (17, "spec.metrics.scrape.port", "port 0 is not in 1-65535"),
            (18, "spec.metrics.scrape.path", "should match pattern"),
            (19, "spec.metrics.scrape.scheme", "unknown field"),
        ],
        id="scrape-endpoint-fields",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      port: 65536\n",
        [(17, "spec.metrics.scrape.port", "port 65536 is not in 1-65535")],
        id="scrape-port-above-the-range",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      port: HTTP\n",
        [(17, "spec.metrics.scrape.port", "'HTTP' is not a port name")],
        id="scrape-port-name-in-capitals",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      port: 'my--port'\n",
        [(17, "spec.metrics.scrape.port", "is not a port name")],
        id="scrape-port-name-with-a-double-dash",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      port: '8000'\n",
        [(17, "spec.metrics.scrape.port", "is not a port name")],
        id="scrape-port-number-as-a-string",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      path: /a/../metrics?x=1\n",
        [(17, "spec.metrics.scrape.path", "should match pattern")],
        id="scrape-path-with-a-query",
    ),
    pytest.param(
        BODY + "  metrics:\n    scrape:\n      path: /a/../metrics\n",
        [(17, "spec.metrics.scrape.path", "'..' segment")],
        id="scrape-path-with-a-dot-segment",
    ),
    # Accepted before, then never used or never matching anything:
    pytest.param(
        BODY + "  metrics:\n    overrides:\n      activation: vector(1)\n",
        [(17, "spec.metrics.overrides.activation", "scaleToZero.activation.query")],
        id="activation-override-never-runs",
    ),
    pytest.param(
        BODY + "  metrics:\n    overrides:\n      ttftSeconds: vector(1)\n",
        [(17, "spec.metrics.overrides.ttftSeconds", "only with a 'ttft' signal")],
        id="latency-override-without-its-signal",
    ),
    pytest.param(
        BODY + '  metrics:\n    modelName: ""\n',
        [(16, "spec.metrics.modelName", "at least 1 character")],
        id="empty-model-name-matches-nothing",
    ),
    pytest.param(
        BODY + '  metrics:\n    modelName: " "\n',
        [(16, "spec.metrics.modelName", "should match pattern")],
        id="blank-model-name",
    ),
    pytest.param(
        BODY + "  metrics:\n    rateWindow: 0.1ms\n",
        [(16, "spec.metrics.rateWindow", "greater than or equal to 1")],
        id="rate-window-under-a-second",
    ),
    pytest.param(
        BODY + "  metrics:\n    rateWindow: 2d\n",
        [(16, "spec.metrics.rateWindow", "less than or equal to 86400")],
        id="rate-window-over-a-day",
    ),
    pytest.param(
        BODY
        + "  scaleUp:\n    stabilizationWindow: 2d\n    maxStep: {groups: 2, period: 25h}\n"
        + "    forecast: {lookback: 1e30}\n  scaleDown:\n    stabilizationWindow: 86401\n",
        [
            (16, "spec.scaleUp.stabilizationWindow", "less than or equal to 86400"),
            (17, "spec.scaleUp.maxStep.period", "less than or equal to 86400"),
            (18, "spec.scaleUp.forecast.lookback", "less than or equal to 86400"),
            (20, "spec.scaleDown.stabilizationWindow", "less than or equal to 86400"),
        ],
        # The engine keeps every decision inside these windows, for each LWS.
        id="windows-over-a-day",
    ),
    pytest.param(
        BODY.replace(
            "      targetPerGroup: 8\n", "      targetPerGroup: 8\n      sustainedFor: 2d\n"
        ),
        [(15, "spec.signals[0].sustainedFor", "less than or equal to 86400")],
        id="sustained-for-over-a-day",
    ),
]


def assert_reported(path: Path, expected: list[tuple[int, str, str]]) -> None:
    """One run reports exactly ``expected`` (line, field, part of the message) for the
    file at ``path``, in line order, each as ``file:line: field: message`` (field ``""``
    for the whole document, shown as ``<document>``); loading the file raises."""
    _, issues = collect_policies([path])
    assert [(i.line, i.field) for i in issues] == sorted((line, f) for line, f, _ in expected)
    for issue, (_, _, want) in zip(issues, sorted(expected), strict=True):
        assert want in issue.message
        field = issue.field or "<document>"
        assert str(issue) == f"{path}:{issue.line}: {field}: {issue.message}"
    with pytest.raises(PolicyError):
        load_policy_file(path)


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_each_error_names_file_line_and_field(
    tmp_path: Path, body: str, expected: list[tuple[int, str, str]]
) -> None:
    assert_reported(_write(tmp_path, HEAD + body), expected)


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (HEAD.replace("v1alpha1", "v2") + BODY, 1, "apiVersion", "lws-autoscaler.io/v1alpha1"),
        (HEAD.replace("kind: ScalingPolicy", "kind: HPA") + BODY, 2, "kind", "ScalingPolicy"),
        (HEAD.replace("name: test", "name: Not_A_Name") + BODY, 4, "metadata.name", "valid"),
        ("", 1, "", "file holds no policy document"),
        ("# only comments\n---\n", 1, "", "file holds no policy document"),
        (HEAD + BODY.replace("    max: 4", "\tmax: 4"), 11, "", "invalid YAML"),
        (HEAD + "  replicas: [1,\n", 10, "", "invalid YAML"),
        ("- a\n- b\n", 1, "", "a policy must be a mapping"),
        ("# a word is no empty document\n---\nhello\n", 3, "", "a policy must be a mapping"),
        # Values YAML cannot build are located at their field: see test_yaml_values.py.
        # Python's recursion limit, reached by composing or by walking the nodes.
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", 1, "", "nested too deeply"),
        ("apiVersion: &a [*a]\n", 1, "", "an alias contains itself"),
        # Refused by PyYAML's reader before any parsing (it used to be a traceback).
        (HEAD + BODY.replace("max: 4", "max: 4\x1b"), 11, "", "unacceptable character #x001b"),
    ],
    ids=[
        "unknown-api-version",
        "unknown-kind",
        "bad-name",
        "empty-file",
        "comments-only",
        "tab-indent",
        "unclosed-flow",
        "list-document",
        "scalar-document",
        "deep-nesting",
        "recursive-alias",
        "control-character",
    ],
)
def test_document_level_errors(
    tmp_path: Path, text: str, line: int, field: str, message: str
) -> None:
    issues = _issues(_write(tmp_path, text))
    assert [(i[1], i[2]) for i in issues] == [(line, field)]
    assert message in issues[0][3]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        # The problem on the context's own line: no line to add.
        ("a: {b: 1 c: 2}\n", 1, "while parsing a flow mapping: expected ',' or '}', but got ':'"),
        # Found only at the end: reported where the sequence opened, the end named.
        (
            "a: [1, 2\n",
            1,
            "while parsing a flow sequence: expected ',' or ']', but got '<stream end>' (line 2)",
        ),
    ],
    ids=["same-line", "found-later"],
)
def test_a_syntax_error_is_told_at_its_context_with_the_problems_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    (issue,) = collect_policies([_write(tmp_path, text)])[1]
    assert (issue.line, issue.message) == (line, f"invalid YAML: {message}")


def test_every_error_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    body = (
        BODY.replace("    min: 1", '    min: "3"').replace("targetPerGroup: 8", "targetPerGroup: 8")
        + "  tolerence: 0.1\n  scaleDown:\n    minGroupAge: soon\n"
    )
    issues = _issues(_write(tmp_path, HEAD + body))
    assert [(i[1], i[2]) for i in issues] == [
        (10, "spec.replicas.min"),
        (15, "spec.tolerence"),
        (17, "spec.scaleDown.minGroupAge"),
    ]
    with pytest.raises(PolicyError) as caught:
        load_policy_file(tmp_path / "policy.yaml")
    assert len(caught.value.issues) == 3
    assert (
        str(caught.value)
        .splitlines()[0]
        .endswith("policy.yaml:10: spec.replicas.min: Input should be a valid integer")
    )


def test_multi_document_files(tmp_path: Path) -> None:
    second = HEAD.replace("name: test", "name: second").replace("name: model", "name: other")
    text = HEAD + BODY + "---\n" + second + BODY
    loaded = load_policy_file(_write(tmp_path, text))
    assert [(p.policy.name, p.line) for p in loaded] == [("test", 1), ("second", 16)]
    # An error in the second document carries its line in the file, not in the document.
    broken = HEAD + BODY + "---\n" + second + BODY.replace("    max: 4", "    max: four")
    assert [(i[1], i[2]) for i in _issues(_write(tmp_path, broken))] == [(26, "spec.replicas.max")]


def test_two_policies_for_the_same_lws_in_two_files(tmp_path: Path) -> None:
    first = _write(tmp_path, HEAD + BODY, "a.yaml")
    other = _write(tmp_path, HEAD.replace("name: test", "name: other") + BODY, "b.yaml")
    issues = _issues(tmp_path)
    assert issues == [
        (
            "b.yaml",
            6,
            "spec.target",
            f"LWS inference/model is already scaled by policy 'test' ({first}:6); "
            "one policy per LWS",
        )
    ]
    with pytest.raises(PolicyError):
        load_policies([first, other])


def test_duplicate_policy_names(tmp_path: Path) -> None:
    first = _write(tmp_path, HEAD + BODY, "a.yaml")
    _write(tmp_path, HEAD.replace("name: model", "name: other-model") + BODY, "b.yml")
    assert _issues(tmp_path) == [
        ("b.yml", 4, "metadata.name", f"policy name 'test' is already used at {first}:4")
    ]


def test_yes_and_no_stay_strings_where_strings_are_expected(tmp_path: Path) -> None:
    text = HEAD.replace("  name: test", "  name: test\n  labels: {enabled: yes, gpu: no}")
    (loaded,) = load_policy_file(_write(tmp_path, text + BODY))
    assert loaded.policy.metadata.labels == {"enabled": "yes", "gpu": "no"}


def test_folders_expand_to_yaml_files_only(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    _write(tmp_path, HEAD + BODY, "nested/one.yml")
    _write(tmp_path, "not: a policy", "README.md")
    assert [p.policy.name for p in load_policies([tmp_path])] == ["test"]


def test_missing_paths_and_empty_folders_are_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert _issues(missing) == [("nope.yaml", 1, "", "no such file or directory")]
    (tmp_path / "empty").mkdir()
    _, issues = collect_policies([tmp_path / "empty"])
    assert [i.message for i in issues] == ["no policy files (*.yaml, *.yml) found"]


def test_a_file_that_cannot_be_read_is_one_issue_and_the_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file listed but unreadable when read (permissions, which the root user of CI
    bypasses, so the read itself is made to fail) is reported at line 1."""
    good = _write(tmp_path, HEAD + BODY)
    locked = _write(tmp_path, HEAD + BODY.replace("test", "other"), "locked.yaml")
    read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == "locked.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    loaded, issues = collect_policies([good, locked])
    assert [p.file for p in loaded] == [str(good)]
    assert [(i.file, i.line, i.field, i.message) for i in issues] == [
        (str(locked), 1, "", "cannot read file: Permission denied")
    ]


def test_the_example_policies_validate() -> None:
    loaded = load_policies([REPO / "policies"])
    by_name = {p.policy.name: p.policy.spec for p in loaded}
    assert set(by_name) == {"dev-8b", "llama-70b", "llama-405b"}
    assert by_name["dev-8b"].scale_to_zero.enabled
    assert by_name["llama-405b"].gpus_per_group == 16
    assert by_name["llama-405b"].cold_start.expected == 600.0
    assert by_name["llama-70b"].gpus_per_group == 8
