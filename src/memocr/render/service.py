"""The HTTP render service (`memocr serve`): a drop-in for the released MemOCR render servers.

``POST /render`` with ``{"content": ..., "format": "png"|"jpeg"}`` answers raw image bytes with the
released headers (``X-Processing-Time``, ``X-Image-Size``), so clients written for the released
Markdown server (port 9000) and, with ``--input html``, the released HTML server (port 9001, field
``width``) work unchanged. New optional fields: ``budget`` (fit the image to that many visual
tokens), ``profile``, ``input``. Every bad request gets a 4xx naming the problem; a full queue gets
503 with Retry-After instead of ever-growing latency. What guards the service on a network (token,
Host check, admission before the body, timeouts, the connection cap) is `memocr.render.guard`; the
threat model is docs/security.md. Any memory within ``max_content_bytes`` renders:
what lies beyond the capture caps is cut (``X-Clipped-Px``) or never laid out (``X-Omitted-Chars``),
and Markdown that Python-Markdown cannot convert in time is drawn as text (``X-Plain-Text: true``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from memocr import __version__
from memocr.budget import fit_to_budget, validate_budget, visual_tokens
from memocr.config import at_least, check_fields
from memocr.errors import (
    ConfigError,
    RenderError,
    RendererUnavailableError,
    RenderTimeout,
    RequestRefused,
)
from memocr.render.guard import Admission, Gate, guarded_protocol, is_loopback, load_token
from memocr.render.page import INPUT_FORMATS
from memocr.render.profiles import DEFAULT_PROFILE, PROFILES
from memocr.render.renderer import RECYCLE_ABOVE_RSS_MB, RECYCLE_AFTER_RENDERS, AsyncRenderer
from memocr.render.result import IMAGE_FORMATS, encode_image
from memocr.render.sandbox import RENDER_USER

# JSON can spell one UTF-8 byte of content with up to six bytes (\u00e9); bodies beyond this bound
# are refused before they are even parsed.
_JSON_OVERHEAD = 6
# No field takes a number this long; longer ones are refused before Python converts them.
_MAX_DIGITS = 30
_log = logging.getLogger("memocr.serve")


@dataclass
class ServeConfig:
    """Settings of `memocr serve`."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=9000, metadata={"help": "TCP port (the released server used 9000, HTML 9001)"})
    profile: str = field(
        default=DEFAULT_PROFILE,
        metadata={"help": "render profile used when a request names none", "choices": PROFILES},
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
    token_file: Path | None = field(
        default=None,
        metadata={
            "help": "file holding the token every request but /health must carry as "
            "'Authorization: Bearer TOKEN' (needed to listen beyond loopback)",
            "path": True,
        },
    )
    allow_no_token: bool = field(
        default=False,
        metadata={"help": "listen beyond loopback without a token: anyone who reaches the port may render"},
    )
    allowed_host: list[str] = field(
        default_factory=list,
        metadata={
            "help": "a name clients use for this service in the Host header, e.g. behind a proxy "
            "(IP addresses, localhost and the bound name always pass; '*' passes any)"
        },
    )
    browser_user: str = field(
        default=RENDER_USER, metadata={"help": "unprivileged user Chromium runs as when serving as root"}
    )
    allow_unsandboxed_browser: bool = field(
        default=False,
        metadata={"help": "run Chromium without its sandbox where the kernel cannot give it one (a risk)"},
    )
    max_connections: int = field(
        default=512, metadata={"help": "open connections at most; beyond: 503 + Retry-After, closed"}
    )
    header_timeout_s: float = field(
        default=10.0, metadata={"help": "seconds a connection has to send a complete request head; 408"}
    )
    body_timeout_s: float = field(
        default=30.0, metadata={"help": "seconds a request has to send its whole body; 408 above"}
    )
    receive_buffer_mb: int = field(
        default=64,
        metadata={"help": "MB of large request bodies received at once; beyond: 503 before reading"},
    )
    recycle_after_renders: int = field(
        default=RECYCLE_AFTER_RENDERS,
        metadata={"help": "relaunch a browser after this many renders (0: never)"},
    )
    recycle_above_rss_mb: int = field(
        default=RECYCLE_ABOVE_RSS_MB,
        metadata={"help": "relaunch a browser whose processes' RSS passes this (MB; 0: never)"},
    )

    def __post_init__(self) -> None:
        check_fields(self)
        at_least(self, 1, "port", "browsers", "max_content_bytes", "workers", "max_width", "max_height")
        at_least(self, 1, "max_connections", "receive_buffer_mb")
        at_least(self, 0, "max_queue", "recycle_after_renders", "recycle_above_rss_mb")
        for name in ("render_timeout_s", "header_timeout_s", "body_timeout_s"):
            if getattr(self, name) <= 0:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"setting {name} ({flag}) must be positive, got {getattr(self, name)}")
        if not is_loopback(self.host) and self.token_file is None and not self.allow_no_token:
            raise ConfigError(
                f"listening on {self.host} without a token lets anyone who reaches the port use the "
                "service; give --token-file FILE (see docs/security.md) or accept that with --allow-no-token"
            )


