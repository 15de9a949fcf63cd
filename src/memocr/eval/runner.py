"""`memocr eval`'s engine: every pending question × mode through `MemoryAgent`, saved as it finishes.

`QuestionRunner` owns one model, one renderer and one agent per mode and turns a `WorkUnit` into a
`Trace`; the same class runs in-process here and inside each Ray worker (`memocr.eval.ray_runner`).
`evaluate` plans the work from the run directory, runs it with a bound on questions in flight, and
hands every finished trace to `RunDirectory.save` in the one process that writes the directory.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from memocr.agent import MemoryAgent, Question
from memocr.eval.config import EvalConfig
from memocr.eval.questions import load_questions
from memocr.eval.results import ResultRecord
from memocr.eval.run_dir import RunDirectory, WorkUnit
from memocr.trace import Trace


class QuestionRunner:
    """One model, one renderer (when a visual mode is asked) and an agent per mode; ``async with``."""

    def __init__(self, config: EvalConfig, *, pages: int | None = None) -> None:
        from memocr.models import load_model

        self.config = config
        self.model = load_model(config.model)
        self.renderer = None
        if any(mode != "text" for mode in config.mode):
            from memocr.render import AsyncRenderer

            self.renderer = AsyncRenderer(pages=pages or min(config.in_flight, 4))
        self.agents = {
            mode: MemoryAgent(self.model, config.agent_settings(mode), self.renderer) for mode in config.mode
        }

    async def __aenter__(self) -> QuestionRunner:
        await self.model.__aenter__()
        try:
            if self.renderer is not None:
                await self.renderer.start()
        except BaseException:
            await self.model.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self.renderer is not None:
                await self.renderer.close()
        finally:
            await self.model.__aexit__(*exc_info)

    async def run(self, unit: WorkUnit, on_step: Callable | None = None) -> Trace:
        """Answer one unit; never raises for the question (a failure is the trace's ``error``)."""
        record = unit.question
        question = Question(
            document=record.context,
            question=record.input,
            question_id=record.id,
            golds=record.answers,
            seed=self.config.question_seed(record.id),
        )
        memory = unit.draft.final_memory if unit.draft is not None else None
        return await self.agents[unit.mode].attempt(question, unit.budgets, memory=memory, on_step=on_step)


@dataclass
class EvalOutcome:
    """What one `evaluate` call did: units run, records written, and those that failed."""

    units: int = 0
    skipped: int = 0
    records: list[ResultRecord] = field(default_factory=list)
    seconds: float = 0.0
    left: int = 0  # answers of the config still without a result (failed); running it again retries them

    @property
    def failures(self) -> list[ResultRecord]:
        return [record for record in self.records if record.failed]


def evaluate(config: EvalConfig, *, progress: bool = True) -> EvalOutcome:
    """Run (or resume) the evaluation ``config`` describes; returns what this call added."""
    started = time.perf_counter()
    run_dir = RunDirectory(config)
    questions = load_questions(config)
    run_dir.open()
    units = run_dir.pending(questions)
    outcome = EvalOutcome(units=len(units), skipped=len(questions) * len(config.mode) - len(units))
    bar = _ProgressBar(len(units), enabled=progress)
    try:
        if units and config.ray_address is not None:
            from memocr.eval.ray_runner import run_on_ray

            bar.start()
            run_on_ray(config, units, run_dir, lambda records: _finished(outcome, bar, records))
        elif units:
            asyncio.run(
                _run_local(config, units, run_dir, bar, lambda records: _finished(outcome, bar, records))
            )
    finally:
        bar.close()
    outcome.seconds = time.perf_counter() - started
    outcome.left = sum(len(unit.budgets) for unit in run_dir.pending(questions))
    return outcome


def _finished(outcome: EvalOutcome, bar: _ProgressBar, records: list[ResultRecord]) -> None:
    outcome.records.extend(records)
    bar.advance(outcome.records)


async def _run_local(
    config: EvalConfig,
    units: list[WorkUnit],
    run_dir: RunDirectory,
    bar: _ProgressBar,
    on_saved: Callable[[list[ResultRecord]], None],
) -> None:
    gate = asyncio.Semaphore(config.in_flight)
    async with QuestionRunner(config) as runner:
        bar.start()  # once the model and renderer are up: a failure to load them is one clean line

        async def one(unit: WorkUnit) -> None:
            async with gate:
                recorder = run_dir.start_trace(unit)
                trace = await runner.run(unit, on_step=recorder.add_step)
            # Saving is blocking file work, done while no other question's result is waiting on it.
            on_saved(await asyncio.to_thread(run_dir.save, unit, trace, recorder))

        await asyncio.gather(*(one(unit) for unit in units))


class _ProgressBar:
    """A question × mode bar with ETA and the running sub-EM, on stderr."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self._bar = None
        self._total = total
        self._enabled = enabled

    def start(self) -> None:
        if self._bar is None and self._enabled and self._total:
            from tqdm import tqdm

            self._bar = tqdm(total=self._total, desc="eval", unit="question×mode", file=sys.stderr)

    def advance(self, records: list[ResultRecord]) -> None:
        self.start()
        if self._bar is None:
            return
        scored = [record.sub_em for record in records if record.sub_em is not None]
        failed = sum(record.failed for record in records)
        postfix = {"sub-EM": f"{100 * sum(scored) / len(scored):.1f}%" if scored else "-"}
        if failed:
            postfix["failed"] = str(failed)
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
