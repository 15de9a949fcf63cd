"""`memocr ask`: answer one question over a long document, once per visual-token budget."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from memocr.agent import AgentSettings
from memocr.config import add_config_arguments, at_least, config_from_args, read_input
from memocr.errors import InputError, QuestionFailed, WorkSaved

if TYPE_CHECKING:
    from memocr.trace import Trace


@dataclass
class AskConfig(AgentSettings):
    doc: str = field(
        default="",
        metadata={"help": "the document: a UTF-8 text or Markdown file, or - for stdin", "path": True},
    )
    question: str = field(default="", metadata={"help": "the question to answer"})
    budget: list[int] = field(
        default_factory=lambda: [1024],
        metadata={
            "help": "visual-token budget of the answer; repeat for several (the memory is drafted once)"
        },
    )
    model: str = field(
        default="embedded",
        metadata={
            "help": "model spec: embedded, gguf:///path.gguf, openai://host:port/v1?model=NAME, hf:///path",
            "spec": True,
        },
    )
    trace_dir: Path = field(
        default=Path("runs/ask"),
        metadata={
            "help": "write traces.jsonl and a folder per run (drafts as they finish, memory, images) here",
            "output": "dir",
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "budget")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, AskConfig)


def check_config(config: AskConfig) -> None:
    if not config.question.strip():
        raise InputError('the question is empty: pass --question "..."')


def new_run_id() -> str:
    """Sortable by time, unique across runs started in the same second."""
    return f"ask-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


async def ask(config: AskConfig, document: str) -> int:
    from tqdm import tqdm

    from memocr.agent import MemoryAgent, Question
    from memocr.models import load_model
    from memocr.render import AsyncRenderer
    from memocr.trace import TraceWriter

    settings = config.agent_settings(config.mode)
    model = load_model(config.model)

    bar: tqdm | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="drafting memory", unit="chunk", file=sys.stderr)
        bar.update(done - bar.n)

    question = Question(document=document, question=config.question.strip(), question_id=new_run_id())
    renderer = AsyncRenderer(pages=1) if settings.mode != "text" else None
    agent = MemoryAgent(model, settings, renderer)
    async with model:
        # Settings that cannot fit the model are refused here, before Chromium starts or a folder is made.
        plan = await asyncio.to_thread(agent.plan, question.question, config.budget)
        for adjustment in plan.adjustments:
            context = f"the {plan.context_length:,}-token context of {model.name}"
            print(f"memocr ask: {adjustment} to fit {context}", file=sys.stderr)
        recorder = TraceWriter(config.trace_dir).start(question.question_id)
        try:
            if renderer is not None:
                await renderer.start()
            trace = await agent.answer(question, config.budget, progress=progress, on_step=recorder.add_step)
        except QuestionFailed as failed:
            recorder.finish(failed.trace)
            saved = f"{len(failed.trace.steps)} finished draft(s) and the trace are in {recorder.folder}/"
            raise WorkSaved(failed, saved) from None
        finally:
            if bar is not None:
                bar.close()
            if renderer is not None:
                await renderer.close()
    recorder.finish(trace)
    _print_trace(trace)
    print(f"Trace: {recorder.writer.path}; drafts, memory and images: {recorder.folder}/")
    return 0


def _print_trace(trace: Trace) -> None:
    print(f"Question: {trace.question}")
    print(
        f"Read {trace.document_tokens:,} tokens in {trace.chunks_total} chunk(s) of up to "
        f"{trace.chunk_tokens:,} with {trace.model} ({trace.mode} mode); "
        f"final memory: {len(trace.final_memory):,} characters"
    )
    if trace.render is not None:
        print(
            f"Rendered memory: {trace.render.width}x{trace.render.height} px "
            f"({trace.render.profile}, {trace.render.clipped_px:,} px of content clipped)"
        )
        if trace.render.omitted_chars or trace.render.plain_text:
            print(
                f"  {trace.render.omitted_chars:,} characters past the height cap were not drawn"
                + (
                    "; Markdown could not be converted in time and was drawn as plain text"
                    if trace.render.plain_text
                    else ""
                )
            )
    for answer in trace.answers:
        if answer.visual_tokens is not None:
            spent = f"{answer.visual_tokens} visual tokens, image {answer.image_width}x{answer.image_height}"
        else:
            spent = f"{answer.memory_tokens} memory tokens"
        print(f"  budget {answer.budget:>5}: {_shown_answer(answer.answer, answer.response)}   [{spent}]")


def _shown_answer(answer: str | None, response: str) -> str:
    if answer is not None:
        return answer
    first_line = response.strip().splitlines()[0] if response.strip() else ""
    return f"(no \\boxed{{}} answer; the model said: {first_line[:80]!r})"


def run(args: argparse.Namespace) -> int:
    config = config_from_args(AskConfig, args)
    check_config(config)
    document = read_input(config.doc, "document", "pass --doc FILE")
    return asyncio.run(ask(config, document))
