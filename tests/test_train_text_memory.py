"""A text-memory run (MemAgent-style, ``memory: text``), the F1 reward, and the trainer's after-step hook."""

from __future__ import annotations

import asyncio
import math

import pytest
import torch

from memocr.data.record import QARecord
from memocr.errors import ConfigError, InputError
from memocr.models.tiny import build_tiny_qwen2_5_vl
from memocr.train.batched import BatchedGeneration
from memocr.train.config import TrainConfig
from memocr.train.loop import StepView, train
from memocr.train.rewards import ANSWER_REWARDS, f1_reward
from memocr.train.rollout import Rollout, rollout
from scripted_model import IdModel

MEMORY = "Orsa Thelwick founded Velmora Glassworks in 1871 and was born in Kelvaford."
DOCUMENT = " ".join(f"word{i}" for i in range(30))
RECORD = QARecord("q1", "offline", "Where was the founder born?", ["Kelvaford"], DOCUMENT, 2, 0)


def reply(prompt: str, images: list) -> str:
    assert not images
    return "The answer is: Kelvaford." if "Your answer:" in prompt else MEMORY


def text_config(**changes) -> TrainConfig:
    settings = dict(
        memory="text", weight_aug_m=0, weight_aug_q=0, chunk_tokens=15, max_memory_tokens=64,
        max_answer_tokens=16, budget=64, n=3,
    )  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def run_one(settings: TrainConfig) -> tuple[IdModel, Rollout]:
    model = IdModel(reply)
    return model, asyncio.run(rollout(model, None, RECORD, 0, 7, settings))


def test_a_text_memory_rollout_drafts_then_answers_from_the_memory_as_text() -> None:
    model, result = run_one(text_config())
    assert result.error is None
    assert [t.kind for t in result.turns] == ["draft", "draft", "std"]  # two chunks, then the answer
    assert all(t.image is None for t in result.turns) and result.visual_tokens is None
    assert MEMORY in model.calls[2]["prompt"]  # the answer turn reads the memory's text
    # The released reward wants a box; this reply has none.
    assert result.rewards == {"std": 0.0}


def test_the_f1_reward_credits_a_stated_answer() -> None:
    _, result = run_one(text_config(reward="f1"))
    assert result.rewards == {"std": 1.0}


def test_a_text_memory_trains_t_std_only_and_says_which_flags_to_pass() -> None:
    assert text_config().mode == "text"
    assert TrainConfig(layout=False).mode == "visual-plain"
    with pytest.raises(ConfigError, match="--weight-aug-m 0 --weight-aug-q 0"):
        TrainConfig(memory="text")
    with pytest.raises(ConfigError, match="--weight-aug-m 0"):
        TrainConfig(memory="text", weight_aug_m=0)
    with pytest.raises(ConfigError, match="reward"):
        TrainConfig(reward="lenient")
    with pytest.raises(ConfigError, match="local_batch"):
        TrainConfig(local_batch=0)
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("The answer is: Kelvaford.", 1.0),
        ("\\boxed{Kelvaford}", 1.0),
        ("\\boxed{\\text{Kelvaford}}", 1.0),
        ("He was born in Kelvaford", pytest.approx(1 / 3)),  # no answer stated: the whole reply
        ("The answer is: Kelvaford\nHe was born in Paris.", 1.0),  # the rest of the answer's line
        ("k", 0.0),
        ("", 0.0),
    ],
)
def test_f1_reward_reads_the_stated_answer_and_gives_partial_credit(response: str, expected) -> None:
    assert f1_reward(response, ["Kelvaford", "Kelva Ford"]) == expected


def test_f1_reward_checks_its_golds_like_the_released_rule() -> None:
    assert set(ANSWER_REWARDS) == {"boxed", "f1"} and ANSWER_REWARDS["f1"] is f1_reward
    with pytest.raises(TypeError):
        f1_reward("x", "Kelvaford")
    with pytest.raises(InputError):
        f1_reward("x", [])


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model")


def test_a_text_memory_step_trains_with_batched_rollouts_and_calls_the_hook(base, tmp_path) -> None:
    seen: list[StepView] = []

    def hook(view: StepView) -> dict[str, float]:
        seen.append(view)
        return {"heldout/policy": 0.25}

    config = TrainConfig(
        model=str(base), data="offline", offline_docs=4, offline_questions=4, memory="text",
        weight_aug_m=0, weight_aug_q=0, reward="f1", engine="local", local_batch=4, n=2,
        batch_questions=2, mini_batch_questions=2, budget=16, chunk_tokens=1200, max_memory_tokens=16,
        max_answer_tokens=8, concurrency=4, lr=1e-3, warmup_steps=0, max_steps=1, save_every=1,
        out=tmp_path,
    )  # fmt: skip
    result = train(config, after_step=hook)
    (row,) = result.metrics
    # Four rollouts of one drafting and one answer turn (a random model may write a vision marker,
    # which leaves that turn out: turns/untrainable).
    assert row["rollouts/finished"] == 4 and row["turns/aug_m"] == row["turns/aug_q"] == 0
    assert row["turns/draft"] + row["turns/std"] + row["turns/untrainable"] == 8
    assert "visual_tokens" not in row and math.isfinite(row["loss"])
    assert row["engine_logprob_gap"] < 1e-3  # batched, left-padded generation scores like the trainer
    assert row["heldout/policy"] == 0.25  # what the hook returns is logged with the step
    (view,) = seen
    assert view.step == 1 and view.renderer is None and view.reference is not None
    assert isinstance(view.chat_model, BatchedGeneration) and view.chat_model.model is view.model
    assert max(view.chat_model.batches) > 1  # the rollouts' calls were generated together


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one process-wide state whose mixed precision cannot change once set."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


def test_a_bf16_autocast_step_trains_in_float32_weights(base, tmp_path, fresh_accelerate_state) -> None:
    views: list[StepView] = []
    config = TrainConfig(
        model=str(base), data="offline", offline_docs=4, offline_questions=4, memory="text",
        weight_aug_m=0, weight_aug_q=0, mixed_precision="bf16", local_batch=2, n=2, batch_questions=1,
        mini_batch_questions=1, budget=16, chunk_tokens=1200, max_memory_tokens=16, max_answer_tokens=8,
        concurrency=2, lr=1e-3, warmup_steps=0, max_steps=1, save_every=1, out=tmp_path,
    )  # fmt: skip
    (row,) = train(config, after_step=views.append).metrics
    assert math.isfinite(row["loss"]) and math.isfinite(row["kl"])
    assert 0 < row["engine_logprob_gap"] < 0.5  # bf16 rounding, no longer float32-exact
    (view,) = views
    assert next(view.model.parameters()).dtype == torch.float32
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert view.reference(input_ids=ids).logits.dtype == torch.bfloat16  # runs under autocast too
        assert view.model(input_ids=ids).logits.dtype == torch.float32  # accelerate upcasts outputs