@dataclass(frozen=True)
class RenderRequest:
    content: str
    format: str
    budget: int | None
    profile: str
    input: str
    width: int | None


def _parse_int(digits: str) -> int:
    if len(digits) > _MAX_DIGITS:
        raise RequestRefused(400, f"request body holds a {len(digits)}-digit number; no field takes one")
    return int(digits)


def parse_request(body: bytes, config: ServeConfig) -> RenderRequest:
    """Validate a /render body; raises RequestRefused with the status and message the client gets."""
    try:
        data = json.loads(body, parse_int=_parse_int)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestRefused(400, f"request body is not valid UTF-8 JSON: {error}") from None
    except RecursionError:
        raise RequestRefused(400, "request body nests arrays or objects too deeply") from None
    if not isinstance(data, dict):
        raise RequestRefused(
            400, 'request body must be a JSON object such as {"content": "# memory", "format": "png"}'
        )
    content = data.get("content")
    if content is None:
        raise RequestRefused(422, "field 'content' (the memory to render) is required")
    if not isinstance(content, str):
        raise RequestRefused(422, f"field 'content' must be a string, got {type(content).__name__}")
    if not content.strip():
        raise RequestRefused(400, "content is empty; send the memory text to render")
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > config.max_content_bytes:
        raise RequestRefused(
            413, f"content is {size} bytes; this service accepts at most {config.max_content_bytes}"
        )
    image_format = data.get("format") or "png"
    if not isinstance(image_format, str) or image_format not in IMAGE_FORMATS:
        raise RequestRefused(400, f"format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
    budget = data.get("budget")
    if budget is not None:
        try:
            budget = validate_budget(budget)
        except ValueError as error:
            raise RequestRefused(422, f"budget: {error}") from None
    profile = data.get("profile") or config.profile
    if not isinstance(profile, str) or profile not in PROFILES:
        raise RequestRefused(
            422, f"unknown profile {profile!r}; choose one of: {', '.join(sorted(PROFILES))}"
        )
    input_format = data.get("input") or config.input
    if not isinstance(input_format, str) or input_format not in INPUT_FORMATS:
        raise RequestRefused(422, f"input must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")
    # Like the released Markdown server, a Markdown request ignores a `width` it has no use for.
    width = data.get("width") if input_format == "html" else None
    if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
        raise RequestRefused(422, f"width must be a whole number of pixels, got {width!r}")
    return RenderRequest(content, image_format, budget, profile, input_format, width)


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The service as an ASGI app; the lifespan starts the Chromium pool and closes it on shutdown."""
    config = config or ServeConfig()
    token = load_token(config.token_file) if config.token_file is not None else None
    renderer = AsyncRenderer(
        profile=config.profile,
        pages=config.workers,
        browsers=config.browsers,
        max_width=config.max_width,
        max_height=config.max_height,
        render_timeout_s=config.render_timeout_s,
        browser_user=config.browser_user,
        allow_unsandboxed=config.allow_unsandboxed_browser,
        recycle_after_renders=config.recycle_after_renders or None,
        recycle_above_rss_mb=config.recycle_above_rss_mb or None,
    )
    body_limit = config.max_content_bytes * _JSON_OVERHEAD + 4096
    admission = Admission(
        capacity=renderer.pages + config.max_queue,
        buffer_bytes=config.receive_buffer_mb * 2**20,
        max_body_bytes=body_limit,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await renderer.start()
        try:
            yield
        finally:
            await renderer.close()

    app = FastAPI(
        title="memocr render service", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.add_middleware(Gate, bound_host=config.host, token=token, allowed_hosts=config.allowed_host)
    app.state.renderer = renderer
    app.state.config = config

    @app.exception_handler(RequestRefused)
    async def refused(_: Request, error: RequestRefused) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.http_status, headers=error.headers)

    @app.exception_handler(Exception)
    async def failed(_: Request, error: Exception) -> JSONResponse:
        # Starlette re-raises the error after this answer, and uvicorn logs it with its traceback.
        return JSONResponse({"detail": "the service failed on this request; see its log"}, status_code=500)

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
            "in_flight": admission.in_flight,
            "capacity": admission.capacity,
            **stats,
        }

    @app.post("/render")
    async def render(request: Request) -> Response:
        started = time.perf_counter()
        # Everything up to the queue decision comes from the head; the body is read only once admitted.
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            raise RequestRefused(415, "send the request body as JSON with 'Content-Type: application/json'")
        declared = _declared_length(request, body_limit, config.max_content_bytes)
        with admission.receiving(declared):
            body = await _read_body(request, body_limit, config)
            parsed = parse_request(body, config)
        del body
        with admission.rendering():
            try:
                result = await renderer.render(
                    parsed.content, profile=parsed.profile, input_format=parsed.input, width=parsed.width
                )
            except ValueError as error:  # memocr's InputError: the request's own fault
                raise RequestRefused(422, str(error)) from None
            except RenderTimeout as error:
                raise RequestRefused(504, str(error)) from None
            except RendererUnavailableError as error:
                _log.error("the renderer is unavailable: %s", error)
                raise RequestRefused(503, "the renderer is unavailable; see the service log") from None
            except RenderError as error:
                _log.error("render failed: %s", error)
                raise RequestRefused(500, "the renderer failed on this memory; see the service log") from None
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


def server_config(config: ServeConfig, app: FastAPI | None = None) -> uvicorn.Config:
    """uvicorn's settings for the service: the guarded h11 protocol, keep-alive within the head timeout."""
    protocol = guarded_protocol(
        max_connections=config.max_connections, header_timeout_s=config.header_timeout_s
    )
    return uvicorn.Config(
        app or create_app(config),
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        http=protocol,
        timeout_keep_alive=min(5, config.header_timeout_s),
        server_header=False,
    )


def _declared_length(request: Request, limit: int, max_content_bytes: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not declared.isdigit() or len(declared) > 19:
        raise RequestRefused(400, f"Content-Length {declared[:40]!r} is not a byte count")
    if int(declared) > limit:
        raise RequestRefused(
            413,
            f"request body is {declared} bytes; memories are limited to {max_content_bytes} bytes",
            {"Connection": "close"},
        )
    return int(declared)


async def _read_body(request: Request, limit: int, config: ServeConfig) -> bytes:
    """The request body, refusing (413) one too large to hold an acceptable memory without reading it
    all, and (408) one that does not arrive in time."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(config.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestRefused(
                        413,
                        f"request body exceeds {limit} bytes; memories are limited to "
                        f"{config.max_content_bytes} bytes",
                        {"Connection": "close"},
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise RequestRefused(
            408,
            f"the request body did not arrive within {config.body_timeout_s:g} s",
            {"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise RequestRefused(400, "the client closed the connection before sending the whole body") from None
    return b"".join(chunks)
