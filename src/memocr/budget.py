"""Qwen2.5-VL visual-token math: the only module that knows a token is a 28x28-pixel cell.

Qwen2.5-VL cuts an image into 14-px patches and merges 2x2 of them into one language-model token, so
an image of ``h x w`` pixels (both multiples of 28) costs ``(h / 28) * (w / 28)`` tokens. Before that
the processor resizes every image with :func:`smart_resize`. We fit images ourselves to sizes the
processor leaves untouched, and tell it so with :func:`processor_kwargs`, so that the tokens the model
spends are exactly the tokens we counted.

The processor refuses images more than 200 times longer than wide (or wider than tall). Such an image
is padded first, one rule everywhere (:func:`padded_size`): white, the page background, is added on
its short side (right of a tall image, below a wide one) until the long side is at most 200 times the
short side. So every positive size has a cost (:func:`visual_tokens`: what the padded image costs) and
:func:`fit_to_budget` returns an image the processor accepts for every size and budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from memocr.errors import InputError

PATCH_PX = 28
PIXELS_PER_TOKEN = PATCH_PX * PATCH_PX
MAX_ASPECT_RATIO = 200
# Qwen2.5-VL's own ceiling (16,384 tokens); images are never sent larger than this.
DEFAULT_MAX_PIXELS = 16384 * PIXELS_PER_TOKEN


def validate_budget(budget: object) -> int:
    """Return ``budget`` as an int, or raise an InputError that says what a budget must be."""
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise InputError(f"a budget is a whole number of visual tokens (>= 1), got {budget!r}")
    if budget < 1:
        raise InputError(f"a budget must be at least 1 visual token, got {budget}")
    return budget


def smart_resize(
    height: int,
    width: int,
    factor: int = PATCH_PX,
    min_pixels: int = 56 * 56,
    max_pixels: int = 14 * 14 * 4 * 1280,
) -> tuple[int, int]:
    """The Qwen2-VL / Qwen2.5-VL processor's resize rule, reproduced exactly (defaults included).

    Both sides are rounded to multiples of ``factor``; if the area leaves ``[min_pixels, max_pixels]``
    the image is scaled, aspect kept, and rounded towards the range. Returns ``(height, width)``.
    """
    if min(height, width) <= 0:
        raise InputError(f"image sides must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise InputError(
            f"aspect ratio {max(height, width) / min(height, width):.1f} is above the processor's "
            f"limit of {MAX_ASPECT_RATIO}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def padded_size(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` after the padding rule: the short side grows to ``ceil(long / 200)`` when
    the aspect ratio is above 200, otherwise the size is unchanged."""
    if min(width, height) <= 0:
        raise InputError(f"image sides must be positive, got {width}x{height}")
    shortest = math.ceil(max(width, height) / MAX_ASPECT_RATIO)
    if width < shortest:
        return shortest, height
    if height < shortest:
        return width, shortest
    return width, height


def pad_to_processor_aspect(image: Image.Image) -> Image.Image:
    """``image`` on a white canvas of :func:`padded_size` (top-left aligned); the image itself when it
    needs no padding."""
    size = padded_size(image.width, image.height)
    if size == image.size:
        return image
    canvas = Image.new(image.mode, size, "white")
    canvas.paste(image, (0, 0))
    return canvas


def visual_tokens(
    width: int,
    height: int,
    *,
    min_pixels: int = PIXELS_PER_TOKEN,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> int:
    """Tokens the model spends on a ``width x height`` image, by the processor's own rounding; an image
    above the processor's aspect limit costs what its padded size (:func:`padded_size`) costs.

    The defaults are the processor settings :func:`processor_kwargs` sends for images up to the
    model's ceiling; pass others to cost an image under a different server configuration.
    """
    width, height = padded_size(width, height)
    h_bar, w_bar = smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels)
    return (h_bar // PATCH_PX) * (w_bar // PATCH_PX)


@dataclass(frozen=True)
class TokenGrid:
    """An image size in 28-px cells: ``rows * cols`` visual tokens."""

    rows: int
    cols: int

    @property
    def tokens(self) -> int:
        return self.rows * self.cols

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels, PIL's order."""
        return self.cols * PATCH_PX, self.rows * PATCH_PX


def budget_grid(width: int, height: int, budget: int) -> TokenGrid:
    """The largest cell grid of at most ``budget`` tokens that keeps the image's aspect.

    "Keeps the aspect" means there is one scale factor that puts each side within one cell of the
    exact scaled side, the same tolerance the processor's own rounding has. Among the grids that
    qualify we take the most tokens, then the least aspect distortion. Images already within the
    budget keep the size the processor would give them (never enlarged past its minimum). Sizes are
    those of the padded image (:func:`padded_size`).
    """
    budget = validate_budget(budget)
    width, height = padded_size(width, height)
    native_h, native_w = smart_resize(
        height, width, min_pixels=PIXELS_PER_TOKEN, max_pixels=DEFAULT_MAX_PIXELS
    )
    native = TokenGrid(native_h // PATCH_PX, native_w // PATCH_PX)
    if native.tokens <= budget and _processor_accepts(native):
        return native

    aspect = width / height
    best: TokenGrid | None = None
    best_key: tuple[int, float] | None = None
    for rows in range(1, min(budget, native.rows) + 1):
        lowest_cols = (rows - 1) * aspect - 1  # exclusive bounds of the one-cell tolerance
        highest_cols = (rows + 1) * aspect + 1
        # The fitted image is checked again by the processor, so its own aspect must stay acceptable.
        cols = min(native.cols, budget // rows, math.ceil(highest_cols) - 1, MAX_ASPECT_RATIO * rows)
        if cols < 1 or cols <= lowest_cols or rows > MAX_ASPECT_RATIO * cols:
            if lowest_cols >= budget / rows:
                break  # taller grids only need more columns than the budget allows
            continue
        key = (rows * cols, -abs(math.log(cols / rows / aspect)))
        if best_key is None or key > best_key:
            best, best_key = TokenGrid(rows, cols), key
    assert best is not None, "a padded image always has a grid: 1x1 qualifies for aspect ratios <= 200"
    return best


def _processor_accepts(grid: TokenGrid) -> bool:
    return max(grid.rows, grid.cols) <= MAX_ASPECT_RATIO * min(grid.rows, grid.cols)


def fit_to_budget(image: Image.Image, budget: int) -> Image.Image:
    """Shrink ``image`` so that it costs at most ``budget`` visual tokens; aspect kept, never enlarged
    beyond the processor's minimum, padded first if the processor would refuse its aspect ratio. The
    result's sides are multiples of 28, so the processor (given :func:`processor_kwargs`) leaves it as
    it is and spends exactly ``visual_tokens(*result.size)``.
    """
    grid = budget_grid(image.width, image.height, budget)
    if grid.size == image.size:
        return image.copy()
    return pad_to_processor_aspect(image).resize(grid.size, Image.Resampling.LANCZOS)


def processor_kwargs(images: Sequence[Image.Image]) -> dict[str, int]:
    """Processor settings (``min_pixels``/``max_pixels``) under which fitted images stay as they are.

    Sent per request (vLLM reads them from ``mm_processor_kwargs``; its top-level fields are ignored)
    and used by the local transformers backend, so budgets down to a single token hold.
    """
    largest = max((image.width * image.height for image in images), default=PIXELS_PER_TOKEN)
    return {"min_pixels": PIXELS_PER_TOKEN, "max_pixels": max(largest, PIXELS_PER_TOKEN)}
