"""Split a final memory into its two regions: "crucial" (headings) and "detailed" (everything else).

The paper's density analysis calls the headings of a memory its crucial region and the rest its
detailed region. A line is a heading when Python-Markdown (the renderer's converter) would draw it as
one, as far as a line-based reading can tell:

* an ATX heading: up to three spaces, one to six ``#``, then a space or the end of the line
  (``#hashtag`` is a paragraph; closing ``#`` run is dropped);
* a setext heading: the first line of a block directly followed by a line of ``=`` (H1) or ``-``
  (H2), as Python-Markdown reads it;
* an HTML heading ``<h1>`` … ``<h6>`` (what visual-html memories use), which may span lines.

Lines inside fenced code blocks (```` ``` ```` or ``~~~``) and indented code (four spaces or a tab
after a blank line) are never headings. Bold-only lines (``**Ocean (band)**``) are body text by default:
the paper counts headings only, and a bold line is drawn at body size. ``bold_lines=True`` counts them
as crucial for readers who want the looser reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSING = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HTML_HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1\s*>", re.IGNORECASE | re.DOTALL)
_BOLD_LINE = re.compile(r"^ {0,3}(?:[-*+][ \t]+)?(\*\*|__)(?=\S)(.+?)(?<=\S)\1[ \t]*:?[ \t]*$")
_TAG = re.compile(r"<[^>]*>")


@dataclass
class Regions:
    """The text of each region; ``crucial`` holds one entry per heading (markers removed)."""

    crucial: list[str] = field(default_factory=list)
    detailed: list[str] = field(default_factory=list)

    @property
    def crucial_text(self) -> str:
        return "\n".join(self.crucial)

    @property
    def detailed_text(self) -> str:
        return "\n".join(self.detailed)


def split_regions(memory: str, *, bold_lines: bool = False) -> Regions:
    """Headings of ``memory`` (Markdown, or HTML as visual-html memories are) vs. the rest."""
    regions = Regions()
    lines = memory.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    prose: list[str] = []  # consecutive non-code lines, searched for HTML headings as one block
    fence: str | None = None
    block_start = True  # the line starts a block (after a blank line, a heading or a code fence)
    index = 0
    while index < len(lines):
        line = lines[index]
        if fence is not None:  # inside a fenced code block: body text until the closing fence
            regions.detailed.append(line)
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
                block_start = True
            index += 1
            continue
        opening = _FENCE.match(line)
        if opening:
            _flush(prose, regions)
            fence = opening.group(1)
            regions.detailed.append(line)
            index += 1
            continue
        if block_start and (line.startswith("    ") or line.startswith("\t")) and line.strip():
            _flush(prose, regions)  # indented code block
            regions.detailed.append(line)
            index += 1
            continue
        atx = _ATX.match(line)
        if atx:
            _flush(prose, regions)
            text = _ATX_CLOSING.sub("", atx.group(2) or "").strip()
            if text:
                regions.crucial.append(text)
            block_start = True
            index += 1
            continue
        following = lines[index + 1] if index + 1 < len(lines) else None
        if line.strip() and block_start and following is not None and _SETEXT.match(following):
            # A block's first line underlined by === or ---: Python-Markdown makes it a heading
            # (under a paragraph's later line, --- is a rule and === stays text).
            _flush(prose, regions)
            regions.crucial.append(line.strip())
            block_start = True
            index += 2
            continue
        bold = _BOLD_LINE.match(line) if bold_lines else None
        if bold:
            _flush(prose, regions)
            regions.crucial.append(bold.group(2).strip())
        else:
            prose.append(line)
        block_start = not line.strip()
        index += 1
    _flush(prose, regions)
    regions.detailed = [line for line in regions.detailed if line.strip()]
    return regions


def _flush(prose: list[str], regions: Regions) -> None:
    """Move the collected prose lines into the regions, lifting out HTML headings."""
    if not prose:
        return
    block = "\n".join(prose)
    prose.clear()
    rest: list[str] = []
    position = 0
    for match in _HTML_HEADING.finditer(block):
        rest.append(block[position : match.start()])
        text = " ".join(_TAG.sub(" ", match.group(2)).split())
        if text:
            regions.crucial.append(text)
        rest.append("\n")
        position = match.end()
    rest.append(block[position:])
    regions.detailed.extend("".join(rest).split("\n"))
