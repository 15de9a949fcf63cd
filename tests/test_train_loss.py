"""The PPO-clipped token-mean loss and its KL term, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from memocr.errors import ConfigError, InputError
from memocr.train.loss import low_var_kl, policy_loss, token_logprobs


def logp(values: list[list[float]], grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, requires_grad=grad)


def test_ratio_one_gives_minus_the_mean_advantage_per_token() -> None:
    lp = logp([[-1.0, -2.0, -0.5], [-0.3, -0.7, -9.0]], grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    advantages = torch.tensor([0.6, -0.2])  # one per turn, broadcast to its tokens
    loss, stats = policy_loss(lp, lp.detach(), lp.detach(), advantages, mask)
    # token mean over the 5 unmasked tokens: (3 * 0.6 + 2 * -0.2) / 5
    assert loss.item() == pytest.approx(-(3 * 0.6 - 2 * 0.2) / 5)
    assert stats["kl"] == 0.0 and stats["ratio"] == pytest.approx(1.0)
    assert stats["clip_fraction"] == 0.0 and stats["tokens"] == 5


def test_per_token_advantages_are_accepted() -> None:
    lp = logp([[-1.0, -1.0]])
    per_turn, _ = policy_loss(lp, lp, None, torch.tensor([0.5]), torch.ones(1, 2), kl_coef=0)
    per_token, _ = policy_loss(lp, lp, None, torch.tensor([[0.5, 0.5]]), torch.ones(1, 2), kl_coef=0)
    assert per_turn.item() == per_token.item() == pytest.approx(-0.5)


# Four tokens, one per row: (advantage, ratio) -> (token loss, is the clipped term in force, grad flows)
CASES = [
    (1.0, 1.5, -1.2, True, False),  # good token pushed too far up: capped at 1.2, no gradient
    (1.0, 0.5, -0.5, False, True),  # good token that lost probability: full gradient
    (-1.0, 1.5, 1.5, False, True),  # bad token that gained probability: full gradient
    (-1.0, 0.5, 0.8, True, False),  # bad token pushed far enough down: capped at 0.8, no gradient
]


def test_clipping_hand_computed() -> None:
    old = torch.full((4, 1), -1.0)
    lp = (old + torch.log(torch.tensor([[c[1]] for c in CASES]))).requires_grad_()
    advantages = torch.tensor([c[0] for c in CASES])
    loss, stats = policy_loss(lp, old, old, advantages, torch.ones(4, 1), kl_coef=0)
    assert loss.item() == pytest.approx(sum(c[2] for c in CASES) / 4)
    assert stats["clip_fraction"] == pytest.approx(0.5)
    assert stats["ratio"] == pytest.approx(1.0)
    loss.backward()
    assert lp.grad is not None
    for (advantage, ratio, _, _, flows), grad in zip(CASES, lp.grad[:, 0], strict=True):
        # d(-A * r)/d(logp) = -A * r, divided by the 4 tokens of the mean
        assert grad.item() == pytest.approx(-advantage * ratio / 4 if flows else 0.0)


def test_each_case_alone() -> None:
    for advantage, ratio, token_loss, clipped, _ in CASES:
        lp = logp([[math.log(ratio)]])
        loss, stats = policy_loss(
            lp, torch.zeros(1, 1), None, torch.tensor([advantage]), torch.ones(1, 1), kl_coef=0
        )
        assert loss.item() == pytest.approx(token_loss)
        assert stats["clip_fraction"] == (1.0 if clipped else 0.0)


def test_dual_clip_caps_the_loss_of_bad_tokens_whose_probability_exploded() -> None:
    lp = logp([[math.log(5.0)]])
    zero, one = torch.zeros(1, 1), torch.ones(1, 1)
    capped, stats = policy_loss(lp, zero, None, torch.tensor([-1.0]), one, kl_coef=0)
    assert capped.item() == pytest.approx(3.0) and stats["dual_clip_fraction"] == 1.0
    plain, stats = policy_loss(lp, zero, None, torch.tensor([-1.0]), one, kl_coef=0, clip_c=None)
    assert plain.item() == pytest.approx(5.0) and stats["dual_clip_fraction"] == 0.0
    positive, _ = policy_loss(lp, zero, None, torch.tensor([1.0]), one, kl_coef=0)
    assert positive.item() == pytest.approx(-1.2)


def test_masked_tokens_are_ignored_even_when_garbage() -> None:
    mask = torch.tensor([[1, 1, 0, 0]])
    clean = logp([[-1.0, -2.0, 0.0, 0.0]], grad=True)
    dirty = logp([[-1.0, -2.0, float("-inf"), float("nan")]], grad=True)
    old = logp([[-1.2, -1.9, float("nan"), 5.0]])
    ref = logp([[-1.1, -2.5, float("inf"), -30.0]])
    advantages = torch.tensor([[0.7, -0.4, float("nan"), 1e9]])
    results = []
    for lp in (clean, dirty):
        loss, stats = policy_loss(lp, old, ref, advantages, mask)
        loss.backward()
        results.append((loss.item(), stats))
    assert math.isfinite(results[0][0]) and results[0] == results[1]
    assert torch.equal(clean.grad, dirty.grad)
    assert dirty.grad is not None and dirty.grad[0, 2:].tolist() == [0.0, 0.0]
    assert results[0][1]["tokens"] == 2


def test_token_mean_weighs_long_turns_by_their_tokens() -> None:
    lp = torch.zeros(2, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])
    loss, _ = policy_loss(lp, lp, None, torch.tensor([1.0, -1.0]), mask, kl_coef=0)
    assert loss.item() == pytest.approx(-(4 * 1.0 - 1.0) / 5)


def test_empty_mask_gives_zero_loss() -> None:
    lp = logp([[-1.0, -2.0]], grad=True)
    loss, stats = policy_loss(lp, lp.detach(), lp.detach(), torch.tensor([1.0]), torch.zeros(1, 2))
    loss.backward()
    assert loss.item() == 0.0 and stats["tokens"] == 0
    assert lp.grad is not None and lp.grad.abs().sum() == 0


def test_kl_is_zero_iff_equal_and_positive_otherwise() -> None:
    base = torch.tensor([-0.1, -1.0, -3.0, -7.0])
    assert low_var_kl(base, base).tolist() == [0.0] * 4
    for shift in (-2.0, -0.5, -1e-3, 1e-3, 0.5, 2.0, 40.0):
        assert (low_var_kl(base, base + shift) > 0).all()
    # k3 with log-ratio x = ref - logp: e^x - x - 1
    assert low_var_kl(torch.tensor([-1.0]), torch.tensor([-0.5])).item() == pytest.approx(math.exp(0.5) - 1.5)
    assert low_var_kl(torch.tensor([0.0]), torch.tensor([50.0])).item() == 10.0  # clamped


def test_kl_term_is_added_with_its_coefficient() -> None:
    lp = logp([[-1.0, -2.0]], grad=True)
    ref = logp([[-1.5, -1.0]])
    advantages, mask = torch.tensor([0.0]), torch.ones(1, 2)
    loss, stats = policy_loss(lp, lp.detach(), ref, advantages, mask, kl_coef=0.1)
    expected_kl = ((math.exp(-0.5) + 0.5 - 1) + (math.exp(1.0) - 1.0 - 1)) / 2
    assert stats["kl"] == pytest.approx(expected_kl)
    assert loss.item() == pytest.approx(0.1 * expected_kl)
    loss.backward()
    assert lp.grad is not None and lp.grad.abs().sum() > 0


def test_gradient_flows_to_the_logits() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 11, requires_grad=True)
    tokens = torch.randint(0, 11, (2, 3))
    lp = token_logprobs(logits, tokens)
    loss, _ = policy_loss(lp, lp.detach(), lp.detach(), torch.tensor([1.0, -0.5]), torch.ones(2, 3))
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_token_logprobs_match_log_softmax() -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 5, 17, dtype=torch.bfloat16)
    tokens = torch.randint(0, 17, (2, 5))
    expected = torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    got = token_logprobs(logits, tokens)
    assert got.dtype == torch.float32
    assert torch.allclose(got, expected, atol=1e-5)
    assert (got <= 0).all()


@pytest.mark.parametrize("kwargs", [{"clip": 0.0}, {"clip": 1.0}, {"kl_coef": -0.1}, {"clip_c": 1.0}])
def test_bad_settings_are_config_errors(kwargs: dict) -> None:
    lp = torch.zeros(1, 2)
    with pytest.raises(ConfigError):
        policy_loss(lp, lp, lp, torch.tensor([1.0]), torch.ones(1, 2), **kwargs)


def test_kl_needs_reference_log_probs() -> None:
    lp = torch.zeros(1, 2)
    with pytest.raises(ConfigError):
        policy_loss(lp, lp, None, torch.tensor([1.0]), torch.ones(1, 2))


def test_shape_mismatches_are_input_errors() -> None:
    lp = torch.zeros(2, 3)
    with pytest.raises(InputError):
        policy_loss(lp, torch.zeros(2, 4), None, torch.tensor([1.0, 1.0]), torch.ones(2, 3), kl_coef=0)
    with pytest.raises(InputError):
        policy_loss(lp, lp, None, torch.tensor([1.0, 1.0, 1.0]), torch.ones(2, 3), kl_coef=0)
    with pytest.raises(InputError):
        token_logprobs(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
