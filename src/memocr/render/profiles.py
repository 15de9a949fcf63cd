"""Render profiles: everything that decides what a memory looks like and how much of it is kept.

A profile is data (page CSS, viewport, clipping rule, size caps), so the renderer has one code path
and a new look is a new registry entry, not a new branch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from memocr.errors import InputError

# Fallbacks shared by every profile: CJK and emoji glyphs come from fonts every install has
# (fonts-noto-cjk, fonts-noto-color-emoji), never from whatever fontconfig would pick.
_CJK_SERIF = "'Noto Serif CJK SC'"
_CJK_SANS = "'Noto Sans CJK SC'"
_CJK_MONO = "'Noto Sans Mono CJK SC'"
_EMOJI = "'Noto Color Emoji'"
# Text fonts carry monochrome glyphs for some emoji (DejaVu has 😀); this face, listed first, makes
# every emoji come from the colour font. local() is not a fetch, so the page's CSP allows it.
_EMOJI_FACE = (
    "@font-face { font-family: 'memocr-emoji'; src: local('Noto Color Emoji'); "
    "unicode-range: U+200D, U+2600-27BF, U+2B00-2BFF, U+FE0F, U+1F000-1FAFF; }"
)

# Layout of the released research server (method §2.2): body margin + padding of 2em each put the
# content box at (64, 64); a shrink-to-fit inline block with pre-wrap, compact block margins.
_LAYOUT_CSS = (
    _EMOJI_FACE
    + """
