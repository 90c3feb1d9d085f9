"""Markdown as GitHub renders it, for the tests that check the docs' links: the anchor
of each heading and the links of a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_INLINE_CODE = re.compile(r"`[^`]*`")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped (word
    characters, hyphens and spaces kept), spaces to hyphens: ``## LwsAutoscalerDown`` ->
    ``lwsautoscalerdown``, ``## Symptoms without an alert`` -> ``symptoms-without-an-alert``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def headings(text: str, level: int | None = None) -> list[str]:
    """The headings of a page, in order (all levels, or only ``level``)."""
    found = []
    for line in _prose_lines(text):
        marks = len(line) - len(line.lstrip("#"))
        is_heading = 1 <= marks <= 6 and line[marks : marks + 1] == " "
        if is_heading and (level is None or marks == level):
            found.append(line[marks:].strip())
    return found


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a slug seen before gets ``-1``, ``-2``... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(text):
        slug = github_slug(heading)
        if slug in seen:
            seen[slug] += 1
            slug = f"{slug}-{seen[slug]}"
        else:
            seen[slug] = 0
        out.add(slug)
    return out


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of each link to a file of the repository or an anchor of the
    page: not in code, not to a URL."""
    links = []
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            target = match.group(1)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                links.append((number, target))
    return links
