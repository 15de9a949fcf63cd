"""One training sequence: a model call of a rollout, as the engine saw and produced it.

A rollout of MemOCR is several independent conversations ("multi-conversation" GRPO): one per
drafting turn (chunk), the standard answer (T_std) and the two training-only answers (T_augM on the
degraded image, T_augQ on the cloze question). Each becomes a `Turn` that keeps the exact token ids the
engine fed and generated (never re-tokenised text: decoding and encoding a memory can change its
tokens), the engine's log-probs of the generated ids, and the image it was shown, so the trainer
computes log-probs of the very same tokens under the very same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memocr.train.advantages import AUG_M, AUG_Q, DRAFT, STD

if TYPE_CHECKING:
    import torch
    from PIL import Image

KINDS = (DRAFT, STD, AUG_M, AUG_Q)


@dataclass
class Turn:
    """One (prompt, completion) sequence of a rollout.

    ``group`` is the question's id (its n rollouts form the GRPO group), ``trajectory`` the rollout's
    index among this process's rollouts of the step and ``sample`` its index within the group.
    ``advantage`` is filled in from the rewards (`memocr.train.advantages`); ``old_logprobs`` and
    ``ref_logprobs`` by the policy before the update; ``vision`` caches the image's processor output.
    """

    kind: str
    group: str
    trajectory: int
    sample: int
    prompt_ids: list[int]
    completion_ids: list[int]
    engine_logprobs: list[float] | None = None
    image: Image.Image | None = None
    text: str = ""
    messages: list[dict[str, Any]] | None = None
    advantage: float = 0.0
    old_logprobs: torch.Tensor | None = None
    ref_logprobs: torch.Tensor | None = None
    vision: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def tokens(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)
