"""Every link between the project's Markdown pages leads somewhere: to a file of the
repository, and to a heading of it when it names an anchor (as GitHub makes them).
A renamed heading or a moved file otherwise leaves a dead link that no reader reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.markdown import anchors, relative_links

ROOT = Path(__file__).resolve().parent.parent
# The project's pages: hidden folders (.venv, .pytest_cache, ...) and installed
# packages' pages are not the project's.
PAGES = sorted(
    p
    for p in ROOT.rglob("*.md")
    if not any(
        part.startswith(".") or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts
    )
    and "site-packages" not in p.parts
)


def test_the_pages_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {
        "README.md",
        "CHANGELOG.md",
        "docs/deploy.md",
        "docs/runbook.md",
        "docs/engine.md",
        "charts/lws-autoscaler/README.md",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_of_the_page_resolves(page: Path) -> None:
    dead = []
    for line, target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            dead.append(f"{page.name}:{line}: {target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            dead.append(f"{page.name}:{line}: {target}: no heading #{anchor} in {file.name}")
    assert not dead, "\n".join(dead)
