"""Every shipped eval config loads, and the paper-protocol ones say what the released evaluation did."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from memocr.config import config_from_args
from memocr.eval.config import EvalConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> EvalConfig:
    return config_from_args(EvalConfig, argparse.Namespace(config=EXAMPLES / name))


def test_main_job_config_is_the_offline_set_in_both_modes_at_the_paper_budgets():
    config = load("offline-eval.yaml")
    assert config.dataset == ["offline"] and config.model == "embedded" and config.n == 3
    assert config.mode == ["visual", "text"] and config.budget == [1024, 256, 64, 16]
    assert config.out == (EXAMPLES.parent / "runs" / "offline")


@pytest.mark.parametrize("name", ["table1-memocr.yaml", "table1-memagent.yaml"])
def test_table1_configs_follow_the_released_protocol(name):
    config = load(name)
    assert config.dataset == ["hotpotqa", "2wikimultihopqa", "nq", "triviaqa"]
    assert config.length == [50, 200, 800] and config.budget == [1024, 256, 64, 16]
    assert (config.temperature, config.top_p, config.scoring) == (0.7, 0.95, "paper")
    assert config.chunk_tokens == 5000
    assert config.data_dir == EXAMPLES.parent / "data" / "eval"
