"""From a laid-out page to a screenshot: where to cut, and how much content the cut leaves out.

A capture beyond the viewport is one DevTools screenshot, except for long pages and large captures.
Chromium's beyond-the-viewport screenshot lays the whole document out again, which costs about 12 us
per Latin and 55 us per CJK character (a 100,000-character CJK paragraph: 15 s, even for a 600-px
clip), and draws the capture into one bitmap (92 MB at the 2304 x 10,000 caps) that the browser, the
Playwright driver and this process each hold for a moment, and keep as high-water mark. Pages longer
than ``TILED_CAPTURE_MIN_CHARS`` and captures of more than ``TILED_CAPTURE_MIN_VIEWPORTS`` viewports
are therefore shot in viewport-sized tiles, scrolling between them (about 70 ms a tile whatever the
page holds; the same pixels), and stitched by the caller.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, replace

from memocr.render.pool import Slot
from memocr.render.profiles import RenderProfile

# The released server fell back to a whole-page screenshot when the content box was this small.
_MIN_BOX_PX = 10
# Page HTML length above which a capture beyond the viewport is tiled (a single screenshot of a page
# this long takes at most about a second), and the capture area, in viewports, above which it is.
TILED_CAPTURE_MIN_CHARS = 20_000
TILED_CAPTURE_MIN_VIEWPORTS = 4
_SCROLL_JS = "([x, y]) => { window.scrollTo(x, y); }"
# getBoundingClientRect of the content plus its scroll size, which includes anything overflowing it
# (a code line or table wider than the page).
_MEASURE_JS = """() => {
  const element = document.querySelector('.content');
  const box = element.getBoundingClientRect();
  return [box.left + window.scrollX, box.top + window.scrollY, box.width, box.height,
          element.scrollWidth, element.scrollHeight];
}"""


@dataclass(frozen=True)
class ContentBox:
    x: float
    y: float
    width: float
    height: float
    scroll_width: int
    scroll_height: int


@dataclass(frozen=True)
class CapturePlan:
    """The screenshot rectangle (page coordinates), and what it leaves out of the content."""

    x: float
    y: float
    width: int
    height: int
    content_width: int
    content_height: int
    beyond_viewport: bool

    @property
    def clipped_px(self) -> int:
        return max(0, self.content_width * self.content_height - self.width * self.height)


@dataclass(frozen=True)
class Tile:
    """A part of the capture: ``x``, ``y`` in page coordinates, ``png`` the screenshot of it."""

    x: float
    y: float
    width: int
    height: int
    png: bytes = b""


def tile_plan(plan: CapturePlan, viewport: tuple[int, int]) -> list[Tile]:
    """Viewport-sized tiles covering the plan's rectangle, row by row."""
    viewport_width, viewport_height = viewport
    return [
        Tile(
            plan.x + dx,
            plan.y + dy,
            min(viewport_width, plan.width - dx),
            min(viewport_height, plan.height - dy),
        )
        for dy in range(0, plan.height, viewport_height)
        for dx in range(0, plan.width, viewport_width)
    ]


def _whole_px(value: float, rounding: str) -> int:
    # The epsilon is Playwright's: a box of 401.9999 px is 402 px, not 401.
    if rounding == "floor":
        return math.floor(value + 1e-3)
    return math.ceil(value - 1e-3)


def plan_capture(
    box: ContentBox, profile: RenderProfile, viewport: tuple[int, int], *, element_shot: bool
) -> CapturePlan:
    """Where the screenshot goes.

    ``memocr-v1`` Markdown reproduces the released server: the content box intersected with the
    viewport (Playwright's clip semantics, sizes floored), or the whole viewport for a box under
    10x10 px. Everything else (``full``, and HTML memories, which the released HTML server shot as an
    element) captures the whole box, beyond the viewport, up to the profile's width and height caps.
    """
    width_px = _whole_px(box.width, profile.pixel_rounding)
    height_px = _whole_px(box.height, profile.pixel_rounding)
    # scrollWidth/scrollHeight are whole pixels; only overflow beyond rounding counts as content.
    content_width = box.scroll_width if box.scroll_width > box.width + 1 else width_px
    content_height = box.scroll_height if box.scroll_height > box.height + 1 else height_px
    if profile.clip_to_viewport and not element_shot:
        viewport_width, viewport_height = viewport
        if box.width < _MIN_BOX_PX or box.height < _MIN_BOX_PX:
            return CapturePlan(0, 0, viewport_width, viewport_height, content_width, content_height, False)
        right = min(box.x + box.width, viewport_width)
        bottom = min(box.y + box.height, viewport_height)
        return CapturePlan(
            box.x,
            box.y,
            _whole_px(right - box.x, "floor"),
            _whole_px(bottom - box.y, "floor"),
            content_width,
            content_height,
            False,
        )
    return CapturePlan(
        math.floor(box.x),
        math.floor(box.y),
        max(1, min(width_px, profile.max_width)),
        max(1, min(height_px, profile.max_height)),
        content_width,
        content_height,
        True,
    )


async def capture(
    slot: Slot, page_html: str, profile: RenderProfile, *, element_shot: bool
) -> tuple[list[Tile], CapturePlan]:
    """Load ``page_html`` into the slot's page and screenshot the memory; returns the tiles (one,
    unless the page is long and the capture leaves the viewport) and the plan.

    Screenshots go straight through the DevTools protocol with Chromium's fast PNG encoder, which
    gives the same pixels as Playwright's screenshot in about two thirds of the time.
    """
    assert slot.page is not None and slot.cdp is not None
    await slot.page.set_content(page_html, wait_until="load", timeout=0)
    box = ContentBox(*await slot.page.evaluate(_MEASURE_JS))
    plan = plan_capture(box, profile, slot.viewport, element_shot=element_shot)
    whole = Tile(plan.x, plan.y, plan.width, plan.height)
    viewports = plan.width * plan.height / (slot.viewport[0] * slot.viewport[1])
    long_page = len(page_html) > TILED_CAPTURE_MIN_CHARS or viewports > TILED_CAPTURE_MIN_VIEWPORTS
    if not plan.beyond_viewport or not long_page:
        return [await _shoot(slot, whole, beyond_viewport=plan.beyond_viewport)], plan
    tiles = []
    for tile in tile_plan(plan, slot.viewport):
        # Scrolled so that the tile starts at the viewport's corner; the browser stops scrolling at
        # the page's end, where the tile still lies inside the viewport.
        await slot.page.evaluate(_SCROLL_JS, [tile.x, tile.y])
        tiles.append(await _shoot(slot, tile, beyond_viewport=False))
    return tiles, plan


async def _shoot(slot: Slot, tile: Tile, *, beyond_viewport: bool) -> Tile:
    assert slot.cdp is not None
    reply = await slot.cdp.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "clip": {"x": tile.x, "y": tile.y, "width": tile.width, "height": tile.height, "scale": 1},
            "captureBeyondViewport": beyond_viewport,
            "optimizeForSpeed": True,
        },
    )
    return replace(tile, png=base64.b64decode(reply["data"]))
