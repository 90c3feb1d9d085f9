"""What docs/deploy.md shows of the chart's output is what the chart renders.

The examples are read from the document itself (its YAML blocks), so a change to the chart
that the document does not follow fails here instead of drifting silently.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml

from tests.charts.chart_support import REPO_ROOT, render

DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
# A fenced YAML block, also when indented inside a list item.
_YAML_BLOCK = re.compile(r"^( *)```yaml\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def _doc_text() -> str:
    return DEPLOY_DOC.read_text(encoding="utf-8")


def _yaml_block(marker: str) -> dict[str, Any]:
    """The one YAML block of the document that contains ``marker``, parsed."""
    blocks = [
        textwrap.dedent(body) for _, body in _YAML_BLOCK.findall(_doc_text()) if marker in body
    ]
    assert len(blocks) == 1, f"expected one YAML block with {marker!r}, found {len(blocks)}"
    loaded = yaml.safe_load(blocks[0])
    assert isinstance(loaded, dict)
    return loaded


def test_the_documented_hpa_is_what_the_documented_values_render() -> None:
    values = _yaml_block("# my-values.yaml")
    documented = _yaml_block("kind: HorizontalPodAutoscaler")
    rendered = render(values).one("HorizontalPodAutoscaler")
    assert (rendered["apiVersion"], rendered["kind"]) == (
        documented["apiVersion"],
        documented["kind"],
    )
    assert documented["metadata"].items() <= rendered["metadata"].items()
    # The whole spec, behavior included: every rule, selectPolicy and tolerance.
    assert rendered["spec"] == documented["spec"]


@pytest.mark.parametrize(
    ("release", "names"),
    [
        # The release name contains the chart name: the fullname is the release name.
        (
            "lws-autoscaler",
            {
                "Deployment": "lws-autoscaler",
                "ConfigMap": "lws-autoscaler-policies",
                "Secret": "lws-autoscaler-tls",
            },
        ),
        # Otherwise it is <release>-lws-autoscaler.
        (
            "demo",
            {
                "Deployment": "demo-lws-autoscaler",
                "ConfigMap": "demo-lws-autoscaler-policies",
                "Secret": "demo-lws-autoscaler-tls",
            },
        ),
    ],
)
def test_the_documented_object_names_are_the_rendered_ones(
    release: str, names: dict[str, str]
) -> None:
    text = _doc_text()
    assert f"helm install {release} " in text
    rendered = render(release=release)
    for kind, name in names.items():
        assert f"`{name}`" in text, f"{kind} {name} is not named in {DEPLOY_DOC.name}"
        rendered.one(kind, name)
    # The naming pattern the tables use.
    for suffix in ("policies", "tls"):
        assert f"`<fullname>-{suffix}`" in text
        assert f"<release>-{suffix}" not in text
