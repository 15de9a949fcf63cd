"""Memory text -> one self-contained, inert HTML page.

Every page starts with a Content-Security-Policy that forbids fetching anything, so whatever the
memory names (images, frames, stylesheets, fonts, CSS ``url()``) stays a dead reference even before
the browser-level guards (scripts disabled, every request aborted) come into play. Markdown and HTML
memories go through the same page builder, so they are sanitised alike.

The memory sits in ``div.content`` inside ``div.frame``, a box that clips at the profile's size caps:
the page is never larger than what can be captured, so however far a memory overflows (a 60,000-px
wide element, a 200,000-character line) Chromium does not paint it. The frame's rules are inline and
``!important``, which no style sheet in the memory can outrank, and ``contain: paint`` clips even
fixed and absolutely positioned descendants. Only the memory's layout window (see `RenderProfile`)
reaches the page at all.
"""

from __future__ import annotations

import html
import itertools
import re

from memocr.errors import InputError
from memocr.render.converter import markdown_to_html
from memocr.render.profiles import HTML_CSS, HTML_DEFAULT_WIDTH, RenderProfile

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
INPUT_FORMATS = ("markdown", "html")

# `<meta http-equiv="refresh">` would navigate the page away from the memory and `<base>` re-targets
# relative URLs; neither can do anything useful in a memory, so they are shown as text instead.
_DOCUMENT_LEVEL_TAG = re.compile(r"<(?=\s*(?:meta|base)\b)", re.IGNORECASE)
_HTML_FENCE = re.compile(r"```html[^\S\n]*\n(.*?)(?:```|\Z)", re.IGNORECASE | re.DOTALL)
_NON_BLANK_LINE = re.compile(r"^.*\S.*$", re.MULTILINE)


def check_input_format(input_format: str) -> str:
    if input_format not in INPUT_FORMATS:
        raise InputError(f"unknown input format {input_format!r}; choose one of: {', '.join(INPUT_FORMATS)}")
    return input_format


def normalise_markdown(content: str) -> str:
    """What the released server did before converting: strip whitespace, then stray fence backticks."""
    return content.strip().strip("`")


def extract_html(content: str) -> str:
    """The HTML inside a fenced ```html block if the content has one, else the whole content."""
    match = _HTML_FENCE.search(content)
    return (match.group(1) if match else content).strip()


def layout_text(content: str, profile: RenderProfile, input_format: str) -> tuple[str, int]:
    """The part of ``content`` that is laid out, and how many characters are left out.

    Markdown is normalised like the released server did, HTML taken out of its ```html fence; then
    the text is cut to the profile's layout window: ``max_layout_chars`` characters, and for Markdown
    (where every line starts a line box) ``max_layout_lines`` non-blank lines.
    """
    if check_input_format(input_format) == "html":
        text = extract_html(content)
    else:
        text = normalise_markdown(content)
    end = min(len(text), profile.max_layout_chars)
    if input_format == "markdown":
        lines = _NON_BLANK_LINE.finditer(text, 0, end)
        last = next(itertools.islice(lines, profile.max_layout_lines - 1, None), None)
        if last is not None:
            end = last.end()
    return text[:end], len(text) - end


def _inert(body_html: str) -> str:
    return _DOCUMENT_LEVEL_TAG.sub("&lt;", body_html)


def build_page(
    body_html: str, profile: RenderProfile, input_format: str, html_width: int = HTML_DEFAULT_WIDTH
) -> str:
    """A complete page: CSP first, then the style, then the memory inside ``div.frame > div.content``.

    HTML memories are laid out in a body ``html_width`` pixels wide, which is what the released HTML
    server's viewport width did, without resizing the page's viewport (see `memocr.render.pool`).
    """
    if check_input_format(input_format) == "html":
        css = f"{HTML_CSS}body {{ width: {html_width}px; }}\n"
    else:
        css = profile.css
    frame = (
        f"display: block; position: static; width: fit-content; max-width: {profile.max_width}px; "
        f"max-height: {profile.max_height}px; overflow: clip; contain: paint; transform: none; zoom: 1"
    ).replace(";", " !important;") + " !important"
    return (
        "<!DOCTYPE html><html><head>"
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CONTENT_SECURITY_POLICY)}">'
        f"<style>{css}</style></head>"
        f'<body><div class="frame" style="{frame}"><div class="content">{_inert(body_html)}</div></div>'
        "</body></html>"
    )


def page_for(
    content: str, profile: RenderProfile, input_format: str, html_width: int = HTML_DEFAULT_WIDTH
) -> str:
    """The page that renders ``content``, converted in this process without a time limit (the
    renderer converts Markdown through `memocr.render.converter` instead)."""
    text, _ = layout_text(content, profile, input_format)
    body_html = markdown_to_html(text) if input_format == "markdown" else text
    return build_page(body_html, profile, input_format, html_width)
