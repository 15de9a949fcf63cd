"""The HTTP render service (`memocr serve`): a drop-in for the released MemOCR render servers.

``POST /render`` with ``{"content": ..., "format": "png"|"jpeg"}`` answers raw image bytes with the
released headers (``X-Processing-Time``, ``X-Image-Size``), so clients written for the released
Markdown server (port 9000) and, with ``--input html``, the released HTML server (port 9001, field
``width``) work unchanged. New optional fields: ``budget`` (fit the image to that many visual
tokens), ``profile``, ``input``. Every bad request gets a 4xx naming the problem; a full queue gets
503 with Retry-After instead of ever-growing latency. Any memory within ``max_content_bytes`` renders:
what lies beyond the capture caps is cut (``X-Clipped-Px``) or never laid out (``X-Omitted-Chars``),
and Markdown that Python-Markdown cannot convert in time is drawn as text (``X-Plain-Text: true``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from memocr import __version__
from memocr.budget import fit_to_budget, validate_budget, visual_tokens
from memocr.config import at_least, check_fields
from memocr.errors import ConfigError, RenderError, RenderTimeout
from memocr.render.page import INPUT_FORMATS
from memocr.render.profiles import DEFAULT_PROFILE, PROFILES
from memocr.render.renderer import AsyncRenderer
from memocr.render.result import IMAGE_FORMATS, encode_image

# JSON can spell one UTF-8 byte of content with up to six bytes (\u00e9); bodies beyond this bound
# are refused before they are even parsed.
_JSON_OVERHEAD = 6
_RETRY_AFTER_S = "1"


@dataclass
class ServeConfig:
    """Settings of `memocr serve`."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=9000, metadata={"help": "TCP port (the released server used 9000, HTML 9001)"})
    profile: Literal["full", "memocr-v1"] = field(
        default=DEFAULT_PROFILE, metadata={"help": "render profile used when a request names none"}
    )
    input: Literal["markdown", "html"] = field(
        default="markdown",
        metadata={"help": "memory format when a request names none ('html': released HTML server)"},
    )
    workers: int | None = field(
        default=None,
        metadata={"help": "Chromium pages rendering in parallel (default: one per CPU core, at least 2)"},
    )
    browsers: int = field(default=1, metadata={"help": "Chromium processes the pages are spread over"})
    max_queue: int = field(
        default=32,
        metadata={"help": "requests allowed to wait for a free page; beyond that: 503 + Retry-After"},
    )
    max_content_bytes: int = field(
        default=1_000_000, metadata={"help": "largest memory accepted (UTF-8 bytes); 413 above"}
    )
    render_timeout_s: float = field(
        default=30.0, metadata={"help": "per-request render limit in seconds; 504 above"}
    )
    max_width: int | None = field(
        default=None,
        metadata={"help": "width cap of a capture in pixels (default: the profile's, 2304)"},
    )
    max_height: int | None = field(
        default=None,
        metadata={"help": "height cap of a capture in pixels (default: the profile's, 10000)"},
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = field(
        default="info", metadata={"help": "uvicorn log level"}
    )

    def __post_init__(self) -> None:
        check_fields(self)
        at_least(self, 1, "port", "browsers", "max_content_bytes", "workers", "max_width", "max_height")
        at_least(self, 0, "max_queue")
        if self.render_timeout_s <= 0:
            raise ConfigError(
                f"setting render_timeout_s (--render-timeout-s) must be positive, got {self.render_timeout_s}"
            )


class BadRequest(Exception):
    """A request the service will not render; becomes a JSON ``{"detail": ...}`` answer."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


@dataclass(frozen=True)
class RenderRequest:
    content: str
    format: str
    budget: int | None
    profile: str
    input: str
    width: int | None


def parse_request(body: bytes, config: ServeConfig) -> RenderRequest:
    """Validate a /render body; raises BadRequest with the status and message the client gets."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest(
            400, 'request body must be a JSON object such as {"content": "# memory", "format": "png"}'
        )
    content = data.get("content")
    if content is None:
        raise BadRequest(422, "field 'content' (the memory to render) is required")
    if not isinstance(content, str):
        raise BadRequest(422, f"field 'content' must be a string, got {type(content).__name__}")
    if not content.strip():
        raise BadRequest(400, "content is empty; send the memory text to render")
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > config.max_content_bytes:
        raise BadRequest(
            413, f"content is {size} bytes; this service accepts at most {config.max_content_bytes}"
        )
    image_format = data.get("format") or "png"
    if not isinstance(image_format, str) or image_format not in IMAGE_FORMATS:
        raise BadRequest(400, f"format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
    budget = data.get("budget")
    if budget is not None:
        try:
            budget = validate_budget(budget)
        except ValueError as error:
            raise BadRequest(422, f"budget: {error}") from None
    profile = data.get("profile") or config.profile
    if not isinstance(profile, str) or profile not in PROFILES:
        raise BadRequest(422, f"unknown profile {profile!r}; choose one of: {', '.join(sorted(PROFILES))}")
    input_format = data.get("input") or config.input
    if not isinstance(input_format, str) or input_format not in INPUT_FORMATS:
        raise BadRequest(422, f"input must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")
    # Like the released Markdown server, a Markdown request ignores a `width` it has no use for.
    width = data.get("width") if input_format == "html" else None
    if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
        raise BadRequest(422, f"width must be a whole number of pixels, got {width!r}")
    return RenderRequest(content, image_format, budget, profile, input_format, width)


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The service as an ASGI app; the lifespan starts the Chromium pool and closes it on shutdown."""
    config = config or ServeConfig()
    renderer = AsyncRenderer(
        profile=config.profile,
        pages=config.workers,
        browsers=config.browsers,
        max_width=config.max_width,
        max_height=config.max_height,
        render_timeout_s=config.render_timeout_s,
    )
    capacity = renderer.pages + config.max_queue
    in_flight = 0

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await renderer.start()
        try:
            yield
        finally:
            await renderer.close()

    app = FastAPI(title="memocr render service", version=__version__, lifespan=lifespan)
    app.state.renderer = renderer
    app.state.config = config

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, error: BadRequest) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status, headers=error.headers)

    @app.get("/")
    async def describe() -> dict[str, Any]:
        return {
            "name": "memocr render service",
            "message": "Renders Markdown (or HTML) memories to images; drop-in for the MemOCR render server.",
            "version": __version__,
            "profile": config.profile,
            "profiles": sorted(PROFILES),
            "input": config.input,
            "endpoints": {
                "/render": "POST {content, format, budget?, profile?, input?, width?} -> image bytes",
                "/health": "GET -> service health",
            },
        }

    @app.get("/health")
    async def health() -> dict[str, Any]:
        stats = renderer.stats()
        return {
            # A dead browser is relaunched by the next render; until then the service is degraded.
            "status": "healthy" if stats["browsers_running"] else "degraded",
            "executor_initialized": stats["browsers_running"],
            "in_flight": in_flight,
            "capacity": capacity,
            **stats,
        }

    @app.post("/render")
    async def render(request: Request) -> Response:
        nonlocal in_flight
        started = time.perf_counter()
        parsed = parse_request(await _read_body(request, config.max_content_bytes), config)
        if in_flight >= capacity:
            raise BadRequest(
                503,
                f"the service is saturated ({in_flight} requests in flight); retry shortly",
                {"Retry-After": _RETRY_AFTER_S},
            )
        in_flight += 1
        try:
            result = await renderer.render(
                parsed.content, profile=parsed.profile, input_format=parsed.input, width=parsed.width
            )
        except ValueError as error:
            raise BadRequest(422, str(error)) from None
        except RenderTimeout as error:
            raise BadRequest(504, str(error)) from None
        except RenderError as error:
            raise BadRequest(500, str(error)) from None
        finally:
            in_flight -= 1
        # Fitting and encoding are CPU work; the event loop keeps serving other requests meanwhile.
        if parsed.budget is None:
            image = result.image
            payload = await asyncio.to_thread(result.to_bytes, parsed.format)
        else:
            image = await asyncio.to_thread(fit_to_budget, result.image, parsed.budget)
            payload = await asyncio.to_thread(encode_image, image, parsed.format)
        headers = {
            "X-Processing-Time": f"{time.perf_counter() - started:.3f}",
            "X-Image-Size": str(len(payload)),
            "X-Image-Width": str(image.width),
            "X-Image-Height": str(image.height),
            "X-Visual-Tokens": str(visual_tokens(image.width, image.height)),
            "X-Clipped-Px": str(result.clipped_px),
            "X-Omitted-Chars": str(result.omitted_chars),
            "X-Plain-Text": "true" if result.plain_text else "false",
            "X-Content-Width": str(result.content_width),
            "X-Content-Height": str(result.content_height),
            "X-Profile": result.profile,
        }
        return Response(payload, media_type=f"image/{parsed.format}", headers=headers)

    return app


async def _read_body(request: Request, max_content_bytes: int) -> bytes:
    """The request body, refusing (413) one too large to hold an acceptable memory without reading it all."""
    limit = max_content_bytes * _JSON_OVERHEAD + 4096
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(
            413, f"request body is {declared} bytes; memories are limited to {max_content_bytes} bytes"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(
                413, f"request body exceeds {limit} bytes; memories are limited to {max_content_bytes} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)
