"""What a training run needs before its first step: the processes, base weights, data, models, optimizer.

The processes are whatever ``accelerate launch`` started (one plain process when run directly): on
CPU, DDP over gloo; on GPUs, DDP or the FSDP / DeepSpeed plugin named in the accelerate config file
(docs/training.md). DDP is told to expect unused parameters, since a micro-batch of drafting turns
never touches the vision tower.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memocr.errors import ConfigError, InputError, ModelUnavailableError
from memocr.train.config import TINY_MODEL, TrainConfig


def make_accelerator(mixed_precision: str | None = None) -> Any:
    """The processes' accelerator; ``mixed_precision`` ('no', 'bf16') overrides what accelerate launch
    was told (None keeps it)."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    return Accelerator(
        mixed_precision=mixed_precision,
        cpu=not torch.cuda.is_available(),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        step_scheduler_with_optimizer=False,
    )


def base_model_path(config: TrainConfig, accelerator: Any) -> Path:
    """A local directory of the base weights: the tiny model (built once into OUT/base-model), a
    directory, or a hub id downloaded by the main process."""
    if config.model == TINY_MODEL:
        path = config.out / "base-model"
        if accelerator.is_main_process and not (path / "config.json").is_file():
            from memocr.models.tiny import build_tiny_qwen2_5_vl

            build_tiny_qwen2_5_vl(path)
        accelerator.wait_for_everyone()
        return path
    path = Path(config.model)
    if (path / "config.json").is_file():
        return path
    if path.exists() or config.model.count("/") != 1:
        raise ConfigError(f"model {config.model}: not a transformers model directory (no config.json there)")
    from huggingface_hub import snapshot_download

    try:
        if accelerator.is_main_process:
            snapshot_download(config.model)
        accelerator.wait_for_everyone()
        return Path(snapshot_download(config.model, local_files_only=True))
    except Exception as error:
        raise ModelUnavailableError(
            f"model {config.model}: cannot download it from the Hugging Face hub ({error}); "
            "pass a local directory instead"
        ) from error


def training_records(config: TrainConfig) -> list:
    from memocr.data.io import load_records
    from memocr.data.offline import build_offline

    if config.data == "offline":
        records = build_offline(config.offline_docs, config.offline_questions, seed=0)
    else:
        path = Path(config.data)
        if not path.is_file():
            raise InputError(
                f"training data {path}: no such file. Download MemAgent's hotpotqa_train_32k.parquet "
                "(Hugging Face dataset BytedTsinghua-SIA/hotpotqa) there, pass --data FILE, or use "
                "--data offline"
            )
        records = load_records(path)
    records = records[: config.max_questions] if config.max_questions else records
    if not records:
        raise InputError(f"training data {config.data} holds no question")
    return records


def step_indices(count: int, batch: int, step: int, seed: int) -> list[int]:
    """Record indices of training step ``step`` (1-based): epochs of seeded permutations read in
    order, so a resumed run picks up exactly where the checkpoint left off."""
    import random

    indices = []
    for position in range((step - 1) * batch, step * batch):
        epoch, offset = divmod(position, count)
        order = list(range(count))
        random.Random(f"{seed}:epoch:{epoch}").shuffle(order)
        indices.append(order[offset])
    return indices


def load_policy(path: Path, dtype: str) -> Any:
    import torch
    import transformers

    from memocr.models.hf import VISION_MODEL_CLASSES

    config = transformers.AutoConfig.from_pretrained(path)
    name = VISION_MODEL_CLASSES.get(config.model_type)
    model_class = getattr(transformers, name) if name else transformers.AutoModelForCausalLM
    return model_class.from_pretrained(path, dtype=getattr(torch, dtype))


def optimizer_and_schedule(model: Any, config: TrainConfig) -> tuple[Any, Any]:
    """AdamW and a linear warm-up over ``warmup_steps`` training steps, then a constant rate. The
    first step already trains (at lr / warmup_steps), unlike a schedule that starts at 0."""
    import torch

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay
    )
    warmup = config.warmup_steps

    def factor(step: int) -> float:
        return 1.0 if not warmup else min(1.0, (step + 1) / warmup)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