html { background: #ffffff; }
body { margin: 2em; padding: 2em; background-color: #ffffff; font-family: %(body_font)s; }
.content { display: inline-block; white-space: pre-wrap; }
h1, h2, h3, h4, h5, h6, p, ul, ol, blockquote { margin-top: 0.5em; margin-bottom: 0.5em; padding: 0; }
ul, ol { margin-left: 20px; }
code, pre { background-color: #f4f4f4; font-family: %(mono_font)s; border-radius: 3px; }
code { padding: 2px 4px; }
pre { padding: 8px; }
pre code { padding: 0; }
"""
)

# The `full` profile keeps every character: code lines and long words wrap instead of running off the
# 1152-px page, and table cells get borders so that a shrunken table still reads as a table.
_FULL_EXTRA_CSS = """
.content { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; }
table { border-collapse: collapse; }
th, td { border: 1px solid #c8c8c8; padding: 2px 6px; }
"""


# The layout window (see RenderProfile): no line box of the profiles' CSS is under 8 px tall (the
# smallest text, 13-px code, sits in 15-px lines), and a 1152-px line of body text carries about
# 7 characters per pixel of its height (130 characters in 18.6 px); 20 leaves room for narrow glyphs.
MIN_LINE_PX = 8
CHARS_PER_PX_OF_HEIGHT = 20


@dataclass(frozen=True)
class RenderProfile:
    """How a Markdown memory becomes a picture.

    ``clip_to_viewport`` reproduces the released server's screenshot, which only captures the part of
    the content box inside the 1280x720 viewport; otherwise the whole content box is captured, up to
    ``max_width`` x ``max_height`` pixels. Content beyond the caps is cut and counted in the result's
    ``clipped_px``. The caps bound what one request can cost: an image is at most ``max_width *
    max_height`` pixels (23 Mpx, 69 MB as RGB at the defaults; the browser draws large ones in
    viewport-sized tiles, see `memocr.render.capture`). A width cap below the text width narrows the
    layout instead: text wraps at the cap, and only what cannot wrap is cut.

    The default width cap is twice the 1152-px text width of both profiles: text wraps at 1152 px, so
    only content that overflows the page (a wide table, an unbreakable line in ``memocr-v1``, raw HTML
    with its own width) gets wider, and up to twice the page it is kept whole. The height cap, 10,000
    px, is about the model's own ceiling at the text width (1152 x 10,000 px is 14,700 of Qwen2.5-VL's
    16,384 tokens).

    Only the beginning of a memory that could reach the capture is laid out (the *layout window*):
    at most ``max_layout_chars`` characters and, for Markdown, ``max_layout_lines`` non-blank lines
    (every Markdown line starts a line box at least ``MIN_LINE_PX`` tall, so later lines start below
    the height cap). The rest is never handed to the browser and is reported as ``omitted_chars``;
    only a memory whose own HTML or CSS shrinks or hides its lines could have shown more of it.

    ``pixel_rounding`` says how a fractional content box becomes whole pixels: ``floor`` is what the
    released server's Playwright screenshot did, ``ceil`` keeps the last partial pixel.
    """

    name: str
    description: str
    css: str
    viewport_width: int = 1280
    viewport_height: int = 720
    clip_to_viewport: bool = False
    max_width: int = 2304
    max_height: int = 10_000
    pixel_rounding: str = "ceil"

    @property
    def max_layout_lines(self) -> int:
        """Non-blank Markdown lines laid out at most (1,250 at the default height cap)."""
        return math.ceil(self.max_height / MIN_LINE_PX)

    @property
    def max_layout_chars(self) -> int:
        """Characters laid out at most (200,000 at the default height cap)."""
        return self.max_height * CHARS_PER_PX_OF_HEIGHT


MEMOCR_V1 = RenderProfile(
    name="memocr-v1",
    description=(
        "The released MemOCR render server: Python-Markdown 'extra', its CSS, a 1280x720 viewport and the "
        "screenshot clipped to it (at most 1152x656 px). Fonts pinned to Times/Courier metric twins."
    ),
    css=_LAYOUT_CSS
    % {
        "body_font": f"'memocr-emoji', 'Liberation Serif', {_CJK_SERIF}, {_EMOJI}, serif",
        "mono_font": f"'memocr-emoji', 'Liberation Mono', {_CJK_MONO}, {_EMOJI}, monospace",
    },
    clip_to_viewport=True,
    pixel_rounding="floor",
)

FULL = RenderProfile(
    name="full",
    description=(
        "The whole memory at the released 1152-px text width, DejaVu fonts, code wrapped; nothing is cut "
        "within the size caps (2304 x 10000 px)."
    ),
    css=_LAYOUT_CSS
    % {
        "body_font": f"'memocr-emoji', 'DejaVu Sans', {_CJK_SANS}, {_EMOJI}, sans-serif",
        "mono_font": f"'memocr-emoji', 'DejaVu Sans Mono', {_CJK_MONO}, {_EMOJI}, monospace",
    }
    + _FULL_EXTRA_CSS,
)

# Body text at 12 px under the headings' usual sizes: the memory's picture is about a quarter smaller,
# so a small budget shrinks it less and its headings stay legible longer (for an OCR reader at 16 visual
# tokens: the answer heading read right on 30 of 32 memories against 21 with `full`;
# benchmarks/headline_legibility.py, docs/models.md).
_COMPACT_CSS = (
    "body { font-size: 12px; margin: 32px; padding: 32px; } "  # the margins of 16-px text: 1152-px lines
    "h1 { font-size: 32px; } h2 { font-size: 24px; } h3 { font-size: 19px; }"
)

COMPACT = RenderProfile(
    name="compact",
    description=(
        "`full` with 12-px body text under 32/24/19-px headings: the picture is smaller, so a small budget "
        "keeps the headings larger. Suggested by the embedded quality tier."
    ),
    css=FULL.css + _COMPACT_CSS,
)

PROFILES: dict[str, RenderProfile] = {profile.name: profile for profile in (FULL, MEMOCR_V1, COMPACT)}
DEFAULT_PROFILE = FULL.name


def get_profile(name: str | RenderProfile) -> RenderProfile:
    """The registered profile called ``name`` (a profile object passes through)."""
    if isinstance(name, RenderProfile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown render profile {name!r}; choose one of: {', '.join(sorted(PROFILES))}"
        ) from None


# HTML memories (the released "beta" variant): the model writes HTML itself, drawn in a padded white
# inline block with a sans-serif font and plain table borders, at a viewport width the request picks.
HTML_DEFAULT_WIDTH = 800
HTML_CSS = f"""
{_EMOJI_FACE}
html, body {{ margin: 0; padding: 0; background: #ffffff; }}
.content {{
  display: inline-block; padding: 20px; background-color: #ffffff; color: #000000;
  font-family: 'memocr-emoji', 'DejaVu Sans', {_CJK_SANS}, {_EMOJI}, sans-serif;
  font-size: 16px; line-height: 1.4;
}}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #999999; padding: 4px 8px; text-align: left; }}
th {{ background-color: #f0f0f0; }}
"""
