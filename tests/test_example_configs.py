"""The shipped configs (examples/*.yaml, memocr/train/configs/*.yaml) against the code that reads them:
each loads through its own command's parser, names inputs that exist, and says what its comments and
the published numbers say it does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from memocr.cli import build_parser
from memocr.commands.ask import AskConfig
from memocr.commands.data import DATASET_NAMES
from memocr.config import config_from_args, to_dict
from memocr.eval.config import EvalConfig
from memocr.report.published import BUDGETS, DATASETS, LENGTHS, MODE_METHODS
from memocr.train.config import TrainConfig, resolve_config_path, shipped_configs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# "memocr eval --config examples/offline-eval.yaml" in a config's comments names the command it is for.
RUN_LINE = re.compile(r"memocr (\w+) --config examples/([\w.-]+\.yaml)")
CONFIGS = {"ask": AskConfig, "eval": EvalConfig}


def example_commands() -> dict[str, str]:
    """examples/NAME.yaml -> the command its own comments run it with."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for command, name in RUN_LINE.findall(path.read_text(encoding="utf-8")):
            if name == path.name:
                found[path.name] = command
    return found


def load(command: str, path: Path):
    """``path`` read as ``memocr COMMAND --config PATH`` reads it."""
    args = build_parser([command]).parse_args([command, "--config", str(path)])
    return config_from_args(CONFIGS[command], args)


def test_every_example_config_says_which_command_runs_it():
    configs = {path.name for path in EXAMPLES.glob("*.yaml")} - {"harbour_town.yaml"}  # a question file
    assert set(example_commands()) == configs


@pytest.mark.parametrize(("name", "command"), sorted(example_commands().items()))
def test_an_example_loads_through_its_command_and_its_inputs_exist(name, command):
    config = load(command, EXAMPLES / name)
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    # Every key the file sets reached the config unchanged (paths resolved against the file).
    written = to_dict(config)
    for key, value in data.items():
        if isinstance(value, str) and key in ("doc", "out", "trace_dir", "data_dir"):
            assert Path(written[key]) == (EXAMPLES / value).resolve(), key
        else:
            assert written[key] == value, key
    if command == "ask":
        assert Path(config.doc).is_file()


def table1(method: str):
    return load("eval", EXAMPLES / f"table1-{method}.yaml")


def test_the_table1_configs_cover_the_published_table_and_buildable_datasets():
    for method in ("memocr", "memagent"):
        config = table1(method)
        assert tuple(config.dataset) == DATASETS and tuple(config.length) == LENGTHS
        assert tuple(config.budget) == BUDGETS
        assert set(config.dataset) <= set(DATASET_NAMES)
        method_name = {"memocr": "MemOCR", "memagent": "MemAgent"}[method]
        assert [MODE_METHODS[mode] for mode in config.mode] == [method_name]


def test_the_two_table1_configs_share_one_protocol():
    """Only what makes the two methods differs: mode, model, memory size, renderer and where to write."""
    method_settings = {"mode", "model", "max_memory_tokens", "profile", "out"}
    memocr, memagent = (to_dict(table1(method)) for method in ("memocr", "memagent"))
    differing = {key for key in memocr if memocr[key] != memagent[key]}
    assert differing <= method_settings
    assert table1("memocr").profile == "memocr-v1"  # the released renderer the checkpoint was trained on


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_shipped_train_configs_load_through_the_train_command(name):
    args = build_parser(["train"]).parse_args(["train", "--config", name])
    args.config = resolve_config_path(args.config)
    config = config_from_args(TrainConfig, args)
    data = yaml.safe_load(resolve_config_path(name).read_text(encoding="utf-8"))
    assert {key: to_dict(config)[key] for key in data} == data


def test_the_paper_train_config_restates_the_defaults_but_for_the_scale_settings():
    """The defaults are the paper's; the paper config differs only where a 64-GPU run must."""
    data = yaml.safe_load(resolve_config_path("paper").read_text(encoding="utf-8"))
    defaults = to_dict(TrainConfig())
    assert {key for key, value in data.items() if defaults[key] != value} == {
        "engine",
        "gradient_checkpointing",
    }
