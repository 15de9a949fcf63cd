"""Group-relative advantages and MemOCR's combination of its three answer objectives.

A question is rolled out n times (its group). Each trajectory gets one reward per answer task: T_std
(the question on the normal image), T_augM (the question on the degraded image) and T_augQ (the cloze
question). Each task's advantage is GRPO's: the reward minus the group's mean for that task (the paper
does not divide by the standard deviation; ``normalize_std`` does, with the unbiased estimate). Then:

* every drafting turn of a trajectory gets the weighted mean ``sum(w_k * A_k) / sum(w_k)`` over the
  enabled tasks (the memory serves all of them);
* each answer turn gets its own task's weighted advantage ``w_k * A_k``.

Advantages are computed per trajectory and only then copied to its turns, so a trajectory that read
more chunks weighs the same in its group's statistics as one that read few.

A reward of None means the trajectory has no answer turn for that task, in practice T_augQ when its
memory had nothing to blank (:func:`memocr.train.cloze.make_cloze` returned None). That reward is left
out of its group's mean, the task's advantage for that trajectory is 0 (as if it had scored the mean)
and the drafting denominator stays the sum of all enabled weights, so the other tasks' pull on its
memory is not inflated. A group with fewer than two rewards for a task gives advantage 0: one sample has
no baseline to be better or worse than (the released code used the bare reward there).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields

from memocr.errors import ConfigError, InputError

STD, AUG_M, AUG_Q = "std", "aug_m", "aug_q"
TASKS = (STD, AUG_M, AUG_Q)
DRAFT = "draft"


@dataclass(frozen=True)
class ObjectiveWeights:
    """Weight of each answer task; 0 disables a task (the paper's ablations: ``aug_m=0, aug_q=0`` is
    T_std only, ``aug_m=0`` is T_std + T_augQ)."""

    std: float = 1.0
    aug_m: float = 0.7
    aug_q: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"objective weight {f.name} must be a finite number >= 0, got {value!r}")
        if not self.total:
            raise ConfigError("at least one objective weight must be above 0")

    @property
    def enabled(self) -> dict[str, float]:
        """Task -> weight, for the tasks whose weight is above 0, in the order of ``TASKS``."""
        return {task: getattr(self, task) for task in TASKS if getattr(self, task) > 0}

    @property
    def total(self) -> float:
        return float(sum(self.enabled.values()))


@dataclass(frozen=True)
class Trajectory:
    """One rollout: its group (the question's id), task -> reward (None or absent: no answer turn for
    that task) and how many drafting turns (chunks) it took."""

    group: Hashable
    rewards: Mapping[str, float | None]
    drafting_turns: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.rewards) - set(TASKS)
        if unknown:
            raise InputError(f"unknown answer tasks {sorted(unknown)}; the tasks are {', '.join(TASKS)}")
        if self.drafting_turns < 0:
            raise InputError(f"drafting_turns must be >= 0, got {self.drafting_turns}")


@dataclass(frozen=True)
class TrajectoryAdvantage:
    """``drafting``: the weighted mean; ``answers``: task -> w_k * A_k for the answer turns the
    trajectory has; ``per_task``: task -> A_k for every enabled task."""

    drafting: float
    answers: dict[str, float]
    per_task: dict[str, float]


def group_advantages(
    rewards: Sequence[float | None],
    group_ids: Sequence[Hashable],
    *,
    normalize_std: bool = False,
    eps: float = 1e-6,
) -> list[float]:
    """Each reward minus its group's mean (divided by the group's std + ``eps`` if ``normalize_std``).

    None rewards are left out of the statistics and get 0, as does every member of a group with fewer
    than two rewards.
    """
    if len(rewards) != len(group_ids):
        raise InputError(f"{len(rewards)} rewards but {len(group_ids)} group ids")
    members: dict[Hashable, list[float]] = defaultdict(list)
    for reward, group in zip(rewards, group_ids, strict=True):
        if reward is not None:
            if not math.isfinite(reward):
                raise InputError(f"rewards must be finite numbers, got {reward!r} in group {group!r}")
            members[group].append(float(reward))
    stats = {g: (statistics.fmean(v), statistics.stdev(v)) for g, v in members.items() if len(v) > 1}
    advantages = []
    for reward, group in zip(rewards, group_ids, strict=True):
        if reward is None or group not in stats:
            advantages.append(0.0)
            continue
        mean, std = stats[group]
        advantages.append((reward - mean) / (std + eps) if normalize_std else reward - mean)
    return advantages


def combine(
    trajectories: Sequence[Trajectory],
    weights: ObjectiveWeights | None = None,
    *,
    normalize_std: bool = False,
    eps: float = 1e-6,
) -> list[TrajectoryAdvantage]:
    """Per-task group advantages of each trajectory, its drafting advantage and its answer advantages."""
    weights = weights or ObjectiveWeights()
    groups = [t.group for t in trajectories]
    per_task = {
        task: group_advantages(
            [t.rewards.get(task) for t in trajectories], groups, normalize_std=normalize_std, eps=eps
        )
        for task in weights.enabled
    }
    combined = []
    for i, trajectory in enumerate(trajectories):
        own = {task: per_task[task][i] for task in weights.enabled}
        drafting = sum(w * own[task] for task, w in weights.enabled.items()) / weights.total
        answers = {
            task: w * own[task]
            for task, w in weights.enabled.items()
            if trajectory.rewards.get(task) is not None
        }
        combined.append(TrajectoryAdvantage(drafting=drafting, answers=answers, per_task=own))
    return combined


def turn_layout(
    trajectories: Sequence[Trajectory], weights: ObjectiveWeights | None = None
) -> list[tuple[int, str]]:
    """``(trajectory index, DRAFT or task)`` for every turn, in the order :func:`expand_to_turns` uses:
    trajectory by trajectory, its drafting turns, then its answer turns in the order of ``TASKS``
    (enabled tasks with a reward only)."""
    weights = weights or ObjectiveWeights()
    layout = []
    for i, trajectory in enumerate(trajectories):
        layout += [(i, DRAFT)] * trajectory.drafting_turns
        layout += [(i, task) for task in weights.enabled if trajectory.rewards.get(task) is not None]
    return layout


def expand_to_turns(
    trajectories: Sequence[Trajectory],
    weights: ObjectiveWeights | None = None,
    *,
    normalize_std: bool = False,
    eps: float = 1e-6,
) -> list[float]:
    """The advantage of every turn, laid out as :func:`turn_layout` says."""
    combined = combine(trajectories, weights, normalize_std=normalize_std, eps=eps)
    return [
        combined[i].drafting if kind == DRAFT else combined[i].answers[kind]
        for i, kind in turn_layout(trajectories, weights)
    ]
