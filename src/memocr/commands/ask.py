"""`memocr ask`: answer one question over a long document, once per visual-token budget."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memocr.config import ConfigError, add_config_arguments, config_from_args


@dataclass
class AskConfig:
    doc: str = field(
        default="", metadata={"help": "the document: a UTF-8 text or Markdown file, or - for stdin"}
    )
    question: str = field(default="", metadata={"help": "the question to answer"})
    budget: list[int] = field(
        default_factory=lambda: [1024],
        metadata={
            "help": "visual-token budget of the answer; repeat for several (the memory is drafted once)"
        },
    )
    mode: Literal["visual", "text", "visual-plain", "visual-html"] = field(
        default="visual",
        metadata={
            "help": "visual = MemOCR; text = MemAgent-style baseline (first B tokens of the text memory); "
            "visual-plain = no-layout ablation; visual-html = memory drafted and rendered as HTML"
        },
    )
    model: str = field(
        default="embedded",
        metadata={
            "help": "model spec: embedded, gguf:///path.gguf, openai://host:port/v1?model=NAME, hf:///path"
        },
    )
    chunk_tokens: int = field(default=5000, metadata={"help": "document tokens read per drafting turn"})
    max_memory_tokens: int = field(default=2048, metadata={"help": "cap on each memory draft, in tokens"})
    max_answer_tokens: int = field(default=512, metadata={"help": "cap on the answer, in tokens"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (0 = greedy)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling threshold"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    profile: Literal["full", "memocr-v1"] = field(
        default="full",
        metadata={
            "help": "render profile: full (whole memory) or memocr-v1 (released geometry, 1152x656 max)"
        },
    )
    trace_dir: Path | None = field(
        default=None, metadata={"help": "write traces.jsonl, the memory and every image here"}
    )


class InputError(Exception):
    """Something the user gave cannot be used; the message says what and what to do."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, AskConfig)


def read_document(source: str) -> str:
    if not source:
        raise InputError("no document given: pass --doc FILE (or --doc - to read standard input)")
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read document {source}: {error.strerror or error}") from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"document {source} is not UTF-8 text (byte {error.start} is invalid); convert it to UTF-8 first"
        ) from error
    if not text.strip():
        raise InputError(f"document {source} is empty")
    return text


def check_config(config: AskConfig) -> None:
    from memocr.budget import validate_budget

    if not config.question.strip():
        raise InputError('the question is empty: pass --question "..."')
    for budget in config.budget:
        try:
            validate_budget(budget)
        except ValueError as error:
            raise InputError(str(error)) from error


async def ask(config: AskConfig, document: str) -> int:
    from tqdm import tqdm

    from memocr.agent import AgentSettings, MemoryAgent, Question
    from memocr.models import ModelSpecError, ModelUnavailableError, load_model
    from memocr.render import AsyncRenderer
    from memocr.trace import TraceWriter

    settings = AgentSettings(
        mode=config.mode,
        chunk_tokens=config.chunk_tokens,
        max_memory_tokens=config.max_memory_tokens,
        max_answer_tokens=config.max_answer_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=config.seed,
        render_profile=config.profile,
    )
    try:
        model = load_model(config.model)
    except (ModelSpecError, ModelUnavailableError) as error:
        raise InputError(str(error)) from error

    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="drafting memory", unit="chunk", file=sys.stderr)
        bar.update(done - bar.n)

    async with model:
        renderer = AsyncRenderer(pages=1) if settings.mode != "text" else None
        try:
            if renderer is not None:
                await renderer.start()
            agent = MemoryAgent(model, settings, renderer)
            run_id = time.strftime("ask-%Y%m%d-%H%M%S")
            question = Question(document=document, question=config.question.strip(), question_id=run_id)
            try:
                trace = await agent.answer(question, config.budget, progress=progress)
            except ModelUnavailableError as error:
                raise InputError(str(error)) from error
        finally:
            if bar is not None:
                bar.close()
            if renderer is not None:
                await renderer.close()

    print(f"Question: {trace.question}")
    print(
        f"Read {trace.document_tokens:,} tokens in {len(trace.steps)} chunk(s) with {trace.model} "
        f"({trace.mode} mode); final memory: {len(trace.final_memory):,} characters"
    )
    if trace.render is not None:
        print(
            f"Rendered memory: {trace.render.width}x{trace.render.height} px "
            f"({trace.render.profile}, {trace.render.clipped_px:,} px of content clipped)"
        )
    for answer in trace.answers:
        if answer.visual_tokens is not None:
            spent = f"{answer.visual_tokens} visual tokens, image {answer.image_width}x{answer.image_height}"
        else:
            spent = f"{answer.memory_tokens} memory tokens"
        print(f"  budget {answer.budget:>5}: {_shown_answer(answer.answer, answer.response)}   [{spent}]")
    if config.trace_dir is not None:
        folder = TraceWriter(config.trace_dir).write(trace)
        print(f"Trace: {Path(config.trace_dir) / 'traces.jsonl'}; memory and images: {folder}/")
    return 0


def _shown_answer(answer: str | None, response: str) -> str:
    if answer is not None:
        return answer
    first_line = response.strip().splitlines()[0] if response.strip() else ""
    return f"(no \\boxed{{}} answer; the model said: {first_line[:80]!r})"


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(AskConfig, args)
        check_config(config)
        document = read_document(config.doc)
        return asyncio.run(ask(config, document))
    except (InputError, ConfigError) as error:
        print(f"memocr ask: {error}", file=sys.stderr)
        return 2
