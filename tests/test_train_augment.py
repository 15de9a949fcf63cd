"""T_augM degradation: same size and mode, and detail below the factor's block size is gone."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memocr.errors import InputError
from memocr.train.augment import degrade


def checkerboard(width: int, height: int, mode: str = "L") -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.where((x + y) % 2 == 0, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L").convert(mode)


def blocks_uniform(pixels: np.ndarray, size: int) -> bool:
    height, width = pixels.shape[:2]
    for top in range(0, height, size):
        for left in range(0, width, size):
            block = pixels[top : top + size, left : left + size]
            if not (block == block[0, 0]).all():
                return False
    return True


@pytest.mark.parametrize("side", [4, 16, 64, 100])
def test_one_pixel_pattern_becomes_uniform_four_by_four_blocks(side: int) -> None:
    image = checkerboard(side, side)
    out = degrade(image)
    assert out.size == image.size and out.mode == "L"
    pixels = np.asarray(out)
    assert blocks_uniform(pixels, 4)
    assert not blocks_uniform(np.asarray(image), 4)
    # Bilinear averaging turns the black/white pattern grey instead of keeping one of the two colours.
    assert np.abs(pixels.astype(int) - 128).max() < 40


def test_large_text_survives_and_small_text_does_not() -> None:
    image = Image.new("L", (320, 160), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 300, 70), fill=0)  # a heading-sized dark bar
    for x in range(20, 300, 2):  # hairlines two pixels apart, like small body text
        draw.line((x, 100, x, 140), fill=0)
    out = np.asarray(degrade(image))
    assert (out[28:62, 28:292] < 60).all()  # the big shape is still solid
    hairlines = out[104:136, 24:296]
    assert hairlines.max() - hairlines.min() < 60  # alternating lines are one grey


def test_factor_one_keeps_the_image() -> None:
    image = checkerboard(9, 7)
    assert np.array_equal(np.asarray(degrade(image, factor=1)), np.asarray(image))


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 9), (7, 5), (13, 3), (2, 2)])
def test_tiny_and_odd_sizes_keep_their_size(width: int, height: int) -> None:
    image = checkerboard(width, height, "RGB")
    out = degrade(image)
    assert out.size == (width, height) and out.mode == "RGB"
    small_w, small_h = max(1, round(width / 4)), max(1, round(height / 4))
    pixels = np.asarray(out)
    assert len({tuple(row.ravel()) for row in pixels}) <= small_h
    assert len({tuple(col.ravel()) for col in pixels.transpose(1, 0, 2)}) <= small_w


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I", "F"])
def test_mode_is_kept(mode: str) -> None:
    image = checkerboard(24, 12, mode)
    out = degrade(image)
    assert (out.mode, out.size) == (mode, (24, 12))
    assert blocks_uniform(np.asarray(out), 4)


def test_alpha_is_degraded_with_the_colour() -> None:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    pixels = np.asarray(image).copy()
    pixels[::2, :, 3] = 0  # every other row transparent
    out = np.asarray(degrade(Image.fromarray(pixels, "RGBA")))
    assert blocks_uniform(out, 4)
    assert 0 < out[0, 0, 3] < 255


def test_input_is_not_modified() -> None:
    image = checkerboard(16, 16)
    before = np.asarray(image).copy()
    out = degrade(image)
    assert out is not image
    assert np.array_equal(np.asarray(image), before)


@pytest.mark.parametrize("factor", [0, -0.25, 1.5, float("nan"), float("inf")])
def test_bad_factor_is_an_input_error(factor: float) -> None:
    with pytest.raises(InputError):
        degrade(checkerboard(8, 8), factor)
