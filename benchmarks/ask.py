"""Where the time of one `memocr ask` goes, with the embedded default on a ~10K-token document.

Prints the breakdown (model load, chunking, prefill, decode, render, fit, OCR, agent overhead), the
whole question's wall time, and the time to tokenize and chunk a ~1M-token document, each against
its target. Run: `.venv/bin/python benchmarks/ask.py [--budget B ...] [--tokens 10000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.chunking import chunk_document
from memocr.models import load_model
from memocr.render import AsyncRenderer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "harbour_town.md"
QUESTION = "In which village was the architect of the Saltgate Library born?"


def document_of(tokens: int, tokenizer) -> str:
    """The sample document, repeated as needed and cut to about ``tokens`` tokens."""
    ids = tokenizer.encode(SAMPLE.read_text(encoding="utf-8") + "\n\n")
    return tokenizer.decode((ids * (tokens // len(ids) + 1))[:tokens])


def line(label: str, seconds: float, wall: float) -> str:
    return f"  {label:<28}{seconds:8.2f} s  {100 * seconds / wall:5.1f} %"


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


async def main(budgets: list[int], tokens: int, million: int, settings: AgentSettings) -> None:
    clock = time.perf_counter()
    model = load_model("embedded")
    load_seconds = time.perf_counter() - clock
    async with model, AsyncRenderer(pages=1) as renderer:
        document = document_of(tokens, model.tokenizer)
        agent = MemoryAgent(model, settings, renderer)
        clock = time.perf_counter()
        trace = await agent.answer(Question(document=document, question=QUESTION), budgets)
        wall = time.perf_counter() - clock

        steps, answers = trace.steps, trace.answers
        prefill = sum(s.prefill_seconds or 0 for s in steps) + sum(a.prefill_seconds or 0 for a in answers)
        decode = sum(s.decode_seconds or 0 for s in steps) + sum(a.decode_seconds or 0 for a in answers)
        model_calls = sum(s.seconds for s in steps) + sum(a.answer_seconds for a in answers)
        ocr = sum(a.ocr_seconds or 0 for a in answers)
        render = trace.render.seconds if trace.render else 0.0
        fit = sum(a.fit_seconds or 0 for a in answers)
        chunking = trace.timings["chunking"]
        # Inside a model call but neither prefill, decode nor OCR: the backend's own bookkeeping.
        backend = model_calls - prefill - decode - ocr
        overhead = wall - model_calls - render - fit - chunking

        print(
            f"memocr ask, embedded default, {trace.document_tokens:,}-token document, "
            f"{len(steps)} chunk(s) of {trace.chunk_tokens}, budgets {budgets}"
        )
        print(f"  {'model load (once)':<28}{load_seconds:8.2f} s")
        for label, seconds in [
            ("chunking (tokenizer)", chunking),
            ("prefill", prefill),
            ("decode", decode),
            ("OCR (image -> text)", ocr),
            ("backend, outside llama.cpp", backend),
            ("render", render),
            ("fit to budget", fit),
            ("agent overhead", overhead),
        ]:
            print(line(label, seconds, wall))
        print(f"  {'whole question':<28}{wall:8.2f} s  (target <= 180 s: {verdict(wall <= 180)})")
        share = overhead / wall
        print(f"  agent overhead share {100 * share:.2f} % (target <= 5 %: {verdict(share <= 0.05)})")
        for answer in answers:
            print(
                f"  budget {answer.budget:>5}: {answer.visual_tokens:>4} visual tokens, "
                f"answer {answer.answer!r}"
            )

        big = document_of(million, model.tokenizer)
        clock = time.perf_counter()
        chunks, total = chunk_document(big, model.tokenizer, 5000)
        seconds = time.perf_counter() - clock
        print(
            f"tokenize + chunk a {total:,}-token document into {len(chunks)} chunks: {seconds:.2f} s "
            f"(target <= 5 s: {verdict(seconds <= 5)})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=int, action="append", help="budgets to answer at (default 1024 256 64 16)"
    )
    parser.add_argument("--tokens", type=int, default=10_000, help="document length in tokens")
    parser.add_argument("--million", type=int, default=1_000_000, help="length of the chunking test document")
    parser.add_argument(
        "--chunk-tokens", type=int, default=5000, help="chunk size (the paper's 5000 by default)"
    )
    parser.add_argument("--max-memory-tokens", type=int, default=2048, help="memory cap (the paper's 2048)")
    args = parser.parse_args()
    settings = AgentSettings(chunk_tokens=args.chunk_tokens, max_memory_tokens=args.max_memory_tokens)
    asyncio.run(main(args.budget or [1024, 256, 64, 16], args.tokens, args.million, settings))
