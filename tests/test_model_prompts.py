"""Prompts a model suggests (the embedded tiers' small-model variants and system message) replace the
standard ones in every turn, count towards the context plan, and are recorded in the trace."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

from memocr.agent import AgentSettings, MemoryAgent, Question
from memocr.prompts import (
    ANSWER_FROM_TEXT,
    ANSWER_FROM_TEXT_BRIEF,
    BRIEF_PROMPTS,
    DRAFT_TEXT,
    DRAFT_TEXT_BRIEF,
    SYSTEM_SOURCE_ONLY,
)
from scripted_model import ScriptedModel

DOCUMENT = " ".join(f"w{i}" for i in range(60))


class RecordingModel(ScriptedModel):
    """Keeps the messages of every call as sent."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.messages: list[list[dict]] = []

    async def chat(self, messages, sampling):
        self.messages.append(messages)
        return await super().chat(messages, sampling)


def reply(prompt: str, images: list) -> str:
    return "notes" if "<section>" in prompt else "\\boxed{w7}"


def run(model: RecordingModel, **settings):
    agent = MemoryAgent(model, AgentSettings(mode="text", chunk_tokens=20, **settings))
    return asyncio.run(agent.answer(Question(DOCUMENT, "Which word?"), [16, 64]))


def test_suggested_prompts_and_system_message_are_sent_and_recorded():
    model = RecordingModel(reply)
    model.suggested_prompts = MappingProxyType(BRIEF_PROMPTS)
    model.system_prompt = SYSTEM_SOURCE_ONLY
    trace = run(model)
    assert trace.prompts == {
        "draft": DRAFT_TEXT_BRIEF.id,
        "answer": ANSWER_FROM_TEXT_BRIEF.id,
        "system": SYSTEM_SOURCE_ONLY.id,
    }
    assert len(model.messages) == 3 + 2  # three chunks, two budgets
    for messages in model.messages:
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[0]["content"] == SYSTEM_SOURCE_ONLY.text
    drafts, answers = model.messages[:3], model.messages[3:]
    assert all("Start with a line `Looking for: ...`" in m[1]["content"][0]["text"] for m in drafts)
    assert all("for example \\boxed{Paris}" in m[1]["content"][0]["text"] for m in answers)
    assert trace.answers[0].answer == "w7"


def test_the_system_message_counts_in_the_context_plan():
    plain = RecordingModel(reply, context_length=1000)
    with_system = RecordingModel(reply, context_length=1000)
    with_system.system_prompt = SYSTEM_SOURCE_ONLY
    settings = AgentSettings(mode="text", max_memory_tokens=64, max_answer_tokens=16)
    fitted_plain = MemoryAgent(plain, settings).plan("Which word?", [64]).chunk_tokens
    fitted_system = MemoryAgent(with_system, settings).plan("Which word?", [64]).chunk_tokens
    assert fitted_plain - fitted_system == len(SYSTEM_SOURCE_ONLY.text.split())


def test_without_suggestions_the_standard_prompts_are_sent_alone():
    model = RecordingModel(reply)
    trace = run(model)
    assert trace.prompts == {"draft": DRAFT_TEXT.id, "answer": ANSWER_FROM_TEXT.id}
    assert all([m["role"] for m in messages] == ["user"] for messages in model.messages)

