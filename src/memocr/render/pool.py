"""A warm pool of Chromium pages, with automatic relaunch of a browser that crashed or was killed.

Opening a page costs about six renders, so pages are opened once and lent out one render at a time.
The pages of a browser share one browser context with JavaScript disabled and every network request
aborted: a memory is inert data, whatever it says. Shared-context pages are tabs of one window, so
their viewport must not change from render to render (resizing one tab resizes the window under the
others); profiles share one viewport and HTML widths are laid out in CSS. A context per page would
cost two more Chromium renderer processes per page, about 85 MB each.

Work stops when its render is abandoned: a page whose render timed out is closed at once (which ends
its renderer process, however busy), or its browser relaunched if it does not close. Browsers are
recycled after ``recycle_after_renders`` renders or when their processes' RSS passes
``recycle_above_rss_mb``: the browser's pages are withdrawn as their renders finish, then it is
relaunched, so no render fails for it. How Chromium is started is `memocr.render.sandbox`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import psutil
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
from memocr.render.sandbox import SANDBOX_HINT, ChromiumLauncher

CHROMIUM_PATH = "/usr/bin/chromium"
# Keep Chromium off the network and away from anything it would do on its own behalf.
CHROMIUM_FLAGS = (
    "--headless",
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
# A browser's RSS is read every this many renders (about a millisecond a time) when it has a ceiling.
_RSS_CHECK_EVERY = 25
_WARM_UP_DELAY_S = 2.0
_WARM_UP_PAGE = "<!DOCTYPE html><html><body><p>warm-up</p></body></html>"


def default_page_count() -> int:
    """One page per core, at least two (one lays out while the other's screenshot is encoded).

    Measured on 2 cores (benchmarks/render.py): 2 pages give ~34 renders/s over HTTP at concurrency
    8; more pages add little throughput on 2 cores and a renderer process each.
    """
    return max(2, os.cpu_count() or 1)


class _Browser:
    """One Chromium process; relaunched when it dies or is recycled."""

    def __init__(self, playwright: Playwright, launcher: ChromiumLauncher, launch_timeout_s: float) -> None:
        self._playwright = playwright
        self._launcher = launcher
        self._launch_timeout_s = launch_timeout_s
        self._lock = asyncio.Lock()
        self.browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._context_generation = -1
        self._context_lock = asyncio.Lock()
        self.generation = 0
        self.relaunches = 0
        self.recycles = 0
        self.blocked_requests = 0
        self.pid: int | None = None
        self.renders = 0  # since the last launch
        self.retiring = False
        self.parked: list[Slot] = []

    @property
    def running(self) -> bool:
        return self.browser is not None and self.browser.is_connected()

    async def launch(self) -> None:
        options = self._launcher.launch_options(CHROMIUM_FLAGS, self._launch_timeout_s)
        try:
            self.browser = await self._playwright.chromium.launch(**options)
        except PlaywrightError as error:
            if "No usable sandbox" in error.message:
                raise RendererUnavailableError(
                    f"Chromium could not start its sandbox; {SANDBOX_HINT}"
                ) from None
            raise
        session = await self.browser.new_browser_cdp_session()
        processes = (await session.send("SystemInfo.getProcessInfo"))["processInfo"]
        await session.detach()
        self.pid = next((p["id"] for p in processes if p["type"] == "browser"), None)
        self.generation += 1
        self.renders = 0

    def rss_mb(self) -> float:
        """Summed RSS of this browser's processes (shared pages count once per process)."""
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except (psutil.Error, ValueError):
            return 0.0
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / 2**20

    async def context(self) -> BrowserContext:
        """The offline, script-less context every page of this launch shares: scripts never run and
        every request a page makes fails."""
        async with self._context_lock:
            if self._context is None or self._context_generation != self.generation:
                assert self.browser is not None
                self._context = await self.browser.new_context(
                    java_script_enabled=False,
                    device_scale_factor=1,
                    service_workers="block",
                    accept_downloads=False,
                )
                await self._context.route("**/*", self._abort)
                self._context_generation = self.generation
            return self._context

    async def _abort(self, route: Route) -> None:
        self.blocked_requests += 1
        await route.abort("blockedbyclient")

    async def relaunch(self, seen_generation: int, *, recycle: bool = False) -> None:
        """Replace the browser unless someone already did since ``seen_generation``."""
        async with self._lock:
            if self.generation != seen_generation:
                return
            await self.close()
            await self.launch()
            if recycle:
                self.recycles += 1
            else:
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

    def __init__(
        self,
        *,
        pages: int,
        browsers: int,
        launcher: ChromiumLauncher,
        launch_timeout_s: float,
        recycle_after_renders: int | None = None,
        recycle_above_rss_mb: float | None = None,
    ) -> None:
        if pages < 1 or browsers < 1:
            raise InputError(
                f"a page pool needs at least one page and one browser, got {pages=}, {browsers=}"
            )
        self.page_count = pages
        self.browser_count = min(browsers, pages)
        self._launcher = launcher
        self._launch_timeout_s = launch_timeout_s
        self._recycle_after = recycle_after_renders
        self._rss_ceiling_mb = recycle_above_rss_mb
        self._playwright: Playwright | None = None
        self._browsers: list[_Browser] = []
        self._slots: list[Slot] = []
        # None in the queue tells a render waiting for a page that the pool closed.
        self._idle: asyncio.Queue[Slot | None] = asyncio.Queue()
        self._waiting = 0
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._first_render_done = asyncio.Event()

    async def start(self) -> None:
        """Launch the browsers and open the first page; the other pages open (and draw a first frame,
        the slow one) in the background once the first render is done (or nobody asked for one for a
        while), so that the first render neither waits for them nor competes with them for the CPU."""
        self._closed = False
        self._launcher.prepare()
        self._playwright = await async_playwright().start()
        try:
            self._browsers = [
                _Browser(self._playwright, self._launcher, self._launch_timeout_s)
                for _ in range(self.browser_count)
            ]
            await asyncio.gather(*(browser.launch() for browser in self._browsers))
            self._slots = [Slot(self._browsers[i % self.browser_count]) for i in range(self.page_count)]
            await self._prepare(self._slots[0])
        except BaseException:
            await self.close()
            raise
        self._idle.put_nowait(self._slots[0])
        self._background(self._warm(self._slots[1:]))

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            coroutine.close()
            return
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _warm(self, slots: list[Slot]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_render_done.wait(), _WARM_UP_DELAY_S)
        await asyncio.gather(*(self._warm_one(slot) for slot in slots))
        for slot in slots:
            self._give_back(slot)

    async def _warm_one(self, slot: Slot) -> None:
        try:
            await self._prepare(slot)
            assert slot.page is not None and slot.cdp is not None
            await slot.page.set_content(_WARM_UP_PAGE, timeout=0)
            await slot.cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
        except PlaywrightError:
            slot.broken = True  # its first render opens it again

    async def close(self) -> None:
        """Close the browsers; renders waiting for a page fail at once with a RenderError."""
        self._closed = True
        for _ in range(self._waiting):
            self._idle.put_nowait(None)
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(browser.close() for browser in self._browsers))
        self._browsers, self._slots, self._idle = [], [], asyncio.Queue()
        if self._playwright is not None:
            playwright, self._playwright = self._playwright, None
            with contextlib.suppress(Exception):
                await playwright.stop()
        self._launcher.cleanup()

    @property
    def relaunches(self) -> int:
        return sum(browser.relaunches for browser in self._browsers)

    @property
    def recycles(self) -> int:
        return sum(browser.recycles for browser in self._browsers)

    @property
    def blocked_requests(self) -> int:
        return sum(browser.blocked_requests for browser in self._browsers)

    @property
    def running(self) -> bool:
        return bool(self._browsers) and all(browser.running for browser in self._browsers)

    @property
    def sandboxed(self) -> bool:
        return self._launcher.sandboxed

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Slot]:
        """Lend one ready page; a render that fails on it gets the page replaced before its next use,
        and one abandoned mid-work (timed out, cancelled) gets it closed at once."""
        slot = await self._take()
        abandoned = False
        try:
            await self._prepare(slot)
            yield slot
        except BaseException as error:
            slot.broken = True
            abandoned = isinstance(error, asyncio.CancelledError)
            raise
        finally:
            self._first_render_done.set()
            slot.owner.renders += 1
            if abandoned:
                self._background(self._end_work(slot))
            else:
                self._give_back(slot)

    async def _take(self) -> Slot:
        while not self._closed:
            self._waiting += 1
            try:
                slot = await self._idle.get()
            finally:
                self._waiting -= 1
            if slot is None:
                break
            if not slot.owner.retiring:
                return slot
            self._park(slot)
        raise RenderError("the renderer closed while this render waited for a page")

    def _give_back(self, slot: Slot) -> None:
        """Return a lent page to the idle queue, or park it if its browser is due for recycling."""
        if self._closed or slot not in self._slots:  # the pool closed meanwhile
            return
        owner = slot.owner
        if not owner.retiring and self._due(owner):
            owner.retiring = True
        if owner.retiring:
            self._park(slot)
        else:
            self._idle.put_nowait(slot)

    def _due(self, browser: _Browser) -> bool:
        if self._recycle_after is not None and browser.renders >= self._recycle_after:
            return True
        return (
            self._rss_ceiling_mb is not None
            and browser.renders > 0
            and browser.renders % _RSS_CHECK_EVERY == 0
            and browser.rss_mb() > self._rss_ceiling_mb
        )

    def _park(self, slot: Slot) -> None:
        owner = slot.owner
        owner.parked.append(slot)
        if len(owner.parked) == sum(s.owner is owner for s in self._slots):
            self._background(self._recycle(owner))

    async def _recycle(self, browser: _Browser) -> None:
        """Relaunch a browser whose pages are all parked, warm its pages and lend them again."""
        slots, browser.parked = browser.parked, []
        try:
            await browser.relaunch(browser.generation, recycle=True)
            await asyncio.gather(*(self._warm_one(slot) for slot in slots))
        except PlaywrightError:
            pass  # the pages' next renders relaunch it
        finally:
            browser.retiring = False
            for slot in slots:
                self._give_back(slot)

    async def _end_work(self, slot: Slot) -> None:
        """Stop what an abandoned render left the page doing: closing the page ends its renderer
        process; a browser that cannot close it in time is relaunched."""
        generation = slot.generation
        if not await self._discard(slot):
            with contextlib.suppress(PlaywrightError):
                await slot.owner.relaunch(generation)
        with contextlib.suppress(PlaywrightError):
            await self._prepare(slot)
        self._give_back(slot)

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

    async def _discard(self, slot: Slot) -> bool:
        """Close the slot's page; False when its browser did not close it in time."""
        page, slot.context, slot.page, slot.cdp = slot.page, None, None, None
        if page is not None and slot.generation == slot.owner.generation and slot.owner.running:
            try:
                await asyncio.wait_for(page.close(), _CLOSE_TIMEOUT_S)
            except TimeoutError:
                return False
            except PlaywrightError:
                pass
        return True
