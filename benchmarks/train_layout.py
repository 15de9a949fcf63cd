"""Layout under budget-aware RL: does training on the rendered memory move the answer into headings?

    .venv/bin/python benchmarks/train_layout.py --out runs/train-layout            # the four arms
    .venv/bin/python benchmarks/train_layout.py --out runs/train-layout --resume latest
    .venv/bin/python benchmarks/train_layout.py --quick --out /tmp/train-layout    # smoke run

MemOCR's claim is that budget-aware RL (T_std at a training budget, T_augM on a degraded picture,
T_augQ cloze questions) teaches the agent to put crucial facts where a shrunk picture keeps them
legible, so accuracy at very small budgets holds up. This script tests that mechanism on a CPU with
real weights. The policy is SmolLM2-135M-Instruct (converted from the shipped GGUF, as
``benchmarks/train_signal.py`` does), a text model. It drafts the memory as text, and the memory picture
is read by the OCR reader inference uses (`memocr.models.ocr`): rendered, fitted to the budget, read by
OCR, and the policy answers from the text read. The OCR step is part of the environment, so every turn
the policy wrote (drafts and answers) is trained (`memocr.train.rollout`). Training is
`memocr.train.loop.train` itself; this script adds no training loop, only a hook that prints each step.

The task, and why. One-hop offline questions with distractors ("Who founded Gaecor Mills?"; the
context is the subject's document, which states the answer in one fact sentence, and distractors; the
answer entity's own document is left out, see train_signal.py for the shortcut it opens). One hop is
what a 135M model can learn to find in a few dozen steps (train_signal.py: held-out F1 0.03 to 0.29 in
30 steps, text memory). The answer must survive a small picture, and two things make it so:

* the T_std budget is 64 visual tokens. A short memory is still read whole by OCR there, so T_std
  rewards what the memory says;
* T_augM degrades that picture (0.25x per side, then back up). Measured with this renderer and OCR:
  a 32 px heading is still read from the degraded 64-token picture, 16 px body text never is. So
  T_augM pays only when the answer is in a heading. At 16 visual tokens OCR likewise reads a top
  heading and not the lines of body text below it.

The arms, at the same steps, rollouts and seeds: ``full`` (T_std + 0.7 T_augM + 0.3 T_augQ),
``std-only`` (T_std), ``no-aug-m`` (T_std + 0.3 T_augQ), and ``text`` (a MemAgent-style text memory,
T_std; its budgets are tokens of memory text). The reward is ``reward: f1`` for the answers and the
cloze: the model never writes ``\\boxed{}``, so the released rule pays 0 on every rollout (train_signal.py).

Held-out questions (none of them, nor their subject, a training question) are answered by the frozen
base and by each arm's final checkpoint, in the same run, with the same seeds, at 1024, 64 and 16
visual tokens (text arm: memory tokens). Accuracy is sub-EM (the paper's) and F1 of the stated answer
(the last box, else what follows "the answer is", else the whole reply; memocr's lenient rule). Where
the evidence is in the final memories is measured as `memocr analyze` does (`memocr.analysis.density`):
the share of gold-answer tokens present in the headings and in the body, evidence precision of each
region, heading count, and crucial (heading) and detailed (body) tokens. Two more say whether a
memory survives the budget by its size rather than its headings: the picture's own size (the visual
tokens it costs at the largest budget) and how much of what OCR read at 1024 tokens it still reads at
16 (a character-level similarity, 0 to 1).

Output: the per-step table (rewards per objective, loss, KL, seconds, peak and resident memory of the
process), the before/after table, OUT/train_layout.json and OUT/train_layout.png (reward per
objective over steps; sub-EM against budget before and after; gold share in headings before and
after; the picture's size and what OCR still reads at 16 tokens). Each arm is a training run in
OUT/arms/NAME (metrics.jsonl, checkpoints; only the newest two are kept, each about 2 GB with the
optimizer state); evaluations are cached in OUT/eval. With
``--resume latest`` finished arms and evaluations are reused and an interrupted arm continues from its
last checkpoint; the settings a run started with are kept in OUT/settings.json, and a resume with other
ones (only --arms, --arm-steps and --threads may change) is refused. When time is short, ``--arm-steps
no-aug-m=10`` trains an arm for fewer steps; its row is then named ``no-aug-m-10-steps``.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from train_signal import convert_smollm2, one_hop

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.analysis.density import evidence_vocabulary, region_density, tokens
from memocr.analysis.regions import split_regions
from memocr.data.io import write_records
from memocr.data.offline import build_offline
from memocr.errors import MemocrError
from memocr.metrics import extract_answer, f1, sub_exact_match
from memocr.prompts import MARKDOWN_DRAFT_PROMPTS
from memocr.train import heap
from memocr.train.checkpoint import checkpoint_dir, checkpoints
from memocr.train.config import TrainConfig
from memocr.train.log import read_metrics
from memocr.train.loop import StepView, train

BUDGETS = (1024, 64, 16)
ARMS: dict[str, dict[str, Any]] = {
    "full": {"memory": "image", "weight_aug_m": 0.7, "weight_aug_q": 0.3},
    "std-only": {"memory": "image", "weight_aug_m": 0.0, "weight_aug_q": 0.0},
    "no-aug-m": {"memory": "image", "weight_aug_m": 0.0, "weight_aug_q": 0.3},
    "text": {"memory": "text", "weight_aug_m": 0.0, "weight_aug_q": 0.0},
}
QUICK = {
    "steps": 2, "train_questions": 4, "eval_questions": 2, "n": 2, "batch_questions": 1,
    "eval_samples": 1, "save_every": 2,
}  # fmt: skip


def arm_steps(args: argparse.Namespace, arm: str) -> int:
    return args.arm_steps.get(arm, args.steps)


def arm_config(args: argparse.Namespace, arm: str, base: Path, data: Path, out: Path) -> TrainConfig:
    rollouts = args.n * args.batch_questions
    return TrainConfig(
        model=str(base), data=str(data), engine="local", local_batch=rollouts, concurrency=rollouts,
        reward="f1", n=args.n, batch_questions=args.batch_questions,
        mini_batch_questions=args.batch_questions, budget=args.budget, chunk_tokens=1000,
        max_memory_tokens=args.memory_tokens, max_answer_tokens=16, profile="full",
        draft_prompt=args.draft_prompt, temperature=args.temperature, top_p=1.0, lr=args.lr,
        warmup_steps=0, kl_coef=args.kl_coef,
        mixed_precision="bf16", micro_batch_tokens=4096, logprob_batch_tokens=4096,
        max_steps=arm_steps(args, arm), save_every=args.save_every, out=out, seed=args.seed, **ARMS[arm],
    )  # fmt: skip


# --- evaluation: the frozen base and each arm's final checkpoint, through the inference agent


def score_trace(trace: Any, record: Any) -> dict[str, Any]:
    """One held-out answer: scores per budget, and where the gold and evidence sit in the memory."""
    golds = record.answers
    row: dict[str, Any] = {"question": record.input, "golds": golds, "error": None, "budgets": {}}
    if trace.error is not None:
        row["error"] = f"{trace.error.stage}: {trace.error.message}"
    for answer in trace.answers:
        stated = extract_answer(answer.response, "lenient", "boxed") or answer.response
        row["budgets"][str(answer.budget)] = {
            "sub_em": sub_exact_match(stated, golds, "lenient"),
            "f1": f1(stated, golds, "lenient"),
            "response": answer.response,
            "ocr_text": answer.ocr_text,
            "visual_tokens": answer.visual_tokens,
        }
    memory = trace.final_memory
    regions = split_regions(memory)
    gold = evidence_vocabulary(golds, [])
    density = region_density(memory, golds, record.supporting_facts)
    row.update(
        memory=memory,
        headings=len(regions.crucial),
        crucial_tokens=density.crucial_tokens,
        detailed_tokens=density.detailed_tokens,
        crucial_precision=density.crucial_precision,
        detailed_precision=density.detailed_precision,
        gold_in_headings=len(gold & set(tokens(regions.crucial_text))) / len(gold) if gold else None,
        gold_in_body=len(gold & set(tokens(regions.detailed_text))) / len(gold) if gold else None,
    )
    return row


def _mean(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def ocr_kept(row: dict[str, Any], budget: int) -> float | None:
    """How much of what OCR read at the largest budget it still reads at ``budget`` (0 to 1)."""
    read = {b: row["budgets"].get(str(b), {}).get("ocr_text") for b in (BUDGETS[0], budget)}
    if read[BUDGETS[0]] is None or read[budget] is None:
        return None
    return difflib.SequenceMatcher(None, read[BUDGETS[0]], read[budget], autojunk=False).ratio()


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"answers": len(rows), "failed": sum(r["error"] is not None for r in rows)}
    # The memory picture's own size (the tokens it costs at the largest budget) and how legible it
    # stays at the smallest: a policy can keep its answer readable by writing a smaller picture.
    largest = [r["budgets"].get(str(BUDGETS[0]), {}).get("visual_tokens") for r in rows]
    summary["picture_tokens"] = _mean(largest)
    summary[f"ocr_kept@{BUDGETS[-1]}"] = _mean([ocr_kept(r, BUDGETS[-1]) for r in rows])
    for budget in BUDGETS:
        for metric in ("sub_em", "f1"):
            values = [r["budgets"].get(str(budget), {}).get(metric, 0.0) for r in rows]
            summary[f"{metric}@{budget}"] = statistics.fmean(values) if values else None
    for key in (
        "gold_in_headings", "gold_in_body", "crucial_precision", "detailed_precision", "headings",
        "crucial_tokens", "detailed_tokens",
    ):  # fmt: skip
        summary[key] = _mean([r[key] for r in rows])
    return summary


def evaluate(model_dir: Path, mode: str, records: list, args: argparse.Namespace) -> dict[str, Any]:
    """Every held-out question answered ``eval_samples`` times by the model in ``model_dir``."""
    from memocr.models.hf import HfModel
    from memocr.models.ocr import OcrReader
    from memocr.render import AsyncRenderer
    from memocr.train.batched import BatchedGeneration

    started = time.perf_counter()
    calls = len(records) * args.eval_samples
    base = HfModel(model_dir, dtype="bfloat16", name=f"hf:{model_dir.name}")
    generation = BatchedGeneration(base, calls)
    settings = AgentSettings(
        mode=mode, chunk_tokens=1000, max_memory_tokens=args.memory_tokens, max_answer_tokens=16,
        draft_prompt=args.draft_prompt, temperature=args.eval_temperature, top_p=1.0, profile="full",
    )  # fmt: skip
    questions = [
        (record, Question(record.context, record.input, f"{record.id}#{k}", record.answers,
                          seed=settings.question_seed("eval", record.id, k)))
        for record in records
        for k in range(args.eval_samples)
    ]  # fmt: skip

    async def run() -> list[Any]:
        if mode == "text":
            agent = MemoryAgent(generation, settings)
            return await asyncio.gather(*(agent.attempt(q, BUDGETS) for _, q in questions))
        async with AsyncRenderer(profile="full", pages=1) as renderer:
            agent = MemoryAgent(OcrReader(generation, reuse_reads=True), settings, renderer)
            return await asyncio.gather(*(agent.attempt(q, BUDGETS) for _, q in questions))

    traces = asyncio.run(run())
    rows = [score_trace(trace, record) for (record, _), trace in zip(questions, traces, strict=True)]
    return {"model": str(model_dir), "mode": mode, "rows": rows, "summary": summarize(rows),
            "seconds": time.perf_counter() - started}  # fmt: skip


def cached_evaluation(
    path: Path, model_dir: Path, mode: str, records: list, args: argparse.Namespace
) -> dict:
    if path.is_file():
        result = json.loads(path.read_text(encoding="utf-8"))
        result["summary"] = summarize(result["rows"])  # measures added since it was written
        return result
    result = evaluate(model_dir, mode, records, args)
    heap.release()  # the evaluated model's weights and activations
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(result, indent=1), encoding="utf-8")
    partial.replace(path)
    return result


# --- training: one run of memocr.train.loop.train per arm


class StepHook:
    """Prints each step's row and keeps only the newest checkpoint before the next one is written."""

    def __init__(self, arm: str) -> None:
        self.arm = arm

    def __call__(self, view: StepView) -> None:
        for _, path in checkpoints(view.config.out)[:-1]:
            shutil.rmtree(path, ignore_errors=True)
        print(format_step(self.arm, view.step, view.metrics), flush=True)


