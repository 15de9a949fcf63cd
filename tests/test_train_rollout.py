"""Rollouts run the inference agent: recorded turns, their tags, images, rewards and seeds."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from memocr.agent import MODES
from memocr.data.record import QARecord
from memocr.prompts import SYSTEM_SOURCE_ONLY
from memocr.render import AsyncRenderer
from memocr.train.advantages import ObjectiveWeights
from memocr.train.augment import degrade
from memocr.train.config import TrainConfig
from memocr.train.recording import RecordingModel
from memocr.train.rollout import Rollout, assign_advantages, rollout, rollout_batch
from memocr.train.turns import Turn
from scripted_model import IdModel, ScriptedModel

MEMORY = "# Kelvaford\n\n**Orsa Thelwick** founded Velmora Glassworks in 1871 and was born in Kelvaford."
DOCUMENT = " ".join(f"word{i}" for i in range(30))
RECORD = QARecord("q1", "offline", "Where was the founder born?", ["Kelvaford"], DOCUMENT, 2, 0)


def reply(prompt: str, images: list) -> str:
    if not images:
        return MEMORY
    return "\\boxed{x, y, z}" if "[______]" in prompt else "\\boxed{Kelvaford}"


def config(**changes) -> TrainConfig:
    settings = dict(
        chunk_tokens=15, max_memory_tokens=64, max_answer_tokens=16, budget=64, n=3, profile="full"
    )
    return TrainConfig(**{**settings, **changes})


def run_one(model: IdModel, settings: TrainConfig, seed: int = 7) -> Rollout:
    async def go() -> Rollout:
        async with AsyncRenderer(pages=1) as renderer:
            return await rollout(model, renderer, RECORD, 0, seed, settings)

    return asyncio.run(go())


def test_a_rollout_records_every_call_of_the_agent_and_the_two_training_answers() -> None:
    model = IdModel(reply)
    result = run_one(model, config())
    assert result.error is None
    assert [t.kind for t in result.turns] == ["draft", "draft", "std", "aug_m", "aug_q"]
    assert all(call["sampling"].logprobs and call["sampling"].seed == 7 for call in model.calls)
    assert all(t.group == "q1" and t.sample == 0 and t.engine_logprobs for t in result.turns)
    draft, std, aug_m, aug_q = result.turns[0], result.turns[2], result.turns[3], result.turns[4]
    assert draft.image is None and draft.text == MEMORY
    assert draft.prompt_ids == model.tokenizer.encode(model.calls[0]["prompt"])
    assert std.image.size == aug_m.image.size == aug_q.image.size
    assert result.visual_tokens is not None and result.visual_tokens <= 64
    assert aug_m.image.tobytes() == degrade(std.image).tobytes() != std.image.tobytes()
    assert aug_q.image.tobytes() == std.image.tobytes()  # the cloze is read at the training budget
    assert model.calls[3]["prompt"] == model.calls[2]["prompt"]  # T_augM: the same question
    assert model.calls[4]["prompt"].split("\n\n")[0].count("[______]") == 3  # the cloze passage
    assert result.rewards == {"std": 1.0, "aug_m": 1.0, "aug_q": 0.0}


def test_ablations_drop_the_training_answers_and_the_layout_prompt() -> None:
    model = IdModel(reply)
    result = run_one(model, config(weight_aug_m=0, weight_aug_q=0, layout=False))
    assert [t.kind for t in result.turns] == ["draft", "draft", "std"]
    assert set(result.rewards) == {"std"}
    plain = MODES["visual-plain"].draft_prompt.text.split("{", 1)[0]
    assert model.calls[0]["prompt"].startswith(plain)
    assert "use layout" not in model.calls[0]["prompt"]


def test_the_samples_of_a_group_get_their_own_seeds() -> None:
    model = IdModel(reply)

    async def go() -> list[Rollout]:
        async with AsyncRenderer(pages=1) as renderer:
            return await rollout_batch(model, renderer, [RECORD], config(weight_aug_q=0), step=3)

    results = asyncio.run(go())
    assert [r.sample for r in results] == [0, 1, 2]
    seeds = {call["sampling"].seed for call in model.calls}
    settings = config(weight_aug_q=0)
    assert seeds == {settings.question_seed(3, "q1", k) for k in range(3)} and len(seeds) == 3
    assert settings.question_seed(4, "q1", 0) != settings.question_seed(3, "q1", 0)
    # The one seed rule, as eval derives a question's seed: the same values as before it was shared.
    assert settings.question_seed(3, "q1", 0) == zlib.crc32(b"0:3:q1:0") & 0x7FFFFFFF


def fake(kind: str, group: str) -> Turn:
    return Turn(kind, group, -1, 0, [1], [2])


def test_advantages_reach_each_turn_and_disabled_tasks_are_not_trained() -> None:
    def made(rewards: dict, kinds: list[str]) -> Rollout:
        return Rollout("g", 0, [fake(k, "g") for k in kinds], rewards)

    kinds = ["draft", "draft", "std", "aug_m", "aug_q"]
    good = made({"std": 1.0, "aug_m": 1.0, "aug_q": 0.0}, kinds)
    bad = made({"std": 0.0, "aug_m": 0.0, "aug_q": 0.0}, kinds)
    failed = Rollout("g", 2, error="render: boom")
    turns = assign_advantages([good, bad, failed], ObjectiveWeights(), normalize_std=False)
    assert [t.trajectory for t in turns] == [0] * 5 + [1] * 5
    assert [t.advantage for t in turns[:5]] == pytest.approx([0.425, 0.425, 0.5, 0.35, 0.0])
    only_std = assign_advantages([good, bad], ObjectiveWeights(aug_m=0, aug_q=0), normalize_std=False)
    assert [t.kind for t in only_std] == ["draft", "draft", "std"] * 2


def test_the_recording_wrapper_shows_the_wrapped_models_name_and_suggestions():
    engine = ScriptedModel(lambda prompt, images: "x")
    engine.suggested_settings = {"chunk_tokens": 7}
    engine.suggested_profile = "compact"
    engine.system_prompt = SYSTEM_SOURCE_ONLY
    engine.image_tokens_in_context = False
    recording = RecordingModel(engine)
    assert (
        recording.name,
        dict(recording.suggested_settings),
        recording.suggested_profile,
        recording.system_prompt,
        recording.image_tokens_in_context,
    ) == (engine.name, {"chunk_tokens": 7}, "compact", SYSTEM_SOURCE_ONLY, False)
