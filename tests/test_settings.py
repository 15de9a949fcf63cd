"""The agent's settings, declared once (`memocr.agent.ReadSettings`): every command that runs the agent
takes each of them as a flag and as a YAML key and hands all of them to the agent; modes and render
profiles are their registries' names; one range check and one seed rule serve every command."""

from __future__ import annotations

import argparse
import dataclasses
import zlib

import pytest
import yaml

from memocr.agent import MODES, AgentSettings, ReadSettings
from memocr.cli import build_parser
from memocr.commands.analyze import AnalyzeConfig
from memocr.commands.ask import AskConfig
from memocr.config import add_config_arguments, config_from_args
from memocr.errors import ConfigError
from memocr.eval.config import ANSWER_SETTINGS, EvalConfig
from memocr.render.profiles import PROFILES
from memocr.train.config import TrainConfig, resolve_config_path

CONFIGS = {"ask": AskConfig, "eval": EvalConfig, "analyze": AnalyzeConfig, "train": TrainConfig}
# A value for every shared setting, none of them any command's default.
GIVEN = {
    "chunk_tokens": 300,
    "max_memory_tokens": 64,
    "max_answer_tokens": 32,
    "temperature": 0.5,
    "top_p": 0.9,
    "seed": 7,
    "draft_prompt": "draft-markdown-lead",
    "profile": "wide",
}


@pytest.fixture(autouse=True)
def wide_profile(monkeypatch):
    """A third render profile, registered the way a new one would be."""
    monkeypatch.setitem(PROFILES, "wide", dataclasses.replace(PROFILES["full"], name="wide"))


def parse(command: str, argv: list[str]):
    args = build_parser([command]).parse_args([command, *argv])
    if command == "train":  # as `memocr train` resolves it; without --config: the defaults, not train-tiny
        args.config = None if args.config == "train-tiny" else resolve_config_path(args.config)
    return config_from_args(CONFIGS[command], args)


def test_every_shared_setting_has_a_test_value():
    assert set(GIVEN) == {field.name for field in dataclasses.fields(ReadSettings)}


@pytest.mark.parametrize("command", CONFIGS)
def test_every_setting_is_a_flag_of_every_command_and_reaches_the_agent(command):
    argv = [arg for name, value in GIVEN.items() for arg in (f"--{name.replace('_', '-')}", str(value))]
    config = parse(command, argv)
    settings = config.agent_settings("visual")
    assert type(settings) is AgentSettings
    assert {name: getattr(settings, name) for name in GIVEN} == GIVEN


@pytest.mark.parametrize("command", CONFIGS)
def test_every_setting_is_a_yaml_key_of_every_command(command, tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(GIVEN))
    config = parse(command, ["--config", str(path)])
    assert {name: getattr(config, name) for name in GIVEN} == GIVEN


def test_modes_and_profiles_are_the_registries_names():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, AskConfig)
    actions = {action.dest: action for action in parser._actions}
    assert list(actions["mode"].choices) == list(MODES)
    assert list(actions["profile"].choices) == list(PROFILES)
    assert "wide" in actions["profile"].choices
    with pytest.raises(ConfigError, match=r"mode \(--mode\) must be a list of values from 'visual', 'text'"):
        EvalConfig(mode=["visual", "pictures"])
    with pytest.raises(
        ConfigError, match=r"profile \(--profile\) must be one of 'full', 'memocr-v1', 'compact', 'wide'"
    ):
        TrainConfig(profile="pictures")


def test_train_keeps_its_own_defaults_and_the_others_the_agent_s():
    train = TrainConfig()
    assert (train.chunk_tokens, train.max_memory_tokens, train.max_answer_tokens) == (5000, 2048, 2048)
    assert (train.temperature, train.top_p, train.profile) == (1.0, 0.999, "memocr-v1")
    for config in (AskConfig(), EvalConfig(), AnalyzeConfig()):
        shared = {field.name: getattr(config, field.name) for field in dataclasses.fields(ReadSettings)}
        assert shared == dataclasses.asdict(ReadSettings())
    with pytest.raises(ConfigError, match="chunk_tokens"):
        TrainConfig(chunk_tokens=None)  # type: ignore[arg-type]  # training needs a number


@pytest.mark.parametrize("config_class", [AgentSettings, *CONFIGS.values()])
@pytest.mark.parametrize(("setting", "value"), [("top_p", 0.0), ("top_p", 1.5), ("temperature", -0.1)])
def test_one_range_check_for_every_command(config_class, setting, value):
    with pytest.raises(ConfigError, match=setting):
        config_class(**{setting: value})


def test_one_seed_rule_for_a_question_and_for_a_training_sample():
    assert EvalConfig(seed=3).question_seed("q1") == zlib.crc32(b"3:q1") & 0x7FFFFFFF
    assert TrainConfig(seed=3).question_seed(2, "q1", 0) == zlib.crc32(b"3:2:q1:0") & 0x7FFFFFFF
    assert AgentSettings(seed=3).question_seed("q1") == EvalConfig(seed=3).question_seed("q1")
    assert AgentSettings(seed=None).question_seed("q1") is None


def test_an_eval_run_refuses_a_change_to_any_shared_setting():
    assert set(GIVEN) | {"model", "scoring"} == set(ANSWER_SETTINGS)
