"""T_augM: the memory image with its fine detail destroyed, as if it had been given a quarter of the budget.

The answer turn of T_augM sees the same question and the same picture size as T_std, but the picture is
first shrunk to ``factor`` of each side (bilinear, so small text is averaged away) and blown back up
with nearest neighbour (so it stays blocky rather than smoothly blurred). With the default 0.25 each
4x4 block of pixels carries one value: 16 times less information at the same token cost, which is what
a low budget does to the memory. Text that survives this is text that is large on the page, so the
reward pushes crucial facts into headings. (The released code also scaled the processor's pixel limits
by 0.25, after the inputs were built, so that had no effect; only the resampling is reproduced.)
"""

from __future__ import annotations

import math

from PIL import Image

from memocr.errors import InputError


def degrade(image: Image.Image, factor: float = 0.25) -> Image.Image:
    """``image`` resampled to ``factor`` of each side (at least 1 px, BILINEAR) and back to its own size
    (NEAREST): same size, same mode, a new image.

    PIL itself resamples ``"1"`` and ``"P"`` images with nearest neighbour whatever the filter, so for
    those both steps are nearest neighbour (still blocky, without the averaging).
    """
    if not (isinstance(factor, int | float) and math.isfinite(factor) and 0 < factor <= 1):
        raise InputError(f"the degradation factor must be in (0, 1], got {factor!r}")
    width, height = image.size
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    shrunk = image.resize(small, Image.Resampling.BILINEAR)
    return shrunk.resize((width, height), Image.Resampling.NEAREST)
