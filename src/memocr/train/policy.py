"""The policy side: recorded turns as padded tensors, and the log-prob of every completion token.

Rows are padded on the left, so every completion ends at the last position and one forward keeps the
logits of only the last ``max completion + 1`` positions (``logits_to_keep``): a 2,048-token answer
never materialises the logits of its 8,000-token prompt. Text turns (drafting) and image turns
(answers) share a micro-batch; images go through the same PIL image processor and min/max pixels as
the transformers backend (`memocr.models.hf`), and the number of image tokens in the recorded prompt
is checked against the processor's grid, so the trainer sees the pixels the sampler saw.

A completion that contains one of the vision markers (``<|image_pad|>``, ``<|vision_start|>``, ...)
cannot be scored: the model's forward would take the generated marker for an image slot. The sampler
treated it as a plain token, so such turns (a random model writes them; a trained one almost never)
are left out of the update (`PolicyInputs.trainable`) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from memocr.budget import processor_kwargs
from memocr.errors import InputError, ModelError
from memocr.train.loss import token_logprobs
from memocr.train.turns import Turn


@dataclass
class Batch:
    """Model inputs of a micro-batch plus ``targets`` / ``mask`` ``[B, C]``: completion ids aligned
    to the right (row r's completion fills its last ``len`` columns) and 1 where a column is one."""

    inputs: dict[str, torch.Tensor]
    targets: torch.Tensor
    mask: torch.Tensor


class PolicyInputs:
    """Turns into tensors for one model family (Qwen2.5-VL, Qwen2-VL or a text LM)."""

    def __init__(
        self,
        pad_token_id: int,
        image_token_id: int | None = None,
        image_processor: Any = None,
        vision_markers: tuple[int, ...] = (),
    ):
        self.pad_token_id = pad_token_id
        self.image_token_id = image_token_id
        self.image_processor = image_processor
        self.vision_markers = frozenset(vision_markers)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> PolicyInputs:
        import transformers

        config = transformers.AutoConfig.from_pretrained(str(path))
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        image_token_id = getattr(config, "image_token_id", None)
        processor = None
        if image_token_id is not None:
            from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

            has_config = (Path(path) / "preprocessor_config.json").is_file()
            processor = Qwen2VLImageProcessorPil.from_pretrained(str(path)) if has_config else None
            processor = processor or Qwen2VLImageProcessorPil()
        names = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
        markers = tuple(getattr(config, name) for name in names if getattr(config, name, None) is not None)
        return cls(pad, image_token_id, processor, markers)

    def trainable(self, turn: Turn) -> bool:
        """Whether the turn's completion is free of vision markers (see the module docstring)."""
        return not self.vision_markers.intersection(turn.completion_ids)

    def vision(self, turn: Turn) -> dict[str, torch.Tensor] | None:
        """``pixel_values`` / ``image_grid_thw`` of the turn's image (cached on the turn)."""
        if turn.image is None:
            return None
        if turn.vision is None:
            if self.image_processor is None or self.image_token_id is None:
                raise ModelError("a turn has an image but the policy model has no image processor")
            pixels = processor_kwargs([turn.image])
            features = self.image_processor(
                images=[turn.image.convert("RGB")],
                size={"shortest_edge": pixels["min_pixels"], "longest_edge": pixels["max_pixels"]},
                return_tensors="pt",
            )
            expected = int(features["image_grid_thw"][0].prod()) // self.image_processor.merge_size**2
            found = turn.prompt_ids.count(self.image_token_id)
            if found != expected:
                raise InputError(
                    f"a {turn.kind} turn's prompt holds {found} image tokens but its image makes {expected}: "
                    "the sampler saw other pixels than the trainer would (send budget-fitted images)"
                )
            turn.vision = {k: features[k] for k in ("pixel_values", "image_grid_thw")}
        return turn.vision

    def collate(self, turns: list[Turn], device: torch.device | str, dtype: torch.dtype) -> Batch:
        if not turns:
            raise InputError("an empty micro-batch")
        length = max(turn.tokens for turn in turns)
        width = max(len(turn.completion_ids) for turn in turns)
        ids = torch.full((len(turns), length), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros_like(ids)
        targets = torch.full((len(turns), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(turns), width), dtype=torch.float32)
        pixels, grids = [], []
        for row, turn in enumerate(turns):
            if not turn.completion_ids:
                raise InputError(f"a {turn.kind} turn has no completion tokens")
            sequence = torch.tensor(turn.prompt_ids + turn.completion_ids, dtype=torch.long)
            ids[row, length - len(sequence) :] = sequence
            attention[row, length - len(sequence) :] = 1
            completion = len(turn.completion_ids)
            targets[row, width - completion :] = torch.tensor(turn.completion_ids)
            mask[row, width - completion :] = 1
            vision = self.vision(turn)
            if vision is not None:
                pixels.append(vision["pixel_values"])
                grids.append(vision["image_grid_thw"])
        inputs = {"input_ids": ids.to(device), "attention_mask": attention.to(device)}
        if pixels:
            inputs["pixel_values"] = torch.cat(pixels).to(device, dtype)
            inputs["image_grid_thw"] = torch.cat(grids).to(device)
        return Batch(inputs, targets.to(device), mask.to(device))


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def batch_logprobs(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """``[B, C]`` log-probs of ``batch.targets`` under ``model`` (float32; garbage where mask is 0)."""
    width = batch.targets.shape[1]
    output = model(**batch.inputs, logits_to_keep=width + 1, use_cache=False)
    # Position t's logits predict token t + 1: the kept logits but the last predict the last `width`.
    return token_logprobs(output.logits[:, :-1, :], batch.targets)


def turn_logprobs(
    model: torch.nn.Module, inputs: PolicyInputs, turns: list[Turn], device: torch.device | str | None = None
) -> list[torch.Tensor]:
    """Each turn's completion log-probs, ``len(completion_ids)`` values (one forward, with grad if
    enabled)."""
    device = device or model_device(model)
    batch = inputs.collate(turns, device, model_dtype(model))
    logprobs = batch_logprobs(model, batch)
    width = batch.targets.shape[1]
    return [logprobs[row, width - len(turn.completion_ids) :] for row, turn in enumerate(turns)]
