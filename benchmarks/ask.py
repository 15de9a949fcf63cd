"""The default `memocr ask` (no flags but --doc and --question) on a ~10K-token document, timed.

Runs the real command in a subprocess, so model load, Chromium start and every default are included,
then reads the trace it wrote for the breakdown (chunking, prefill, decode, render, fit, OCR). Also
times tokenizing and chunking a ~1M-token document. Each figure is printed against its target.
Run: `.venv/bin/python benchmarks/ask.py [--tokens 10000] [-- extra ask flags]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memocr.chunking import chunk_document
from memocr.models import load_model

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "harbour_town.md"
QUESTION = "In which village was the architect of the Saltgate Library born?"
ASK_TARGET_S = 180
CHUNKING_TARGET_S = 5


def document_of(tokens: int, tokenizer) -> str:
    """The sample document, repeated as needed and cut to about ``tokens`` tokens."""
    ids = tokenizer.encode(SAMPLE.read_text(encoding="utf-8") + "\n\n")
    return tokenizer.decode((ids * (tokens // len(ids) + 1))[:tokens])


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def line(label: str, seconds: float, wall: float) -> str:
    return f"  {label:<28}{seconds:8.2f} s  {100 * seconds / wall:5.1f} %"


def time_default_ask(document: str, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        doc = Path(folder) / "doc.md"
        doc.write_text(document, encoding="utf-8")
        command = [sys.executable, "-m", "memocr.cli", "ask", "--doc", str(doc), "--question", QUESTION]
        command += ["--trace-dir", str(Path(folder) / "runs"), *extra]
        clock = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - clock
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            raise SystemExit(f"memocr ask failed with exit code {result.returncode}")
        trace = json.loads((Path(folder) / "runs" / "traces.jsonl").read_text().splitlines()[-1])

    steps, answers = trace["steps"], trace["answers"]
    settings = trace["settings"]
    print(
        f"memocr ask {' '.join(extra) or '(defaults)'}: {trace['model']}, {trace['document_tokens']:,}-token "
        f"document, {len(steps)} chunk(s) of up to {settings['chunk_tokens']}, memory cap "
        f"{settings['max_memory_tokens']}, answer cap {settings['max_answer_tokens']}, "
        f"context {settings['context_length']}"
    )
    prefill = sum(s["prefill_seconds"] or 0 for s in steps) + sum(a["prefill_seconds"] or 0 for a in answers)
    decode = sum(s["decode_seconds"] or 0 for s in steps) + sum(a["decode_seconds"] or 0 for a in answers)
    ocr = sum(a["ocr_seconds"] or 0 for a in answers)
    render = trace["render"]["seconds"] if trace["render"] else 0.0
    fit = sum(a["fit_seconds"] or 0 for a in answers)
    chunking = trace["timings"]["chunking"]
    question = trace["seconds"]
    for label, seconds in [
        ("chunking (tokenizer)", chunking),
        ("prefill", prefill),
        ("decode", decode),
        ("OCR (image -> text)", ocr),
        ("render", render),
        ("fit to budget", fit),
        ("rest of the question", question - chunking - prefill - decode - ocr - render - fit),
        ("start-up (load, Chromium)", wall - question),
    ]:
        print(line(label, seconds, wall))
    completion_tokens = sum(s["completion_tokens"] for s in steps)
    print(f"  memory drafts wrote {completion_tokens:,} tokens in all")
    target = f"target <= {ASK_TARGET_S} s: {verdict(wall <= ASK_TARGET_S)}"
    print(f"  {'whole command':<28}{wall:8.2f} s  ({target})")
    for answer in answers:
        spent = f"{answer['visual_tokens']} visual tokens"
        print(f"  budget {answer['budget']:>5}: {spent}, answer {answer['answer']!r}")


def time_chunking(tokens: int) -> None:
    model = load_model("embedded")
    big = document_of(tokens, model.tokenizer)
    clock = time.perf_counter()
    chunks, total = chunk_document(big, model.tokenizer, 5000)
    seconds = time.perf_counter() - clock
    print(
        f"tokenize + chunk a {total:,}-token document into {len(chunks)} chunks: {seconds:.2f} s "
        f"(target <= {CHUNKING_TARGET_S} s: {verdict(seconds <= CHUNKING_TARGET_S)})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000, help="document length in tokens")
    parser.add_argument("--million", type=int, default=1_000_000, help="length of the chunking test document")
    parser.add_argument("extra", nargs="*", help="flags passed on to memocr ask (after --)")
    args = parser.parse_args()
    model = load_model("embedded")  # held: dropping the model stops the server behind its tokenizer
    time_default_ask(document_of(args.tokens, model.tokenizer), args.extra)
    del model
    time_chunking(args.million)
