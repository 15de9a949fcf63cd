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
from memocr.render.capture import CapturePlan, capture
from memocr.render.page import check_input_format, page_for
from memocr.render.pool import CHROMIUM_PATH, PagePool, default_page_count
from memocr.render.profiles import DEFAULT_PROFILE, HTML_DEFAULT_WIDTH, RenderProfile, get_profile
from memocr.render.result import RenderResult

MIN_HTML_WIDTH = 100
MAX_HTML_WIDTH = 4096


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image if image.mode == "RGB" else image.convert("RGB")


class AsyncRenderer:
    """Renders Markdown (or HTML) memories with headless Chromium; use as ``async with``.

    ``pages`` warm pages (default: one per core, at least two) are shared by all callers, so ``render`` can be
    awaited from many tasks at once; callers beyond ``pages`` wait for a free page. A browser that
    crashes or is killed is relaunched and the render retried once. ``max_height`` overrides every
    profile's height cap; ``render_timeout_s`` bounds one render, waiting for a page included.
    """

    def __init__(
        self,
        *,
        profile: str | RenderProfile = DEFAULT_PROFILE,
        pages: int | None = None,
        browsers: int = 1,
        executable_path: str = CHROMIUM_PATH,
        max_height: int | None = None,
        render_timeout_s: float = 30.0,
        launch_timeout_s: float = 30.0,
    ) -> None:
        self.profile = get_profile(profile)
        if max_height is not None and max_height < 1:
            raise InputError(f"max_height must be at least 1 pixel, got {max_height}")
        if render_timeout_s <= 0:
            raise InputError(f"render_timeout_s must be positive, got {render_timeout_s}")
        self.max_height = max_height
        self.render_timeout_s = render_timeout_s
        self._pool = PagePool(
            pages=default_page_count() if pages is None else pages,
            browsers=browsers,
            executable_path=executable_path,
            launch_timeout_s=launch_timeout_s,
        )
        self._started = False
        self.retries = 0

    async def start(self) -> AsyncRenderer:
        if not self._started:
            await self._pool.start()
            self._started = True
        return self

    async def close(self) -> None:
        self._started = False
        await self._pool.close()

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
            "retries": self.retries,
            "blocked_requests": self._pool.blocked_requests,
        }

    def _resolve(self, profile: str | RenderProfile | None) -> RenderProfile:
        resolved = self.profile if profile is None else get_profile(profile)
        if self.max_height is not None and resolved.max_height != self.max_height:
            resolved = replace(resolved, max_height=self.max_height)
        return resolved

    async def render(
        self,
        content: str,
        *,
        profile: str | RenderProfile | None = None,
        input_format: str = "markdown",
        width: int | None = None,
    ) -> RenderResult:
        """Render one memory. ``width`` is the viewport width for HTML memories (default 800)."""
        started = time.perf_counter()
        if not isinstance(content, str):
            raise TypeError(f"a memory is a str, got {type(content).__name__}")
        resolved = self._resolve(profile)
        check_input_format(input_format)
        html_width = self._html_width(input_format, width)
        viewport = (resolved.viewport_width, resolved.viewport_height)
        if not self._started:
            raise RuntimeError(
                "the renderer is not started; use 'async with AsyncRenderer() as r' or await r.start()"
            )
        element_shot = input_format == "html"
        try:
            async with asyncio.timeout(self.render_timeout_s):
                page_html = await asyncio.to_thread(page_for, content, resolved, input_format, html_width)
                try:
                    png, plan = await self._attempt(page_html, resolved, viewport, element_shot)
                except PlaywrightError:
                    self.retries += 1  # the pool replaces the page or relaunches the browser first
                    png, plan = await self._attempt(page_html, resolved, viewport, element_shot)
                image = await asyncio.to_thread(_decode, png)
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
            encoded_png=png,
        )

    async def render_many(self, contents: Sequence[str], **options: Any) -> list[RenderResult]:
        """Render every memory concurrently over the pool; results in input order."""
        return list(await asyncio.gather(*(self.render(content, **options) for content in contents)))

    @staticmethod
    def _html_width(input_format: str, width: int | None) -> int:
        if input_format == "markdown":
            if width is not None:
                raise InputError("width applies to HTML memories only (input_format='html')")
            return HTML_DEFAULT_WIDTH
        width = HTML_DEFAULT_WIDTH if width is None else width
        if (
            isinstance(width, bool)
            or not isinstance(width, int)
            or not MIN_HTML_WIDTH <= width <= MAX_HTML_WIDTH
        ):
            raise InputError(
                f"width must be whole pixels from {MIN_HTML_WIDTH} to {MAX_HTML_WIDTH}, got {width!r}"
            )
        return width

    async def _attempt(
        self, page_html: str, profile: RenderProfile, viewport: tuple[int, int], element_shot: bool
    ) -> tuple[bytes, CapturePlan]:
        async with self._pool.page() as slot:
            await slot.set_viewport(*viewport)
            return await capture(slot, page_html, profile, element_shot=element_shot)
