"""The training loop end to end on a tiny random Qwen2.5-VL: checkpoint, reload, answer, resume."""

from __future__ import annotations

import asyncio
import math
import warnings

import pytest

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.errors import ConfigError
from memocr.models import load_model
from memocr.models.tiny import build_tiny_qwen2_5_vl
from memocr.render import AsyncRenderer
from memocr.train.config import TrainConfig
from memocr.train.loop import train


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny") / "model")


def tiny_config(base, out, **changes) -> TrainConfig:
    settings = dict(
        model=str(base),
        data="offline",
        offline_docs=4,  # about 1,100 tokens: one drafting turn
        offline_questions=4,
        n=2,
        batch_questions=1,
        mini_batch_questions=1,
        budget=16,
        chunk_tokens=1200,
        max_memory_tokens=16,
        max_answer_tokens=8,
        profile="full",
        concurrency=4,
        lr=1e-3,
        warmup_steps=0,
        max_steps=1,
        save_every=1,
        out=out,
    )
    return TrainConfig(**{**settings, **changes})


@pytest.mark.slow
def test_a_step_saves_a_checkpoint_that_the_transformers_backend_answers_with(base, tmp_path) -> None:
    lines = []
    result = train(tiny_config(base, tmp_path), on_step=lambda step, metrics, line: lines.append(line))
    checkpoint = tmp_path / "checkpoint-1"
    assert result.last_step == 1 and result.checkpoints == [checkpoint]
    (row,) = result.metrics
    assert row["step"] == 1 and math.isfinite(row["loss"]) and math.isfinite(row["kl"])
    assert row["turns/draft"] == 2 and row["turns/std"] == 2 and row["rollouts/finished"] == 2
    for key in ("reward/std", "advantage/std_dev", "clip_fraction", "length/completion", "visual_tokens"):
        assert key in row
    assert row["visual_tokens"] <= 16 and row["engine_logprob_gap"] < 1e-3
    assert lines and lines[0].startswith("step 1/1: reward std")
    assert (tmp_path / "config.yaml").is_file() and list((tmp_path / "tensorboard").iterdir())
    assert (checkpoint / "preprocessor_config.json").is_file() and (checkpoint / "tokenizer.json").is_file()

    model = load_model(f"hf://{checkpoint}")

    async def ask():
        async with AsyncRenderer(pages=1) as renderer:
            agent = MemoryAgent(model, AgentSettings(max_memory_tokens=16, max_answer_tokens=8), renderer)
            return await agent.answer(Question("Orsa Thelwick was born in Kelvaford.", "Where?"), [16])

    trace = asyncio.run(ask())
    assert trace.error is None and trace.answers[0].visual_tokens <= 16


@pytest.mark.slow
def test_resume_continues_the_step_counter_and_the_metrics(base, tmp_path) -> None:
    train(tiny_config(base, tmp_path, weight_aug_q=0))
    with pytest.raises(ConfigError, match="--resume latest"):
        train(tiny_config(base, tmp_path, weight_aug_q=0, max_steps=2))
    result = train(tiny_config(base, tmp_path, weight_aug_q=0, max_steps=2, resume="latest"))
    assert result.last_step == 2
    assert [row["step"] for row in result.metrics] == [1, 2]
    assert [path.name for path in result.checkpoints] == ["checkpoint-1", "checkpoint-2"]
    assert (tmp_path / "checkpoint-2" / "trainer_state" / "optimizer.bin").is_file()


@pytest.mark.slow
def test_gradient_checkpointing_trains_a_step_without_deprecation_warnings(base, tmp_path) -> None:
    def checkpointing(view) -> dict[str, float]:
        return {"checkpointing": float(view.model.is_activation_checkpointing)}

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        config = tiny_config(base, tmp_path, gradient_checkpointing=True, weight_aug_q=0)
        result = train(config, after_step=checkpointing)
    (row,) = result.metrics
    assert row["checkpointing"] == 1.0
    assert math.isfinite(row["loss"]) and row["turns/draft"] == 2
