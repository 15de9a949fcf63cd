"""GRPO advantages and the three-objective combination, checked against hand-computed groups."""

from __future__ import annotations

import math

import pytest

from memocr.errors import ConfigError, InputError
from memocr.train.advantages import (
    AUG_M,
    AUG_Q,
    DRAFT,
    STD,
    ObjectiveWeights,
    Trajectory,
    combine,
    expand_to_turns,
    group_advantages,
    turn_layout,
)

approx = pytest.approx


def test_mean_centred_within_each_group() -> None:
    assert group_advantages([1, 0, 0, 1], ["q"] * 4) == approx([0.5, -0.5, -0.5, 0.5])
    assert group_advantages([1, 0, 0, 0], ["q"] * 4) == approx([0.75, -0.25, -0.25, -0.25])


def test_interleaved_groups_do_not_mix() -> None:
    rewards = [1, 1, 0, 0, 1, 1]
    groups = ["a", "b", "a", "b", "a", "b"]
    # a: 1, 0, 1 (mean 2/3); b: 1, 0, 1 (mean 2/3)
    assert group_advantages(rewards, groups) == approx([1 / 3, 1 / 3, -2 / 3, -2 / 3, 1 / 3, 1 / 3])
    assert group_advantages([1, 0, 0, 0], ["a", "b", "a", "b"]) == approx([0.5, 0.0, -0.5, 0.0])


def test_std_normalisation_uses_the_unbiased_std() -> None:
    advantages = group_advantages([1, 0, 0, 1], ["q"] * 4, normalize_std=True, eps=0.0)
    std = math.sqrt((4 * 0.25) / 3)
    assert advantages == approx([0.5 / std, -0.5 / std, -0.5 / std, 0.5 / std])
    two = group_advantages([1, 0], ["q", "q"], normalize_std=True)
    assert two == approx([0.5 / (math.sqrt(0.5) + 1e-6), -0.5 / (math.sqrt(0.5) + 1e-6)])


@pytest.mark.parametrize("normalize_std", [False, True])
@pytest.mark.parametrize("value", [0.0, 1.0, 0.3])
def test_equal_rewards_give_zero(value: float, normalize_std: bool) -> None:
    assert group_advantages([value] * 5, ["q"] * 5, normalize_std=normalize_std) == [0.0] * 5


def test_missing_rewards_are_left_out_of_the_mean_and_get_zero() -> None:
    assert group_advantages([0, 1, 0, None], ["q"] * 4) == approx([-1 / 3, 2 / 3, -1 / 3, 0.0])
    assert group_advantages([None, None], ["q", "q"]) == [0.0, 0.0]


def test_a_group_of_one_gets_zero() -> None:
    assert group_advantages([1, 1, 0, None], ["a", "b", "b", "c"]) == approx([0.0, 0.5, -0.5, 0.0])
    assert group_advantages([1.0, None], ["a", "a"]) == [0.0, 0.0]


def test_group_advantages_errors() -> None:
    with pytest.raises(InputError):
        group_advantages([1, 0], ["q"])
    with pytest.raises(InputError):
        group_advantages([float("nan"), 0], ["q", "q"])


# One group of four trajectories with 1, 2, 3 and 5 chunks; the last one has no cloze.
#   A_std  = r - 0.5      -> [ .5, -.5, -.5,  .5]
#   A_augM = r - 0.5      -> [ .5,  .5, -.5, -.5]
#   A_augQ = r - 1/3      -> [-1/3, 2/3, -1/3, 0]   (the missing reward is not in the mean)
#   drafting = (A_std + .7 A_augM + .3 A_augQ) / 2
GROUP = [
    Trajectory("q", {STD: 1, AUG_M: 1, AUG_Q: 0}, drafting_turns=1),
    Trajectory("q", {STD: 0, AUG_M: 1, AUG_Q: 1}, drafting_turns=2),
    Trajectory("q", {STD: 0, AUG_M: 0, AUG_Q: 0}, drafting_turns=3),
    Trajectory("q", {STD: 1, AUG_M: 0, AUG_Q: None}, drafting_turns=5),
]
DRAFTING = [(0.5 + 0.35 - 0.1) / 2, (-0.5 + 0.35 + 0.2) / 2, (-0.5 - 0.35 - 0.1) / 2, (0.5 - 0.35) / 2]
ANSWERS = [
    {STD: 0.5, AUG_M: 0.35, AUG_Q: -0.1},
    {STD: -0.5, AUG_M: 0.35, AUG_Q: 0.2},
    {STD: -0.5, AUG_M: -0.35, AUG_Q: -0.1},
    {STD: 0.5, AUG_M: -0.35},
]


def test_combine_hand_computed() -> None:
    combined = combine(GROUP)
    assert [c.drafting for c in combined] == approx(DRAFTING)
    for got, want in zip(combined, ANSWERS, strict=True):
        assert got.answers == approx(want)
    assert combined[3].per_task == approx({STD: 0.5, AUG_M: -0.5, AUG_Q: 0.0})


