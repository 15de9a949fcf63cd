"""The embedded default: SmolLM2 on llama.cpp, and the OCR reader that stands in for a VLM."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image, ImageDraw, ImageFont

from memocr.budget import fit_to_budget
from memocr.models import ChatModel, Completion, ModelError, OcrReader, Usage, load_model
from memocr.models.llamacpp import LlamaCpp, embedded_gguf_path
from memocr.models.ocr import OCR_CLOSE, OCR_OPEN, _reading_order, read_image

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@pytest.fixture(scope="module")
def embedded() -> OcrReader:
    """The embedded default on one thread: llama.cpp's decode collapses when its threads share the
    cores with other busy processes (as on a shared test machine); one thread stays steady."""
    model = load_model("embedded?n_threads=1")
    yield model
    asyncio.run(model.aclose())


@pytest.fixture(scope="module")
def page() -> Image.Image:
    """A memory-like page: large bold lines of text on white."""
    image = Image.new("RGB", (640, 240), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 40)
    draw.text((20, 20), "Marie Curie", font=font, fill="black")
    draw.text((20, 90), "born in Warsaw", font=font, fill="black")
    draw.text((20, 160), "in 1867", font=font, fill="black")
    return image


class RecordingModel(ChatModel):
    """A text model that remembers what it was asked and answers a fixed string."""

    name = "recording"

    def __init__(self):
        self.calls: list[list[dict]] = []

    @property
    def tokenizer(self):
        raise NotImplementedError

    async def chat(self, messages, *, max_tokens, temperature=0.0, top_p=1.0, seed=None) -> Completion:
        self.calls.append(messages)
        return Completion(
            text="Warsaw", usage=Usage(prompt_tokens=10, completion_tokens=1, image_tokens=0), seconds=0
        )


def test_embedded_is_smollm2_behind_the_ocr_reader(embedded):
    assert isinstance(embedded, OcrReader)
    assert isinstance(embedded.text_model, LlamaCpp)
    assert embedded.name == "embedded?n_threads=1"
    assert embedded_gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_smollm2_answers_a_trivial_question(embedded):
    question = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    completion = asyncio.run(embedded.chat(question, max_tokens=16))
    assert "Paris" in completion.text
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 16
    assert completion.usage.image_tokens == 0
    assert completion.prefill_seconds is not None and completion.decode_seconds is not None
    assert completion.ocr_text is None


def test_concurrent_requests_are_served_one_after_the_other(embedded):
    async def both():
        question = [{"role": "user", "content": "Say yes."}]
        return await asyncio.gather(*(embedded.chat(question, max_tokens=3, seed=1) for _ in range(2)))

    assert all(c.usage.completion_tokens > 0 for c in asyncio.run(both()))


def test_tokenizer_round_trips_text_and_ignores_special_token_text(embedded):
    tokenizer = embedded.tokenizer
    text = "Marie Curie <|im_start|> was born in Warsaw."
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids[:2]) + tokenizer.decode(ids[2:]) == text
    assert 1 not in ids  # <|im_start|> is id 1 in SmolLM2; here it is read as plain text


def test_prompt_longer_than_the_context_is_a_clear_error():
    path = embedded_gguf_path()
    model = load_model(f"gguf://{path}?n_ctx=128&n_threads=1")
    with pytest.raises(ModelError, match="context"):
        asyncio.run(model.chat([{"role": "user", "content": "word " * 300}], max_tokens=4))


def test_text_model_refuses_images_and_points_to_the_ocr_reader(embedded, page):
    message = {"role": "user", "content": [{"type": "image", "image": page}]}
    with pytest.raises(ModelError, match="OcrReader"):
        asyncio.run(embedded.text_model.chat([message], max_tokens=4))


def test_ocr_reads_large_text_in_reading_order(page):
    assert read_image(page).splitlines() == ["Marie Curie", "born in Warsaw", "in 1867"]


def test_ocr_reads_nothing_useful_from_a_tiny_image(page):
    tiny = fit_to_budget(page, 2)
    assert "Warsaw" not in read_image(tiny)


def test_reader_puts_the_read_text_into_the_text_models_prompt(page):
    text_model = RecordingModel()
    reader = OcrReader(text_model)
    question = [
        {"role": "system", "content": "Answer from the memory."},
        {"role": "user", "content": [{"type": "image", "image": page}, {"type": "text", "text": "Where?"}]},
    ]
    completion = asyncio.run(reader.chat(question, max_tokens=8))
    (asked,) = text_model.calls
    assert asked[0] == {"role": "system", "content": "Answer from the memory."}
    read_part, question_part = asked[1]["content"]
    assert read_part["text"].startswith(OCR_OPEN) and OCR_CLOSE in read_part["text"]
    assert "born in Warsaw" in read_part["text"]
    assert question_part == {"type": "text", "text": "Where?"}
    assert completion.ocr_text == ["Marie Curie\nborn in Warsaw\nin 1867"]
    assert completion.ocr_seconds > 0
    assert completion.usage.image_tokens is None
    assert completion.text == "Warsaw"


def test_embedded_answers_from_an_image(embedded, page):
    question = [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": page},
                {"type": "text", "text": "Where was Marie Curie born? Answer in one word."},
            ],
        }
    ]
    completion = asyncio.run(embedded.chat(question, max_tokens=16))
    assert completion.ocr_text and "Warsaw" in completion.ocr_text[0]
    assert completion.usage.completion_tokens > 0


def test_reading_order_groups_boxes_into_lines():
    def box(x, y, w=40, h=20):
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]

    boxes = [box(200, 52), box(10, 50), box(10, 10), box(120, 12)]
    assert _reading_order(boxes, ("d", "c", "a", "b")) == ["a b", "c d"]
