"""The training loop: rollouts through the agent, rewards, advantages, PPO updates, metrics, checkpoints.

Per step, each process takes its share of ``batch_questions`` questions, rolls each out ``n`` times
(`memocr.train.rollout`), turns rewards into per-turn advantages (`memocr.train.advantages`), scores
old and reference log-probs, runs ``ppo_epochs`` passes of mini-batch updates (`memocr.train.update`),
steps the lr schedule and brings the generation engine up to date. Simplifications, stated: one
process rolls out its own questions (no cross-process load balancing of rollouts); the lr schedule
and warm-up count training steps, as veRL's do; a rollout that fails is left out of its group.
After every step the memory freed is handed back to the system (`memocr.train.heap`), and the step's
peak and remaining resident memory are logged (``memory/peak_gib``, ``memory/resident_gib``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memocr.config import to_dict, write_config
from memocr.errors import ConfigError, TrainingError
from memocr.train import heap
from memocr.train.batching import global_sum, mini_batches
from memocr.train.checkpoint import checkpoints, load_checkpoint, resolve_resume, save_checkpoint
from memocr.train.config import TrainConfig
from memocr.train.log import Meter, MetricsLog, read_metrics
from memocr.train.stats import finish, rollout_stats, summary

StepCallback = Callable[[int, dict[str, float], str], None]


@dataclass
class StepView:
    """What an ``after_step`` hook of `train` sees: the step just trained and its metrics, the policy
    (unwrapped from DDP), the frozen reference model (None when ``kl_coef`` is 0), the generation
    engine's `ChatModel`, and the event-loop runner and renderer the rollouts use (renderer None for a
    text memory). For evaluations during training, e.g. ``benchmarks/train_signal.py``."""

    step: int
    metrics: dict[str, float]
    config: TrainConfig
    model: Any
    reference: Any
    chat_model: Any
    runner: asyncio.Runner
    renderer: Any


AfterStep = Callable[[StepView], "dict[str, float] | None"]


@dataclass
class TrainResult:
    out: Path
    last_step: int
    main: bool = True  # whether this is the main process (the one that writes logs and prints)
    checkpoints: list[Path] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)


def train(
    config: TrainConfig,
    on_step: StepCallback | None = None,
    progress: bool = False,
    after_step: AfterStep | None = None,
) -> TrainResult:
    """Run (or resume) training as ``config`` says; every process of an accelerate launch calls it.

    ``after_step`` is called on every process after each step, before its metrics are written; the
    values it returns are added to the step's metrics (the main process's are the ones logged).
    """
    import torch
    from tqdm import tqdm

    from memocr.render import AsyncRenderer
    from memocr.train.engine import build_engine
    from memocr.train.policy import PolicyInputs
    from memocr.train.setup import (
        base_model_path,
        load_policy,
        make_accelerator,
        optimizer_and_schedule,
        training_records,
    )

    accelerator = make_accelerator(config.mixed_precision)
    config.check_world(accelerator.num_processes)
    out, main = config.out, accelerator.is_main_process
    resume_from = resolve_resume(out, config.resume) if config.resume else None
    if resume_from is None and checkpoints(out):
        raise ConfigError(f"{out} already holds checkpoints: pass --resume latest, or another --out")
    records = training_records(config)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    base = base_model_path(config, accelerator)
    torch.manual_seed(config.seed)
    model = load_policy(base, config.dtype)
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    ref = None
    if config.kl_coef:  # frozen and only run forward: bfloat16 on GPUs, where it is a whole copy each
        ref_dtype = "bfloat16" if accelerator.device.type == "cuda" else config.dtype
        ref = load_policy(base, ref_dtype).eval().requires_grad_(False)
    optimizer, schedule = optimizer_and_schedule(model, config)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(schedule)
    if ref is not None:
        # Not handed to accelerate: it is frozen, needs no wrapper, and must not be saved in checkpoints.
        # Under FSDP each process holds the whole reference model (see docs/training.md).
        ref = ref.to(accelerator.device)
        if accelerator.native_amp:  # the same autocast as the prepared policy, for scoring and generation
            ref.forward = accelerator.autocast()(ref.forward)
    start = load_checkpoint(accelerator, resume_from) if resume_from else 0
    log = MetricsLog(out, resumed_step=start) if main else None
    if main:
        write_config(config, out / "config.yaml")
    inputs = PolicyInputs.from_pretrained(base)
    tokenizer = None if config.engine == "local" else inputs_tokenizer(base)
    engine = build_engine(
        config.engine, base, model, accelerator, tokenizer, group_port=51216, local_batch=config.local_batch
    )
    parts = dict(model=model, ref=ref, optimizer=optimizer, schedule=schedule, inputs=inputs, engine=engine)
    # A text-only policy reads its memory picture through OCR, as inference's CPU reader does (rollout.py).
    parts["ocr"] = config.memory == "image" and inputs.image_token_id is None
    result = TrainResult(out=out, last_step=start, main=main)
    bar = tqdm(
        total=config.max_steps, initial=start, desc="training", unit="step", disable=not (progress and main)
    )
    # A text memory is never rendered: no browser to start.
    renderer = AsyncRenderer(profile=config.profile) if config.memory == "image" else None
    try:
        with asyncio.Runner() as runner:
            if renderer is not None:
                runner.run(renderer.start())
            try:
                for step in range(start + 1, config.max_steps + 1):
                    heap.reset_peak()
                    metrics = _step(step, config, records, accelerator, runner, renderer, parts)
                    metrics.update(heap.after_step())  # freed memory back to the system (heap.py)
                    if after_step is not None:
                        view = StepView(
                            step, metrics, config, accelerator.unwrap_model(model), ref,
                            engine.chat_model, runner, renderer,
                        )  # fmt: skip
                        metrics.update(after_step(view) or {})
                    if log is not None:
                        log.write(step, metrics)
                    if on_step is not None and main:
                        on_step(step, metrics, summary(step, config.max_steps, metrics))
                    if step % config.save_every == 0 or step == config.max_steps:
                        save_checkpoint(accelerator, model, base, out, step, to_dict(config))
                    result.last_step = step
                    bar.update(1)
            finally:
                if renderer is not None:
                    runner.run(renderer.close())
    finally:
        bar.close()
        if log is not None:
            log.close()
    result.checkpoints = [path for _, path in checkpoints(out)]
    result.metrics = read_metrics(out)
    return result


def inputs_tokenizer(base: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base))


def _step(
    step: int,
    config: TrainConfig,
    records: list,
    accelerator: Any,
    runner: asyncio.Runner,
    renderer: Any,
    parts: dict[str, Any],
) -> dict[str, float]:
    from memocr.train.rollout import assign_advantages, rollout_batch
    from memocr.train.setup import step_indices
    from memocr.train.update import engine_gap, score, update_mini_batch

    clock = time.perf_counter()
    model, ref, inputs = parts["model"], parts["ref"], parts["inputs"]
    share = config.batch_questions // accelerator.num_processes
    rank = accelerator.process_index
    indices = step_indices(len(records), config.batch_questions, step, config.seed)
    batch = [records[i] for i in indices[rank * share : (rank + 1) * share]]

    model.eval()
    engine = parts["engine"].chat_model
    rollouts = runner.run(rollout_batch(engine, renderer, batch, config, step, ocr=parts["ocr"]))
    weights = config.objective_weights()
    recorded = assign_advantages(rollouts, weights, config.normalize_std)
    turns = [turn for turn in recorded if inputs.trainable(turn)]
    if global_sum(0.0 if turns else 1.0, accelerator):
        errors = [r.error for r in rollouts if r.error]
        raise TrainingError(
            f"step {step}: a process has no turn to train (every rollout failed or wrote vision markers); "
            f"first error: {errors[0] if errors else None}"
        )
    timings = {"time/rollout": time.perf_counter() - clock}

    clock = time.perf_counter()
    score(model, inputs, turns, accelerator, config.logprob_batch_tokens, "old_logprobs")
    if ref is not None:
        score(ref, inputs, turns, accelerator, config.logprob_batch_tokens, "ref_logprobs")
    timings["time/logprobs"] = time.perf_counter() - clock

    clock = time.perf_counter()
    lr = parts["schedule"].get_last_lr()[0]
    updates = Meter()
    share_mini = config.mini_batch_questions // accelerator.num_processes
    wanted = config.batch_questions // config.mini_batch_questions
    for epoch in range(config.ppo_epochs):
        shuffle = random.Random(f"{config.seed}:{step}:{epoch}")
        batches = mini_batches(turns, share_mini, shuffle)
        batches += [[]] * (wanted - len(batches))  # questions whose rollouts all failed: padding steps
        for mini in batches:
            updates.update(
                update_mini_batch(model, parts["optimizer"], inputs, mini, config, accelerator, turns[0])
            )
    parts["schedule"].step()
    timings["time/update"] = time.perf_counter() - clock
    clock = time.perf_counter()
    parts["engine"].after_update()
    timings["time/sync"] = time.perf_counter() - clock

    meter = rollout_stats(rollouts, turns, weights).update(updates)
    meter.add("turns/untrainable", len(recorded) - len(turns))
    gap = engine_gap(turns)
    if gap is not None:
        meter.add("engine_logprob_gap", gap)
    for key, value in timings.items():
        meter.add(key, value)
    gathered = meter.gathered(accelerator)
    metrics = finish(gathered.means(), gathered)
    metrics["lr"] = lr
    metrics["time/step"] = sum(timings.values())
    return metrics
