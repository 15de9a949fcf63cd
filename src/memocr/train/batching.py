"""How a step's turns are cut into mini-batches (by question) and micro-batches (by padded tokens).

A mini-batch is one optimizer step; it holds whole questions, so every turn of a GRPO group is
updated together. A micro-batch is one forward (and backward) pass; it holds as many turns as fit in
a budget of padded tokens (rows x longest row). Turns are sorted by length first, so rows of similar
length share a pass. Drafting turns outnumber answers and rollouts read different numbers of chunks, so
processes hold different numbers of turns: under DDP every backward all-reduces and under FSDP every
forward all-gathers, so every process must run the same number of passes. `equal_count` takes the
largest count over processes and the shorter ones run zero-weight passes on a real turn (MemAgent
padded with dummy prompts for the same reason).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from memocr.errors import TrainingError
from memocr.train.turns import Turn


def mini_batches(
    turns: Sequence[Turn], questions_per_batch: int, rng: random.Random | None = None
) -> list[list[Turn]]:
    """Turns grouped by question (``Turn.group``), ``questions_per_batch`` questions at a time, in the
    order the questions first appear (shuffled with ``rng`` if given)."""
    by_group: dict[str, list[Turn]] = {}
    for turn in turns:
        by_group.setdefault(turn.group, []).append(turn)
    groups = list(by_group.values())
    if rng is not None:
        rng.shuffle(groups)
    return [
        [turn for group in groups[i : i + questions_per_batch] for turn in group]
        for i in range(0, len(groups), questions_per_batch)
    ]


def micro_batches(turns: Sequence[Turn], max_tokens: int) -> list[list[Turn]]:
    """Turns in passes of at most ``max_tokens`` padded tokens (a longer turn gets a pass alone),
    longest first."""
    passes: list[list[Turn]] = []
    current: list[Turn] = []
    for turn in sorted(turns, key=lambda t: t.tokens, reverse=True):
        # Sorted longest first, so the first row of a pass is its longest.
        if current and (len(current) + 1) * current[0].tokens > max_tokens:
            passes.append(current)
            current = []
        current.append(turn)
    if current:
        passes.append(current)
    return passes


def _all_reduce(value: float, accelerator: Any, op: str) -> float:
    if accelerator is None or accelerator.num_processes == 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=accelerator.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return float(tensor.item())


def global_sum(value: float, accelerator: Any) -> float:
    """``value`` summed over all processes (itself on one process)."""
    return _all_reduce(value, accelerator, "sum")


def equal_count(
    passes: list[list[Turn]], accelerator: Any, filler: Turn | None
) -> list[tuple[list[Turn], float]]:
    """``(turns, weight)`` per pass, padded with ``(filler, 0.0)`` passes up to the largest number of
    passes any process has. ``filler`` is any real turn (a process with no turn at all borrows none
    and must not be run: raise before)."""
    wanted = int(_all_reduce(float(len(passes)), accelerator, "max"))
    weighted = [(turns, 1.0) for turns in passes]
    if len(passes) < wanted:
        if filler is None:
            raise TrainingError("a process has no turn to run its padding passes with")
        weighted += [([filler], 0.0)] * (wanted - len(passes))
    return weighted
