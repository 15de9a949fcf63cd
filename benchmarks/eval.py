"""What `memocr eval` itself costs: runner overhead per question, and throughput against the renderer.

    .venv/bin/python benchmarks/eval.py [--questions 200] [--visual-questions 60] [--concurrency 8]

1. Overhead: the runner with an in-process model that answers instantly, in text mode (no render), on
   the offline set, 4 budgets: wall time per question is what the runner adds (loading, chunking,
   tokenizing, trace files, fsynced records). Target: <= 50 ms per question.
2. Throughput: the whole visual pipeline against a fake OpenAI-compatible server (a subprocess on
   127.0.0.1 that answers at once), one budget, compared with the in-process renderer's renders/s at
   the same concurrency and page count. Target: questions/s >= 80% of renders/s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import memocr.models
from memocr.eval.config import EvalConfig
from memocr.eval.run_dir import RunDirectory
from memocr.eval.runner import evaluate
from memocr.models.base import ChatModel, Completion, Usage
from memocr.render import AsyncRenderer

MEMORY = "# Grestombury\n\n**Feimei Thakofaer** founded Gaecor Mills in 1861.\n\n" + "\n".join(
    f"- **Detail {i}**: a supporting sentence about the mills and the town." for i in range(10)
)
TESTS = Path(__file__).resolve().parent.parent / "tests"


class _Words:
    def encode(self, text: str) -> list[int]:
        return [hash(word) & 0xFFFF for word in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join("w" for _ in ids)


class InstantModel(ChatModel):
    """Answers every call at once: drafts get a fixed memory, answers a boxed guess."""

    name = "instant"

    def __init__(self) -> None:
        self._tokenizer = _Words()

    @property
    def tokenizer(self) -> _Words:
        return self._tokenizer

    async def chat(self, messages, sampling) -> Completion:
        text = "\\boxed{Grestombury}" if "Your answer:" in str(messages) else MEMORY
        return Completion(text=text, usage=Usage(prompt_tokens=1, completion_tokens=1), seconds=0.0)


def overhead(questions: int, concurrency: int) -> float:
    memocr.models.load_model = lambda spec, **_: InstantModel()
    with tempfile.TemporaryDirectory() as out:
        config = EvalConfig(
            dataset=["offline"], length=[20], n=questions, mode=["text"], model="instant",
            out=Path(out), concurrency=concurrency,
        )  # fmt: skip
        started = time.perf_counter()
        outcome = evaluate(config, progress=False)
        seconds = time.perf_counter() - started
    assert len(outcome.records) == questions * 4 and not outcome.failures
    return seconds / questions


def _start_fake_server() -> tuple[subprocess.Popen, str]:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from fake_openai import FakeOpenAIServer\n"
        "server = FakeOpenAIServer(); server.state.reply_fn = lambda body: "
        "'\\\\boxed{Grestombury}' if 'Your answer:' in str(body) else sys.argv[2]\n"
        "server.start(); print(server.spec, flush=True)\nwhile True: time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(TESTS), MEMORY], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def pipeline_questions_per_second(questions: int, concurrency: int) -> tuple[float, float]:
    """(questions/s over the whole call, start-up included; questions/s once the first is saved)."""
    saved_at: list[float] = []
    save = RunDirectory.save

    def timed_save(self, *args):
        records = save(self, *args)
        saved_at.append(time.perf_counter())
        return records

    RunDirectory.save = timed_save
    process, spec = _start_fake_server()
    try:
        with tempfile.TemporaryDirectory() as out:
            config = EvalConfig(
                dataset=["offline"], length=[20], n=questions, mode=["visual"], budget=[256],
                model=spec, out=Path(out), concurrency=concurrency,
            )  # fmt: skip
            started = time.perf_counter()
            outcome = evaluate(config, progress=False)
            seconds = time.perf_counter() - started
        assert len(outcome.records) == questions and not outcome.failures, outcome.failures[:1]
    finally:
        process.kill()
        RunDirectory.save = save
    return questions / seconds, (questions - 1) / (saved_at[-1] - saved_at[0])


async def renders_per_second(renders: int, concurrency: int) -> float:
    async with AsyncRenderer(pages=min(concurrency, 4)) as renderer:
        await renderer.render(MEMORY)  # warm
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                await renderer.render(MEMORY)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(renders)))
        return renders / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--visual-questions", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    per_question = overhead(args.questions, args.concurrency)
    print(
        f"runner overhead: {1000 * per_question:.1f} ms per question "
        f"({args.questions} questions x 4 budgets, text mode, instant model; target <= 50 ms)"
    )
    renders = asyncio.run(renders_per_second(args.visual_questions, args.concurrency))
    whole, steady = pipeline_questions_per_second(args.visual_questions, args.concurrency)
    print(f"in-process renderer: {renders:.1f} renders/s at concurrency {args.concurrency} (warm)")
    print(
        f"eval pipeline (fake server, visual, 1 budget): {steady:.1f} questions/s once running, "
        f"{whole:.1f} questions/s counting start-up (model, Chromium, dataset)"
    )
    print(f"ratio: {steady / renders:.2f} once running, {whole / renders:.2f} with start-up (target >= 0.80)")


if __name__ == "__main__":
    main()
