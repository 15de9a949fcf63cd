"""`memocr train`: budget-aware GRPO training of the memory agent (docs/training.md).

``--config`` takes a shipped config's name (``train-tiny``, the default, or ``paper``) or a YAML file;
every setting is a flag too. For several processes or GPUs, start it with
``accelerate launch -m memocr.cli train``.
"""

from __future__ import annotations

import argparse
import sys

from memocr.config import add_config_arguments, config_from_args
from memocr.train.config import TrainConfig, resolve_config_path, shipped_configs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, TrainConfig)
    parser.description = (parser.description or "") + (
        f" Shipped configs for --config: {', '.join(sorted(shipped_configs()))}."
    )
    for action in parser._actions:
        if action.dest == "config":
            action.type = str
            action.metavar = "NAME|FILE.yaml"
            action.default = "train-tiny"
            action.help = (
                "a shipped config (train-tiny, paper) or a YAML file (default: train-tiny, a few minutes "
                "on a CPU; paper needs GPUs and MemAgent's parquet)"
            )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from memocr.train.loop import train

    if args.config is not None:
        args.config = resolve_config_path(args.config)
    config = config_from_args(TrainConfig, args)

    def report(step: int, metrics: dict[str, float], line: str) -> None:
        tqdm.write(line, file=sys.stdout)

    result = train(config, on_step=report, progress=True)
    if not result.main:
        return 0
    print(
        f"Trained to step {result.last_step} in {config.out}: metrics {config.out}/metrics.jsonl, "
        f"TensorBoard {config.out}/tensorboard"
    )
    if result.checkpoints:
        last = result.checkpoints[-1]
        print(f"Checkpoint: {last} (memocr ask --model hf://{last.resolve()} ...)")
    return 0