STEP_HEADER = (
    f"{'arm':<9} {'step':>4} {'R std':>6} {'R augM':>6} {'R augQ':>6} {'loss':>8} {'kl':>8} "
    f"{'vis tok':>7} {'step s':>6} {'peak GiB':>8} {'RSS GiB':>7}"
)


def _num(value: Any, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{format(value, spec):>{width}}"


def format_step(arm: str, step: int, m: dict[str, Any]) -> str:
    return (
        f"{arm:<9} {step:>4} {_num(m.get('reward/std'), '.3f', 6)} "
        f"{_num(m.get('reward/aug_m'), '.3f', 6)} {_num(m.get('reward/aug_q'), '.3f', 6)} "
        f"{_num(m.get('loss'), '.4f', 8)} {_num(m.get('kl'), '.1e', 8)} "
        f"{_num(m.get('visual_tokens'), '.0f', 7)} {_num(m.get('time/step'), '.0f', 6)} "
        f"{_num(m.get('memory/peak_gib'), '.2f', 8)} {_num(m.get('memory/resident_gib'), '.2f', 7)}"
    )


def train_arm(args: argparse.Namespace, arm: str, base: Path, data: Path, out: Path) -> float:
    """Train ``arm`` to its steps (resuming its newest checkpoint if any); seconds spent."""
    if checkpoint_dir(out, arm_steps(args, arm)).is_dir():
        return 0.0
    config = arm_config(args, arm, base, data, out)
    if checkpoints(out):
        config.resume = "latest"
    started = time.perf_counter()
    train(config, after_step=StepHook(arm))
    heap.release()
    return time.perf_counter() - started


# --- report


TABLE_HEADER = (
    f"{'model':<16} {'memory':<6} {'sub-EM 1024/64/16':>18} {'F1 1024/64/16':>15} "
    f"{'gold head/body':>14} {'evid prec h/b':>13} {'heads':>5} {'tok h/b':>9} {'pic tok':>7} "
    f"{'OCR kept@16':>11}"
)


def format_summary(label: str, mode: str, s: dict[str, Any]) -> str:
    def trio(metric: str) -> str:
        return " ".join(_num(s.get(f"{metric}@{b}"), ".2f", 4) for b in BUDGETS)

    def pair(a: str, b: str, spec: str = ".2f") -> str:
        return f"{_num(s.get(a), spec, 4).strip()}/{_num(s.get(b), spec, 4).strip()}"

    return (
        f"{label:<16} {mode:<6} {trio('sub_em'):>18} {trio('f1'):>15} "
        f"{pair('gold_in_headings', 'gold_in_body'):>14} "
        f"{pair('crucial_precision', 'detailed_precision'):>13} "
        f"{_num(s.get('headings'), '.1f', 5)} {pair('crucial_tokens', 'detailed_tokens', '.0f'):>9} "
        f"{_num(s.get('picture_tokens'), '.0f', 7)} {_num(s.get(f'ocr_kept@{BUDGETS[-1]}'), '.2f', 11)}"
    )


def plot(curves: dict[str, list[dict]], evaluations: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (rewards, budgets, density, size) = plt.subplots(1, 4, figsize=(21, 4.5))
    colours = dict(zip(ARMS, ("C0", "C1", "C2", "C3"), strict=True))
    styles = {"std": "-", "aug_m": "--", "aug_q": ":"}
    for arm, rows in curves.items():
        for task, style in styles.items():
            points = [(r["step"], r[f"reward/{task}"]) for r in rows if f"reward/{task}" in r]
            if points:
                steps, values = zip(*points, strict=True)
                rewards.plot(steps, values, style, color=colours[arm], label=f"{arm} {task}")
    rewards.set_xlabel("training step")
    rewards.set_ylabel("training reward (F1)")
    rewards.set_title("reward per objective")
    rewards.legend(fontsize=7)
    for label, result in evaluations.items():
        frozen = label.startswith("frozen")
        arm = re.sub(r"-\d+-steps$", "", label.removeprefix("after:"))
        summary = result["summary"]
        budgets.plot(
            range(len(BUDGETS)), [summary[f"sub_em@{b}"] for b in BUDGETS], "s--" if frozen else "o-",
            color="0.3" if frozen else colours.get(arm, "k"), label=label,
        )  # fmt: skip
    budgets.set_xticks(range(len(BUDGETS)), [str(b) for b in BUDGETS])
    budgets.set_xlabel("budget (visual tokens; text arm: memory tokens)")
    budgets.set_ylabel("held-out sub-EM")
    budgets.set_title("accuracy against budget, before and after")
    budgets.legend(fontsize=7)
    labels = list(evaluations)
    shares = [evaluations[k]["summary"]["gold_in_headings"] or 0.0 for k in labels]
    body = [evaluations[k]["summary"]["gold_in_body"] or 0.0 for k in labels]
    x = range(len(labels))
    density.bar([i - 0.2 for i in x], shares, 0.4, label="gold tokens in headings")
    density.bar([i + 0.2 for i in x], body, 0.4, label="gold tokens in body")
    density.set_xticks(list(x), labels, rotation=30, ha="right", fontsize=8)
    density.set_ylabel("share of gold-answer tokens present")
    density.set_title("where the answer is in the final memory")
    density.legend(fontsize=7)
    pictures = [evaluations[k]["summary"].get("picture_tokens") or 0.0 for k in labels]
    size.bar(list(x), pictures, 0.5, color="C4")
    size.set_xticks(list(x), labels, rotation=30, ha="right", fontsize=8)
    size.set_ylabel(f"visual tokens of the memory picture at {BUDGETS[0]}")
    size.set_title(f"picture size (label: share OCR still reads at {BUDGETS[-1]})")
    for i, key in enumerate(labels):
        kept = evaluations[key]["summary"].get(f"ocr_kept@{BUDGETS[-1]}")
        if kept is not None:
            size.annotate(f"{kept:.2f}", (i, pictures[i]), ha="center", va="bottom", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


SETTINGS_FILE = "settings.json"
# What an interrupted run may change when it resumes; every other argument shapes its figures.
RESUMABLE = {"out", "resume", "arms", "threads", "arm_steps"}


def parse_arm_steps(text: str) -> dict[str, int]:
    """``no-aug-m=10,text=10`` -> {"no-aug-m": 10, "text": 10}."""
    steps: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        arm, _, value = item.partition("=")
        if arm not in ARMS or not value.isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: expected ARM=STEPS, ARM one of {', '.join(ARMS)}")
        steps[arm] = int(value)
    return steps


def record_or_compare_settings(path: Path, args: argparse.Namespace) -> list[str]:
    """On a run's first start, write its settings to ``path`` and return []; later, return the
    arguments that differ from those written, as ``name: then -> now``."""
    now = {k: v for k, v in vars(args).items() if k not in RESUMABLE}
    if not path.is_file():
        path.write_text(json.dumps(now, indent=1), encoding="utf-8")
        return []
    then = json.loads(path.read_text(encoding="utf-8"))
    return [f"{k}: {then.get(k)!r} -> {v!r}" for k, v in now.items() if then.get(k) != v]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/train-layout"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: every arm for 2 steps of 2 rollouts, 4 training and 2 held-out questions",
    )
    parser.add_argument(
        "--resume", choices=["latest"], help="reuse finished arms and evaluations, continue the rest"
    )
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated subset of {', '.join(ARMS)}")
    parser.add_argument("--steps", type=int, default=20, help="steps per arm (20: 17-47 min an arm here)")
    parser.add_argument(
        "--arm-steps",
        type=parse_arm_steps,
        default={},
        help="fewer steps for some arms when time is short, e.g. no-aug-m=10,text=10 (named in their rows)",
    )
    parser.add_argument("--save-every", type=int, default=5, help="checkpoint every N steps (for --resume)")
    parser.add_argument("--seed", type=int, default=0, help="seed of rollouts and data order")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the offline questions")
    parser.add_argument("--documents", type=int, default=3, help="documents per context (1 + distractors)")
    parser.add_argument("--train-questions", type=int, default=64)
    parser.add_argument("--eval-questions", type=int, default=16)
    parser.add_argument("--eval-samples", type=int, default=2, help="samples per held-out question")
    parser.add_argument("--eval-temperature", type=float, default=0.7)
    parser.add_argument("--n", type=int, default=4, help="rollouts per question")
    parser.add_argument("--batch-questions", type=int, default=2)
    parser.add_argument("--budget", type=int, default=64, help="T_std training budget (visual tokens)")
    parser.add_argument("--memory-tokens", type=int, default=64, help="cap on each memory draft")
    parser.add_argument(
        "--draft-prompt",
        default="draft-markdown-lead",
        choices=MARKDOWN_DRAFT_PROMPTS,
        help="drafting prompt of the image arms (the text arm keeps the text memory's own)",
    )
    parser.add_argument("--temperature", type=float, default=0.7, help="rollout sampling temperature")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--kl-coef", type=float, default=0.001)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; arms: {', '.join(ARMS)}")

    import torch
    from transformers.utils import logging

    torch.set_num_threads(args.threads)
    logging.disable_progress_bar()  # weight loading bars, once per model and arm
    out: Path = args.out
    previous = [p for p in (out / "arms").glob("*/checkpoint-*")] + list((out / "eval").glob("*.json"))
    if previous and not args.resume:
        print(f"{out} holds an earlier run: pass --resume latest, or another --out", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    changed = record_or_compare_settings(out / SETTINGS_FILE, args)
    if changed:
        print(f"{out} was started with other settings ({'; '.join(changed)}): rerun with those, or "
              "use another --out", file=sys.stderr)  # fmt: skip
        return 2
    started = time.perf_counter()
    base = out / "base-model"
    converted = convert_smollm2(base)
    if converted:
        print(f"converted SmolLM2-135M-Instruct (Q4_1 GGUF) to transformers weights in {converted:.0f} s")

    total = args.train_questions + args.eval_questions
    # build_offline writes the answer entity's document too; one_hop leaves it out of the context.
    records = [one_hop(r) for r in build_offline(args.documents + 1, total, args.data_seed)]
    held_out, training = records[: args.eval_questions], records[args.eval_questions :]
    subjects = {r.input for r in training}
    if any(r.input in subjects for r in held_out):
        raise SystemExit("a held-out question is also a training question")
    data = out / "train.jsonl"
    write_records(data, training)
    print(
        f"{len(training)} training / {len(held_out)} held-out one-hop questions ({args.documents} documents "
        f"each); arms {', '.join(arms)}; {args.steps} steps of {args.n} rollouts x {args.batch_questions} "
        f"questions; T_std budget {args.budget} visual tokens; evaluation at {'/'.join(map(str, BUDGETS))}, "
        f"{args.eval_samples} sample(s) per question at T={args.eval_temperature}"
    )

    evaluations: dict[str, dict] = {}
    timings: dict[str, dict[str, float]] = {}
    modes = sorted({"text" if ARMS[a]["memory"] == "text" else "visual" for a in arms}, reverse=True)
    for mode in modes:
        clock = time.perf_counter()
        evaluations[f"frozen:{mode}"] = cached_evaluation(
            out / "eval" / f"frozen-{mode}.json", base, mode, held_out, args
        )
        print(format_summary(f"frozen ({mode})", mode, evaluations[f"frozen:{mode}"]["summary"]).rstrip(),
              f"  [{time.perf_counter() - clock:.0f} s]", flush=True)  # fmt: skip
    print(STEP_HEADER, flush=True)
    for arm in arms:
        run = out / "arms" / arm
        train_seconds = train_arm(args, arm, base, data, run)
        clock = time.perf_counter()
        mode = "text" if ARMS[arm]["memory"] == "text" else "visual"
        steps = arm_steps(args, arm)
        label = arm if steps == args.steps else f"{arm}-{steps}-steps"
        evaluations[f"after:{label}"] = cached_evaluation(
            out / "eval" / f"{label}.json", checkpoint_dir(run, steps), mode, held_out, args
        )
        timings[arm] = {"train_seconds": train_seconds, "eval_seconds": time.perf_counter() - clock}

    curves = {arm: read_metrics(out / "arms" / arm) for arm in arms}
    wall = time.perf_counter() - started
    print()
    print(TABLE_HEADER)
    for label, result in evaluations.items():
        name = f"frozen ({result['mode']})" if label.startswith("frozen") else label.removeprefix("after:")
        print(format_summary(name, result["mode"], result["summary"]))
    print()
    for arm in arms:
        rows = curves[arm]
        peaks = [r["memory/peak_gib"] for r in rows if "memory/peak_gib" in r]
        resident = [r["memory/resident_gib"] for r in rows if "memory/resident_gib" in r]
        seconds = [r["time/step"] for r in rows if "time/step" in r]
        print(
            f"{arm}: {len(rows)} steps, {statistics.fmean(seconds) if seconds else 0:.0f} s/step; "
            f"peak RSS per step {' '.join(f'{p:.2f}' for p in peaks)} GiB; resident after the trim "
            f"{' '.join(f'{p:.2f}' for p in resident)} GiB; training {timings[arm]['train_seconds']:.0f} s "
            f"(this invocation), evaluation {timings[arm]['eval_seconds']:.0f} s"
        )
    print(f"wall time {wall / 60:.1f} min")
    figures = {"args": {k: str(v) for k, v in vars(args).items()}, "wall_seconds": wall,
               "evaluations": evaluations, "curves": curves, "timings": timings}  # fmt: skip
    (out / "train_layout.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    plot(curves, evaluations, out / "train_layout.png")
    print(f"figures: {out / 'train_layout.json'}, plot: {out / 'train_layout.png'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MemocrError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
