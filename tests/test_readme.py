"""The README's walked-through policy is the shipped one, condensed.

The README shows ``policies/llama-70b.yaml`` in flow style so it fits one screen. Readers
take its values as the shipped ones, so once loaded (defaults filled in, durations
parsed) it must be exactly the same policy: a value tuned in the file but not in the
README, or the reverse, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from autoscaler.policy.loader import load_policy_file

REPO_ROOT = Path(__file__).resolve().parents[1]


def _walkthrough_yaml() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A policy, walked through", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "README: no yaml block under 'A policy, walked through'"
    return match.group(1)


def test_readme_policy_is_the_shipped_policy(tmp_path: Path) -> None:
    condensed = tmp_path / "readme-policy.yaml"
    condensed.write_text(_walkthrough_yaml(), encoding="utf-8")
    (shown,) = load_policy_file(condensed)
    (shipped,) = load_policy_file(REPO_ROOT / "policies" / "llama-70b.yaml")
    assert shown.policy == shipped.policy
