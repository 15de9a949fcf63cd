"""A text-only policy trained on an image memory: the picture is read by OCR, a step of the environment.

The rollouts render the drafted Markdown, fit it to the training budget and read it through the OCR
reader inference uses; the policy answers from the text read. T_augM reads the degraded picture the
same way, so only large text (a heading) survives it; T_augQ's cloze is asked about the same picture.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from PIL import Image, ImageDraw

from memocr.data.record import QARecord
from memocr.models import ocr
from memocr.models.ocr import OCR_CLOSE, OCR_OPEN, OcrReader
from memocr.models.tiny import build_tiny_text_lm
from memocr.render import AsyncRenderer
from memocr.train.config import TrainConfig
from memocr.train.loop import train
from memocr.train.rollout import Rollout, rollout
from scripted_model import IdModel

HEADING_MEMORY = "# Kelvaford\n\nOrsa Thelwick founded Velmora Glassworks in 1871 and was born in Kelvaford."
BODY_MEMORY = "Orsa Thelwick founded Velmora Glassworks in 1871 and was born in Kelvaford."
DOCUMENT = " ".join(f"word{i}" for i in range(30))
RECORD = QARecord("q1", "offline", "Where was the founder born?", ["Kelvaford"], DOCUMENT, 2, 0)


def read_text(prompt: str) -> str | None:
    """The OCR block of a prompt (None for a drafting prompt, which has none)."""
    if OCR_OPEN not in prompt:
        return None
    return prompt.split(OCR_OPEN, 1)[1].split(OCR_CLOSE, 1)[0]


def scripted(memory: str):
    """Drafts ``memory``; answers "Kelvaford" only when OCR read that word from the picture."""

    def reply(prompt: str, images: list) -> str:
        assert not images  # the policy never sees pixels, only what OCR read
        seen = read_text(prompt)
        if seen is None:
            return memory
        if "[______]" in prompt:
            return "\\boxed{x, y, z}"
        return "\\boxed{Kelvaford}" if "Kelvaford" in seen else "\\boxed{unknown}"

    return reply


def config(**changes) -> TrainConfig:
    settings = dict(
        chunk_tokens=15, max_memory_tokens=64, max_answer_tokens=16, budget=64, n=2, profile="full"
    )  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def run(memory: str, settings: TrainConfig) -> tuple[IdModel, Rollout]:
    model = IdModel(scripted(memory))

    async def go() -> Rollout:
        async with AsyncRenderer(pages=1) as renderer:
            return await rollout(model, renderer, RECORD, 0, 7, settings, ocr=True)

    return model, asyncio.run(go())


@pytest.mark.slow
@pytest.mark.chromium
def test_a_text_policy_answers_every_objective_from_what_ocr_read() -> None:
    model, result = run(HEADING_MEMORY, config())
    assert result.error is None
    assert [t.kind for t in result.turns] == ["draft", "draft", "std", "aug_m", "aug_q"]
    # Every turn is a text turn of the policy: no pixels reach the trainer.
    assert all(t.image is None for t in result.turns)
    assert all(call["images"] == [] for call in model.calls)
    std, aug_m, aug_q = (read_text(call["prompt"]) for call in model.calls[2:])
    assert "Kelvaford" in std and "Orsa Thelwick" in std  # the budgeted picture: all of it is legible
    assert "Kelvaford" in aug_m and "Orsa" not in aug_m  # the degraded one: the heading alone
    assert aug_q == std  # the cloze is asked about the same picture (read once)
    # The recorded prompt ids are the text the policy was given, OCR text included.
    assert result.turns[2].prompt_ids == model.tokenizer.encode(model.calls[2]["prompt"])
    assert result.visual_tokens is not None and result.visual_tokens <= 64
    assert result.rewards == {"std": 1.0, "aug_m": 1.0, "aug_q": 0.0}


@pytest.mark.slow
@pytest.mark.chromium
def test_t_aug_m_rewards_only_a_memory_whose_answer_is_in_a_heading() -> None:
    _, result = run(BODY_MEMORY, config(weight_aug_q=0))
    assert [t.kind for t in result.turns] == ["draft", "draft", "std", "aug_m"]
    assert result.rewards == {"std": 1.0, "aug_m": 0.0}  # body text does not survive the degradation


def test_a_reader_that_reuses_reads_ocrs_each_picture_once(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []

    def counted(image: Image.Image) -> tuple[str, float]:
        calls.append(image.size)
        return f"text {len(calls)}", 0.5

    monkeypatch.setattr(ocr, "_read_timed", counted)
    monkeypatch.setattr(ocr, "_READ", type(ocr._READ)())
    white = Image.new("RGB", (40, 20), "white")
    marked = white.copy()
    ImageDraw.Draw(marked).point((3, 3), fill="black")
    assert ocr._read_reused(white) == ("text 1", 0.5)
    assert ocr._read_reused(white.copy()) == ("text 1", 0.0)  # the same pixels: not read again
    assert ocr._read_reused(marked) == ("text 2", 0.5)  # one pixel differs: read
    assert len(calls) == 2
    message = [{"role": "user", "content": [{"type": "image", "image": white}]}]
    text_model = IdModel(lambda prompt, images: "ok")
    from memocr.models.base import SamplingParams

    asyncio.run(OcrReader(text_model).chat(message, SamplingParams(max_tokens=4)))
    assert len(calls) == 3  # the default reader reads every picture, as inference always has


@pytest.fixture(scope="module")
def text_lm(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_text_lm(tmp_path_factory.mktemp("tiny-lm") / "model")


@pytest.mark.slow
@pytest.mark.chromium
def test_a_step_trains_a_text_policy_on_its_rendered_memory(text_lm, tmp_path) -> None:
    settings = dict(
        model=str(text_lm), data="offline", offline_docs=4, offline_questions=4, memory="image",
        reward="f1", engine="local", local_batch=4, n=2, batch_questions=1, mini_batch_questions=1,
        budget=16, chunk_tokens=1200, max_memory_tokens=16, max_answer_tokens=8, profile="full",
        concurrency=2, lr=1e-3, warmup_steps=0, max_steps=1, save_every=1, out=tmp_path,
    )  # fmt: skip
    (row,) = train(TrainConfig(**settings)).metrics
    assert row["rollouts/finished"] == 2 and row["turns/untrainable"] == 0
    # Both rollouts trained a drafting turn and the three answers (a cloze when the memory had words).
    assert row["turns/draft"] == row["turns/std"] == row["turns/aug_m"] == 2
    assert row["turns/aug_q"] + row["rollouts/no_cloze"] == 2
    assert row["visual_tokens"] <= 16 and math.isfinite(row["loss"])
    assert row["engine_logprob_gap"] < 1e-3  # the text the policy was given is the text it is scored on
    # The trainer hands freed memory back after every step and logs the step's peak.
    assert 0 < row["memory/resident_gib"] <= row["memory/peak_gib"]
