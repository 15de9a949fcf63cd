"""`memocr train`'s config, the shipped configs, data order, batching and the metrics log."""

from __future__ import annotations

import argparse
import random

import pytest

from memocr.config import add_config_arguments, config_from_args
from memocr.errors import ConfigError
from memocr.train.batching import equal_count, micro_batches, mini_batches
from memocr.train.config import TrainConfig, resolve_config_path, shipped_configs
from memocr.train.log import Meter, MetricsLog, read_metrics
from memocr.train.setup import step_indices
from memocr.train.turns import Turn


def load(*flags: str) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TrainConfig)
    args = parser.parse_args(list(flags))
    if args.config is not None:
        args.config = resolve_config_path(args.config)
    return config_from_args(TrainConfig, args)


def test_the_paper_config_has_the_released_run_s_settings() -> None:
    config = load("--config", "paper")
    assert config.model == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (config.n, config.batch_questions, config.mini_batch_questions) == (16, 64, 16)
    assert (config.lr, config.warmup_steps, config.kl_coef, config.clip) == (1e-6, 20, 0.001, 0.2)
    assert config.budget == 512
    assert (config.weight_std, config.weight_aug_m, config.weight_aug_q) == (1.0, 0.7, 0.3)
    assert (config.chunk_tokens, config.max_memory_tokens, config.max_answer_tokens) == (5000, 2048, 2048)
    assert config.data.endswith("hotpotqa_train_32k.parquet") and config.engine.startswith("openai://")
    assert config.layout and config.mode == "visual"


def test_shipped_names_resolve_and_flags_override_them() -> None:
    assert {"train-tiny", "paper"} <= set(shipped_configs())
    config = load("--config", "train-tiny", "--max-steps", "3", "--no-layout", "--weight-aug-q", "0")
    assert config.model == "tiny" and config.data == "offline" and config.max_steps == 3
    assert config.mode == "visual-plain"
    assert config.objective_weights().enabled == {"std": 1.0, "aug_m": 0.7}
    with pytest.raises(ConfigError, match="shipped: "):
        resolve_config_path("no-such-config")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_questions": 10, "mini_batch_questions": 4}, "multiple of mini_batch_questions"),
        ({"weight_std": 0, "weight_aug_m": 0, "weight_aug_q": 0}, "at least one objective"),
        ({"engine": "vllm"}, "engine must be"),
        ({"clip": 1.5}, "clip"),
        ({"n": 0}, "at least 1"),
    ],
)
def test_bad_settings_are_config_errors(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_batches_must_split_evenly_over_processes() -> None:
    config = TrainConfig(batch_questions=6, mini_batch_questions=3)
    config.check_world(3)
    with pytest.raises(ConfigError, match="multiple of the 2 training processes"):
        config.check_world(2)


def test_steps_read_seeded_epochs_in_order() -> None:
    first = step_indices(5, 2, 1, seed=0) + step_indices(5, 2, 2, seed=0) + step_indices(5, 2, 3, seed=0)
    assert sorted(first[:5]) == list(range(5))  # an epoch visits every question once
    assert step_indices(5, 2, 2, seed=0) == first[2:4]  # a resumed run starts where it left off
    assert step_indices(20, 20, 1, seed=1) != step_indices(20, 20, 1, seed=0)


def turn(group: str, tokens: int) -> Turn:
    return Turn("draft", group, 0, 0, list(range(tokens - 2)), [1, 2])


def test_micro_batches_respect_the_padded_token_budget_and_mini_batches_keep_questions_whole() -> None:
    turns = [turn("a", 10), turn("b", 40), turn("a", 30), turn("c", 10), turn("b", 100)]
    passes = micro_batches(turns, max_tokens=60)
    assert all(len(p) * max(t.tokens for t in p) <= 60 or len(p) == 1 for p in passes)
    assert sorted(t.tokens for p in passes for t in p) == [10, 10, 30, 40, 100]
    minis = mini_batches(turns, 2)
    assert [sorted({t.group for t in m}) for m in minis] == [["a", "b"], ["c"]]
    shuffled = mini_batches(turns, 1, random.Random(0))
    assert sorted(len(m) for m in shuffled) == [1, 2, 2]
    padded = equal_count(passes, None, turns[0])
    assert [w for _, w in padded] == [1.0] * len(passes)


def test_meter_weights_and_metrics_log_writes_tensorboard_events(tmp_path) -> None:
    meter = Meter()
    meter.add("loss", 1.0, 3)
    meter.add("loss", 3.0, 1)
    assert meter.means() == {"loss": 1.5}
    log = MetricsLog(tmp_path)
    for step in (1, 2):
        log.write(step, meter.means())
    log.close()
    assert [row["step"] for row in read_metrics(tmp_path)] == [1, 2]
    assert list((tmp_path / "tensorboard").iterdir())
