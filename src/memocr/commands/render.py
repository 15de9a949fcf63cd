"""`memocr render FILE`: render one memory to an image and print what it cost as JSON."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memocr.config import add_config_arguments, at_least, check_fields, config_from_args, read_input
from memocr.errors import InputError
from memocr.render.profiles import DEFAULT_PROFILE, PROFILES


@dataclass
class RenderConfig:
    """Settings of `memocr render`."""

    file: str = field(
        default="", metadata={"help": "the memory: a Markdown or .html file, or - for stdin", "path": True}
    )
    budget: int | None = field(
        default=None, metadata={"help": "fit the image to this many visual tokens (default: native size)"}
    )
    profile: str = field(
        default=DEFAULT_PROFILE,
        metadata={
            "help": "full (whole memory), compact (full with 12-px body text) or memocr-v1 (released "
            "geometry, at most 1152x656)",
            "choices": PROFILES,
        },
    )
    input: Literal["auto", "markdown", "html"] = field(
        default="auto", metadata={"help": "memory format; auto: html for .html/.htm files, else markdown"}
    )
    width: int | None = field(
        default=None, metadata={"help": "layout width for HTML memories (default 800, at most max_width)"}
    )
    max_width: int | None = field(
        default=None, metadata={"help": "width cap of the capture in pixels (default: the profile's, 2304)"}
    )
    max_height: int | None = field(
        default=None,
        metadata={"help": "height cap of the capture in pixels (default: the profile's, 10000)"},
    )
    output: str | None = field(
        default=None,
        metadata={"help": "write the image here (.png, or .jpg/.jpeg for JPEG); also -o", "output": "file"},
    )

    def __post_init__(self) -> None:
        check_fields(self)
        at_least(self, 1, "budget", "width", "max_width", "max_height")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", metavar="FILE", help="the memory file (.md or .html), or - for stdin"
    )
    parser.add_argument("-o", dest="output", metavar="OUT.png", help="write the image here")
    add_config_arguments(parser, RenderConfig)


def _input_format(config: RenderConfig) -> str:
    if config.input != "auto":
        return config.input
    return "html" if config.file.lower().endswith((".html", ".htm")) else "markdown"


def _image_format(output: str) -> str:
    suffix = Path(output).suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        return "jpeg"
    if suffix in ("", ".png"):
        return "png"
    raise InputError(f"cannot write {output}: use a .png, .jpg or .jpeg file name")


def run(args: argparse.Namespace) -> int:
    if args.path is not None:
        args.file = args.path
    config = config_from_args(RenderConfig, args)
    return _render(config, read_input(config.file, "memory", "pass a Markdown or HTML file"))


def _render(config: RenderConfig, content: str) -> int:
    from memocr.budget import fit_to_budget, validate_budget, visual_tokens
    from memocr.render import Renderer
    from memocr.render.result import encode_image

    budget = None if config.budget is None else validate_budget(config.budget)
    image_format = _image_format(config.output) if config.output else None
    input_format = _input_format(config)
    with Renderer(
        profile=config.profile, pages=1, max_width=config.max_width, max_height=config.max_height
    ) as renderer:
        result = renderer.render(content, input_format=input_format, width=config.width)
    image = result.image if budget is None else fit_to_budget(result.image, budget)
    if config.output and image_format:
        reuse = image is result.image  # the browser's own PNG needs no second encoding
        payload = result.to_bytes(image_format) if reuse else encode_image(image, image_format)
        try:
            Path(config.output).write_bytes(payload)
        except OSError as error:
            raise InputError(f"cannot write {config.output}: {error.strerror or error}") from error
    report = {
        "file": config.file,
        "input": input_format,
        "content_chars": len(content),
        "content_bytes": len(content.encode("utf-8")),
        "width": image.width,
        "height": image.height,
        "visual_tokens": visual_tokens(image.width, image.height),
        "budget": budget,
        "rendered_width": result.width,
        "rendered_height": result.height,
        "content_width": result.content_width,
        "content_height": result.content_height,
        "clipped_px": result.clipped_px,
        "omitted_chars": result.omitted_chars,
        "plain_text": result.plain_text,
        "seconds": round(result.seconds, 4),
        "profile": result.profile,
        "output": config.output,
    }
    print(json.dumps(report))
    return 0
