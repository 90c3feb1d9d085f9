"""``spec.schedules`` through real files: a valid schedule with its defaults, and every
problem of every schedule reported at once, each at its own line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.policy import load_policy_file
from autoscaler.policy.loader import collect_policies
from autoscaler.policy.schedule_specs import DAYS, minutes
from tests.policy.test_loader import BODY, HEAD

# Lines 15 on.
VALID = """\
  schedules:
    - name: office
      start: "8:00"
      end: "20:00"
      minReplicas: 3
"""


def _issues(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    _, issues = collect_policies([path])
    return [(i.line, i.field, i.message) for i in issues]


def test_a_schedule_loads_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + BODY + VALID, encoding="utf-8")
    (loaded,) = load_policy_file(path)
    (office,) = loaded.policy.spec.schedules
    assert office.days == list(DAYS)
    assert (office.start, office.end, office.time_zone) == ("8:00", "20:00", "UTC")
    assert (office.min_replicas, office.prewarm) == (3, True)


def test_no_schedule_by_default(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + BODY, encoding="utf-8")
    (loaded,) = load_policy_file(path)
    assert loaded.policy.spec.schedules == []


BAD = """\
  schedules:
    - name: office
      days: [Mon, Tue, Mon]
      start: "24:00"
      end: "18:60"
      timeZone: Mars/Olympus
      minReplicas: 12
    - name: office
      days: [Funday]
      start: "08:00"
      end: "20:00"
      minReplicas: 3
      prewarm: "yes"
    - name: Night Shift
      start: 22
      end: 22:00
"""
# (The unquoted 22:00 is text in YAML 1.2, which the loader reads: no problem there.)


TIME = "is not a time of day: HH:MM on a 24-hour clock, 00:00 to 23:59"
NAME_RULE = (
    "is not a valid Kubernetes name: at most 63 lower-case letters, digits and '-', "
    "starting and ending with a letter or digit (RFC 1123 label)"
)


def test_every_problem_of_every_schedule_at_its_line(tmp_path: Path) -> None:
    """Each schedule's own problems, the name used twice and the floor above
    replicas.max (rules across fields, reported although other fields of the same
    schedule are wrong), in one run."""
    assert _issues(tmp_path, HEAD + BODY + BAD) == [
        (17, "spec.schedules[0].days", "Mon listed more than once"),
        (18, "spec.schedules[0].start", f"'24:00' {TIME}"),
        (19, "spec.schedules[0].end", f"'18:60' {TIME}"),
        (
            20,
            "spec.schedules[0].timeZone",
            "'Mars/Olympus' is not an IANA time zone (such as 'UTC' or 'Europe/Paris')",
        ),
        (
            21,
            "spec.schedules[0].minReplicas",
            "minReplicas (12) must be at most replicas.max (4)",
        ),
        (22, "spec.schedules[1].name", "schedule 'office' is listed twice"),
        (
            23,
            "spec.schedules[1].days[0]",
            "Input should be 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat' or 'Sun'",
        ),
        (27, "spec.schedules[1].prewarm", "Input should be a valid boolean"),
        (28, "spec.schedules[2].minReplicas", "required field is missing"),
        (28, "spec.schedules[2].name", f"'Night Shift' {NAME_RULE}"),
        (
            29,
            "spec.schedules[2].start",
            '22 is a number; a time of day is HH:MM, such as "08:00"',
        ),
    ]


@pytest.mark.parametrize(
    ("replicas", "floor", "message"),
    [
        ("{min: 1, max: 4}", 5, "minReplicas (5) must be at most replicas.max (4)"),
        ("{min: 1, max: 4}", 0, "Input should be greater than or equal to 1"),
    ],
)
def test_a_floor_outside_the_bounds(
    tmp_path: Path, replicas: str, floor: int, message: str
) -> None:
    body = BODY.replace("    min: 1\n    max: 4\n", "").replace(
        "  replicas:\n", f"  replicas: {replicas}\n"
    )
    text = HEAD + body + VALID.replace("minReplicas: 3", f"minReplicas: {floor}")
    (issue,) = _issues(tmp_path, text)
    assert issue[1:] == ("spec.schedules[0].minReplicas", message)


def test_a_floor_below_min_is_allowed_it_keeps_a_scale_to_zero_lws_from_zero(
    tmp_path: Path,
) -> None:
    body = BODY.replace("    min: 1\n", "    min: 2\n")
    assert _issues(tmp_path, HEAD + body + VALID.replace("minReplicas: 3", "minReplicas: 1")) == []


@pytest.mark.parametrize("name", ["localtime", "posixrules", "utc", "right/UTC", "", "../UTC"])
def test_only_the_databases_zone_names(tmp_path: Path, name: str) -> None:
    text = HEAD + BODY + VALID + f'      timeZone: "{name}"\n'
    (issue,) = _issues(tmp_path, text)
    assert issue[1] == "spec.schedules[0].timeZone"
    assert "is not an IANA time zone" in issue[2]


def test_unquoted_times_are_text_in_yaml_1_2(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        HEAD + BODY + VALID.replace('"8:00"', "22:00").replace('"20:00"', "06:00"),
        encoding="utf-8",
    )
    (loaded,) = load_policy_file(path)
    (night,) = loaded.policy.spec.schedules
    assert (night.start, night.end) == ("22:00", "06:00")


def test_the_policy_references_examples_load(tmp_path: Path) -> None:
    """The YAML examples of docs/policy-reference.md: whole documents as they are, a
    fragment under ``spec`` (indented) inside the minimal policy of test_loader."""
    import re

    reference = Path(__file__).resolve().parents[2] / "docs" / "policy-reference.md"
    blocks = re.findall(r"^```yaml\n(.*?)^```", reference.read_text(), re.MULTILINE | re.DOTALL)
    loaded = 0
    for index, block in enumerate(blocks):
        if "kind: ScalingPolicy" in block:
            text = block
        elif block.startswith("  ") and not block.lstrip().startswith("#"):
            text = HEAD + BODY + block
        else:
            continue
        path = tmp_path / f"example-{index}.yaml"
        path.write_text(text, encoding="utf-8")
        (policy,) = load_policy_file(path)
        loaded += 1
        if "schedules" in block:
            (office,) = policy.policy.spec.schedules
            assert (office.time_zone, office.min_replicas) == ("Europe/Paris", 4)
    assert loaded == 2


@pytest.mark.parametrize(
    ("time_of_day", "after_midnight"),
    [("00:00", 0), ("08:30", 510), ("8:05", 485), ("23:59", 1439)],
)
def test_minutes_after_midnight(time_of_day: str, after_midnight: int) -> None:
    assert minutes(time_of_day) == after_midnight
