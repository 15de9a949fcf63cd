"""`Renderer`: the blocking face of `AsyncRenderer`, for scripts, notebooks and the CLI.

The async renderer runs on a private event loop in a daemon thread, so blocking callers (even from
several threads) share one warm page pool without knowing about asyncio. No call waits for that loop
longer than its own limit plus a margin: a stuck loop gives a RenderTimeout, never a hang.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, TypeVar

from memocr.errors import RenderError, RenderTimeout
from memocr.render.renderer import AsyncRenderer
from memocr.render.result import RenderResult

T = TypeVar("T")
# Beyond the async renderer's own limits: decoding a capture, and the event loop's turn-around.
WAIT_MARGIN_S = 10.0
# Closing waits for every browser (5 s each at most) and for the Playwright driver.
CLOSE_WAIT_S = 30.0


class Renderer:
    """Same arguments and methods as :class:`AsyncRenderer`, without ``await``; use as ``with``."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._renderer: AsyncRenderer | None = None

    def start(self) -> Renderer:
        if self._renderer is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="memocr-renderer", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        renderer = AsyncRenderer(**self._options)
        try:
            # Starting launches the browsers and opens a first page: launch time, twice, is the bound.
            self._call(renderer.start(), 2 * renderer.launch_timeout_s, "starting the renderer")
        except BaseException:
            self._stop_loop()
            raise
        self._renderer = renderer
        return self

    def close(self) -> None:
        if self._renderer is not None:
            renderer, self._renderer = self._renderer, None
            try:
                self._call(renderer.close(), CLOSE_WAIT_S, "closing the renderer")
            finally:
                self._stop_loop()

    def __enter__(self) -> Renderer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def async_renderer(self) -> AsyncRenderer:
        if self._renderer is None:
            raise RenderError("the renderer is not started; use 'with Renderer() as r' or call r.start()")
        return self._renderer

    def render(self, content: str, **options: Any) -> RenderResult:
        """See :meth:`AsyncRenderer.render`."""
        renderer = self.async_renderer
        return self._call(renderer.render(content, **options), renderer.render_timeout_s, "the render")

    def render_many(self, contents: Sequence[str], **options: Any) -> list[RenderResult]:
        """See :meth:`AsyncRenderer.render_many` (every render's limit runs from the same start)."""
        renderer = self.async_renderer
        return self._call(renderer.render_many(contents, **options), renderer.render_timeout_s, "the renders")

    def stats(self) -> dict[str, Any]:
        return self.async_renderer.stats()

    def _call(self, coroutine: Coroutine[Any, Any, T], limit_s: float, what: str) -> T:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout=limit_s + WAIT_MARGIN_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RenderTimeout(
                f"{what} did not finish within {limit_s + WAIT_MARGIN_S:g} s; the renderer's event loop "
                "is stuck or overloaded"
            ) from None

    def _stop_loop(self) -> None:
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
