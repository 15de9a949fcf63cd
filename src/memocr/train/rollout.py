"""Rollouts through the inference agent: one loop, not two.

A rollout runs `MemoryAgent` itself, the code `memocr ask` and `memocr eval` run: drafting over every
chunk, rendering the final memory, fitting it to the training budget and answering (T_std). The agent
talks to a `RecordingModel`, a `ChatModel` that passes every call to the generation engine with token
log-probs switched on and keeps what the trainer needs: the messages, the prompt and completion ids,
the engine's log-probs and the image. Then the same agent asks the two training-only questions about
the same memory picture: T_augM (the same question on the `degrade`d image) and T_augQ (a cloze
question on the memory's own words, `make_cloze`, on the unchanged image). Rewards are the released
rule (`rewards.qa_reward`, `rewards.cloze_reward`), or token F1 of the stated answer when
``reward: f1`` (`rewards.f1_reward`, `rewards.cloze_f1_reward`).

With ``memory: text`` the agent runs its MemAgent-style text mode: the same drafting turns, then the
answer turn reads the first ``budget`` tokens of the memory as text. Only T_std is trained there.

A text-only policy (no vision tower) reads its memory picture the way inference's CPU path does:
through `OcrReader`, which replaces each image with the text OCR reads from it. The reader sits in
front of the recorder, so OCR is a step of the environment: the recorded turns are the text prompts
the policy was given (what OCR read from the budgeted, the degraded or the cloze picture) and what it
wrote, and all of them, drafting and answers, are trained with their advantages.

Each of the n rollouts of a question has its own seed (from the run seed, the step, the question and
the rollout index), so the samples of a group differ and a rerun draws the same ones.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memocr.agent import MemoryAgent, Question
from memocr.data.record import QARecord
from memocr.errors import ModelError, TrainingError
from memocr.models.base import ChatModel
from memocr.models.ocr import OcrReader
from memocr.train.advantages import AUG_M, AUG_Q, DRAFT, STD, ObjectiveWeights, Trajectory
from memocr.train.augment import degrade
from memocr.train.cloze import make_cloze
from memocr.train.config import TrainConfig
from memocr.train.recording import Call, RecordingModel
from memocr.train.rewards import ANSWER_REWARDS, CLOZE_REWARDS
from memocr.train.turns import Turn


@dataclass
class Rollout:
    """One trajectory: its turns (drafting first, then answers), rewards per task, or the error."""

    group: str
    sample: int
    turns: list[Turn] = field(default_factory=list)
    rewards: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    visual_tokens: int | None = None
    seconds: float = 0.0

    def trajectory(self) -> Trajectory:
        drafts = sum(turn.kind == DRAFT for turn in self.turns)
        return Trajectory(group=self.group, rewards=self.rewards, drafting_turns=drafts)


def _turn(call: Call, kind: str, group: str, sample: int) -> Turn:
    completion = call.completion
    if completion.prompt_ids is None or completion.completion_ids is None:
        raise ModelError("the engine returned no token ids (the trainer needs the prompt's and completion's)")
    return Turn(
        kind=kind,
        group=group,
        trajectory=-1,
        sample=sample,
        prompt_ids=list(completion.prompt_ids),
        completion_ids=list(completion.completion_ids),
        engine_logprobs=completion.logprobs,
        image=call.image,
        text=completion.text,
        messages=call.messages,
    )


async def rollout(
    engine: ChatModel,
    renderer: Any,
    record: QARecord,
    sample: int,
    seed: int | None,
    config: TrainConfig,
    ocr: bool = False,
) -> Rollout:
    """Roll out one trajectory of ``record``; a failure is returned in ``Rollout.error``, not raised.
    With ``ocr`` (a text-only policy) every picture is read through `OcrReader` in front of the recorder."""
    started = time.perf_counter()
    weights = config.objective_weights()
    result = Rollout(group=record.id, sample=sample)
    recorder = RecordingModel(engine)
    # OCR is the environment's step, not the policy's; T_augQ's picture is T_std's, read once.
    reader = OcrReader(recorder, reuse_reads=True) if ocr else recorder
    agent = MemoryAgent(reader, config.agent_settings(config.mode), renderer)
    question = Question(
        document=record.context,
        question=record.input,
        question_id=f"{record.id}#{sample}",
        golds=record.answers,
        seed=seed,
    )
    trace = await agent.attempt(question, [config.budget])
    if trace.error is not None:
        result.error = f"{trace.error.stage}: {trace.error.type}: {trace.error.message}"
        return result
    qa_reward = ANSWER_REWARDS[config.reward]
    try:
        # One drafting call per chunk (and the headline call, if the model asks for one), then the answer.
        drafts = len(trace.steps)
        if len(recorder.calls) != drafts + 1:
            calls = len(recorder.calls)
            raise TrainingError(f"{calls} model calls for {drafts} drafting turns and one answer")
        for index, call in enumerate(recorder.calls):
            result.turns.append(_turn(call, DRAFT if index < drafts else STD, record.id, sample))
        answer = trace.answers[0]
        result.visual_tokens = answer.visual_tokens
        result.rewards[STD] = qa_reward(answer.response, record.answers)
        sampling = config.sampling(config.max_answer_tokens, seed)
        if weights.aug_m > 0:
            completion = await agent.ask_image(
                degrade(answer.image), agent.answer_prompt(record.input), sampling
            )
            result.turns.append(_turn(recorder.calls[-1], AUG_M, record.id, sample))
            result.rewards[AUG_M] = qa_reward(completion.text, record.answers)
        if weights.aug_q > 0:
            cloze = make_cloze(trace.final_memory, random.Random(seed))
            result.rewards[AUG_Q] = None
            if cloze is not None:
                completion = await agent.ask_image(answer.image, cloze.prompt, sampling)
                result.turns.append(_turn(recorder.calls[-1], AUG_Q, record.id, sample))
                result.rewards[AUG_Q] = CLOZE_REWARDS[config.reward](completion.text, cloze.words)
    except Exception as error:  # one failed rollout is left out of its group, the step goes on
        result.error = f"answering: {type(error).__name__}: {error}"
        result.turns = []
    result.seconds = time.perf_counter() - started
    return result


async def rollout_batch(
    engine: ChatModel,
    renderer: Any,
    records: Sequence[QARecord],
    config: TrainConfig,
    step: int,
    ocr: bool = False,
) -> list[Rollout]:
    """``config.n`` rollouts of every record, at most ``config.concurrency`` in flight, in order."""
    gate = asyncio.Semaphore(config.concurrency)

    async def one(record: QARecord, sample: int) -> Rollout:
        async with gate:
            seed = config.question_seed(step, record.id, sample)
            return await rollout(engine, renderer, record, sample, seed, config, ocr)

    jobs = [one(record, sample) for record in records for sample in range(config.n)]
    return list(await asyncio.gather(*jobs))


def assign_advantages(
    rollouts: Sequence[Rollout], weights: ObjectiveWeights, normalize_std: bool
) -> list[Turn]:
    """Advantages of every turn of the finished rollouts (`advantages.combine`); turns of disabled
    tasks (weight 0) are dropped. Returns the turns to train on, numbered by trajectory."""
    from memocr.train.advantages import combine

    finished = [r for r in rollouts if r.error is None]
    combined = combine([r.trajectory() for r in finished], weights, normalize_std=normalize_std)
    turns = []
    for index, (result, advantage) in enumerate(zip(finished, combined, strict=True)):
        for turn in result.turns:
            if turn.kind == DRAFT:
                turn.advantage = advantage.drafting
            elif turn.kind in advantage.answers:
                turn.advantage = advantage.answers[turn.kind]
            else:
                continue
            turn.trajectory = index
            turns.append(turn)
    return turns
