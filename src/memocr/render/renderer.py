"""`AsyncRenderer`: memories in, `RenderResult`s out, many at once over a warm page pool."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from PIL import Image
from playwright.async_api import Error as PlaywrightError

from memocr.errors import InputError, RenderError, RenderTimeout
from memocr.render.capture import CapturePlan, Tile, capture
from memocr.render.converter import Conversion, MarkdownConverter
from memocr.render.page import build_page, check_input_format, layout_text
from memocr.render.pool import CHROMIUM_PATH, PagePool, default_page_count
from memocr.render.profiles import DEFAULT_PROFILE, HTML_DEFAULT_WIDTH, RenderProfile, get_profile
from memocr.render.result import RenderResult
from memocr.render.sandbox import RENDER_USER, ChromiumLauncher

MIN_HTML_WIDTH = 100
# A browser is relaunched (between renders, none fails) after this many renders or when its processes
# pass this RSS; Chromium's RSS grows with what it has drawn and is not all given back.
RECYCLE_AFTER_RENDERS = 5000
RECYCLE_ABOVE_RSS_MB = 3072


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image if image.mode == "RGB" else image.convert("RGB")


def _stitch(tiles: list[Tile], plan: CapturePlan) -> Image.Image:
    canvas = Image.new("RGB", (plan.width, plan.height), "white")
    for tile in tiles:
        canvas.paste(_decode(tile.png), (round(tile.x - plan.x), round(tile.y - plan.y)))
    return canvas


class AsyncRenderer:
    """Renders Markdown (or HTML) memories with headless Chromium; use as ``async with``.

    ``pages`` warm pages (default: one per core, at least two) are shared by all callers, so ``render`` can be
    awaited from many tasks at once; callers beyond ``pages`` wait for a free page. A browser that
    crashes or is killed is relaunched and the render retried once. ``max_width`` and ``max_height``
    override every profile's size caps; ``render_timeout_s`` bounds one render, waiting for a page
    included, and a render past it has its page closed. Chromium runs sandboxed and offline, as
    ``browser_user`` when this process is root (see `memocr.render.sandbox`); browsers are recycled
    after ``recycle_after_renders`` renders or above ``recycle_above_rss_mb`` (None: never). Markdown
    is converted in ``pages`` worker processes; a conversion slower than ``markdown_timeout_s`` is
    abandoned and the memory drawn as plain text (see `memocr.render.converter`).
    """

    def __init__(
        self,
        *,
        profile: str | RenderProfile = DEFAULT_PROFILE,
        pages: int | None = None,
        browsers: int = 1,
        executable_path: str = CHROMIUM_PATH,
        max_width: int | None = None,
        max_height: int | None = None,
        render_timeout_s: float = 30.0,
        launch_timeout_s: float = 30.0,
        markdown_timeout_s: float = 3.0,
        browser_user: str = RENDER_USER,
        allow_unsandboxed: bool = False,
        recycle_after_renders: int | None = RECYCLE_AFTER_RENDERS,
        recycle_above_rss_mb: float | None = RECYCLE_ABOVE_RSS_MB,
    ) -> None:
        self.profile = get_profile(profile)
        for name, cap in (("max_width", max_width), ("max_height", max_height)):
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
                raise InputError(f"{name} must be a whole number of pixels (>= 1), got {cap!r}")
        for name, seconds in (
            ("render_timeout_s", render_timeout_s),
            ("launch_timeout_s", launch_timeout_s),
            ("markdown_timeout_s", markdown_timeout_s),
        ):
            if seconds <= 0:
                raise InputError(f"{name} must be positive, got {seconds}")
        self.max_width = max_width
        self.max_height = max_height
        self.render_timeout_s = render_timeout_s
        self.launch_timeout_s = launch_timeout_s
        self._pool = PagePool(
            pages=default_page_count() if pages is None else pages,
            browsers=browsers,
            launcher=ChromiumLauncher(executable_path, browser_user, allow_unsandboxed),
            launch_timeout_s=launch_timeout_s,
            recycle_after_renders=recycle_after_renders,
            recycle_above_rss_mb=recycle_above_rss_mb,
        )
        self._converter = MarkdownConverter(
            workers=self._pool.page_count, timeout_s=markdown_timeout_s, start_timeout_s=launch_timeout_s
        )
        self._started = False
        self.retries = 0

    async def start(self) -> AsyncRenderer:
        if not self._started:
            self._converter.start()
            try:
                await self._pool.start()
            except BaseException:
                self._converter.close()
                raise
            self._started = True
        return self

    async def close(self) -> None:
        self._started = False
        try:
            await self._pool.close()
        finally:
            self._converter.close()

    async def __aenter__(self) -> AsyncRenderer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def pages(self) -> int:
        return self._pool.page_count

    def stats(self) -> dict[str, Any]:
        """Pool health for /health and logs."""
        return {
            "browsers": self._pool.browser_count,
            "pages": self._pool.page_count,
            "browsers_running": self._started and self._pool.running,
            "relaunches": self._pool.relaunches,
            "recycles": self._pool.recycles,
            "sandboxed": self._pool.sandboxed,
            "retries": self.retries,
            "blocked_requests": self._pool.blocked_requests,
            "markdown_fallbacks": self._converter.fallbacks,
        }

    def _resolve(self, profile: str | RenderProfile | None) -> RenderProfile:
        resolved = self.profile if profile is None else get_profile(profile)
        caps = {"max_width": self.max_width, "max_height": self.max_height}
        return replace(resolved, **{name: cap for name, cap in caps.items() if cap is not None})

    async def render(
        self,
        content: str,
        *,
        profile: str | RenderProfile | None = None,
        input_format: str = "markdown",
        width: int | None = None,
    ) -> RenderResult:
        """Render one memory. ``width`` is the layout width of HTML memories (default 800, at most the
        width cap)."""
        started = time.perf_counter()
        if not isinstance(content, str):
            raise TypeError(f"a memory is a str, got {type(content).__name__}")
        resolved = self._resolve(profile)
        check_input_format(input_format)
        html_width = self._html_width(input_format, width, resolved.max_width)
        viewport = (resolved.viewport_width, resolved.viewport_height)
        if not self._started:
            raise RenderError(
                "the renderer is not started; use 'async with AsyncRenderer() as r' or await r.start()"
            )
        element_shot = input_format == "html"
        try:
            async with asyncio.timeout(self.render_timeout_s):
                text, omitted_chars = await asyncio.to_thread(layout_text, content, resolved, input_format)
                if input_format == "markdown":
                    body = await self._converter.convert(text)
                else:
                    body = Conversion(text, plain_text=False)
                page_html = await asyncio.to_thread(build_page, body.html, resolved, input_format, html_width)
                try:
                    tiles, plan = await self._attempt(page_html, resolved, viewport, element_shot)
                except PlaywrightError:
                    self.retries += 1  # the pool replaces the page or relaunches the browser first
                    tiles, plan = await self._attempt(page_html, resolved, viewport, element_shot)
                if len(tiles) == 1:
                    png: bytes | None = tiles[0].png
                    image = await asyncio.to_thread(_decode, tiles[0].png)
                else:
                    png, image = None, await asyncio.to_thread(_stitch, tiles, plan)
        except TimeoutError:
            raise RenderTimeout(
                f"rendering a {len(content)}-character memory took longer than {self.render_timeout_s:g} s"
            ) from None
        except PlaywrightError as error:
            raise RenderError(f"Chromium failed to render the memory twice: {error.message}") from error
        return RenderResult(
            image=image,
            width=image.width,
            height=image.height,
            content_width=plan.content_width,
            content_height=plan.content_height,
            clipped_px=plan.clipped_px,
            seconds=time.perf_counter() - started,
            profile=resolved.name,
            omitted_chars=omitted_chars,
            plain_text=body.plain_text,
            encoded_png=png,
        )

    async def render_many(self, contents: Sequence[str], **options: Any) -> list[RenderResult]:
        """Render every memory concurrently over the pool; results in input order."""
        return list(await asyncio.gather(*(self.render(content, **options) for content in contents)))

    @staticmethod
    def _html_width(input_format: str, width: int | None, max_width: int) -> int:
        """The layout width of an HTML memory: whole pixels from 100 (or the width cap, if smaller) to
        the width cap, so that the layout itself is never cut."""
        if input_format == "markdown":
            if width is not None:
                raise InputError("width applies to HTML memories only (input_format='html')")
            return HTML_DEFAULT_WIDTH
        if width is None:
            return min(HTML_DEFAULT_WIDTH, max_width)
        lowest = min(MIN_HTML_WIDTH, max_width)
        if isinstance(width, bool) or not isinstance(width, int) or not lowest <= width <= max_width:
            raise InputError(f"width must be whole pixels from {lowest} to {max_width}, got {width!r}")
        return width

    async def _attempt(
        self, page_html: str, profile: RenderProfile, viewport: tuple[int, int], element_shot: bool
    ) -> tuple[list[Tile], CapturePlan]:
        async with self._pool.page() as slot:
            await slot.set_viewport(*viewport)
            return await capture(slot, page_html, profile, element_shot=element_shot)
