"""Memory rendering: Markdown/HTML -> headless Chromium -> image, plus the HTTP render service.

Use :class:`AsyncRenderer` from async code (the agent, the service) and :class:`Renderer` from
blocking code; both keep a warm Chromium page pool and are context managers::

    async with AsyncRenderer(profile="memocr-v1") as renderer:
        result = await renderer.render(memory_markdown)
    result.image, result.width, result.height, result.clipped_px

Names are imported on first use, so that the Markdown worker processes (`memocr.render.converter`)
start without loading Playwright.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memocr.errors import RenderError, RenderTimeout
    from memocr.render.profiles import DEFAULT_PROFILE, FULL, MEMOCR_V1, PROFILES, RenderProfile, get_profile
    from memocr.render.renderer import AsyncRenderer
    from memocr.render.result import RenderResult
    from memocr.render.sync import Renderer

_HOMES = {
    "RenderError": "memocr.errors",
    "RenderTimeout": "memocr.errors",
    "DEFAULT_PROFILE": "memocr.render.profiles",
    "FULL": "memocr.render.profiles",
    "MEMOCR_V1": "memocr.render.profiles",
    "PROFILES": "memocr.render.profiles",
    "RenderProfile": "memocr.render.profiles",
    "get_profile": "memocr.render.profiles",
    "AsyncRenderer": "memocr.render.renderer",
    "RenderResult": "memocr.render.result",
    "Renderer": "memocr.render.sync",
}

__all__ = [
    "DEFAULT_PROFILE",
    "FULL",
    "MEMOCR_V1",
    "PROFILES",
    "AsyncRenderer",
    "RenderError",
    "RenderProfile",
    "RenderResult",
    "RenderTimeout",
    "Renderer",
    "get_profile",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
