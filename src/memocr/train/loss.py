"""The policy loss of the released training: PPO-clipped, token-mean, with a low-variance KL term.

Settings as in the released scripts (veRL's actor): ratio clipped to [1 - 0.2, 1 + 0.2], veRL's dual
clip for negative advantages (the loss of a token never exceeds ``clip_c`` times its advantage, so a
token whose probability shot up cannot dominate the batch), the loss averaged over every unmasked token
of the batch (long turns weigh more than short ones, as tokens), and ``kl_coef`` times the k3 estimator
``exp(ref - logp) - (ref - logp) - 1`` of KL(policy || reference), which is never negative and has low
variance; like veRL's ``low_var_kl`` the log-ratio is clamped to [-20, 20] and the estimate to
[-10, 10] so one wild token cannot blow up a step. The entropy bonus is 0 in the released runs and is
left out.
"""

from __future__ import annotations

import torch

from memocr.errors import ConfigError, InputError

LOG_RATIO_LIMIT = 20.0
KL_LIMIT = 10.0


def token_logprobs(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each token id under ``logits`` (``[..., T, V]`` and ``[..., T]``).

    No shifting happens here: ``logits[..., t, :]`` must already be the distribution that produced
    ``token_ids[..., t]`` (for a causal LM, the logits of position t - 1). Computed in float32 as
    ``logit - logsumexp`` so the full log-softmax is never materialised.
    """
    if logits.shape[:-1] != token_ids.shape:
        raise InputError(f"logits {tuple(logits.shape)} do not match token ids {tuple(token_ids.shape)}")
    logits = logits.float()
    picked = logits.gather(-1, token_ids.long().unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def low_var_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference): 0 where the two agree, positive elsewhere."""
    log_ratio = (ref_logprobs - logprobs).clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    return (torch.exp(log_ratio) - log_ratio - 1).clamp(-KL_LIMIT, KL_LIMIT)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
    kl_coef: float = 0.001,
    clip_c: float | None = 3.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss to minimise for one batch of turns, and its statistics.

    ``logprobs`` (with grad), ``old_logprobs`` (the rollout policy's), ``ref_logprobs`` and ``mask``
    are ``[B, T]``; ``mask`` is 1 on response tokens. ``advantages`` is ``[B]`` (one per turn, given to
    each of its tokens, as :func:`memocr.train.advantages.expand_to_turns` produces) or ``[B, T]``.
    ``ref_logprobs`` may be None when ``kl_coef`` is 0; ``clip_c=None`` turns the dual clip off.

    Stats: ``pg_loss``, ``kl`` (mean per token), ``clip_fraction`` (tokens where the clipped term is
    the one in force), ``dual_clip_fraction``, ``ratio`` (mean), ``tokens``.
    """
    if not 0 < clip < 1:
        raise ConfigError(f"clip must be in (0, 1), got {clip}")
    if kl_coef < 0 or (kl_coef > 0 and ref_logprobs is None):
        raise ConfigError(f"kl_coef must be >= 0 and needs reference log-probs when > 0, got {kl_coef}")
    if clip_c is not None and clip_c <= 1:
        raise ConfigError(f"the dual-clip constant must be above 1, got {clip_c}")
    tensors = [logprobs, old_logprobs, mask] + ([ref_logprobs] if ref_logprobs is not None else [])
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1 or logprobs.dim() != 2:
        raise InputError(f"log-probs and mask must all be [batch, tokens], got shapes {sorted(shapes)}")
    if advantages.dim() == 1 and advantages.shape[0] == logprobs.shape[0]:
        advantages = advantages.unsqueeze(-1).expand_as(logprobs)
    elif advantages.shape != logprobs.shape:
        raise InputError(f"advantages {tuple(advantages.shape)} must be [batch] or [batch, tokens]")
    # Padding may hold -inf or nan; zero it before any arithmetic so it reaches neither loss nor grads.
    keep = mask.bool()
    logprobs, old_logprobs, advantages = (
        torch.where(keep, t, 0.0)
        for t in (logprobs, old_logprobs.detach(), advantages.detach().to(logprobs.dtype))
    )
    mask = keep.to(logprobs.dtype)

    log_ratio = (logprobs - old_logprobs).clamp(-LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip, 1 + clip)
    token_loss = torch.maximum(unclipped, clipped)
    dual = torch.zeros_like(token_loss, dtype=torch.bool)
    if clip_c is not None:
        cap = -advantages * clip_c
        dual = (advantages < 0) & (token_loss > cap)
        token_loss = torch.where(dual, cap, token_loss)
    pg_loss = _masked_mean(token_loss, mask)

    if ref_logprobs is None:
        kl = torch.zeros_like(logprobs)
    else:
        kl = low_var_kl(logprobs, torch.where(keep, ref_logprobs.detach(), 0.0))
    kl_loss = _masked_mean(kl, mask)
    loss = pg_loss + kl_coef * kl_loss if kl_coef else pg_loss
    with torch.no_grad():
        stats = {
            "pg_loss": pg_loss.item(),
            "kl": kl_loss.item(),
            "clip_fraction": _masked_mean((clipped > unclipped).to(mask.dtype), mask).item(),
            "dual_clip_fraction": _masked_mean(dual.to(mask.dtype), mask).item(),
            "ratio": _masked_mean(ratio, mask).item(),
            "tokens": mask.sum().item(),
        }
    return loss, stats
