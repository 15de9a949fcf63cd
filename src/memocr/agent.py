"""The memory agent: read a document chunk by chunk, keep one memory, answer from it under budgets.

Drafting is text only: every chunk is one independent single-turn chat (problem, chunk, previous
memory) whose response overwrites the memory. After the last chunk the memory is rendered once and,
for every budget asked, fitted to that many visual tokens and shown to the model with the problem
alone. The text baseline instead shows the first B tokens of the memory. Several budgets share one
drafting pass; many questions can run at once (`answer_many`), each keeping only its current memory.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from memocr.budget import fit_to_budget, validate_budget, visual_tokens
from memocr.chunking import Chunk, chunk_document, clean_memory, truncate_to_tokens
from memocr.errors import InputError
from memocr.metrics import extract_answer
from memocr.prompts import (
    ANSWER_FROM_IMAGE,
    ANSWER_FROM_TEXT,
    DRAFT_HTML,
    DRAFT_MARKDOWN_LAYOUT,
    DRAFT_MARKDOWN_PLAIN,
    DRAFT_TEXT,
    INITIAL_MEMORY,
    PromptTemplate,
)
from memocr.trace import BudgetAnswer, DraftStep, RenderInfo, Trace

if TYPE_CHECKING:
    from memocr.models import ChatModel, Completion
    from memocr.render import AsyncRenderer

ModeName = Literal["visual", "text", "visual-plain", "visual-html"]


@dataclass(frozen=True)
class Mode:
    """How a mode drafts and how it reads: ``input_format`` None means the memory is read as text."""

    name: ModeName
    draft_prompt: PromptTemplate
    answer_prompt: PromptTemplate
    input_format: Literal["markdown", "html"] | None


MODES: dict[str, Mode] = {
    "visual": Mode("visual", DRAFT_MARKDOWN_LAYOUT, ANSWER_FROM_IMAGE, "markdown"),
    "text": Mode("text", DRAFT_TEXT, ANSWER_FROM_TEXT, None),
    "visual-plain": Mode("visual-plain", DRAFT_MARKDOWN_PLAIN, ANSWER_FROM_IMAGE, "markdown"),
    "visual-html": Mode("visual-html", DRAFT_HTML, ANSWER_FROM_IMAGE, "html"),
}


@dataclass(frozen=True)
class AgentSettings:
    mode: ModeName = "visual"
    chunk_tokens: int = 5000
    max_memory_tokens: int = 2048
    max_answer_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    render_profile: str = "full"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; modes: {', '.join(MODES)}")
        for name in ("chunk_tokens", "max_memory_tokens", "max_answer_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class Question:
    """One unit of work: a document, a question about it and, when known, the gold answers."""

    document: str
    question: str
    question_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    golds: list[str] | None = None


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(chunks_done, chunks_total)`` after every drafting turn."""


