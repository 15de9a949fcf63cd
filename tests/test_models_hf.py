"""The transformers backend on a tiny random Qwen2.5-VL and a tiny text LM built from configs (CPU)."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image, ImageDraw

from memocr.budget import fit_to_budget, visual_tokens
from memocr.models import ModelError, load_model
from memocr.models.hf import HfModel, expand_image_pads, qwen_vl_prompt
from tiny_models import build_tiny_qwen2_5_vl, build_tiny_text_lm


@pytest.fixture(scope="module")
def vlm(tmp_path_factory) -> HfModel:
    return load_model(f"hf://{build_tiny_qwen2_5_vl(tmp_path_factory.mktemp('tiny-vl'))}")


@pytest.fixture(scope="module")
def text_lm(tmp_path_factory) -> HfModel:
    return load_model(f"hf://{build_tiny_text_lm(tmp_path_factory.mktemp('tiny-lm'))}")


@pytest.fixture(scope="module")
def page() -> Image.Image:
    image = Image.new("RGB", (600, 800), "white")
    draw = ImageDraw.Draw(image)
    for row in range(20):
        draw.text((20, 20 + 38 * row), f"line {row}: Marie Curie, Warsaw, 1867", fill="black")
    return image


def _ask(model, messages, **sampling):
    return asyncio.run(model.chat(messages, max_tokens=sampling.pop("max_tokens", 6), **sampling))


def _image_question(*images: Image.Image) -> list[dict]:
    parts = [{"type": "image", "image": image} for image in images]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": "Where was she born?"}]}]


@pytest.mark.parametrize("budget", [1, 16, 64, 256])
def test_image_tokens_are_exact_and_within_budget(vlm, page, budget):
    image = fit_to_budget(page, budget)
    completion = _ask(vlm, _image_question(image))
    assert completion.usage.image_tokens == visual_tokens(*image.size)
    assert completion.usage.image_tokens <= budget
    assert completion.usage.prompt_tokens > completion.usage.image_tokens
    assert 1 <= completion.usage.completion_tokens <= 6


def test_several_images_each_cost_their_own_tokens(vlm, page):
    small, large = fit_to_budget(page, 16), fit_to_budget(page, 64)
    completion = _ask(vlm, _image_question(small, large))
    assert completion.usage.image_tokens == visual_tokens(*small.size) + visual_tokens(*large.size)


def test_text_only_turn_on_a_vlm_costs_no_image_tokens(vlm):
    completion = _ask(vlm, [{"role": "user", "content": "Update the memory."}])
    assert completion.usage.image_tokens == 0
    assert isinstance(completion.text, str)


def test_greedy_is_deterministic_and_seeded_sampling_is_reproducible(vlm, page):
    messages = _image_question(fit_to_budget(page, 16))
    assert _ask(vlm, messages, max_tokens=12).text == _ask(vlm, messages, max_tokens=12).text
    first = _ask(vlm, messages, max_tokens=12, temperature=1.0, top_p=0.9, seed=3)
    again = _ask(vlm, messages, max_tokens=12, temperature=1.0, top_p=0.9, seed=3)
    assert first.text == again.text


def test_tokenizer_adds_no_special_tokens_and_round_trips(vlm):
    tokenizer = vlm.tokenizer
    ids = tokenizer.encode("Marie Curie was born in Warsaw.")
    assert tokenizer.hf.convert_tokens_to_ids("<|im_start|>") not in ids
    assert tokenizer.decode(ids) == "Marie Curie was born in Warsaw."


def test_qwen_vl_prompt_adds_default_system_and_image_placeholders():
    image = Image.new("RGB", (28, 28))
    prompt = qwen_vl_prompt(_image_question(image))
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Where was she born?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    own_system = qwen_vl_prompt(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    )
    assert own_system.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nq")


def test_image_pads_expand_to_their_counts():
    assert expand_image_pads([1, 9, 2, 9, 3], 9, [2, 3]) == [1, 9, 9, 2, 9, 9, 9, 3]
    with pytest.raises(ModelError, match="2 image placeholders for 1 images"):
        expand_image_pads([9, 9], 9, [4])


def test_text_lm_answers_through_its_chat_template(text_lm):
    completion = _ask(text_lm, [{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    assert completion.usage.image_tokens == 0
    assert completion.usage.prompt_tokens > 0
    assert 1 <= completion.usage.completion_tokens <= 6


def test_text_lm_refuses_images_with_a_pointer_to_the_ocr_reader(text_lm, page):
    with pytest.raises(ModelError, match="OcrReader"):
        _ask(text_lm, _image_question(fit_to_budget(page, 16)))
