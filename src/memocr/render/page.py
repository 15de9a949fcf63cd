"""Memory text -> one self-contained, inert HTML page.

Every page starts with a Content-Security-Policy that forbids fetching anything, so whatever the
memory names (images, frames, stylesheets, fonts, CSS ``url()``) stays a dead reference even before
the browser-level guards (scripts disabled, every request aborted) come into play. Markdown and HTML
memories go through the same page builder, so they are sanitised alike.
"""

from __future__ import annotations

import html
import re

import markdown

from memocr.errors import InputError
from memocr.render.profiles import HTML_CSS, HTML_DEFAULT_WIDTH, RenderProfile

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
INPUT_FORMATS = ("markdown", "html")

# `<meta http-equiv="refresh">` would navigate the page away from the memory and `<base>` re-targets
# relative URLs; neither can do anything useful in a memory, so they are shown as text instead.
_DOCUMENT_LEVEL_TAG = re.compile(r"<(?=\s*(?:meta|base)\b)", re.IGNORECASE)
_HTML_FENCE = re.compile(r"```html[^\S\n]*\n(.*?)(?:```|\Z)", re.IGNORECASE | re.DOTALL)


def check_input_format(input_format: str) -> str:
    if input_format not in INPUT_FORMATS:
        raise InputError(f"unknown input format {input_format!r}; choose one of: {', '.join(INPUT_FORMATS)}")
    return input_format


def normalise_markdown(content: str) -> str:
    """What the released server did before converting: strip whitespace, then stray fence backticks."""
    return content.strip().strip("`")


def markdown_to_html(content: str) -> str:
    """Python-Markdown with the ``extra`` extension set (tables, fenced code, attribute lists, ...),
    exactly the converter the released server used; a fresh converter per call is thread-safe."""
    return markdown.markdown(normalise_markdown(content), extensions=["extra"])


def extract_html(content: str) -> str:
    """The HTML inside a fenced ```html block if the content has one, else the whole content."""
    match = _HTML_FENCE.search(content)
    return (match.group(1) if match else content).strip()


def _inert(body_html: str) -> str:
    return _DOCUMENT_LEVEL_TAG.sub("&lt;", body_html)


def build_page(body_html: str, css: str) -> str:
    """A complete page: CSP first, then the style, then the memory inside ``div.content``."""
    return (
        "<!DOCTYPE html><html><head>"
        '<meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CONTENT_SECURITY_POLICY)}">'
        f"<style>{css}</style></head>"
        f'<body><div class="content">{_inert(body_html)}</div></body></html>'
    )


def page_for(
    content: str, profile: RenderProfile, input_format: str, html_width: int = HTML_DEFAULT_WIDTH
) -> str:
    """The page that renders ``content`` (Markdown, or HTML possibly inside a ```html fence).

    HTML memories are laid out in a body ``html_width`` pixels wide, which is what the released HTML
    server's viewport width did, without resizing the page's viewport (see `memocr.render.pool`).
    """
    if check_input_format(input_format) == "html":
        return build_page(extract_html(content), f"{HTML_CSS}body {{ width: {html_width}px; }}\n")
    return build_page(markdown_to_html(content), profile.css)
