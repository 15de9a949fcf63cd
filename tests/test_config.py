"""Config dataclasses: defaults < YAML file < flags given."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from memocr.config import (
    add_config_arguments,
    at_least,
    check_fields,
    config_from_args,
    to_dict,
    with_default,
    without_secrets,
)
from memocr.errors import ConfigError


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


def test_list_flag_takes_comma_separated_values():
    assert parse(["--budgets", "64,256", "--budgets", "16"]).budgets == [64, 256, 16]
    assert parse(["--budgets", "1024, 8,"]).budgets == [1024, 8]
    with pytest.raises(SystemExit):
        parse(["--budgets", "64,lots"])


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


@dataclass
class CheckedConfig:
    port: int = 9000
    rate: float = 1.0
    profile: Literal["full", "memocr-v1"] = "full"
    budgets: list[int] = field(default_factory=lambda: [1024])
    verbose: bool = False
    doc: str = field(default="", metadata={"path": True})
    out: Path | None = field(default=None, metadata={"path": True})

    def __post_init__(self) -> None:
        check_fields(self)
        at_least(self, 1, "port", "budgets")


def parse_checked(argv: list[str]) -> CheckedConfig:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, CheckedConfig)
    return config_from_args(CheckedConfig, parser.parse_args(argv))


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("profile: fulll\n", "profile (--profile) must be one of 'full', 'memocr-v1', got 'fulll'"),
        ("port: '80'\n", "port (--port) must be a whole number, got '80'"),
        ("port: 80.5\n", "port (--port) must be a whole number, got 80.5"),
        ("port: true\n", "port (--port) must be a whole number, got True"),
        ("verbose: 1\n", "verbose (--verbose) must be true or false, got 1"),
        ("budgets: [16, sixty]\n", "budgets (--budgets) must be a list of whole numbers"),
        ("budgets: [16, 0]\n", "budgets (--budgets) must be at least 1, got 0"),
        ("rate: fast\n", "rate (--rate) must be a number, got 'fast'"),
    ],
)
def test_yaml_values_get_the_same_type_and_choice_checks_as_flags(tmp_path, yaml_text, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as raised:
        parse_checked(["--config", str(path)])
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_python_construction_is_checked_like_the_command_line():
    with pytest.raises(ConfigError, match=r"profile .* must be one of"):
        CheckedConfig(profile="pictures")
    with pytest.raises(ConfigError, match=r"port .* at least 1"):
        CheckedConfig(port=0)
    # Lossless conversions: an int where a float goes, one value where a list goes, a str for a Path.
    converted = CheckedConfig(rate=2, budgets=64, out="x.png")
    assert converted.rate == 2.0 and isinstance(converted.rate, float)
    assert converted.budgets == [64] and converted.out == Path("x.png")


def test_relative_paths_in_a_yaml_file_resolve_against_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "c.yaml"
    path.write_text("doc: data/doc.md\nout: ../runs/x.png\n")
    monkeypatch.chdir(tmp_path)
    config = parse_checked(["--config", str(path)])
    assert Path(config.doc) == folder / "data/doc.md"
    assert config.out == tmp_path / "runs/x.png"
    # Standard input and absolute paths stay as written; paths given as flags stay relative to the cwd.
    path.write_text(f"doc: '-'\nout: {tmp_path / 'abs.png'}\n")
    config = parse_checked(["--config", str(path)])
    assert config.doc == "-" and config.out == tmp_path / "abs.png"
    assert parse_checked(["--config", str(path), "--doc", "here.md"]).doc == "here.md"


REGISTRY = {"small": 1, "large": 2}


@dataclass
class BaseSettings:
    size: str = field(default="small", metadata={"help": "how big", "choices": REGISTRY})
    sizes: list[str] = field(default_factory=lambda: ["small"], metadata={"choices": REGISTRY})
    model: str = field(default="embedded", metadata={"spec": True})

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class DerivedSettings(BaseSettings):
    size: str = with_default(BaseSettings, "size", "large")
    extra: int = 1


def test_choices_come_from_a_registry_as_it_stands(monkeypatch):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, BaseSettings)
    with pytest.raises(SystemExit):
        parser.parse_args(["--size", "huge"])
    with pytest.raises(
        ConfigError, match=r"sizes \(--sizes\) must be a list of values from 'small', 'large'"
    ):
        BaseSettings(sizes=["small", "huge"])
    monkeypatch.setitem(REGISTRY, "huge", 3)
    assert BaseSettings(size="huge", sizes=["huge"]).size == "huge"


def test_a_subclass_shares_the_settings_and_redeclares_a_default_with_the_same_help():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, DerivedSettings)
    args = parser.parse_args(["--sizes", "large", "--extra", "2"])
    assert config_from_args(DerivedSettings, args) == DerivedSettings(size="large", sizes=["large"], extra=2)
    (size,) = [action for action in parser._actions if action.dest == "size"]
    assert size.help == "how big (default: large)" and list(size.choices) == ["small", "large"]
    with pytest.raises(ConfigError, match="size"):
        DerivedSettings(size="huge")


def test_model_specs_are_written_and_compared_without_credentials():
    spec = "openai://user:pw@127.0.0.1:8000/v1?model=m&api_key=SECRET123"
    written = to_dict(BaseSettings(model=spec))
    assert written["model"] == "openai://127.0.0.1:8000/v1?model=m"
    stored = {"model": spec, "size": "small"}
    assert without_secrets(BaseSettings, stored) == {"model": written["model"], "size": "small"}


def test_an_output_setting_is_checked_when_flags_build_the_config(tmp_path):
    @dataclass
    class Writes:
        out: Path = field(default=tmp_path / "out", metadata={"output": "dir"})
        image: Path | None = field(default=None, metadata={"output": "file"})

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Writes)
    (tmp_path / "file").write_text("")
    assert (
        config_from_args(Writes, parser.parse_args(["--image", str(tmp_path / "file")])).out
        == tmp_path / "out"
    )
    with pytest.raises(ConfigError, match=r"setting out \(--out\): .* is a file, not a folder"):
        config_from_args(Writes, parser.parse_args(["--out", str(tmp_path / "file")]))
    with pytest.raises(ConfigError, match=r"setting image \(--image\): cannot create .*: .*file is a file"):
        config_from_args(Writes, parser.parse_args(["--image", str(tmp_path / "file" / "x.png")]))
    assert Writes(out=tmp_path / "file").out  # Python code that builds a config writes nothing yet
