"""The memory agent: read a document chunk by chunk, keep one memory, answer from it under budgets.

Drafting is text only: every chunk is one independent single-turn chat (problem, chunk, previous
memory) whose response overwrites the memory. After the last chunk the memory is rendered once and,
for every budget asked, fitted to that many visual tokens and shown to the model with the problem
alone. The text baseline instead shows the first B tokens of the memory. Several budgets share one
drafting pass; many questions can run at once (`answer_many`), each keeping only its current memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from memocr.budget import DEFAULT_MAX_PIXELS, PIXELS_PER_TOKEN, fit_to_budget, validate_budget, visual_tokens
from memocr.chunking import Chunk, chunk_document, clean_memory, truncate_to_tokens
from memocr.config import at_least, check_fields
from memocr.errors import InputError, MemocrError, QuestionFailed
from memocr.headline import headline_answer, reading_view, with_headline
from memocr.metrics import extract_answer
from memocr.models.base import SamplingParams
from memocr.prompts import (
    ANSWER_FROM_IMAGE,
    ANSWER_FROM_TEXT,
    DRAFT_HTML,
    DRAFT_MARKDOWN_LAYOUT,
    DRAFT_MARKDOWN_PLAIN,
    DRAFT_TEXT,
    INITIAL_MEMORY,
    MARKDOWN_DRAFT_PROMPTS,
    PromptTemplate,
    headline_key,
)
from memocr.render.profiles import DEFAULT_PROFILE, PROFILES
from memocr.token_plan import TokenPlan, plan_tokens
from memocr.trace import BudgetAnswer, DraftStep, RenderInfo, Trace, TraceError

if TYPE_CHECKING:
    from PIL import Image

    from memocr.models import ChatModel, Completion
    from memocr.render import AsyncRenderer


@dataclass(frozen=True)
class Mode:
    """How a mode drafts and how it reads: ``input_format`` None means the memory is read as text."""

    name: str
    draft_prompt: PromptTemplate
    answer_prompt: PromptTemplate
    input_format: Literal["markdown", "html"] | None
    # A closing turn that puts the answer first in the memory (memocr.headline), where a model asks for one.
    headline_prompt: PromptTemplate | None = None


# The registry of modes: the choices of every command's --mode.
MODES: dict[str, Mode] = {
    "visual": Mode("visual", DRAFT_MARKDOWN_LAYOUT, ANSWER_FROM_IMAGE, "markdown"),
    "text": Mode("text", DRAFT_TEXT, ANSWER_FROM_TEXT, None),
    "visual-plain": Mode("visual-plain", DRAFT_MARKDOWN_PLAIN, ANSWER_FROM_IMAGE, "markdown"),
    "visual-html": Mode("visual-html", DRAFT_HTML, ANSWER_FROM_IMAGE, "html"),
}
MODE_HELP = (
    "visual = MemOCR; text = MemAgent-style baseline (the first B tokens of a text memory); "
    "visual-plain = no-layout ablation; visual-html = memory drafted and rendered as HTML"
)


@dataclass
class ReadSettings:
    """How the agent reads and answers, in any mode: declared here once, and extended by the config of
    every command that runs the agent (ask, eval, analyze, train), so each setting is a flag and a
    YAML key of each. Token settings left as None are chosen per model and fitted to its context
    window (see `memocr.token_plan`); values given are checked against it."""

    chunk_tokens: int | None = field(
        default=None,
        metadata={
            "help": "document tokens read per drafting turn (default: the model's suggestion, else the "
            "paper's 5000, lowered to fit the model's context)"
        },
    )
    max_memory_tokens: int | None = field(
        default=None,
        metadata={"help": "cap on each memory draft, in tokens (default: the model's suggestion, else 2048)"},
    )
    max_answer_tokens: int | None = field(
        default=None,
        metadata={"help": "cap on each answer, in tokens (default: the model's suggestion, else 512)"},
    )
    temperature: float = field(
        default=0.0, metadata={"help": "sampling temperature (0 = greedy; the paper's evaluation: 0.7)"}
    )
    top_p: float = field(
        default=1.0, metadata={"help": "nucleus sampling threshold, in (0, 1] (the paper's evaluation: 0.95)"}
    )
    seed: int | None = field(
        default=0,
        metadata={"help": "base seed: each question samples with its own, derived from it and the question"},
    )
    draft_prompt: str | None = field(
        default=None,
        metadata={
            "help": "drafting prompt of the Markdown modes (visual, visual-plain), by name (default: the "
            "mode's own, or the one the model suggests); draft-markdown-lead asks for the likeliest "
            "answer as the first heading, for small models that write none",
            "choices": MARKDOWN_DRAFT_PROMPTS,
        },
    )
    profile: str | None = field(
        default=None,
        metadata={
            "help": "render profile: full (whole memory), compact (full with 12-px body text) or "
            "memocr-v1 (released geometry, 1152x656 max) (default: the model's suggestion, else full)",
            "choices": PROFILES,
        },
    )

    def __post_init__(self) -> None:
        check_fields(self)
        at_least(self, 1, "chunk_tokens", "max_memory_tokens", "max_answer_tokens")
        self.sampling(1)  # temperature, top-p and seed: SamplingParams checks them

    def sampling(self, max_tokens: int, seed: int | None = None) -> SamplingParams:
        """The sampling of one model call: these settings' temperature and top-p, with `seed` (a
        question's own) or else these settings' seed."""
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed if seed is None else seed,
        )

    def question_seed(self, *key: object) -> int | None:
        """The sampling seed of one question, ``key`` being its id (a trainer's: the step, the id and
        the sample): stable across runs, machines and workers; None when these settings have none."""
        if self.seed is None:
            return None
        return zlib.crc32(":".join(map(str, (self.seed, *key))).encode()) & 0x7FFFFFFF

    def agent_settings(self, mode: str) -> AgentSettings:
        """These settings for an agent running ``mode`` (a command config's other fields left out)."""
        return AgentSettings(
            mode=mode, **{f.name: getattr(self, f.name) for f in dataclasses.fields(ReadSettings)}
        )


@dataclass
class AgentSettings(ReadSettings):
    """`ReadSettings` and the mode the agent runs."""

    mode: str = field(default="visual", metadata={"help": MODE_HELP, "choices": MODES})


@dataclass
class Question:
    """One unit of work: a document, a question about it and, when known, the gold answers."""

    document: str
    question: str
    question_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    golds: list[str] | None = None
    # Sampling seed for this question's calls; None uses the settings' seed.
    seed: int | None = None


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(chunks_done, chunks_total)`` after every drafting turn."""
StepCallback = Callable[[DraftStep], None]
"""Called with each drafting turn as soon as it is done (to save it before the next one starts)."""


@dataclass
class _Run:
    """What one question has done so far, so that a failure can say where it stopped."""

    stage: str = "chunking"
    chunk_index: int | None = None
    budget: int | None = None
    document_tokens: int = 0
    chunks_total: int = 0
    plan: TokenPlan | None = None
    steps: list[DraftStep] = field(default_factory=list)
    render: RenderInfo | None = None
    answers: list[BudgetAnswer] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    given_memory: str | None = None


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
        self.mode = _with_model_prompts(MODES[self.settings.mode], model, self.settings.draft_prompt)
        if self.mode.input_format is not None and renderer is None:
            raise InputError(f"mode {self.mode.name!r} reads the memory as an image and needs a renderer")
        self.renderer = renderer
        self._prompt_tokens: dict[str, int] = {}

    def plan(self, question: str, budgets: Sequence[int]) -> TokenPlan:
        """The token settings this question runs with, fitted to the model's context (blocking: it
        tokenizes the prompts). Raises `ContextLengthError` when the settings given cannot fit."""
        question_tokens = len(self.model.tokenizer.encode(question))
        largest = max(budgets)

        def answer_view_tokens(max_memory_tokens: int) -> int:
            if self.mode.input_format is None:
                return min(largest, max_memory_tokens)
            return (
                min(largest, DEFAULT_MAX_PIXELS // PIXELS_PER_TOKEN)
                if self.model.image_tokens_in_context
                else 0
            )

        settings = self.settings
        return plan_tokens(
            {
                "chunk_tokens": settings.chunk_tokens,
                "max_memory_tokens": settings.max_memory_tokens,
                "max_answer_tokens": settings.max_answer_tokens,
            },
            suggested=self.model.suggested_settings,
            context_length=self.model.context_length,
            draft_prompt_tokens=max(map(self._template_tokens, self._draft_prompts())) + question_tokens,
            answer_prompt_tokens=self._template_tokens(self.mode.answer_prompt) + question_tokens,
            answer_view_tokens=answer_view_tokens,
            model_name=self.model.name,
        )

    def _template_tokens(self, template: PromptTemplate) -> int:
        """Tokens of `template` with empty fields, plus the model's system message if it has one."""
        if template.id not in self._prompt_tokens:
            empty = template.format(question="", chunk="", memory=INITIAL_MEMORY)
            system = self.model.system_prompt
            tokens = len(self.model.tokenizer.encode(empty))
            tokens += len(self.model.tokenizer.encode(system.text)) if system is not None else 0
            self._prompt_tokens[template.id] = tokens
        return self._prompt_tokens[template.id]

    async def answer(
        self,
        question: Question,
        budgets: Sequence[int],
        progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
    ) -> Trace:
        """Draft once over the whole document, then answer once per budget.

        Budgets are answered one after the other so that every recorded time is the call's own;
        `answer_many` is where questions overlap. Bad budgets or settings that cannot fit the model
        raise at once, before any model call. A failure after that raises `QuestionFailed`, whose
        trace keeps every draft and answer finished before it.
        """
        trace, error = await self._attempt(question, _checked_budgets(budgets), progress, on_step)
        return _raised(trace, error)

    async def answer_from_memory(self, question: Question, memory: str, budgets: Sequence[int]) -> Trace:
        """Answer from a memory given instead of drafted: render it (visual modes) and answer once
        per budget. ``question.document`` is not read. This is how a resumed evaluation answers the
        budgets a stored memory still lacks, and how the oracle analysis tests hand-placed evidence.
        Errors are raised as in `answer`; the trace has no drafting steps."""
        trace, error = await self._attempt(question, _checked_budgets(budgets), memory=memory)
        return _raised(trace, error)

    async def attempt(
        self,
        question: Question,
        budgets: Sequence[int],
        *,
        memory: str | None = None,
        on_step: StepCallback | None = None,
    ) -> Trace:
        """Like `answer` (or `answer_from_memory` when ``memory`` is given) but never raises for the
        question: a failure, settings that do not fit included, comes back as a trace whose ``error``
        says where it stopped. For batch runners that record failures and carry on."""
        trace, _ = await self._attempt(question, _checked_budgets(budgets), on_step=on_step, memory=memory)
        return trace

    def answer_prompt(self, question: str) -> str:
        """The text a visual mode's answer turn asks about the image for ``question``."""
        return self.mode.answer_prompt.format(question=question)

    async def ask_image(self, image: Image.Image, prompt: str, sampling: SamplingParams) -> Completion:
        """One reading turn as the answer turn sends it (the model's system prompt, the image, then
        ``prompt``), with ``image`` as given: no fitting to a budget. A trainer asks its extra
        questions about a memory picture this way (MemOCR's degraded-image and cloze objectives)."""
        return await self._chat(
            {"type": "image", "image": image}, {"type": "text", "text": prompt}, sampling=sampling
        )

    async def _attempt(
        self,
        question: Question,
        budgets: list[int],
        progress: ProgressCallback | None = None,
        on_step: StepCallback | None = None,
        memory: str | None = None,
    ) -> tuple[Trace, Exception | None]:
        """Run one question; a failure is returned with the trace of what was done, never raised."""
        started = time.perf_counter()
        run = _Run(given_memory=memory)
        try:
            await self._run(question, budgets, run, progress, on_step)
        except Exception as error:
            trace = self._trace(question, run, started)
            trace.error = _trace_error(run, error)
            return trace, error
        return self._trace(question, run, started), None

    async def _run(
        self,
        question: Question,
        budgets: list[int],
        run: _Run,
        progress: ProgressCallback | None,
        on_step: StepCallback | None,
    ) -> None:
        run.stage = "planning"
        run.plan = await asyncio.to_thread(self.plan, question.question, budgets)
        if run.given_memory is None:
            draft_sampling = self.settings.sampling(run.plan.max_memory_tokens, question.seed)
            memory = await self._draft_all(question, run, draft_sampling, progress, on_step)
        else:
            memory = run.given_memory

        answer_sampling = self.settings.sampling(run.plan.max_answer_tokens, question.seed)
        await self._read(question, memory, budgets, run, answer_sampling)
        run.stage = "done"

    async def _draft_all(
        self,
        question: Question,
        run: _Run,
        sampling: SamplingParams,
        progress: ProgressCallback | None,
        on_step: StepCallback | None,
    ) -> str:
        """Chunk the document and draft over every chunk with `sampling`; returns the final memory."""
        assert run.plan is not None
        run.stage = "chunking"
        clock = time.perf_counter()
        # Tokenizers are blocking (some over HTTP), and a long document takes seconds: keep the event
        # loop free for the other questions in flight.
        chunks, run.document_tokens = await asyncio.to_thread(
            chunk_document, question.document, self.model.tokenizer, run.plan.chunk_tokens
        )
        run.chunks_total = len(chunks)
        run.timings["chunking"] = time.perf_counter() - clock

        run.stage = "drafting"

        def keep(step: DraftStep) -> str:
            run.steps.append(step)
            if on_step is not None:
                on_step(step)
            return step.memory

        memory = INITIAL_MEMORY
        for index, chunk in enumerate(chunks):
            run.chunk_index = index
            memory = keep(await self._draft(question.question, chunk, index, memory, sampling))
            if progress is not None:
                progress(index + 1, len(chunks))
        run.chunk_index = None
        if self.mode.headline_prompt is not None:
            headline_sampling = dataclasses.replace(sampling, max_tokens=run.plan.max_answer_tokens)
            memory = keep(await self._headline(question.question, memory, len(chunks), headline_sampling))
        run.timings["drafting"] = sum(step.seconds for step in run.steps)
        return memory

    async def _read(
        self, question: Question, memory: str, budgets: list[int], run: _Run, sampling: SamplingParams
    ) -> None:
        """Render the final memory (visual modes) and answer at every budget with `sampling`."""
        if self.mode.input_format is not None:
            run.stage = "render"
            run.render = await self._render(memory)
            run.timings["render"] = run.render.seconds
        run.stage = "answering"
        for budget in budgets:
            run.budget = budget
            if run.render is not None:
                answer = await self._answer_from_image(question.question, run.render, budget, sampling)
            else:
                answer = await self._answer_from_text(question.question, memory, budget, sampling)
            run.answers.append(answer)
        run.budget = None
        if run.render is not None:
            run.timings["fit"] = sum(answer.fit_seconds or 0.0 for answer in run.answers)
        run.timings["answering"] = sum(answer.answer_seconds for answer in run.answers)

    def _trace(self, question: Question, run: _Run, started: float) -> Trace:
        plan = run.plan
        return Trace(
            question_id=question.question_id,
            question=question.question,
            mode=self.mode.name,
            model=self.model.name,
            prompts=self._prompt_ids(),
            chunk_tokens=plan.chunk_tokens if plan else (self.settings.chunk_tokens or 0),
            document_tokens=run.document_tokens,
            steps=run.steps,
            final_memory=(
                run.given_memory
                if run.given_memory is not None
                else run.steps[-1].memory
                if run.steps
                else ""
            ),
            render=run.render,
            answers=run.answers,
            seconds=time.perf_counter() - started,
            timings=run.timings,
            golds=question.golds,
            settings=_recorded_settings(self.settings, plan, question.seed),
            chunks_total=run.chunks_total,
        )

    def _draft_prompts(self) -> list[PromptTemplate]:
        headline = self.mode.headline_prompt
        return [self.mode.draft_prompt] if headline is None else [self.mode.draft_prompt, headline]

    def _prompt_ids(self) -> dict[str, str]:
        ids = {"draft": self.mode.draft_prompt.id, "answer": self.mode.answer_prompt.id}
        if self.mode.headline_prompt is not None:
            ids["headline"] = self.mode.headline_prompt.id
        if self.model.system_prompt is not None:
            ids["system"] = self.model.system_prompt.id
        return ids

    async def answer_many(
        self,
        questions: Sequence[Question],
        budgets: Sequence[int],
        concurrency: int = 8,
        on_done: Callable[[Trace], None] | None = None,
    ) -> list[Trace]:
        """Answer many questions at once (at most ``concurrency`` in flight), in input order.

        A question that fails (settings that do not fit it included) does not stop the others: its
        trace carries the ``error`` and what was done before it. ``on_done`` sees each trace (failed
        ones too) as soon as it finishes, so a caller can save it before the rest.
        """
        budgets = _checked_budgets(budgets)
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(question: Question) -> Trace:
            async with gate:
                trace = await self.attempt(question, budgets)
            if on_done is not None:
                on_done(trace)
            return trace

        return list(await asyncio.gather(*(one(question) for question in questions)))

    async def _draft(
        self, question: str, chunk: Chunk, index: int, memory: str, sampling: SamplingParams
    ) -> DraftStep:
        prompt = self.mode.draft_prompt.format(question=question, chunk=chunk.text, memory=memory)
        completion = await self._chat({"type": "text", "text": prompt}, sampling=sampling)
        return _draft_step(completion, index, clean_memory(completion.text), chunk_tokens=chunk.tokens)

    async def _headline(self, question: str, memory: str, index: int, sampling: SamplingParams) -> DraftStep:
        """The closing turn (see `memocr.headline`): the memory led by the answer the model gives."""
        assert self.mode.headline_prompt is not None
        prompt = self.mode.headline_prompt.format(question=question, memory=reading_view(memory))
        completion = await self._chat({"type": "text", "text": prompt}, sampling=sampling)
        answer = headline_answer(completion.text)
        if answer is not None:
            memory = with_headline(memory, answer, markdown=self.mode.input_format == "markdown")
        return _draft_step(completion, index, memory, chunk_tokens=0, headline=True)

    async def _render(self, memory: str) -> RenderInfo:
        assert self.renderer is not None and self.mode.input_format is not None
        result = await self.renderer.render(
            memory,
            profile=self.settings.profile or self.model.suggested_profile or DEFAULT_PROFILE,
            input_format=self.mode.input_format,
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
            omitted_chars=result.omitted_chars,
            plain_text=result.plain_text,
            image=result.image,
        )

    async def _chat(self, *parts: dict, sampling: SamplingParams) -> Completion:
        messages: list[dict[str, Any]] = [{"role": "user", "content": list(parts)}]
        if self.model.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.model.system_prompt.text})
        return await self.model.chat(messages, sampling)

    async def _answer_from_image(
        self, question: str, render: RenderInfo, budget: int, sampling: SamplingParams
    ) -> BudgetAnswer:
        assert render.image is not None
        clock = time.perf_counter()
        image = await asyncio.to_thread(fit_to_budget, render.image, budget)
        fit_seconds = time.perf_counter() - clock
        completion = await self._chat(
            {"type": "image", "image": image},
            {"type": "text", "text": self.mode.answer_prompt.format(question=question)},
            sampling=sampling,
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
            ocr_truncated_tokens=completion.ocr_truncated_tokens,
            image=image,
        )

    async def _answer_from_text(
        self, question: str, memory: str, budget: int, sampling: SamplingParams
    ) -> BudgetAnswer:
        shown, shown_tokens = await asyncio.to_thread(
            truncate_to_tokens, memory, self.model.tokenizer, budget
        )
        completion = await self._chat(
            {"type": "text", "text": self.mode.answer_prompt.format(question=question, memory=shown)},
            sampling=sampling,
        )
        return _budget_answer(budget, completion, memory_tokens=shown_tokens)


