"""Spread an evaluation over a Ray cluster (``memocr eval --ray-address ...``).

Each worker is an actor that builds its own model from the config's spec string and its own renderer
(`QuestionRunner`), and answers up to ``concurrency`` questions at once. Workers return traces (images
included) to this process, the only one that writes the run directory, so no file ever has two
writers. Every node needs memocr installed (and Chromium for the visual modes). A worker that dies
fails the questions it held; they are recorded as failed and the next run retries them.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable

from memocr.errors import InputError, ModelUnavailableError
from memocr.eval.config import EvalConfig
from memocr.eval.results import ResultRecord
from memocr.eval.run_dir import RunDirectory, WorkUnit
from memocr.trace import Trace, TraceError


class _Worker:
    """The actor body: a `QuestionRunner` entered on first use, inside the actor's event loop."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.runner = None

    async def run(self, unit: WorkUnit) -> Trace:
        from memocr.eval.runner import QuestionRunner

        if self.runner is None:
            runner = QuestionRunner(self.config)
            await runner.__aenter__()
            self.runner = runner
        return await self.runner.run(unit)

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.__aexit__(None, None, None)
            self.runner = None


def run_on_ray(
    config: EvalConfig,
    units: list[WorkUnit],
    run_dir: RunDirectory,
    on_saved: Callable[[list[ResultRecord]], None],
) -> None:
    try:
        import ray
    except ImportError as error:
        raise InputError("--ray-address needs Ray: pip install 'memocr[ray]'") from error

    started_here = not ray.is_initialized()
    if started_here:
        address = None if config.ray_address == "local" else config.ray_address
        try:
            ray.init(address=address, include_dashboard=False, logging_level="warning")
        except (ConnectionError, RuntimeError) as error:
            raise ModelUnavailableError(
                f"cannot reach the Ray cluster at {config.ray_address}: {error}"
            ) from error
    workers = []
    try:
        count = config.ray_workers or max(
            1, int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)) // 2
        )
        actor = ray.remote(num_cpus=0)(_Worker).options(max_concurrency=config.in_flight)
        workers = [actor.remote(config) for _ in range(min(count, len(units)))]
        queue = deque(units)
        in_flight: dict = {}

        def submit(worker) -> None:
            unit = queue.popleft()
            in_flight[worker.run.remote(unit)] = (unit, worker)

        for worker in workers:
            for _ in range(config.in_flight):
                if queue:
                    submit(worker)
        while in_flight:
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            unit, worker = in_flight.pop(ready)
            try:
                trace = ray.get(ready)
            except ray.exceptions.RayError as error:
                trace = _worker_failed(unit, config, error)
            on_saved(run_dir.save(unit, trace, run_dir.start_trace(unit)))
            if queue:
                submit(worker)
    finally:
        for worker in workers:
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(worker.close.remote(), timeout=30)
            ray.kill(worker)
        if started_here:
            ray.shutdown()


def _worker_failed(unit: WorkUnit, config: EvalConfig, error: Exception) -> Trace:
    """The trace of a question whose worker died or raised past the agent."""
    return Trace(
        question_id=unit.question.id,
        question=unit.question.input,
        mode=unit.mode,
        model=config.model,
        prompts={},
        chunk_tokens=0,
        document_tokens=0,
        steps=[],
        final_memory=unit.draft.final_memory if unit.draft else "",
        render=None,
        answers=[],
        seconds=0.0,
        timings={},
        golds=unit.question.answers,
        error=TraceError(stage="worker", type=type(error).__name__, message=str(error).splitlines()[0]),
    )