class MemoryAgent:
    """Runs the MemOCR loop with any `ChatModel`; visual modes need an (entered) `AsyncRenderer`."""

    def __init__(
        self,
        model: ChatModel,
        settings: AgentSettings | None = None,
        renderer: AsyncRenderer | None = None,
    ) -> None:
        self.model = model
        self.settings = settings or AgentSettings()
        self.mode = MODES[self.settings.mode]
        if self.mode.input_format is not None and renderer is None:
            raise InputError(f"mode {self.mode.name!r} reads the memory as an image and needs a renderer")
        self.renderer = renderer

    async def answer(
        self,
        question: Question,
        budgets: Sequence[int],
        progress: ProgressCallback | None = None,
    ) -> Trace:
        """Draft once over the whole document, then answer once per budget.

        Budgets are answered one after the other so that every recorded time is the call's own;
        `answer_many` is where questions overlap.
        """
        budgets = [validate_budget(budget) for budget in budgets]
        if not budgets:
            raise InputError("give at least one budget")
        started = time.perf_counter()
        timings: dict[str, float] = {}

        clock = time.perf_counter()
        # Tokenizers are blocking (some over HTTP), and a long document takes seconds: keep the event
        # loop free for the other questions in flight.
        chunks, document_tokens = await asyncio.to_thread(
            chunk_document, question.document, self.model.tokenizer, self.settings.chunk_tokens
        )
        timings["chunking"] = time.perf_counter() - clock

        memory, steps = await self._draft(question.question, chunks, progress)
        timings["drafting"] = sum(step.seconds for step in steps)

        render = None
        if self.mode.input_format is not None:
            render = await self._render(memory)
            timings["render"] = render.seconds
            answers = [await self._answer_from_image(question.question, render, budget) for budget in budgets]
            timings["fit"] = sum(answer.fit_seconds or 0.0 for answer in answers)
        else:
            answers = [await self._answer_from_text(question.question, memory, budget) for budget in budgets]
        timings["answering"] = sum(answer.answer_seconds for answer in answers)

        return Trace(
            question_id=question.question_id,
            question=question.question,
            mode=self.mode.name,
            model=self.model.name,
            prompts={
                "draft": self.mode.draft_prompt.id,
                "answer": self.mode.answer_prompt.id,
            },
            chunk_tokens=self.settings.chunk_tokens,
            document_tokens=document_tokens,
            steps=steps,
            final_memory=memory,
            render=render,
            answers=answers,
            seconds=time.perf_counter() - started,
            timings=timings,
            golds=question.golds,
        )

    async def answer_many(
        self,
        questions: Sequence[Question],
        budgets: Sequence[int],
        concurrency: int = 8,
        on_done: Callable[[Trace], None] | None = None,
    ) -> list[Trace]:
        """Answer many questions at once (at most ``concurrency`` in flight), in input order.

        ``on_done`` sees each trace as soon as it finishes, so a caller can save it before the rest.
        """
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(question: Question) -> Trace:
            async with gate:
                trace = await self.answer(question, budgets)
            if on_done is not None:
                on_done(trace)
            return trace

        return list(await asyncio.gather(*(one(question) for question in questions)))

    async def _draft(
        self, question: str, chunks: list[Chunk], progress: ProgressCallback | None
    ) -> tuple[str, list[DraftStep]]:
        memory = INITIAL_MEMORY
        steps: list[DraftStep] = []
        for index, chunk in enumerate(chunks):
            prompt = self.mode.draft_prompt.format(question=question, chunk=chunk.text, memory=memory)
            completion = await self._chat(
                {"type": "text", "text": prompt}, max_tokens=self.settings.max_memory_tokens
            )
            memory = clean_memory(completion.text)
            steps.append(
                DraftStep(
                    chunk_index=index,
                    chunk_tokens=chunk.tokens,
                    memory=memory,
                    prompt_tokens=completion.usage.prompt_tokens,
                    completion_tokens=completion.usage.completion_tokens,
                    seconds=completion.seconds,
                    prefill_seconds=completion.prefill_seconds,
                    decode_seconds=completion.decode_seconds,
                )
            )
            if progress is not None:
                progress(index + 1, len(chunks))
        return memory, steps

    async def _render(self, memory: str) -> RenderInfo:
        assert self.renderer is not None and self.mode.input_format is not None
        result = await self.renderer.render(
            memory, profile=self.settings.render_profile, input_format=self.mode.input_format
        )
        return RenderInfo(
            profile=result.profile,
            input_format=self.mode.input_format,
            width=result.width,
            height=result.height,
            content_width=result.content_width,
            content_height=result.content_height,
            clipped_px=result.clipped_px,
            seconds=result.seconds,
            image=result.image,
        )

    async def _chat(self, *parts: dict, max_tokens: int) -> Completion:
        return await self.model.chat(
            [{"role": "user", "content": list(parts)}],
            max_tokens=max_tokens,
            temperature=self.settings.temperature,
            top_p=self.settings.top_p,
            seed=self.settings.seed,
        )

    async def _answer_from_image(self, question: str, render: RenderInfo, budget: int) -> BudgetAnswer:
        assert render.image is not None
        clock = time.perf_counter()
        image = fit_to_budget(render.image, budget)
        fit_seconds = time.perf_counter() - clock
        completion = await self._chat(
            {"type": "image", "image": image},
            {"type": "text", "text": self.mode.answer_prompt.format(question=question)},
            max_tokens=self.settings.max_answer_tokens,
        )
        return _budget_answer(
            budget,
            completion,
            image_width=image.width,
            image_height=image.height,
            visual_tokens=visual_tokens(image.width, image.height),
            reported_image_tokens=completion.usage.image_tokens,
            fit_seconds=fit_seconds,
            ocr_text=None if completion.ocr_text is None else "\n".join(completion.ocr_text),
            ocr_seconds=completion.ocr_seconds,
            image=image,
        )

    async def _answer_from_text(self, question: str, memory: str, budget: int) -> BudgetAnswer:
        shown, shown_tokens = await asyncio.to_thread(
            truncate_to_tokens, memory, self.model.tokenizer, budget
        )
        completion = await self._chat(
            {"type": "text", "text": self.mode.answer_prompt.format(question=question, memory=shown)},
            max_tokens=self.settings.max_answer_tokens,
        )
        return _budget_answer(budget, completion, memory_tokens=shown_tokens)


def _budget_answer(budget: int, completion: Completion, **details: Any) -> BudgetAnswer:
    """The fields every answer turn records, plus the mode's own ``details``."""
    return BudgetAnswer(
        budget=budget,
        response=completion.text,
        answer=extract_answer(completion.text),
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
        answer_seconds=completion.seconds,
        prefill_seconds=completion.prefill_seconds,
        decode_seconds=completion.decode_seconds,
        **details,
    )