def _with_model_prompts(mode: Mode, model: ChatModel, draft_prompt: str | None) -> Mode:
    """`mode` with the prompt templates `model` suggests instead of the standard ones, if any, and a
    Markdown mode with the drafting template named `draft_prompt`, if given."""
    suggested = model.suggested_prompts
    if draft_prompt is not None and mode.input_format == "markdown":
        chosen = MARKDOWN_DRAFT_PROMPTS[draft_prompt]
    else:
        chosen = suggested.get(mode.draft_prompt.name, mode.draft_prompt)
    return dataclasses.replace(
        mode,
        draft_prompt=chosen,
        # An HTML memory has no Markdown heading to lead with: its modes never get a headline turn.
        headline_prompt=None
        if mode.input_format == "html"
        else suggested.get(headline_key(mode.draft_prompt.name)),
        answer_prompt=suggested.get(mode.answer_prompt.name, mode.answer_prompt),
    )


def _raised(trace: Trace, error: Exception | None) -> Trace:
    """The trace of a question that succeeded; otherwise the error to raise (see `answer`)."""
    if error is None:
        return trace
    assert trace.error is not None
    if isinstance(error, InputError) and trace.error.stage == "planning":
        raise error
    raise QuestionFailed(trace, error) from error


def _checked_budgets(budgets: Sequence[int]) -> list[int]:
    checked = [validate_budget(budget) for budget in budgets]
    if not checked:
        raise InputError("give at least one budget")
    return checked


