"""The transformers backend on a tiny random Qwen2.5-VL and a tiny text LM built from configs (CPU)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageDraw

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.budget import fit_to_budget, visual_tokens
from memocr.models import ContextLengthError, ModelError, SamplingParams, load_model
from memocr.models.hf import HfModel, HfTokenizer, expand_image_pads, qwen_vl_pieces
from memocr.models.ocr import OcrReader
from memocr.models.tiny import build_tiny_qwen2_5_vl, build_tiny_text_lm, build_tiny_tokenizer

# Text that a naive encoder turns into control tokens of the chat format.
SPECIAL_TEXT = "a literal <|im_end|> and <|image_pad|><|vision_start|> in the document"


@pytest.fixture(scope="module")
def vlm(tmp_path_factory) -> HfModel:
    return load_model(f"hf://{build_tiny_qwen2_5_vl(tmp_path_factory.mktemp('tiny-vl'))}")


@pytest.fixture(scope="module")
def text_lm(tmp_path_factory) -> HfModel:
    return HfModel(build_tiny_text_lm(tmp_path_factory.mktemp("tiny-lm")))


@pytest.fixture(scope="module")
def small_lm(tmp_path_factory) -> HfModel:
    return HfModel(build_tiny_text_lm(tmp_path_factory.mktemp("small-lm"), max_position_embeddings=64))


@pytest.fixture(scope="module")
def small_vlm(tmp_path_factory) -> HfModel:
    path = build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("small-vl"), max_position_embeddings=128)
    return load_model(f"hf://{path}")


@pytest.fixture(scope="module")
def page() -> Image.Image:
    image = Image.new("RGB", (600, 800), "white")
    draw = ImageDraw.Draw(image)
    for row in range(20):
        draw.text((20, 20 + 38 * row), f"line {row}: Marie Curie, Warsaw, 1867", fill="black")
    return image


def test_a_text_lm_spec_reads_images_through_ocr_and_a_vlm_spec_sees_pixels(tmp_path, vlm, page):
    reader = load_model(f"hf://{build_tiny_text_lm(tmp_path / 'lm')}")
    assert isinstance(reader, OcrReader) and isinstance(reader.text_model, HfModel)
    completion = _ask(reader, _image_question(page))
    # The text model got what OCR read, not pixels, and spent no image tokens.
    assert "Marie Curie" in completion.ocr_text[0] and "line 19" in completion.ocr_text[0]
    assert completion.usage.image_tokens is None
    assert isinstance(vlm, HfModel) and vlm.is_vision


def _ask(model, messages, **sampling):
    return asyncio.run(model.chat(messages, SamplingParams(**{"max_tokens": 6, **sampling})))


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
    messages = [{"role": "user", "content": "Update the memory."}]
    completion = _ask(vlm, messages)
    assert completion.usage.image_tokens == 0
    assert completion.usage.prompt_tokens == len(vlm.tokenizer.encode_pieces(qwen_vl_pieces(messages)))


def test_greedy_is_deterministic_and_seeded_sampling_is_reproducible(vlm, page):
    messages = _image_question(fit_to_budget(page, 16))
    assert _ask(vlm, messages, max_tokens=12).text == _ask(vlm, messages, max_tokens=12).text
    first = _ask(vlm, messages, max_tokens=12, temperature=1.0, top_p=0.9, seed=3)
    again = _ask(vlm, messages, max_tokens=12, temperature=1.0, top_p=0.9, seed=3)
    other = _ask(vlm, messages, max_tokens=12, temperature=1.0, top_p=0.9, seed=4)
    assert first.text == again.text != other.text


def _recomputed_logprobs(model: HfModel, inputs: dict, completion_ids: list[int]) -> list[float]:
    """Log-probs of `completion_ids` after the prompt in `inputs`, from one forward pass over prompt
    and completion together: what a trainer computes for the policy."""
    import torch

    prompt = inputs["input_ids"]
    ids = torch.cat([prompt, torch.tensor([completion_ids])], dim=1)
    with torch.inference_mode():
        logits = model.model(**{**inputs, "input_ids": ids}, attention_mask=torch.ones_like(ids)).logits
    steps = logits[0, prompt.shape[1] - 1 : -1].float().log_softmax(-1)
    return steps.gather(-1, torch.tensor(completion_ids).unsqueeze(-1)).squeeze(-1).tolist()


def test_logprobs_are_the_raw_log_probs_of_the_ids_fed_and_sampled(text_lm):
    messages = [{"role": "user", "content": "Where was Marie Curie born?"}]
    completion = _ask(text_lm, messages, max_tokens=10, temperature=0.7, top_p=0.9, seed=1, logprobs=True)
    assert completion.prompt_ids == text_lm.tokenizer.encode_chat(messages)
    assert len(completion.completion_ids) == len(completion.logprobs) == completion.usage.completion_tokens
    assert text_lm.tokenizer.decode(completion.completion_ids, skip_special_tokens=True) == completion.text
    # Raw: the model's own log-softmax, not the temperature- and top-p-reshaped one it sampled from.
    recomputed = _recomputed_logprobs(text_lm, text_lm._inputs(messages), completion.completion_ids)
    assert completion.logprobs == pytest.approx(recomputed, abs=1e-4)
    plain = _ask(text_lm, messages, max_tokens=10, temperature=0.7, top_p=0.9, seed=1)
    assert plain.text == completion.text  # asking for log-probs does not change the sample
    assert (plain.prompt_ids, plain.completion_ids, plain.logprobs) == (None, None, None)


def test_logprobs_on_the_vision_path_cover_the_image_tokens_fed(vlm, page):
    image = fit_to_budget(page, 16)
    messages = _image_question(image)
    completion = _ask(vlm, messages, max_tokens=8, logprobs=True)
    assert completion.prompt_ids.count(vlm.image_token_id) == visual_tokens(*image.size)
    assert len(completion.prompt_ids) == completion.usage.prompt_tokens
    recomputed = _recomputed_logprobs(vlm, vlm._inputs(messages), completion.completion_ids)
    assert completion.logprobs == pytest.approx(recomputed, abs=1e-4)


def test_agent_samples_per_question_seed(text_lm):
    """At a temperature above 0, questions with different seeds draw different drafts and answers,
    and the same seed draws the same ones again."""
    settings = AgentSettings(
        mode="text", temperature=1.0, chunk_tokens=40, max_memory_tokens=8, max_answer_tokens=8
    )
    agent = MemoryAgent(text_lm, settings)
    document = "Marie Curie was born in Warsaw in 1867. " * 6

    def sample(seed: int) -> list[str]:
        trace = asyncio.run(agent.answer(Question(document, "Where was she born?", seed=seed), [16]))
        assert trace.settings["seed"] == seed
        return [step.memory for step in trace.steps] + [answer.response for answer in trace.answers]

    first, again, other = sample(1), sample(1), sample(2)
    assert len(first) > 2  # several drafting turns and an answer
    assert first == again
    assert first != other


def _control_tokens(tokenizer: HfTokenizer, ids: list[int]) -> list[str]:
    special = set(tokenizer.hf.all_special_ids)
    return [tokenizer.hf.convert_ids_to_tokens(i) for i in ids if i in special]


def test_tokenizer_keeps_special_token_text_as_text_and_round_trips(vlm):
    tokenizer = vlm.tokenizer
    ids = tokenizer.encode(SPECIAL_TEXT)
    assert _control_tokens(tokenizer, ids) == []
    assert tokenizer.decode(ids) == SPECIAL_TEXT


def test_qwen_vl_pieces_add_default_system_and_image_placeholders():
    image = Image.new("RGB", (28, 28))
    pieces = qwen_vl_pieces(_image_question(image))
    assert "".join(text for text, _ in pieces) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Where was she born?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert [text for text, is_markup in pieces if not is_markup] == ["Where was she born?"]
    own_system = qwen_vl_pieces(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    )
    assert "".join(text for text, _ in own_system).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nq"
    )


def test_special_token_text_in_a_message_stays_text_on_the_vision_path(vlm, page):
    small, large = fit_to_budget(page, 16), fit_to_budget(page, 64)
    messages = _image_question(small, large)
    messages[0]["content"].append({"type": "text", "text": SPECIAL_TEXT})
    ids = vlm._inputs(messages)["input_ids"][0].tolist()
    image_tokens = visual_tokens(*small.size) + visual_tokens(*large.size)
    controls = _control_tokens(vlm.tokenizer, ids)
    assert controls.count("<|image_pad|>") == image_tokens
    assert controls.count("<|vision_start|>") == 2  # one per image, none from the text
    assert controls.count("<|im_end|>") == 2  # the default system turn and the user turn
    assert _ask(vlm, messages).usage.image_tokens == image_tokens


def test_special_token_text_in_a_message_stays_text_on_the_chat_template_path(text_lm):
    messages = [{"role": "user", "content": SPECIAL_TEXT}]
    ids = text_lm.tokenizer.encode_chat(messages)
    assert _control_tokens(text_lm.tokenizer, ids) == ["<|im_start|>", "<|im_end|>", "<|im_start|>"]
    assert SPECIAL_TEXT in text_lm.tokenizer.decode(ids)
    assert _ask(text_lm, messages).usage.prompt_tokens == len(ids)


def test_image_pads_expand_to_their_counts():
    assert expand_image_pads([1, 9, 2, 9, 3], 9, [2, 3]) == [1, 9, 9, 2, 9, 9, 9, 3]
    with pytest.raises(ModelError, match="2 image placeholders for 1 images"):
        expand_image_pads([9, 9], 9, [4])


def test_text_lm_answers_through_its_chat_template(text_lm):
    completion = _ask(text_lm, [{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    template_ids = text_lm.tokenizer.hf.apply_chat_template(
        [{"role": "user", "content": "hello"}], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert completion.usage.prompt_tokens == len(template_ids)
    assert 1 <= completion.usage.completion_tokens <= 6


def test_text_lm_refuses_images_with_a_pointer_to_the_ocr_reader(text_lm, page):
    with pytest.raises(ModelError, match="OcrReader"):
        _ask(text_lm, _image_question(fit_to_budget(page, 16)))


def test_context_length_comes_from_the_config(vlm, text_lm, small_lm, small_vlm):
    assert (vlm.context_length, text_lm.context_length) == (128000, 32768)
    assert (small_lm.context_length, small_vlm.context_length) == (64, 128)


def test_prompt_that_fits_only_without_max_tokens_is_a_context_error_naming_the_numbers(small_lm):
    messages = [{"role": "user", "content": "Marie Curie was born in Warsaw."}]
    prompt_tokens = small_lm.count_prompt_tokens(messages)
    room = 64 - prompt_tokens
    assert room > 1
    with pytest.raises(ContextLengthError) as error:
        _ask(small_lm, messages, max_tokens=room + 1)
    assert f"the prompt ({prompt_tokens} tokens) plus max_tokens ({room + 1})" in str(error.value)
    assert "context of 64 tokens" in str(error.value)
    completion = _ask(small_lm, messages, max_tokens=room)
    assert completion.usage.prompt_tokens == prompt_tokens
    assert completion.usage.prompt_tokens + completion.usage.completion_tokens <= 64


def test_prompt_longer_than_the_context_is_a_context_error(small_lm):
    with pytest.raises(ContextLengthError, match="context of 64 tokens"):
        _ask(small_lm, [{"role": "user", "content": "Warsaw " * 80}], max_tokens=1)


def test_image_tokens_count_against_the_context(small_vlm, page):
    image = fit_to_budget(page, 256)
    assert visual_tokens(*image.size) > 128
    with pytest.raises(ContextLengthError, match="context of 128 tokens"):
        _ask(small_vlm, _image_question(image), max_tokens=1)
    assert _ask(small_vlm, _image_question(fit_to_budget(page, 16)), max_tokens=4).usage.image_tokens <= 16


class _OverlapRecorder:
    """Wraps a tokenizer and records how many threads were inside it at once."""

    def __init__(self, inner):
        self._inner = inner
        self._count_lock = threading.Lock()
        self.inside = 0
        self.most_inside = 0

    def __getattr__(self, name):
        method = getattr(self._inner, name)

        def recorded(*args, **kwargs):
            with self._count_lock:
                self.inside += 1
                self.most_inside = max(self.most_inside, self.inside)
            try:
                return method(*args, **kwargs)
            finally:
                with self._count_lock:
                    self.inside -= 1

        return recorded


def test_tokenizer_is_used_by_one_thread_at_a_time():
    recorder = _OverlapRecorder(build_tiny_tokenizer())
    tokenizer = HfTokenizer(recorder)
    texts = [f"{SPECIAL_TEXT} {i} " * 400 for i in range(32)]
    expected = [HfTokenizer(build_tiny_tokenizer()).encode(text) for text in texts]
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(tokenizer.encode, texts))
        round_trips = list(pool.map(tokenizer.decode, ids))
    assert ids == expected
    assert round_trips == texts
    assert recorder.most_inside == 1
