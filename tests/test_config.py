"""Config dataclasses: defaults < YAML file < flags given."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Literal

import pytest

from memocr.config import ConfigError, add_config_arguments, config_from_args, to_dict


@dataclass
class ExampleConfig:
    port: int = field(default=9000, metadata={"help": "port"})
    profile: Literal["full", "memocr-v1"] = "full"
    budgets: list[int] = field(default_factory=lambda: [1024])
    verbose: bool = False
    model: str | None = None


def parse(argv: list[str]) -> ExampleConfig:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, ExampleConfig)
    return config_from_args(ExampleConfig, parser.parse_args(argv))


def test_defaults_when_nothing_is_given():
    assert parse([]) == ExampleConfig()


def test_flags_override_yaml_which_overrides_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("port: 8000\nprofile: memocr-v1\nbudgets: [16, 64]\n")
    config = parse(["--config", str(path), "--port", "7000", "--verbose"])
    assert config == ExampleConfig(port=7000, profile="memocr-v1", budgets=[16, 64], verbose=True)
    assert to_dict(config)["budgets"] == [16, 64]


def test_repeatable_list_flag_and_choices():
    assert parse(["--budgets", "16", "--budgets", "8"]).budgets == [16, 8]
    with pytest.raises(SystemExit):
        parse(["--profile", "nope"])


def test_unknown_yaml_setting_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("prot: 1\n")
    with pytest.raises(ConfigError, match="prot"):
        parse(["--config", str(path)])


def test_unreadable_or_invalid_yaml_gives_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        parse(["--config", str(tmp_path / "missing.yaml")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse(["--config", str(bad)])
