"""Checkpoints: ``OUT/checkpoint-<step>/`` in Hugging Face format, plus what a resumed run needs.

The folder is a transformers model directory (``save_pretrained`` of the full, gathered weights; the
base model's tokenizer, image-processor and chat-template files copied beside them), so
``hf://OUT/checkpoint-N`` loads in memocr's transformers backend and ``vllm serve OUT/checkpoint-N``
serves it. ``trainer_state/`` holds accelerate's ``save_state`` (model, AdamW moments, the lr
schedule, every process's RNG state) and ``memocr-train.json`` the step and the config.

A checkpoint is written into ``.checkpoint-<step>.tmp`` and renamed when complete, so a crash while
saving never leaves a half-written ``checkpoint-N`` and never touches the finished ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from memocr.errors import ConfigError

STATE_DIR = "trainer_state"
INFO_FILE = "memocr-train.json"
_NAME = re.compile(r"checkpoint-(\d+)$")
# Files a model directory holds that save_pretrained writes itself (or that are weights).
_WRITTEN_BY_MODEL = re.compile(
    r"(.*\.safetensors|.*\.bin|.*\.index\.json|config\.json|generation_config\.json|.*\.pt)$"
)


def checkpoint_dir(out: Path, step: int) -> Path:
    return Path(out) / f"checkpoint-{step}"


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Finished checkpoints of a run directory, oldest first."""
    found = []
    for path in Path(out).glob("checkpoint-*"):
        match = _NAME.search(path.name)
        if match and (path / INFO_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def resolve_resume(out: Path, resume: str) -> Path:
    """The checkpoint directory ``resume`` names: 'latest' in ``out``, or a path."""
    if resume == "latest":
        found = checkpoints(out)
        if not found:
            raise ConfigError(f"--resume latest: no finished checkpoint-N in {out}")
        return found[-1][1]
    path = Path(resume)
    if not (path / INFO_FILE).is_file() or not (path / STATE_DIR).is_dir():
        raise ConfigError(
            f"--resume {resume}: not a memocr training checkpoint (no {INFO_FILE} and {STATE_DIR}/)"
        )
    return path


def read_info(checkpoint: Path) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / INFO_FILE).read_text(encoding="utf-8"))


def copy_processing_files(base: Path, target: Path) -> None:
    """Tokenizer, image processor and chat template files of the base model directory."""
    for path in Path(base).iterdir():
        if path.is_file() and not _WRITTEN_BY_MODEL.fullmatch(path.name):
            shutil.copy2(path, target / path.name)


def save_checkpoint(
    accelerator: Any, model: Any, base: Path, out: Path, step: int, config: dict[str, Any]
) -> Path:
    """Write ``OUT/checkpoint-<step>`` (collective: every process calls it)."""
    final = checkpoint_dir(out, step)
    tmp = Path(out) / f".checkpoint-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)  # gathers FSDP shards; every process takes part
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict)
        copy_processing_files(base, tmp)
    accelerator.save_state(str(tmp / STATE_DIR))
    if accelerator.is_main_process:
        (tmp / INFO_FILE).write_text(json.dumps({"step": step, "config": config}, indent=2), encoding="utf-8")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, checkpoint: Path) -> int:
    """Restore model, optimizer, schedule and RNG from ``checkpoint``; returns its step."""
    accelerator.load_state(str(Path(checkpoint) / STATE_DIR))
    return int(read_info(checkpoint)["step"])
