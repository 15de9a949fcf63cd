"""The policy update of one training step: old and reference log-probs, then PPO mini-batch steps.

Old log-probs are recomputed with the training model before the first update (as veRL does): with
several mini-batches per step the later ones are off-policy, and the ratio must start at exactly 1 for
the first. The engine's own log-probs are kept only to report how far sampler and trainer disagree.

Token-mean over the mini-batch, across processes (veRL 0.9's definition): each pass's mean loss is
weighted by its share of the mini-batch's completion tokens on all processes, times the number of
processes because DDP and FSDP average gradients. A long answer weighs more than a short one, token
for token, wherever it was computed.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch

from memocr.train.batching import equal_count, global_sum, micro_batches
from memocr.train.config import TrainConfig
from memocr.train.log import Meter
from memocr.train.loss import policy_loss
from memocr.train.policy import PolicyInputs, batch_logprobs, model_device, model_dtype, turn_logprobs
from memocr.train.turns import Turn


def right_aligned(rows: list[torch.Tensor], width: int, device: torch.device) -> torch.Tensor:
    """Per-turn vectors in a ``[B, width]`` tensor, each in its last columns (zeros before)."""
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for r, row in enumerate(rows):
        out[r, width - row.shape[0] :] = row
    return out.to(device)


@torch.no_grad()
def score(
    model: torch.nn.Module,
    inputs: PolicyInputs,
    turns: list[Turn],
    accelerator: Any,
    max_tokens: int,
    attr: str,
) -> None:
    """Set ``turn.<attr>`` (``old_logprobs`` or ``ref_logprobs``) for every turn, on the CPU."""
    was_training = model.training
    model.eval()
    filler = turns[0] if turns else None
    for passage, weight in equal_count(micro_batches(turns, max_tokens), accelerator, filler):
        logprobs = turn_logprobs(model, inputs, passage, model_device(model))
        if weight:
            for turn, values in zip(passage, logprobs, strict=True):
                setattr(turn, attr, values.float().cpu())
    model.train(was_training)


def engine_gap(turns: list[Turn]) -> float | None:
    """Mean |engine log-prob - trainer old log-prob| per token (None without engine log-probs)."""
    total, count = 0.0, 0
    for turn in turns:
        if turn.engine_logprobs is None or turn.old_logprobs is None:
            continue
        engine = torch.tensor(turn.engine_logprobs, dtype=torch.float32)
        total += float((engine - turn.old_logprobs).abs().sum())
        count += engine.numel()
    return total / count if count else None


def update_mini_batch(
    model: torch.nn.Module,
    optimizer: Any,
    inputs: PolicyInputs,
    turns: list[Turn],
    config: TrainConfig,
    accelerator: Any,
    filler: Turn,
) -> Meter:
    """One optimizer step on ``turns`` (this process's share of a mini-batch); returns its stats."""
    meter = Meter()
    device, dtype = model_device(model), model_dtype(model)
    local_tokens = sum(len(turn.completion_ids) for turn in turns)
    total_tokens = max(global_sum(float(local_tokens), accelerator), 1.0)
    passes = equal_count(micro_batches(turns, config.micro_batch_tokens), accelerator, filler)
    model.train()
    for i, (passage, weight) in enumerate(passes):
        batch = inputs.collate(passage, device, dtype)
        logprobs = batch_logprobs(model, batch)
        width = batch.targets.shape[1]
        old = right_aligned([t.old_logprobs for t in passage], width, device)
        ref = right_aligned([t.ref_logprobs for t in passage], width, device) if config.kl_coef else None
        advantages = torch.tensor([t.advantage for t in passage], dtype=torch.float32, device=device)
        loss, stats = policy_loss(
            logprobs,
            old,
            ref,
            advantages,
            batch.mask,
            clip=config.clip,
            kl_coef=config.kl_coef,
            clip_c=config.clip_c,
        )
        tokens = stats["tokens"]
        scaled = loss * (weight * tokens / total_tokens * accelerator.num_processes)
        last = i == len(passes) - 1
        with nullcontext() if last else accelerator.no_sync(model):
            accelerator.backward(scaled)
        if weight:
            for key in ("pg_loss", "kl", "clip_fraction", "dual_clip_fraction", "ratio"):
                meter.add(key, stats[key], tokens)
            meter.add("loss", loss.item(), tokens)
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    meter.add("grad_norm", float(grad_norm))
    meter.add("micro_batches", float(len(passes)))
    return meter
