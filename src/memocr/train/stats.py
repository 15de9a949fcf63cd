"""What a step's rollouts and turns say, as `Meter` entries (summed over processes before logging).

Keys: ``reward/<task>`` (mean over the rollouts that have that answer turn), ``reward/weighted``
(sum of w_k R_k over the enabled tasks / sum of w_k), ``advantage/mean|std_dev|abs_mean`` over
the trained turns and ``advantage/<kind>_mean`` per kind of turn; counts (per process, summed):
``turns/<kind>``, ``turns/untrainable`` (completions holding a vision marker, left out) and
``rollouts/*``; ``length/*`` (completion and prompt tokens), ``visual_tokens`` of the T_std image
and ``chunks`` per rollout.
"""

from __future__ import annotations

from collections.abc import Sequence

from memocr.train.advantages import ObjectiveWeights
from memocr.train.log import Meter
from memocr.train.rollout import Rollout
from memocr.train.turns import KINDS, Turn

COUNTS = (
    "turns/untrainable",
    "rollouts/finished",
    "rollouts/failed",
    "rollouts/no_cloze",
    *tuple(f"turns/{k}" for k in KINDS),
)


def rollout_stats(rollouts: Sequence[Rollout], turns: Sequence[Turn], weights: ObjectiveWeights) -> Meter:
    meter = Meter()
    finished = [r for r in rollouts if r.error is None]
    meter.add("rollouts/finished", len(finished))
    meter.add("rollouts/failed", len(rollouts) - len(finished))
    meter.add("rollouts/no_cloze", sum(r.rewards.get("aug_q", 0) is None for r in finished))
    for result in finished:
        present = {task: r for task, r in result.rewards.items() if r is not None}
        for task, reward in present.items():
            meter.add(f"reward/{task}", reward)
        enabled = weights.enabled
        meter.add("reward/weighted", sum(w * present.get(t, 0.0) for t, w in enabled.items()) / weights.total)
        meter.add("chunks", sum(turn.kind == "draft" for turn in result.turns))
        if result.visual_tokens is not None:
            meter.add("visual_tokens", result.visual_tokens)
        meter.add("time/rollout_each", result.seconds)
    for kind in KINDS:
        meter.add(f"turns/{kind}", sum(turn.kind == kind for turn in turns))
    for turn in turns:
        meter.add("advantage/mean", turn.advantage)
        meter.add("advantage/square", turn.advantage**2)
        meter.add("advantage/abs_mean", abs(turn.advantage))
        meter.add(f"advantage/{turn.kind}_mean", turn.advantage)
        meter.add(f"length/{turn.kind}_completion", len(turn.completion_ids))
        meter.add("length/prompt", len(turn.prompt_ids))
        meter.add("length/completion", len(turn.completion_ids))
    return meter


def finish(means: dict[str, float], meter: Meter) -> dict[str, float]:
    """Means with counts turned back into totals and the advantage's std derived."""
    out = dict(means)
    for key in COUNTS:
        if key in meter.sums:
            out[key] = meter.sums[key]
    out["turns/total"] = sum(out.get(f"turns/{kind}", 0.0) for kind in KINDS)
    if "advantage/square" in out:
        variance = out.pop("advantage/square") - out.get("advantage/mean", 0.0) ** 2
        out["advantage/std_dev"] = max(variance, 0.0) ** 0.5
    return out


def summary(step: int, max_steps: int, metrics: dict[str, float]) -> str:
    """The one line printed per step."""

    def get(key: str, spec: str = ".3f") -> str:
        value = metrics.get(key)
        return "-" if value is None else format(value, spec)

    return (
        f"step {step}/{max_steps}: reward std {get('reward/std')} augM {get('reward/aug_m')} "
        f"augQ {get('reward/aug_q')} | loss {get('loss', '.4g')} kl {get('kl', '.2e')} "
        f"clip {get('clip_fraction')} | {int(metrics.get('turns/total', 0))} turns, "
        f"{int(metrics.get('rollouts/failed', 0))} failed | {get('time/step', '.1f')} s"
    )
