"""Memory rendering: Markdown/HTML -> headless Chromium -> image, plus the HTTP render service.

Use :class:`AsyncRenderer` from async code (the agent, the service) and :class:`Renderer` from
blocking code; both keep a warm Chromium page pool and are context managers::

    async with AsyncRenderer(profile="memocr-v1") as renderer:
        result = await renderer.render(memory_markdown)
    result.image, result.width, result.height, result.clipped_px
"""

from memocr.errors import RenderError, RenderTimeout
from memocr.render.profiles import DEFAULT_PROFILE, FULL, MEMOCR_V1, PROFILES, RenderProfile, get_profile
from memocr.render.renderer import AsyncRenderer
from memocr.render.result import RenderResult
from memocr.render.sync import Renderer

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
