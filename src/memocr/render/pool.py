"""A warm pool of Chromium pages, with automatic relaunch of a browser that crashed or was killed.

Opening a page costs about six renders, so pages are opened once and lent out one render at a time.
The pages of a browser share one browser context with JavaScript disabled and every network request
aborted: a memory is inert data, whatever it says. Shared-context pages are tabs of one window, so
their viewport must not change from render to render (resizing one tab resizes the window under the
others); profiles share one viewport and HTML widths are laid out in CSS. A context per page would
cost two more Chromium renderer processes per page, about 85 MB each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from memocr.errors import InputError, RenderError, RendererUnavailableError

CHROMIUM_PATH = "/usr/bin/chromium"
# Keep Chromium off the network and away from anything it would do on its own behalf.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--dns-prefetch-disable",
)
_CLOSE_TIMEOUT_S = 5.0
_WARM_UP_DELAY_S = 2.0
_WARM_UP_PAGE = "<!DOCTYPE html><html><body><p>warm-up</p></body></html>"


def default_page_count() -> int:
    """One page per core, at least two (one lays out while the other's screenshot is encoded).

    Measured on 2 cores (benchmarks/render.py): 2 pages give ~34 renders/s over HTTP at concurrency
    8; more pages add little throughput on 2 cores and a renderer process each.
    """
    return max(2, os.cpu_count() or 1)


class _Browser:
    """One Chromium process; relaunched when it dies."""

    def __init__(self, playwright: Playwright, executable_path: str, launch_timeout_s: float) -> None:
        self._playwright = playwright
        self._executable_path = executable_path
        self._launch_timeout_s = launch_timeout_s
        self._lock = asyncio.Lock()
        self.browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._context_generation = -1
        self._context_lock = asyncio.Lock()
        self.generation = 0
        self.relaunches = 0
        self.blocked_requests = 0

    @property
    def running(self) -> bool:
        return self.browser is not None and self.browser.is_connected()

    async def launch(self) -> None:
        if not os.access(self._executable_path, os.X_OK):
            raise RendererUnavailableError(
                f"Chromium not found at {self._executable_path}; install it with "
                "'apt-get install chromium' (scripts/setup.sh does) or pass the path of a Chromium binary"
            )
        # Playwright gives every launch a fresh throw-away profile directory and removes it on close.
        self.browser = await self._playwright.chromium.launch(
            executable_path=self._executable_path,
            args=list(CHROMIUM_FLAGS),
            timeout=self._launch_timeout_s * 1000,
        )
        self.generation += 1

    async def context(self) -> BrowserContext:
        """The offline, script-less context every page of this launch shares: scripts never run and
        every request a page makes fails."""
        async with self._context_lock:
            if self._context is None or self._context_generation != self.generation:
                assert self.browser is not None
                self._context = await self.browser.new_context(
                    java_script_enabled=False, device_scale_factor=1, service_workers="block"
                )
                await self._context.route("**/*", self._abort)
                self._context_generation = self.generation
            return self._context

    async def _abort(self, route: Route) -> None:
        self.blocked_requests += 1
        await route.abort("blockedbyclient")

    async def relaunch(self, seen_generation: int) -> None:
        """Replace the browser unless someone already did since ``seen_generation``."""
        async with self._lock:
            if self.generation != seen_generation:
                return
            await self.close()
            await self.launch()
            self.relaunches += 1

    async def ensure_running(self) -> None:
        if not self.running:
            await self.relaunch(self.generation)

    async def close(self) -> None:
        self._context = None
        browser, self.browser = self.browser, None
        if browser is not None:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(browser.close(), _CLOSE_TIMEOUT_S)


@dataclass(eq=False)
class Slot:
    """A warm page and its DevTools session, lent to one render at a time."""

    owner: _Browser
    context: BrowserContext | None = None
    page: Page | None = None
    cdp: CDPSession | None = None
    generation: int = -1
    viewport: tuple[int, int] = (0, 0)
    broken: bool = False

    @property
    def usable(self) -> bool:
        return (
            not self.broken
            and self.page is not None
            and self.generation == self.owner.generation
            and self.owner.running
            and not self.page.is_closed()
        )

    async def set_viewport(self, width: int, height: int) -> None:
        if self.viewport != (width, height):
            assert self.page is not None
            await self.page.set_viewport_size({"width": width, "height": height})
            self.viewport = (width, height)


class PagePool:
    """``pages`` warm pages spread over ``browsers`` Chromium processes."""

    def __init__(self, *, pages: int, browsers: int, executable_path: str, launch_timeout_s: float) -> None:
        if pages < 1 or browsers < 1:
            raise InputError(
                f"a page pool needs at least one page and one browser, got {pages=}, {browsers=}"
            )
        self.page_count = pages
        self.browser_count = min(browsers, pages)
        self._executable_path = executable_path
        self._launch_timeout_s = launch_timeout_s
        self._playwright: Playwright | None = None
        self._browsers: list[_Browser] = []
        self._slots: list[Slot] = []
        # None in the queue tells a render waiting for a page that the pool closed.
        self._idle: asyncio.Queue[Slot | None] = asyncio.Queue()
        self._waiting = 0
        self._closed = False
        self._warming: asyncio.Task[None] | None = None
        self._first_render_done = asyncio.Event()

    async def start(self) -> None:
        """Launch the browsers and open the first page; the other pages open (and draw a first frame,
        the slow one) in the background once the first render is done (or nobody asked for one for a
        while), so that the first render neither waits for them nor competes with them for the CPU."""
        self._closed = False
        self._playwright = await async_playwright().start()
        try:
            self._browsers = [
                _Browser(self._playwright, self._executable_path, self._launch_timeout_s)
                for _ in range(self.browser_count)
            ]
            await asyncio.gather(*(browser.launch() for browser in self._browsers))
            self._slots = [Slot(self._browsers[i % self.browser_count]) for i in range(self.page_count)]
            await self._prepare(self._slots[0])
        except BaseException:
            await self.close()
            raise
        self._idle.put_nowait(self._slots[0])
        self._warming = asyncio.create_task(self._warm(self._slots[1:]))

    async def _warm(self, slots: list[Slot]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_render_done.wait(), _WARM_UP_DELAY_S)

        async def warm_one(slot: Slot) -> None:
            try:
                await self._prepare(slot)
                assert slot.page is not None and slot.cdp is not None
                await slot.page.set_content(_WARM_UP_PAGE, timeout=0)
                await slot.cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
            except PlaywrightError:
                slot.broken = True  # its first render opens it again
            self._idle.put_nowait(slot)

        await asyncio.gather(*(warm_one(slot) for slot in slots))

    async def close(self) -> None:
        """Close the browsers; renders waiting for a page fail at once with a RenderError."""
        self._closed = True
        for _ in range(self._waiting):
            self._idle.put_nowait(None)
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
            self._warming = None
        await asyncio.gather(*(browser.close() for browser in self._browsers))
        self._browsers, self._slots, self._idle = [], [], asyncio.Queue()
        if self._playwright is not None:
            playwright, self._playwright = self._playwright, None
            with contextlib.suppress(Exception):
                await playwright.stop()

    @property
    def relaunches(self) -> int:
        return sum(browser.relaunches for browser in self._browsers)

    @property
    def blocked_requests(self) -> int:
        return sum(browser.blocked_requests for browser in self._browsers)

    @property
    def running(self) -> bool:
        return bool(self._browsers) and all(browser.running for browser in self._browsers)

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Slot]:
        """Lend one ready page; a render that fails on it gets the page replaced before its next use."""
        slot = await self._take()
        try:
            await self._prepare(slot)
            yield slot
        except BaseException:
            slot.broken = True
            raise
        finally:
            if slot in self._slots:  # not when the pool closed meanwhile
                self._idle.put_nowait(slot)
            self._first_render_done.set()

    async def _take(self) -> Slot:
        if not self._closed:
            self._waiting += 1
            try:
                slot = await self._idle.get()
            finally:
                self._waiting -= 1
            if slot is not None:
                return slot
        raise RenderError("the renderer closed while this render waited for a page")

    async def _prepare(self, slot: Slot) -> None:
        if slot.usable:
            return
        await self._discard(slot)
        owner = slot.owner
        for attempt in range(2):
            seen = owner.generation
            try:
                await owner.ensure_running()
                slot.context = await owner.context()
                slot.page = await slot.context.new_page()
                slot.cdp = await slot.context.new_cdp_session(slot.page)
            except PlaywrightError:
                if attempt == 1:
                    raise
                await owner.relaunch(seen)  # connected but dead: the disconnect was not noticed yet
                continue
            slot.generation, slot.viewport, slot.broken = owner.generation, (0, 0), False
            return

    async def _discard(self, slot: Slot) -> None:
        page, slot.context, slot.page, slot.cdp = slot.page, None, None, None
        if page is not None and slot.generation == slot.owner.generation and slot.owner.running:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await asyncio.wait_for(page.close(), _CLOSE_TIMEOUT_S)
