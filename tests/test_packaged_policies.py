"""The example policies shipped inside the package are exact copies of ``policies/``.

``pip install lws-autoscaler`` carries no repository checkout, so the built-in demo
(``lws-autoscaler serve`` with no arguments) and ``simulate`` read their example policies
from ``autoscaler/data/policies``. Those files are copies of ``policies/*.yaml``, the
ones users read and the docs cite; any drift between the two sets (a value changed in
one place only, a policy added or removed on one side) fails here. Fix it by copying the
repository versions over the packaged ones::

    cp policies/*.yaml autoscaler/data/policies/
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = REPO_ROOT / "policies"
PACKAGED_DIR = REPO_ROOT / "autoscaler" / "data" / "policies"
FIX = "cp policies/*.yaml autoscaler/data/policies/"


def _policy_names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")}


def test_the_same_policy_files_are_packaged() -> None:
    source, packaged = _policy_names(SOURCE_DIR), _policy_names(PACKAGED_DIR)
    assert source, f"no example policies found in {SOURCE_DIR}"
    assert packaged == source, (
        f"only in policies/: {sorted(source - packaged)}; "
        f"only in autoscaler/data/policies/: {sorted(packaged - source)}. Fix: {FIX} "
        "(and delete packaged files that no longer exist in policies/)"
    )


@pytest.mark.parametrize("name", sorted(_policy_names(SOURCE_DIR)))
def test_packaged_copy_is_byte_identical(name: str) -> None:
    source = (SOURCE_DIR / name).read_bytes()
    packaged_path = PACKAGED_DIR / name
    if not packaged_path.is_file():
        pytest.fail(f"{name} is not packaged. Fix: {FIX}")
    packaged = packaged_path.read_bytes()
    if packaged != source:
        diff = difflib.unified_diff(
            source.decode(errors="replace").splitlines(keepends=True),
            packaged.decode(errors="replace").splitlines(keepends=True),
            f"policies/{name}",
            f"autoscaler/data/policies/{name}",
        )
        pytest.fail(f"packaged copy of {name} differs. Fix: {FIX}\n{''.join(diff)}")
