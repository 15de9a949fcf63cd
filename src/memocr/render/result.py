"""What a render returns, and the errors it can raise."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from memocr.errors import InputError

ImageFormat = Literal["png", "jpeg"]
IMAGE_FORMATS: tuple[str, ...] = ("png", "jpeg")


@dataclass(frozen=True)
class RenderResult:
    """One rendered memory.

    ``content_width`` x ``content_height`` is the size of the laid-out memory; ``width`` x ``height``
    is what made it into ``image``. ``clipped_px`` is the laid-out content area (pixels) left out of
    the image — by the ``memocr-v1`` viewport, the profile's width or height cap, or content wider
    than the ``memocr-v1`` page — and is 0 when nothing was cut. ``omitted_chars`` counts the
    characters past the profile's layout window, which were never laid out because they could not
    reach the capture (see `RenderProfile`); ``plain_text`` is True when Python-Markdown could not
    convert the memory (nested too deeply, or too slow) and its text was drawn as it is.
    ``seconds`` is the wall time of the render call, waiting for a free page included.
    ``encoded_png`` keeps the browser's own PNG of ``image`` so that asking for PNG bytes does not
    encode the picture a second time; treat ``image`` as read-only.
    """

    image: Image.Image
    width: int
    height: int
    content_width: int
    content_height: int
    clipped_px: int
    seconds: float
    profile: str
    omitted_chars: int = 0
    plain_text: bool = False
    encoded_png: bytes | None = field(default=None, repr=False, compare=False)

    def to_bytes(self, format: ImageFormat | str = "png") -> bytes:
        """The image as PNG or JPEG bytes."""
        if format == "png" and self.encoded_png is not None:
            return self.encoded_png
        return encode_image(self.image, format)

    def metadata(self) -> dict[str, Any]:
        """Everything but the pixels, ready for JSON."""
        return {
            "width": self.width,
            "height": self.height,
            "content_width": self.content_width,
            "content_height": self.content_height,
            "clipped_px": self.clipped_px,
            "omitted_chars": self.omitted_chars,
            "plain_text": self.plain_text,
            "seconds": round(self.seconds, 4),
            "profile": self.profile,
        }


def check_image_format(format: str) -> str:
    if format not in IMAGE_FORMATS:
        raise InputError(f"unknown image format {format!r}; choose one of: {', '.join(IMAGE_FORMATS)}")
    return format


def encode_image(image: Image.Image, format: str) -> bytes:
    """PNG (fast zlib level, the picture is mostly white) or JPEG (quality 90) bytes of ``image``."""
    check_image_format(format)
    buffer = io.BytesIO()
    if format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