def _recorded_settings(settings: AgentSettings, plan: TokenPlan | None, seed: int | None) -> dict[str, Any]:
    recorded: dict[str, Any] = dataclasses.asdict(settings)
    if seed is not None:
        recorded["seed"] = seed
    if plan is not None:
        recorded.update(
            chunk_tokens=plan.chunk_tokens,
            max_memory_tokens=plan.max_memory_tokens,
            max_answer_tokens=plan.max_answer_tokens,
            context_length=plan.context_length,
            adjustments=list(plan.adjustments),
        )
    return recorded


def _trace_error(run: _Run, error: BaseException) -> TraceError:
    return TraceError(
        stage=run.stage,
        type=type(error).__name__,
        message=str(error),
        chunk_index=run.chunk_index if run.stage == "drafting" else None,
        budget=run.budget if run.stage == "answering" else None,
        traceback=None if isinstance(error, MemocrError) else "".join(traceback.format_exception(error)),
    )


def _draft_step(completion: Completion, index: int, memory: str, **details: Any) -> DraftStep:
    """The fields every drafting turn records (a chunk's or the headline's), plus ``details``."""
    return DraftStep(
        chunk_index=index,
        memory=memory,
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
        seconds=completion.seconds,
        prefill_seconds=completion.prefill_seconds,
        decode_seconds=completion.decode_seconds,
        **details,
    )


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
