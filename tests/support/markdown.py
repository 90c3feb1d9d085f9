"""Markdown as GitHub renders it, for the tests that check the docs' links: the anchor
of each heading and the links of a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

# An inline link or image, its text possibly over several lines: [text](target "title"),
# [text](<target>). A reference definition: [label]: target "title".
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*(?:<([^>]+)>|([^)\s]+))(?:\s+[\"'(][^)]*)?\)")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^>\s]+)>?", re.MULTILINE)
# A code span may wrap lines, never a paragraph: an unpaired backtick must not hide the
# rest of the page.
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1)(?!\n[ \t]*\n)[\s\S])+?\1")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped (word
    characters, hyphens and spaces kept), spaces to hyphens: ``## LwsAutoscalerDown`` ->
    ``lwsautoscalerdown``, ``## Symptoms without an alert`` -> ``symptoms-without-an-alert``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(text: str, level: int | None = None) -> list[str]:
    """The headings of a page, in order (all levels, or only ``level``)."""
    found = []
    for line in _blank_fences(text.splitlines()):
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
    """(line number, target) of each link or image to a file of the repository or an
    anchor of the page, inline or by reference: not in code, not to a URL."""
    text = path.read_text()
    # Code is blanked, its newlines kept, so that line numbers stay true.
    prose = "\n".join(_blank_fences(text.splitlines()))
    prose = _INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), prose)
    found = [(m.start(), m.group(1) or m.group(2)) for m in _INLINE.finditer(prose)]
    found += [(m.start(), m.group(1)) for m in _DEFINITION.finditer(prose)]
    return sorted(
        (prose.count("\n", 0, at) + 1, target)
        for at, target in found
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    )


def _blank_fences(lines: list[str]) -> Iterator[str]:
    """The lines, those of fenced code blocks (fences included) blank."""
    fenced = False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
            yield ""
        else:
            yield "" if fenced else line
