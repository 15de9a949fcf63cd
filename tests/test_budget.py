"""The budget guarantee: a fitted image costs at most B tokens by the model processor's own rounding."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

# The PIL image processor is the one that works without torchvision; its resize rule is the model's.
from transformers.models.qwen2_vl import image_processing_pil_qwen2_vl as pil_processing

from memocr.budget import (
    PIXELS_PER_TOKEN,
    budget_grid,
    fit_to_budget,
    padded_size,
    processor_kwargs,
    smart_resize,
    validate_budget,
    visual_tokens,
)
from memocr.render import FULL

hf_resize = pil_processing.smart_resize

sides = st.integers(min_value=1, max_value=6000)
budgets = st.integers(min_value=1, max_value=16384)
# Every size the renderer can return with its default caps, including images far beyond the processor's
# aspect limit (a narrow list, a one-line table).
rendered_widths = st.integers(min_value=1, max_value=FULL.max_width)
rendered_heights = st.integers(min_value=1, max_value=FULL.max_height)


def accepted(width: int, height: int) -> bool:
    return max(width, height) / min(width, height) <= 200


@st.composite
def rendered_sizes(draw: st.DrawFn) -> tuple[int, int]:
    """(width, height) within the renderer's caps; a third of them above the processor's aspect limit."""
    if draw(st.integers(0, 2)):
        return draw(rendered_widths), draw(rendered_heights)
    if draw(st.booleans()):
        long = draw(st.integers(min_value=201, max_value=FULL.max_height))
        return draw(st.integers(min_value=1, max_value=(long - 1) // 200)), long
    long = draw(st.integers(min_value=201, max_value=FULL.max_width))
    return long, draw(st.integers(min_value=1, max_value=(long - 1) // 200))


def processor_tokens(image: Image.Image) -> int:
    """Tokens the Qwen2-VL PIL image processor spends on ``image`` under the settings we send with it."""
    processor = pil_processing.Qwen2VLImageProcessorPil(**processor_kwargs([image]))
    grid_thw = processor(images=[image], return_tensors="np")["image_grid_thw"][0]
    return int(np.prod(grid_thw)) // 4


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(sides, sides, st.integers(min_value=1, max_value=64), st.integers(min_value=1, max_value=20000))
def test_smart_resize_matches_the_transformers_processor(height, width, min_tokens, max_tokens):
    if not accepted(width, height):
        return
    min_pixels, max_pixels = min_tokens * PIXELS_PER_TOKEN, max_tokens * PIXELS_PER_TOKEN
    assert smart_resize(height, width, min_pixels=min_pixels, max_pixels=max_pixels) == hf_resize(
        height, width, min_pixels=min_pixels, max_pixels=max_pixels
    )
    assert smart_resize(height, width) == hf_resize(height, width)


def test_smart_resize_refuses_what_the_processor_refuses():
    with pytest.raises(ValueError, match="aspect ratio"):
        hf_resize(3000, 10)
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(3000, 10)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(rendered_sizes())
def test_padding_reaches_the_aspect_limit_on_the_short_side_only(size):
    width, height = size
    padded_w, padded_h = padded_size(width, height)
    assert accepted(padded_w, padded_h)
    if accepted(width, height):
        assert (padded_w, padded_h) == (width, height)
    elif width < height:
        # Only the width grows, and by no more than needed: one pixel less is still refused.
        assert padded_h == height and padded_w > width and not accepted(padded_w - 1, height)
    else:
        assert padded_w == width and padded_h > height and not accepted(width, padded_h - 1)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(rendered_sizes())
def test_every_rendered_size_costs_what_its_padded_image_costs(size):
    width, height = size
    padded_w, padded_h = padded_size(width, height)
    proc_h, proc_w = hf_resize(padded_h, padded_w, min_pixels=PIXELS_PER_TOKEN, max_pixels=16384 * 784)
    assert visual_tokens(width, height) == (proc_h // 28) * (proc_w // 28) >= 1


@pytest.mark.slow
@settings(max_examples=5000, deadline=None)
@given(rendered_sizes(), budgets)
def test_fitted_size_never_exceeds_the_budget_by_the_processors_rounding(size, budget):
    width, height = size
    grid = budget_grid(width, height, budget)
    fitted_w, fitted_h = grid.size
    assert fitted_w % 28 == 0 and fitted_h % 28 == 0
    kwargs = processor_kwargs([Image.new("RGB", (fitted_w, fitted_h))])
    # What the model's processor does with the image we send, under the settings we send; it raises
    # for an aspect ratio it refuses.
    proc_h, proc_w = hf_resize(fitted_h, fitted_w, **kwargs)
    assert (proc_h, proc_w) == (fitted_h, fitted_w)
    assert (proc_h // 28) * (proc_w // 28) == grid.tokens <= budget
    assert visual_tokens(fitted_w, fitted_h) == grid.tokens


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(rendered_sizes(), budgets)
def test_never_enlarged_beyond_the_processors_own_size(size, budget):
    padded_w, padded_h = padded_size(*size)
    native_h, native_w = hf_resize(padded_h, padded_w, min_pixels=PIXELS_PER_TOKEN, max_pixels=16384 * 784)
    fitted_w, fitted_h = budget_grid(*size, budget).size
    assert fitted_w <= native_w and fitted_h <= native_h


@pytest.mark.slow
@settings(max_examples=2000, deadline=None)
@given(rendered_sizes(), budgets)
def test_aspect_of_the_padded_image_kept_within_one_cell(size, budget):
    width, height = padded_size(*size)
    grid = budget_grid(*size, budget)
    # Some scale puts each side within one 28-px cell of the exactly scaled side.
    low = max((grid.rows - 1) * 28 / height, (grid.cols - 1) * 28 / width)
    high = min((grid.rows + 1) * 28 / height, (grid.cols + 1) * 28 / width)
    assert low < high


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(rendered_sizes(), st.sampled_from([1, 2, 16, 64, 1024, 16384]))
def test_fitted_images_pass_the_pil_image_processor_within_the_budget(size, budget):
    fitted = fit_to_budget(Image.new("RGB", size, (30, 30, 30)), budget)
    assert fitted.size == budget_grid(*size, budget).size
    assert processor_tokens(fitted) == visual_tokens(*fitted.size) <= budget


def test_images_larger_than_the_budget_use_at_least_90_percent_of_it_on_average():
    rng = random.Random(0)
    for budget in (1024, 512, 256, 64, 16, 8):
        ratios = []
        while len(ratios) < 2000:
            width, height = rng.randint(28, 4000), rng.randint(28, 8000)
            if not accepted(width, height) or visual_tokens(width, height) <= budget:
                continue
            ratios.append(budget_grid(width, height, budget).tokens / budget)
        assert np.mean(ratios) >= 0.9, (budget, np.mean(ratios))


def test_budgets_down_to_one_token_work():
    image = Image.new("RGB", (1152, 656), "white")
    for budget in (8, 4, 2, 1):
        fitted = fit_to_budget(image, budget)
        assert visual_tokens(*fitted.size) <= budget
    assert fit_to_budget(image, 1).size == (28, 28)


def test_released_geometry_worked_examples():
    # The maximal memocr-v1 image at the main table's budgets.
    assert budget_grid(1152, 656, 1024).size == (1148, 644)  # native: 41 x 23 = 943 tokens
    assert budget_grid(1152, 656, 1024).tokens == 943
    assert budget_grid(1152, 656, 16).tokens == 15
    assert 240 <= budget_grid(1152, 656, 256).tokens <= 256
    assert 58 <= budget_grid(1152, 656, 64).tokens <= 64


def test_small_image_keeps_its_size_and_content():
    image = Image.new("RGB", (280, 140), "white")
    image.putpixel((10, 10), (255, 0, 0))
    fitted = fit_to_budget(image, 1024)
    assert fitted.size == (280, 140)
    assert fitted.getpixel((10, 10)) == (255, 0, 0)
    assert fitted is not image


def test_fit_to_budget_resizes_to_the_grid():
    image = Image.new("RGB", (1000, 3000), "white")
    fitted = fit_to_budget(image, 64)
    assert fitted.size == budget_grid(1000, 3000, 64).size
    assert visual_tokens(*fitted.size) <= 64


def test_pil_image_processor_counts_the_same_tokens():
    image = Image.new("RGB", (1152, 656), "white")
    for budget in (1024, 256, 64, 16, 1):
        fitted = fit_to_budget(image, budget)
        assert processor_tokens(fitted) == visual_tokens(*fitted.size) <= budget


@pytest.mark.parametrize("bad", [0, -3, 2.5, "16", None, True])
def test_invalid_budgets_are_refused_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="budget"):
        validate_budget(bad)
    with pytest.raises(ValueError, match="budget"):
        fit_to_budget(Image.new("RGB", (100, 100)), bad)


def test_an_image_beyond_the_aspect_limit_is_padded_with_white_on_its_short_side():
    # A narrow, tall render (a long list of one-letter items): 10 x 3000 px, aspect 300.
    image = Image.new("RGB", (10, 3000), (0, 0, 0))
    assert padded_size(10, 3000) == (15, 3000)
    assert visual_tokens(10, 3000) == visual_tokens(15, 3000) == 107
    fitted = fit_to_budget(image, 1024)
    assert fitted.size == (28, 2996) and processor_tokens(fitted) == 107
    pixels = np.asarray(fitted.convert("L"), dtype=int)
    # The content keeps the left two thirds of the width; the padding on the right is white.
    assert pixels[100:-100, :12].mean() < 40 and pixels[100:-100, -6:].mean() > 200


def test_tiny_images_reach_the_processors_minimum_and_stay_in_budget():
    for size in ((1, 1), (5, 3), (1, 2304), (2304, 1)):
        for budget in (1, 2, 16):
            fitted = fit_to_budget(Image.new("RGB", size, "black"), budget)
            assert min(fitted.size) >= 28 and processor_tokens(fitted) <= budget