def test_expand_to_turns_hand_computed() -> None:
    turns = expand_to_turns(GROUP)
    expected = (
        [DRAFTING[0]] * 1 + [0.5, 0.35, -0.1]
        + [DRAFTING[1]] * 2 + [-0.5, 0.35, 0.2]
        + [DRAFTING[2]] * 3 + [-0.5, -0.35, -0.1]
        + [DRAFTING[3]] * 5 + [0.5, -0.35]
    )  # fmt: skip
    assert turns == approx(expected)
    layout = turn_layout(GROUP)
    assert len(layout) == len(turns) == 22
    assert layout[:4] == [(0, DRAFT), (0, STD), (0, AUG_M), (0, AUG_Q)]
    assert layout[-2:] == [(3, STD), (3, AUG_M)]


def test_chunk_counts_do_not_change_the_advantages() -> None:
    flat = [Trajectory(t.group, t.rewards, drafting_turns=1) for t in GROUP]
    assert combine(flat) == combine(GROUP)
    zero = [Trajectory(t.group, t.rewards, drafting_turns=0) for t in GROUP]
    assert expand_to_turns(zero) == approx([a for answers in ANSWERS for a in answers.values()])


@pytest.mark.parametrize("normalize_std", [False, True])
def test_all_rewards_equal_gives_all_zero_turns(normalize_std: bool) -> None:
    group = [Trajectory("q", {STD: 1, AUG_M: 0, AUG_Q: 1}, drafting_turns=n) for n in (1, 2, 3, 5)]
    assert expand_to_turns(group, normalize_std=normalize_std) == [0.0] * (11 + 12)


def test_std_normalisation_per_task() -> None:
    combined = combine(GROUP, normalize_std=True, eps=0.0)
    s = math.sqrt(1 / 3)  # unbiased std of [1, 0, 0, 1] and of [1, 1, 0, 0]
    q = math.sqrt(1 / 3)  # unbiased std of [0, 1, 0]
    a_std, a_m, a_q = 0.5 / s, 0.5 / s, (-1 / 3) / q
    assert combined[0].per_task == approx({STD: a_std, AUG_M: a_m, AUG_Q: a_q})
    assert combined[0].drafting == approx((a_std + 0.7 * a_m + 0.3 * a_q) / 2)


def test_two_groups_interleaved() -> None:
    trajectories = [
        Trajectory("a", {STD: 1, AUG_M: 0, AUG_Q: 1}, 2),
        Trajectory("b", {STD: 0, AUG_M: 0, AUG_Q: 0}, 1),
        Trajectory("a", {STD: 0, AUG_M: 0, AUG_Q: 0}, 4),
        Trajectory("b", {STD: 0, AUG_M: 1, AUG_Q: 0}, 3),
    ]
    combined = combine(trajectories)
    # a: A_std = ±.5, A_augM = 0, A_augQ = ±.5;  b: A_std = 0, A_augM = ∓.5, A_augQ = 0
    assert [c.drafting for c in combined] == approx(
        [(0.5 + 0.15) / 2, (-0.35) / 2, (-0.5 - 0.15) / 2, 0.35 / 2]
    )
    assert combined[1].answers == approx({STD: 0.0, AUG_M: -0.35, AUG_Q: 0.0})


def test_ablation_std_only() -> None:
    weights = ObjectiveWeights(aug_m=0, aug_q=0)
    combined = combine(GROUP, weights)
    assert [c.drafting for c in combined] == approx([0.5, -0.5, -0.5, 0.5])
    assert [c.answers for c in combined] == [{STD: 0.5}, {STD: -0.5}, {STD: -0.5}, {STD: 0.5}]
    assert len(expand_to_turns(GROUP, weights)) == 11 + 4


def test_ablation_std_and_cloze() -> None:
    weights = ObjectiveWeights(aug_m=0)
    combined = combine(GROUP, weights)
    expected = [(0.5 - 0.1) / 1.3, (-0.5 + 0.2) / 1.3, (-0.5 - 0.1) / 1.3, 0.5 / 1.3]
    assert [c.drafting for c in combined] == approx(expected)
    assert combined[3].answers == approx({STD: 0.5})
    assert all(AUG_M not in c.answers for c in combined)


def test_weights() -> None:
    assert ObjectiveWeights().enabled == {STD: 1.0, AUG_M: 0.7, AUG_Q: 0.3}
    assert ObjectiveWeights().total == approx(2.0)
    assert ObjectiveWeights(std=0, aug_m=0).enabled == {AUG_Q: 0.3}


@pytest.mark.parametrize(
    "kwargs",
    [{"aug_m": -0.7}, {"std": float("nan")}, {"aug_q": float("inf")}, {"std": 0, "aug_m": 0, "aug_q": 0}],
)
def test_bad_weights_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        ObjectiveWeights(**kwargs)


def test_bad_trajectories_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown answer tasks"):
        Trajectory("q", {"augQ": 1})
    with pytest.raises(InputError):
        Trajectory("q", {STD: 1}, drafting_turns=-1)
