"""Render profiles: everything that decides what a memory looks like and how much of it is kept.

A profile is data (page CSS, viewport, clipping rule, height cap), so the renderer has one code path
and a new look is a new registry entry, not a new branch.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class RenderProfile:
    """How a Markdown memory becomes a picture.

    ``clip_to_viewport`` reproduces the released server's screenshot, which only captures the part of
    the content box inside the 1280x720 viewport; otherwise the whole content box is captured, up to
    ``max_height`` pixels (a guard against giant inputs, reported as clipped pixels when it bites).
    ``pixel_rounding`` says how a fractional content box becomes whole pixels: ``floor`` is what the
    released server's Playwright screenshot did, ``ceil`` keeps the last partial pixel.
    """

    name: str
    description: str
    css: str
    viewport_width: int = 1280
    viewport_height: int = 720
    clip_to_viewport: bool = False
    max_height: int = 10_000
    pixel_rounding: str = "ceil"


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
        "below the height cap."
    ),
    css=_LAYOUT_CSS
    % {
        "body_font": f"'memocr-emoji', 'DejaVu Sans', {_CJK_SANS}, {_EMOJI}, sans-serif",
        "mono_font": f"'memocr-emoji', 'DejaVu Sans Mono', {_CJK_MONO}, {_EMOJI}, monospace",
    }
    + _FULL_EXTRA_CSS,
)

PROFILES: dict[str, RenderProfile] = {profile.name: profile for profile in (FULL, MEMOCR_V1)}
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
